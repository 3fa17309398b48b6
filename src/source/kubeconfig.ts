import { Effect, Schema } from "effect"
import { KubeConfig } from "@kubernetes/client-node"
import { errorText } from "../domain/errorText.ts"

/**
 * No usable kubeconfig: it cannot be loaded (`Unreadable`, client-node's error as `cause`), it lacks the context
 * asked for (`NoSuchContext`) or a current cluster (`NoCurrentCluster`), or none was found at all (`NotFound`).
 */
export class KubeConfigError extends Schema.TaggedError<KubeConfigError>()("KubeConfigError", {
  reason: Schema.Literal("Unreadable", "NoSuchContext", "NoCurrentCluster", "NotFound"),
  cause: Schema.optional(Schema.Defect),
  path: Schema.optional(Schema.String),
  context: Schema.optional(Schema.String),
  contexts: Schema.optional(Schema.Array(Schema.String))
}) {
  override get message(): string {
    switch (this.reason) {
      case "Unreadable":
        return `cannot load the kubeconfig${this.path === undefined ? "" : ` ${this.path}`}: ${errorText(this.cause)}`
      case "NoSuchContext":
        return (
          `--context ${this.context}: no such context in the kubeconfig ` +
          `(it has: ${this.contexts?.join(", ") || "(none)"})`
        )
      case "NoCurrentCluster":
        return "the kubeconfig has no current cluster: set one with --context or `kubectl config use-context`"
      case "NotFound":
        return (
          "no Kubernetes configuration found: not in $KUBECONFIG, not in ~/.kube/config, and not running in " +
          "a pod. Give one with --kubeconfig, or try `k8s-event-collector demo`"
        )
    }
  }
}

/**
 * The kubeconfig: `--kubeconfig PATH`, else what client-node finds by default ($KUBECONFIG, ~/.kube/config,
 * the in-cluster service account). When it finds nothing it silently points at http://localhost:8080; that is
 * refused here with a sentence saying what was looked for.
 */
export const loadKubeConfig = (opts: { readonly path: string | undefined; readonly context: string | undefined }) =>
  Effect.try({
    try: () => {
      const kc = new KubeConfig()
      if (opts.path !== undefined) kc.loadFromFile(opts.path)
      else kc.loadFromDefault()
      return kc
    },
    catch: (error) => new KubeConfigError({ reason: "Unreadable", cause: error, path: opts.path })
  }).pipe(
    Effect.flatMap((kc) => {
      if (opts.context !== undefined) {
        if (!kc.getContexts().some((c) => c.name === opts.context)) {
          const contexts = kc.getContexts().map((c) => c.name)
          return Effect.fail(new KubeConfigError({ reason: "NoSuchContext", context: opts.context, contexts }))
        }
        kc.setCurrentContext(opts.context)
      }
      const cluster = kc.getCurrentCluster()
      if (cluster === null) {
        return Effect.fail(new KubeConfigError({ reason: "NoCurrentCluster" }))
      }
      if (opts.path === undefined && cluster.name === "cluster" && cluster.server === "http://localhost:8080") {
        return Effect.fail(new KubeConfigError({ reason: "NotFound" }))
      }
      return Effect.succeed(kc)
    })
  )

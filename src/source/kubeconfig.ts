import { Effect, Schema } from "effect"
import { KubeConfig } from "@kubernetes/client-node"

export class KubeConfigError extends Schema.TaggedError<KubeConfigError>()("KubeConfigError", {
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
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
    catch: (error) =>
      new KubeConfigError({
        detail: `cannot load the kubeconfig${opts.path === undefined ? "" : ` ${opts.path}`}: ${error instanceof Error ? error.message : String(error)}`
      })
  }).pipe(
    Effect.flatMap((kc) => {
      if (opts.context !== undefined) {
        if (!kc.getContexts().some((c) => c.name === opts.context)) {
          const known = kc.getContexts().map((c) => c.name).join(", ") || "(none)"
          return Effect.fail(new KubeConfigError({ detail: `--context ${opts.context}: no such context in the kubeconfig (it has: ${known})` }))
        }
        kc.setCurrentContext(opts.context)
      }
      const cluster = kc.getCurrentCluster()
      if (cluster === null) {
        return Effect.fail(new KubeConfigError({ detail: "the kubeconfig has no current cluster: set one with --context or `kubectl config use-context`" }))
      }
      if (opts.path === undefined && cluster.name === "cluster" && cluster.server === "http://localhost:8080") {
        return Effect.fail(new KubeConfigError({
          detail: "no Kubernetes configuration found: not in $KUBECONFIG, not in ~/.kube/config, and not running in a pod. Give one with --kubeconfig, or try `k8s-event-collector demo`"
        }))
      }
      return Effect.succeed(kc)
    })
  )

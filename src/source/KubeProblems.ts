/**
 * Turns API failures into sentences an operator can act on, and says each one once: a collector retrying a
 * forbidden list every 30 s must not fill its log with the same error, but must say when access comes back.
 */
import { Duration, Effect } from "effect"
import { rbacRule, SOURCE_API_CALLS } from "../domain/apiCalls.ts"
import type { KubeApiError } from "../kube/KubeApiError.ts"
import { STARTING_GRACE, STARTING_RETRY } from "../kube/listWatch.ts"
import type { WatchTarget } from "./WatchTarget.ts"
import { ReportOnce } from "../observability/reportOnce.ts"

const scope = (t: WatchTarget) => (t.namespace === undefined ? "at the cluster scope" : `in namespace ${t.namespace}`)
const groupOf = (t: WatchTarget) => (t.api === "core/v1" ? "" : "events.k8s.io")
/** The verbs the source needs on the events of `t`'s API: what deploy/'s roles grant, no more. */
const verbsOf = (t: WatchTarget) => SOURCE_API_CALLS.filter((c) => c.group === groupOf(t)).map((c) => c.verb)

/** What went wrong and what to do about it. */
const describeFailure = (e: KubeApiError, t: WatchTarget, server: string): string => {
  const what = `${e.verb} events (${t.api}) ${scope(t)}`
  switch (e.reason) {
    case "Transport":
      return `cannot reach the Kubernetes API at ${server} to ${what}: ${e.explanation}`
    case "Starting":
      return (
        `the API server is starting (${e.notReady} not ready yet): the Kubernetes API at ${server} refused to ` +
        `${what} with HTTP ${e.status ?? 0} just after it could not be reached; asking again every ` +
        `${Duration.format(STARTING_RETRY)}, and taking it for a refusal if it lasts ${Duration.format(STARTING_GRACE)}`
      )
    case "Unauthorized":
      return (
        `the Kubernetes API at ${server} did not accept the credentials to ${what} (HTTP 401): ` +
        "check the kubeconfig user or the service account token"
      )
    case "Forbidden": {
      const binding =
        t.namespace === undefined
          ? "a ClusterRole bound with a ClusterRoleBinding"
          : `a Role in namespace ${t.namespace} bound with a RoleBinding`
      const rule = rbacRule({ group: groupOf(t), resource: "events", verbs: verbsOf(t) })
      return (
        `not allowed to ${what} (HTTP 403): the identity needs the RBAC rule ${rule} in ${binding}. ` +
        `The API server said: ${e.explanation}`
      )
    }
    case "TooManyRequests": {
      const retry = e.retryAfterSeconds === undefined ? "" : `, retry after ${e.retryAfterSeconds}s`
      return `the Kubernetes API asked to slow down while trying to ${what} (HTTP 429${retry}): ${e.explanation}`
    }
    default:
      return `could not ${what}: ${e.message}`
  }
}

/**
 * The kind of a failure, for saying it once: the same kind again is quiet until something succeeds. A refusal of
 * a starting API server is another kind than the same status later.
 */
const failureKind = (e: KubeApiError) => `${e.verb}:${e.reason}:${e.status ?? ""}`

/** Says each kind of failure of one target's list and watch once, and once that they work again. */
export class ProblemReporter {
  readonly #once = new ReportOnce()

  failed(e: KubeApiError, t: WatchTarget, server: string): Effect.Effect<void> {
    const text = describeFailure(e, t, server)
    const loud =
      e.reason === "TooManyRequests" || e.reason === "Starting"
        ? Effect.logWarning(text)
        : Effect.logError(`${text}; retrying`)
    return this.#once.failed(failureKind(e), loud, Effect.logDebug(text))
  }

  succeeded(verb: "list" | "watch", t: WatchTarget): Effect.Effect<void> {
    return this.#once.succeeded(Effect.logInfo(`${verb} events (${t.api}) ${scope(t)} works again`))
  }
}

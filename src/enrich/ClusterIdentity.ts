/**
 * `k8s.cluster.uid` on every record: the OpenTelemetry semantic conventions define it as the uid of the
 * `kube-system` namespace, the one object every cluster has from its start and never replaces. It is read once,
 * when the collector starts, so that all the records of one process name the cluster the same way. A collector
 * that cannot read it starts all the same, says once why and what grants it, and its records go without it.
 */
import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { CLUSTER_UID_API_CALLS, rbacRule } from "../domain/apiCalls.ts"
import { type KubeHttp, makeKubeHttp } from "../kube/KubeHttp.ts"
import { type KubeApiError, type KubeResponse, parseJson } from "../kube/KubeApiError.ts"

const NAMESPACE = "kube-system"
const PATH = `/api/v1/namespaces/${NAMESPACE}`

/** The longest start-up waits for the answer: an API server that does not answer must not hold the collector. */
export const CLUSTER_UID_TIMEOUT = Duration.seconds(10)

const NamespaceJson = Schema.Struct({ metadata: Schema.Struct({ uid: Schema.NonEmptyString }) })
const decodeNamespace = Schema.decodeUnknownOption(NamespaceJson)

const RULES = CLUSTER_UID_API_CALLS.map((c) => rbacRule({ ...c, verbs: [c.verb] })).join(", ")

/** Why there is no uid, and what the API server said when it answered. */
interface Problem {
  readonly why: string
  readonly said?: string | undefined
}

const problemOf = (e: KubeApiError): Problem => {
  const said = e.description
  switch (e.reason) {
    case "Transport":
      return { why: `no answer: ${e.explanation}` }
    case "Unauthorized":
      return { why: "the credentials were not accepted (HTTP 401): check the kubeconfig user or token", said }
    case "Forbidden":
      return {
        why:
          `not allowed (HTTP 403): the collector needs the RBAC rule ${RULES} in a ClusterRole bound with a ` +
          "ClusterRoleBinding (a Namespace is a cluster-scoped object: the Roles of watched namespaces do not " +
          "cover it)",
        said
      }
    case "NotFound":
      return { why: "the API server has no such namespace (HTTP 404)", said }
    default:
      return { why: e.status === undefined ? e.explanation : `HTTP ${e.status}`, said }
  }
}

const uidOf = (r: KubeResponse): string | Problem => {
  const namespace = decodeNamespace(parseJson(r.text))
  return Option.isSome(namespace) ? namespace.value.metadata.uid : { why: "the answer is not a Namespace with a uid" }
}

const describeProblem = (p: Problem, server: string): string =>
  `records carry no k8s.cluster.uid: could not get namespace ${NAMESPACE} (its uid is the cluster's) from ` +
  `${server}: ${p.why}. Start-up goes on without it; it is read only at start, so a restart adds it once this ` +
  `is fixed.${p.said === undefined ? "" : ` The API server said: ${p.said}`}`

/** The uid of the `kube-system` namespace, or `undefined` after saying once, as a warning, why it is unknown. */
export const readClusterUid = Effect.fn("ClusterIdentity.read")(function* (http: Pick<KubeHttp, "server" | "call">) {
  const answer = yield* http.call("get", "GET", PATH).pipe(
    Effect.map(uidOf),
    Effect.catchAll((e) => Effect.succeed(problemOf(e))),
    Effect.timeoutTo({
      duration: CLUSTER_UID_TIMEOUT,
      onTimeout: (): Problem => ({ why: `no answer within ${Duration.format(CLUSTER_UID_TIMEOUT)}` }),
      onSuccess: (a) => a
    })
  )
  if (typeof answer === "string") return answer
  yield* Effect.logWarning(describeProblem(answer, http.server))
  return undefined
})

/** What the records say about the cluster they come from, beside its configured name. */
export class ClusterIdentity extends Context.Tag("ClusterIdentity")<
  ClusterIdentity,
  { readonly uid: string | undefined }
>() {
  /** Reads the uid from the API server `kc` points at, once, while the layer is built. */
  static readonly layer = (kc: KubeConfig): Layer.Layer<ClusterIdentity> =>
    Layer.effect(
      ClusterIdentity,
      Effect.map(readClusterUid(makeKubeHttp(kc)), (uid) => ({ uid }))
    )
  /** No cluster behind the records (a dump): no uid. */
  static readonly layerNoop: Layer.Layer<ClusterIdentity> = Layer.succeed(ClusterIdentity, { uid: undefined })
}

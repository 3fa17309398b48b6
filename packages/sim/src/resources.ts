/** The resource types the simulated API server knows, keyed the way its URL paths name them. */

export interface ResourceType {
  /** API group, "" for the core group. */
  readonly group: string
  readonly version: string
  readonly plural: string
  readonly kind: string
  readonly namespaced: boolean
  /** Whether POST/PUT/PATCH/DELETE are served over HTTP (others are changed through the store only). */
  readonly writable: boolean
  /** Field labels this resource accepts in `fieldSelector` besides metadata.name / metadata.namespace. */
  readonly extraFieldLabels: ReadonlyArray<string>
}

/** Stable identity of a resource inside the store: `plural` or `plural.group`. */
export const resourceId = (r: Pick<ResourceType, "plural" | "group">): string =>
  r.group === "" ? r.plural : `${r.plural}.${r.group}`

export const apiVersionOf = (r: Pick<ResourceType, "group" | "version">): string =>
  r.group === "" ? r.version : `${r.group}/${r.version}`

const rt = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced: boolean,
  writable = false,
  extraFieldLabels: ReadonlyArray<string> = []
): ResourceType => ({ group, version, plural, kind, namespaced, writable, extraFieldLabels })

export const EVENT_FIELD_LABELS: ReadonlyArray<string> = [
  "involvedObject.kind",
  "involvedObject.namespace",
  "involvedObject.name",
  "involvedObject.uid",
  "involvedObject.apiVersion",
  "involvedObject.resourceVersion",
  "involvedObject.fieldPath",
  "reason",
  "reportingComponent",
  "source",
  "type"
]

export const Resources = {
  events: rt("", "v1", "events", "Event", true, false, EVENT_FIELD_LABELS),
  pods: rt("", "v1", "pods", "Pod", true, false, [
    "spec.nodeName",
    "status.phase",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName"
  ]),
  nodes: rt("", "v1", "nodes", "Node", false, false, ["spec.unschedulable"]),
  namespaces: rt("", "v1", "namespaces", "Namespace", false, false, ["status.phase"]),
  configmaps: rt("", "v1", "configmaps", "ConfigMap", true, true),
  replicasets: rt("apps", "v1", "replicasets", "ReplicaSet", true),
  deployments: rt("apps", "v1", "deployments", "Deployment", true),
  statefulsets: rt("apps", "v1", "statefulsets", "StatefulSet", true),
  daemonsets: rt("apps", "v1", "daemonsets", "DaemonSet", true),
  jobs: rt("batch", "v1", "jobs", "Job", true),
  cronjobs: rt("batch", "v1", "cronjobs", "CronJob", true),
  horizontalpodautoscalers: rt("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true),
  leases: rt("coordination.k8s.io", "v1", "leases", "Lease", true, true)
} as const satisfies Record<string, ResourceType>

/**
 * events.k8s.io/v1 serves the same stored objects as core/v1 events (one etcd key space),
 * so it is a view, not a resource of its own: it shares `Resources.events`' store id.
 */
export const EVENTS_V1_GROUP = "events.k8s.io"

const all: ReadonlyArray<ResourceType> = Object.values(Resources)

/** Finds the resource served at `/api/v1/...` (group "") or `/apis/{group}/{version}/...`. */
export const lookupResource = (group: string, version: string, plural: string): ResourceType | undefined =>
  all.find((r) => r.group === group && r.version === version && r.plural === plural)

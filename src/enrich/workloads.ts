/**
 * The owner chain, as data and pure functions: which kinds are looked up, where they are served, which
 * attributes name them, and how one event's enrichment follows from the objects read for it.
 */
import type { ApiCall } from "../domain/apiCalls.ts"
import { Resource as R } from "../domain/attributes.ts"
import { serviceNameOf } from "../domain/serviceName.ts"

/** One kind the enricher reads with a GET. */
export interface Workload {
  /** Position in `WORKLOADS`, for cheap per-kind counting. */
  readonly index: number
  readonly kind: string
  readonly group: string
  readonly version: string
  readonly resource: string
  readonly nameAttribute: string
  readonly uidAttribute: string
  /**
   * The controller kind that only a GET of this object reveals: a pod's owner reference names its ReplicaSet,
   * but only the ReplicaSet's own owner reference names the Deployment.
   */
  readonly parent: string | undefined
}

const workload = (
  index: number,
  kind: string,
  group: string,
  resource: string,
  nameAttribute: string,
  uidAttribute: string,
  parent?: string
): Workload => ({ index, kind, group, version: "v1", resource, nameAttribute, uidAttribute, parent })

/** By lower-case kind: core/v1 events from some components spell kinds in lower case. */
const WORKLOADS: Readonly<Record<string, Workload>> = {
  pod: workload(0, "Pod", "", "pods", R.podName, R.podUid),
  replicaset: workload(1, "ReplicaSet", "apps", "replicasets", R.replicaSetName, R.replicaSetUid, "Deployment"),
  deployment: workload(2, "Deployment", "apps", "deployments", R.deploymentName, R.deploymentUid),
  statefulset: workload(3, "StatefulSet", "apps", "statefulsets", R.statefulSetName, R.statefulSetUid),
  daemonset: workload(4, "DaemonSet", "apps", "daemonsets", R.daemonSetName, R.daemonSetUid),
  job: workload(5, "Job", "batch", "jobs", R.jobName, R.jobUid, "CronJob"),
  cronjob: workload(6, "CronJob", "batch", "cronjobs", R.cronJobName, R.cronJobUid)
}
export const WORKLOAD_LIST: ReadonlyArray<Workload> = Object.values(WORKLOADS).sort((a, b) => a.index - b.index)

/** The kinds kept by list+watch caches (`OwnerCaches`): every owner chain goes through them. */
export const WATCHED_WORKLOADS: ReadonlyArray<Workload> = WORKLOAD_LIST.filter(
  (w) => w.parent !== undefined || w.kind === "Pod"
)

/**
 * Every call the enricher can make, for deriving its RBAC rules. `pods`, `replicasets` and `jobs` are listed and
 * watched for the owner chain (pod → ReplicaSet → Deployment, pod → Job → CronJob), and read with a GET when an
 * object is not (yet) in the cache; `deployments`, `statefulsets`, `daemonsets` and `cronjobs` only with a GET
 * when an event is about one of them, for its labels and its `resource.opentelemetry.io/*` annotations. Without
 * one of these rules, events about that kind go out without what it would have added; nothing else breaks.
 */
export const ENRICHMENT_API_CALLS: ReadonlyArray<ApiCall> = [
  ...WORKLOAD_LIST.map((w): ApiCall => ({ feature: "enrichment", verb: "get", group: w.group, resource: w.resource })),
  ...WATCHED_WORKLOADS.flatMap((w) =>
    (["list", "watch"] as const).map((verb): ApiCall => ({
      feature: "enrichment",
      verb,
      group: w.group,
      resource: w.resource
    }))
  )
]

/** The API group of an `apiVersion` ("v1" → "", "apps/v1" → "apps"); `undefined` stays unknown. */
const groupOf = (apiVersion: string | undefined): string | undefined => {
  if (apiVersion === undefined) return undefined
  const slash = apiVersion.indexOf("/")
  return slash < 0 ? "" : apiVersion.slice(0, slash)
}

/** The workload a reference names, when it is one: the kind must match, and the group too when it is given. */
export const workloadOf = (kind: string | undefined, apiVersion: string | undefined): Workload | undefined => {
  if (kind === undefined) return undefined
  const w = WORKLOADS[kind.toLowerCase()]
  if (w === undefined) return undefined
  const group = groupOf(apiVersion)
  return group === undefined || group === w.group ? w : undefined
}

/** Where the objects of `w` are listed and watched: in one namespace, or in all of them. */
export const collectionPath = (w: Workload, namespace: string | undefined): string => {
  const base = `${w.group === "" ? "/api" : `/apis/${w.group}`}/${w.version}`
  return namespace === undefined
    ? `${base}/${w.resource}`
    : `${base}/namespaces/${encodeURIComponent(namespace)}/${w.resource}`
}

export const objectPath = (w: Workload, namespace: string, name: string): string =>
  `${collectionPath(w, namespace)}/${encodeURIComponent(name)}`

/** The controller owner reference (`controller: true`) of an object. */
export interface ControllerRef {
  readonly apiVersion: string | undefined
  readonly kind: string
  readonly name: string
  readonly uid: string | undefined
}

/** What the enricher keeps of an object it read: a few fields, not the object. */
export interface WorkloadObject {
  readonly uid: string | undefined
  readonly labels: Readonly<Record<string, string>>
  /** `resource.opentelemetry.io/service.name` */
  readonly serviceName: string | undefined
  /** `resource.opentelemetry.io/service.namespace` */
  readonly serviceNamespace: string | undefined
  readonly controller: ControllerRef | undefined
  /** Pods only: `spec.nodeName`, absent until the pod is scheduled. */
  readonly nodeName: string | undefined
}

const POD_LABEL_PREFIX = "k8s.pod.label."

export interface Enrichment {
  /** Resource attributes to merge over the event's own. */
  readonly resource: Readonly<Record<string, string>>
  /** The involved object's own labels (for label filters). */
  readonly labels: Readonly<Record<string, string>>
}

export const EMPTY_ENRICHMENT: Enrichment = Object.freeze({ resource: Object.freeze({}), labels: Object.freeze({}) })

export interface DeriveSettings {
  readonly podLabels: ReadonlyArray<string>
  readonly serviceNameFromLabels: boolean
}

/** An object read for an event is the event's object unless both name a uid and the uids differ. */
export const sameObject = (o: WorkloadObject, uid: string | undefined): boolean =>
  uid === undefined || o.uid === undefined || o.uid === uid

const put = (attrs: Record<string, string>, key: string, value: string | undefined) => {
  if (value !== undefined && value !== "") attrs[key] = value
}

/**
 * The enrichment of an event about `object` (of kind `w`), given its controller's workload kind and, when that
 * kind has a parent, the controller object as read (`undefined` when not known). `service.name` comes only
 * from the annotation or the labels: the translator falls back to the workload names itself.
 */
export const deriveEnrichment = (
  w: Workload,
  object: WorkloadObject,
  controller: Workload | undefined,
  controllerObject: WorkloadObject | undefined,
  settings: DeriveSettings
): Enrichment => {
  const attrs: Record<string, string> = {}
  put(attrs, w.uidAttribute, object.uid)
  if (w.kind === "Pod") {
    put(attrs, R.nodeName, object.nodeName)
    for (const key of settings.podLabels) put(attrs, POD_LABEL_PREFIX + key, object.labels[key])
  }
  const ref = object.controller
  if (controller !== undefined && ref !== undefined) {
    put(attrs, controller.nameAttribute, ref.name)
    put(attrs, controller.uidAttribute, ref.uid)
    const up = controllerObject?.controller
    if (up !== undefined && controller.parent !== undefined) {
      const parent = workloadOf(up.kind, up.apiVersion)
      if (parent !== undefined && parent.kind === controller.parent) {
        put(attrs, parent.nameAttribute, up.name)
        put(attrs, parent.uidAttribute, up.uid)
      }
    }
  }
  const labels = settings.serviceNameFromLabels ? object.labels : undefined
  put(attrs, R.serviceName, serviceNameOf({ annotation: object.serviceName, labels }))
  put(attrs, R.serviceNamespace, object.serviceNamespace)
  return { resource: attrs, labels: object.labels }
}

/** The workload kind of an object's controller, when it is one the chain knows (a pod's Node owner is not). */
export const controllerWorkload = (o: WorkloadObject): Workload | undefined => {
  const ref = o.controller
  if (ref === undefined) return undefined
  const w = workloadOf(ref.kind, ref.apiVersion)
  return w === undefined || w.resource === "pods" ? undefined : w
}

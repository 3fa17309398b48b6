import type { Attributes } from "@opentelemetry/api"
import { resourceFromAttributes, type Resource } from "@opentelemetry/resources"
import { Resource as R } from "../domain/attributes.ts"
import { BoundedMap } from "../domain/BoundedMap.ts"
import { serviceNameOf } from "../domain/serviceName.ts"
import type { KubeEvent, ObjectRef } from "../domain/KubeEvent.ts"

/** Attributes that an enrichment step learned about the involved object (owner chain, labels, service). */
export type ResourceAttributes = Readonly<Record<string, string>>

/**
 * Involved-object kinds whose name and uid have their own semantic-convention attributes, by lower-case kind:
 * real clusters send `deployment` as well as `Deployment`.
 */
const KIND_ATTRIBUTES: Readonly<Record<string, readonly [name: string, uid: string]>> = {
  pod: [R.podName, R.podUid],
  node: [R.nodeName, R.nodeUid],
  replicaset: [R.replicaSetName, R.replicaSetUid],
  deployment: [R.deploymentName, R.deploymentUid],
  statefulset: [R.statefulSetName, R.statefulSetUid],
  daemonset: [R.daemonSetName, R.daemonSetUid],
  job: [R.jobName, R.jobUid],
  cronjob: [R.cronJobName, R.cronJobUid]
}

/**
 * Well-known cluster-scoped kinds. Some components write a namespace into the reference of such an object (the
 * fixtures have Nodes "in" openshift-apiserver); a namespace label on those records would file them wrongly.
 */
const CLUSTER_SCOPED = new Set([
  "node",
  "namespace",
  "persistentvolume",
  "storageclass",
  "clusterrole",
  "clusterrolebinding",
  "customresourcedefinition",
  "priorityclass",
  "csidriver",
  "csinode",
  "volumeattachment",
  "validatingwebhookconfiguration",
  "mutatingwebhookconfiguration",
  "apiservice",
  "runtimeclass",
  "ingressclass",
  "certificatesigningrequest",
  "clusterversion",
  "clusteroperator",
  "machineconfigpool",
  "machineconfig"
])

/** `spec.containers{name}`, `spec.initContainers{name}`, `spec.ephemeralContainers{name}` → the container name. */
const CONTAINER_FIELD_PATH = /^spec\.(?:initContainers|containers|ephemeralContainers)\{([^}]+)\}/
export const containerNameOf = (fieldPath: string | undefined): string | undefined =>
  fieldPath === undefined ? undefined : CONTAINER_FIELD_PATH.exec(fieldPath)?.[1]

const put = (attrs: Record<string, string>, key: string, value: string | undefined) => {
  if (value !== undefined && value !== "") attrs[key] = value
}

const KUBELET = "kubelet"

/**
 * The node the event itself names for its object: the kubelet's `source.host`, when a kubelet reports about a Pod
 * or a Node. A kubelet reports only about its own node and the pods bound to it, so its host is where that object
 * runs. Any other reporter's `source.host` is where the reporter runs (an API server's host name, a pod's
 * hostname), not where the object is: it names no node.
 */
export const kubeletNodeOf = (e: KubeEvent): string | undefined => {
  if (e.sourceHost === undefined || (e.sourceComponent !== KUBELET && e.reportingController !== KUBELET)) return
  // Asked for every record: the usual spelling is compared before any lower-case copy is made.
  const kind = e.regarding.kind
  if (kind === "Pod" || kind === "Node") return e.sourceHost
  const lower = kind?.toLowerCase()
  return lower === "pod" || lower === "node" ? e.sourceHost : undefined
}

/** The resource attributes of one event, before the base attributes (cluster, `OTEL_RESOURCE_ATTRIBUTES`). */
export const eventResourceAttributes = (e: KubeEvent, enrichment: ResourceAttributes = {}): Record<string, string> => {
  const o: ObjectRef = e.regarding
  const attrs: Record<string, string> = {}
  const kind = o.kind?.toLowerCase()
  put(
    attrs,
    R.namespaceName,
    kind === "namespace" ? o.name : kind !== undefined && CLUSTER_SCOPED.has(kind) ? undefined : o.namespace
  )
  put(attrs, R.objectKind, o.kind)
  put(attrs, R.objectName, o.name)
  put(attrs, R.objectUid, o.uid)
  put(attrs, R.objectApiVersion, o.apiVersion)
  put(attrs, R.objectFieldPath, o.fieldPath)
  put(attrs, R.objectResourceVersion, o.resourceVersion)
  const kindAttrs = kind === undefined ? undefined : KIND_ATTRIBUTES[kind]
  if (kindAttrs !== undefined) {
    put(attrs, kindAttrs[0], o.name)
    put(attrs, kindAttrs[1], o.uid)
  }
  // A Node is itself (above); a Pod is where its kubelet says, unless the enrichment read its `spec.nodeName`.
  if (attrs[R.nodeName] === undefined) put(attrs, R.nodeName, kubeletNodeOf(e))
  put(attrs, R.containerName, containerNameOf(o.fieldPath))
  Object.assign(attrs, enrichment)
  if (attrs[R.serviceName] === undefined) put(attrs, R.serviceName, serviceNameOf({ workloads: attrs }))
  if (attrs[R.serviceName] !== undefined && attrs[R.serviceNamespace] === undefined) {
    put(attrs, R.serviceNamespace, attrs[R.namespaceName])
  }
  return attrs
}

/** What a resource is made of besides the base attributes: the event's object reference, node and enrichment. */
interface Inputs {
  readonly regarding: ObjectRef
  readonly kubeletNode: string | undefined
  readonly enrichment: ResourceAttributes | undefined
  readonly resource: Resource
}

/** How many input sets one object keeps (its container field paths, resourceVersions, nodes), newest first. */
const INPUTS_PER_OBJECT = 4

const sameInputs = (
  a: Inputs,
  e: KubeEvent,
  kubeletNode: string | undefined,
  enrichment: ResourceAttributes | undefined
): boolean => {
  const x = a.regarding
  const y = e.regarding
  return (
    a.enrichment === enrichment &&
    x.uid === y.uid &&
    x.name === y.name &&
    x.kind === y.kind &&
    x.namespace === y.namespace &&
    x.apiVersion === y.apiVersion &&
    x.fieldPath === y.fieldPath &&
    x.resourceVersion === y.resourceVersion &&
    a.kubeletNode === kubeletNode
  )
}

/**
 * Interns `Resource` objects by attribute set. The OTLP encoder groups a batch's records by `Resource`
 * identity, so one object per distinct set keeps a batch's events about one object under one ResourceLogs,
 * and saves building the same resource again for every repeat of an event. Bounded, least recently used out.
 */
export class ResourceCache {
  readonly #entries: BoundedMap<string, Resource>
  /** By the object's uid (or name): the input sets of its recent events, compared field by field, no key built. */
  readonly #byObject: BoundedMap<string, Array<Inputs>>
  readonly #base: Attributes

  constructor(base: Attributes, capacity = 10_000) {
    this.#base = base
    this.#entries = new BoundedMap(capacity)
    this.#byObject = new BoundedMap(capacity)
  }

  get size(): number {
    return this.#entries.size
  }

  /**
   * The resource of an event: looked up first by what it is made of (the event's object reference and node, and
   * the enrichment object, which the enricher shares between the events of one object), so that a repeat costs
   * a lookup and a few comparisons and no attribute set; built and interned by attribute set on a miss.
   */
  resourceOf(e: KubeEvent, enrichment: ResourceAttributes | undefined): Resource {
    const objectKey = e.regarding.uid ?? e.regarding.name ?? ""
    const known = this.#byObject.get(objectKey)
    const kubeletNode = kubeletNodeOf(e)
    if (known !== undefined) {
      for (const inputs of known) if (sameInputs(inputs, e, kubeletNode, enrichment)) return inputs.resource
    }
    const resource = this.resourceFor(eventResourceAttributes(e, enrichment))
    const inputs: Inputs = { regarding: e.regarding, kubeletNode, enrichment, resource }
    if (known === undefined) this.#byObject.set(objectKey, [inputs])
    else {
      known.unshift(inputs)
      if (known.length > INPUTS_PER_OBJECT) known.pop()
    }
    return resource
  }

  resourceFor(attrs: Readonly<Record<string, string>>): Resource {
    // Sorted, and each text prefixed with its length so that no key or value can run into the next one.
    let key = ""
    for (const k of Object.keys(attrs).sort()) {
      const v = attrs[k] ?? ""
      key += `${k.length}:${k}${v.length}:${v}`
    }
    const hit = this.#entries.use(key)
    if (hit !== undefined) return hit
    const resource = resourceFromAttributes({ ...this.#base, ...attrs })
    this.#entries.set(key, resource)
    return resource
  }
}

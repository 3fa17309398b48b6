/**
 * Builders for the objects events talk about (Pods, Nodes, workloads with owner references, HPAs)
 * and for the objects a collector writes (ConfigMaps, Leases). Each call stores the object and
 * returns the stored version (with uid and resourceVersion).
 */
import { type ResourceType, Resources } from "./resources.ts"
import type { KubeObject, OwnerReference, StoredKubeObject, VersionedStore } from "./store.ts"

export const NAME_LABEL = "app.kubernetes.io/name"
/**
 * The uid of the simulated cluster's `kube-system` namespace, and so its `k8s.cluster.uid`: fixed, so that every
 * run of the demo names its cluster the same way, as a real cluster's namespace keeps its uid.
 */
export const KUBE_SYSTEM_UID = "2f6d3b8e-5a1c-4e7f-9b0d-8c4a6e2f1d35"
export const SERVICE_NAME_ANNOTATION = "resource.opentelemetry.io/service.name"

/** A controller owner reference to a stored object, as controllers set it. */
export const ownerReference = (owner: StoredKubeObject, controller = true): OwnerReference => ({
  apiVersion: owner.apiVersion,
  kind: owner.kind,
  name: owner.metadata.name,
  uid: owner.metadata.uid,
  controller,
  blockOwnerDeletion: true
})

/** The reference an event's `involvedObject` carries. */
export const objectReference = (o: StoredKubeObject, fieldPath?: string) => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  name: o.metadata.name,
  ...(o.metadata.namespace === undefined ? {} : { namespace: o.metadata.namespace }),
  uid: o.metadata.uid,
  resourceVersion: o.metadata.resourceVersion,
  ...(fieldPath === undefined ? {} : { fieldPath })
})

export interface MetaInput {
  readonly name: string
  readonly namespace?: string
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
  /** The controlling owner (sets `ownerReferences`). */
  readonly owner?: StoredKubeObject
}

const meta = (m: MetaInput, extraLabels: Readonly<Record<string, string>> = {}) => ({
  name: m.name,
  ...(m.namespace === undefined ? {} : { namespace: m.namespace }),
  labels: { ...extraLabels, ...m.labels },
  ...(m.annotations === undefined ? {} : { annotations: m.annotations }),
  ...(m.owner === undefined ? {} : { ownerReferences: [ownerReference(m.owner)] })
})

const selectorOf = (labels: Readonly<Record<string, string>>) => ({ matchLabels: labels })

export interface WorkloadInput extends MetaInput {
  readonly replicas?: number
  readonly image?: string
}

export interface PodInput extends MetaInput {
  readonly nodeName?: string
  readonly image?: string
  readonly containers?: ReadonlyArray<string>
  readonly phase?: string
}

const podSpec = (name: string, image: string, containers: ReadonlyArray<string> = [name]) => ({
  containers: containers.map((c) => ({ name: c, image, resources: {} })),
  restartPolicy: "Always",
  schedulerName: "default-scheduler"
})

/** A pod with the names its owner chain and its service annotation give it. */
export interface OwnedPod {
  readonly pod: StoredKubeObject
  /** Its ReplicaSet or Job. */
  readonly owner: string
  /** The Deployment or CronJob above that. */
  readonly top: string
  readonly node: string
  /** Its `resource.opentelemetry.io/service.name` annotation. */
  readonly service: string
}

export class SimObjects {
  readonly #store: VersionedStore

  constructor(store: VersionedStore) {
    this.#store = store
  }

  create(resource: ResourceType, obj: KubeObject): StoredKubeObject {
    return this.#store.create(resource, obj).object
  }

  get(resource: ResourceType, namespace: string | undefined, name: string): StoredKubeObject | undefined {
    return this.#store.get(resource, namespace, name)?.object
  }

  namespace(name: string, labels: Readonly<Record<string, string>> = {}): StoredKubeObject {
    return this.create(Resources.namespaces, {
      metadata: { name, labels: { "kubernetes.io/metadata.name": name, ...labels } },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" }
    })
  }

  /** `kube-system`, which every cluster has, with the fixed uid `KUBE_SYSTEM_UID`. */
  kubeSystemNamespace(): StoredKubeObject {
    const name = "kube-system"
    return this.#store.create(
      Resources.namespaces,
      {
        metadata: { name, uid: KUBE_SYSTEM_UID, labels: { "kubernetes.io/metadata.name": name } },
        spec: { finalizers: ["kubernetes"] },
        status: { phase: "Active" }
      },
      { keepUid: true }
    ).object
  }

  node(name: string, labels: Readonly<Record<string, string>> = {}): StoredKubeObject {
    return this.create(Resources.nodes, {
      metadata: { name, labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", ...labels } },
      spec: {},
      status: { conditions: [nodeReadyCondition(true, this.#store.now())] }
    })
  }

  /** Flips the node's Ready condition (a MODIFIED on the node). */
  setNodeReady(name: string, ready: boolean): StoredKubeObject {
    const now = this.#store.now()
    return this.#store.modify(Resources.nodes, undefined, name, (n) => ({
      ...n,
      status: { conditions: [nodeReadyCondition(ready, now)] }
    })).object
  }

  deployment(m: WorkloadInput): StoredKubeObject {
    const labels = { [NAME_LABEL]: m.name, ...m.labels }
    return this.create(Resources.deployments, {
      metadata: meta(m, { [NAME_LABEL]: m.name }),
      spec: {
        replicas: m.replicas ?? 1,
        selector: selectorOf({ [NAME_LABEL]: m.name }),
        template: { metadata: { labels }, spec: podSpec(m.name, m.image ?? `registry.example.com/${m.name}:1.0.0`) }
      }
    })
  }

  replicaSet(m: WorkloadInput & { readonly podTemplateHash?: string }): StoredKubeObject {
    const hash = m.podTemplateHash ?? m.name.split("-").pop() ?? "0"
    const appName = m.labels?.[NAME_LABEL] ?? m.owner?.metadata.name ?? m.name
    const labels = { [NAME_LABEL]: appName, "pod-template-hash": hash }
    return this.create(Resources.replicasets, {
      metadata: meta(m, labels),
      spec: {
        replicas: m.replicas ?? 1,
        selector: selectorOf(labels),
        template: { metadata: { labels }, spec: podSpec(appName, m.image ?? `registry.example.com/${appName}:1.0.0`) }
      }
    })
  }

  statefulSet(m: WorkloadInput): StoredKubeObject {
    return this.create(Resources.statefulsets, {
      metadata: meta(m, { [NAME_LABEL]: m.name }),
      spec: { replicas: m.replicas ?? 1, serviceName: m.name, selector: selectorOf({ [NAME_LABEL]: m.name }) }
    })
  }

  daemonSet(m: WorkloadInput): StoredKubeObject {
    return this.create(Resources.daemonsets, {
      metadata: meta(m, { [NAME_LABEL]: m.name }),
      spec: { selector: selectorOf({ [NAME_LABEL]: m.name }) }
    })
  }

  cronJob(m: WorkloadInput & { readonly schedule?: string }): StoredKubeObject {
    return this.create(Resources.cronjobs, {
      metadata: meta(m, { [NAME_LABEL]: m.name }),
      spec: {
        schedule: m.schedule ?? "0 2 * * *",
        jobTemplate: {
          spec: {
            template: {
              spec: {
                ...podSpec(m.name, m.image ?? `registry.example.com/${m.name}:1.0.0`),
                restartPolicy: "OnFailure"
              }
            }
          }
        }
      }
    })
  }

  job(m: WorkloadInput): StoredKubeObject {
    const appName = m.labels?.[NAME_LABEL] ?? m.owner?.metadata.name ?? m.name
    return this.create(Resources.jobs, {
      metadata: meta(m, { [NAME_LABEL]: appName, "job-name": m.name }),
      spec: { completions: 1, parallelism: 1, backoffLimit: 6 }
    })
  }

  /** A pod; without explicit labels it carries its controller's labels (app name, pod-template-hash, job-name). */
  pod(m: PodInput): StoredKubeObject {
    const inherited = m.owner?.metadata.labels ?? {}
    const appName = m.labels?.[NAME_LABEL] ?? inherited[NAME_LABEL] ?? m.name
    return this.create(Resources.pods, {
      metadata: meta(m, { ...inherited, [NAME_LABEL]: appName }),
      spec: {
        ...podSpec(appName, m.image ?? `registry.example.com/${appName}:1.0.0`, m.containers),
        ...(m.nodeName === undefined ? {} : { nodeName: m.nodeName })
      },
      status: { phase: m.phase ?? "Pending" }
    })
  }

  horizontalPodAutoscaler(
    m: MetaInput & { readonly target: StoredKubeObject; readonly minReplicas?: number; readonly maxReplicas?: number }
  ): StoredKubeObject {
    const { owner: _owner, ...rest } = m
    return this.create(Resources.horizontalpodautoscalers, {
      metadata: meta(rest),
      spec: {
        scaleTargetRef: { apiVersion: m.target.apiVersion, kind: m.target.kind, name: m.target.metadata.name },
        minReplicas: m.minReplicas ?? 1,
        maxReplicas: m.maxReplicas ?? 10,
        metrics: [
          { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }
        ]
      }
    })
  }

  /**
   * `deployments` Deployments (one ReplicaSet, two pods each) and `cronJobs` CronJobs (one Job, one pod each) in
   * `namespace`; every pod names its service in the annotation.
   */
  ownedPods(m: { readonly deployments: number; readonly cronJobs: number; readonly namespace: string }): OwnedPod[] {
    const { namespace } = m
    const pods: OwnedPod[] = []
    for (let d = 0; d < m.deployments; d++) {
      const deployment = this.deployment({ name: `web-${d}`, namespace })
      const rs = this.replicaSet({ name: `web-${d}-7d9f8b`, namespace, owner: deployment })
      for (let p = 0; p < 2; p++) {
        const service = `svc-${d}`
        const annotations = { [SERVICE_NAME_ANNOTATION]: service }
        const name = `web-${d}-7d9f8b-${p}`
        const pod = this.pod({ name, namespace, owner: rs, nodeName: `node-${p}`, annotations })
        pods.push({ pod, owner: rs.metadata.name, top: deployment.metadata.name, node: `node-${p}`, service })
      }
    }
    for (let c = 0; c < m.cronJobs; c++) {
      const cronJob = this.cronJob({ name: `backup-${c}`, namespace })
      const job = this.job({ name: `backup-${c}-2917`, namespace, owner: cronJob })
      const service = `backup-${c}`
      const annotations = { [SERVICE_NAME_ANNOTATION]: service }
      const pod = this.pod({ name: `backup-${c}-2917-x`, namespace, owner: job, nodeName: "node-9", annotations })
      pods.push({ pod, owner: job.metadata.name, top: cronJob.metadata.name, node: "node-9", service })
    }
    return pods
  }

  configMap(m: MetaInput & { readonly data?: Readonly<Record<string, string>> }): StoredKubeObject {
    return this.create(Resources.configmaps, { metadata: meta(m), data: m.data ?? {} })
  }

  lease(m: MetaInput & { readonly holderIdentity?: string; readonly leaseDurationSeconds?: number }): StoredKubeObject {
    const now = new Date(this.#store.now()).toISOString().replace("Z", "000Z")
    return this.create(Resources.leases, {
      metadata: meta(m),
      spec: {
        ...(m.holderIdentity === undefined
          ? {}
          : { holderIdentity: m.holderIdentity, acquireTime: now, renewTime: now }),
        leaseDurationSeconds: m.leaseDurationSeconds ?? 15,
        leaseTransitions: 0
      }
    })
  }
}

const nodeReadyCondition = (ready: boolean, nowMs: number) => {
  const t = new Date(Math.floor(nowMs / 1000) * 1000).toISOString().replace(".000Z", "Z")
  return ready
    ? {
        type: "Ready",
        status: "True",
        reason: "KubeletReady",
        message: "kubelet is posting ready status",
        lastHeartbeatTime: t,
        lastTransitionTime: t
      }
    : {
        type: "Ready",
        status: "Unknown",
        reason: "NodeStatusUnknown",
        message: "Kubelet stopped posting node status.",
        lastHeartbeatTime: t,
        lastTransitionTime: t
      }
}

/**
 * Against a real kube-apiserver, kube-controller-manager and kube-scheduler: what is said of a pod just after it
 * was deleted still carries its owner chain. A Deployment's pods, bound by the real scheduler to a Node (kept Ready
 * by the test, there is no kubelet), are evicted by the real taint eviction controller when the Node is tainted
 * NoExecute: its TaintManagerEviction event about each pod, and the Killing a kubelet would report once the pod is
 * gone, come out with the pod's ReplicaSet, Deployment and service.name, read from the collector's caches after
 * the pod left them. A ServiceAccount that may list pods but not watch them: the real server's 403 on the watch is
 * said once, and the pods are listed again every --enrichment-cache-ttl.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventually } from "../support/collector.ts"
import { type OtlpLogRecord, type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"
import { attribute, auditEntries, type RealCollector, runCollector, withReason } from "./support/collectorRun.ts"
import {
  type ControlPlane,
  deployObject,
  field,
  isKubeObject,
  type KubeObject,
  objectPath,
  startControlPlane
} from "./support/controlPlane.ts"
import { coreEvent, now } from "./support/eventWriter.ts"

const NS = "real-enrichment"
const NODE = "node-to-drain"

let cp: ControlPlane
let receiver: OtlpReceiver
let collector: RealCollector
let heartbeat: NodeJS.Timeout | undefined

/** What a kubelet reports of its Node: Ready, with room for ten pods. */
const reportReady = (node: KubeObject) => {
  const capacity = { cpu: "4", memory: "8Gi", pods: "10" }
  return cp.admin.patch(
    node,
    {
      status: {
        capacity,
        allocatable: capacity,
        conditions: [
          { type: "Ready", status: "True", reason: "KubeletReady", lastHeartbeatTime: now(), lastTransitionTime: now() }
        ]
      }
    },
    "/status"
  )
}

beforeAll(async () => {
  cp = await startControlPlane({ controllerManager: true, scheduler: true })
  receiver = await startOtlpReceiver()
  await cp.admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } })
  const kubeconfig = await cp.serviceAccountKubeconfig(cp.deployNamespace, cp.deployServiceAccount)
  collector = await runCollector(kubeconfig, receiver, ["--api", "core/v1"])
})

afterAll(async () => {
  if (heartbeat !== undefined) clearInterval(heartbeat)
  await collector?.stop()
  await receiver?.close()
  await cp?.stop()
})

interface PodSeen {
  readonly name: string
  readonly uid: string
  readonly replicaSet: string
}

/** The Deployment's pods bound to `NODE`, with their ReplicaSet. */
const boundPods = async (app: string): Promise<ReadonlyArray<PodSeen>> => {
  const list = await cp.admin.ok("GET", `/api/v1/namespaces/${NS}/pods?labelSelector=app%3D${app}`)
  const items = Array.isArray(list["items"]) ? list["items"] : []
  return items.flatMap((pod: unknown): Array<PodSeen> => {
    const spec = isKubeObject(pod) ? pod["spec"] : undefined
    if (!isKubeObject(spec) || spec["nodeName"] !== NODE) return []
    const metadata = isKubeObject(pod) ? pod["metadata"] : undefined
    const owners =
      isKubeObject(metadata) && Array.isArray(metadata["ownerReferences"]) ? metadata["ownerReferences"] : []
    return [
      {
        name: field(pod, "metadata", "name"),
        uid: field(pod, "metadata", "uid"),
        replicaSet: field(owners[0], "name")
      }
    ]
  })
}

const about = (pod: PodSeen) => (r: OtlpLogRecord) =>
  attribute(r, "k8s.object.kind") === "Pod" && attribute(r, "k8s.object.name") === pod.name

describe("records about pods just deleted", () => {
  it("a drained Deployment's pods: TaintManagerEviction and Killing carry the chain and service.name", async () => {
    const node = await cp.admin.create({ apiVersion: "v1", kind: "Node", metadata: { name: NODE } })
    await reportReady(node)
    // No kubelet renews it: the test does, so that the node lifecycle controller keeps the Node Ready.
    heartbeat = setInterval(() => void reportReady(node).catch(() => undefined), 2_000)

    // Pods that go at once when deleted: a bound pod with a grace period would wait for its kubelet.
    await cp.admin.create({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "shop", namespace: NS },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: "shop" } },
        template: {
          metadata: { labels: { app: "shop" } },
          spec: {
            terminationGracePeriodSeconds: 0,
            containers: [{ name: "shop", image: "registry.invalid/shop:1" }]
          }
        }
      }
    })
    let pods: ReadonlyArray<PodSeen> = []
    await eventually(
      async () => {
        pods = await boundPods("shop")
        expect(pods).toHaveLength(2)
      },
      60_000,
      250
    )
    // The collector knows them: the scheduler's Scheduled about each came out with its chain.
    await eventually(
      () => {
        for (const pod of pods) {
          const scheduled = withReason(receiver.records, "Scheduled").filter(about(pod))
          expect(scheduled.map((r) => r.resource["k8s.deployment.name"])).toEqual(["shop"])
        }
      },
      60_000,
      250
    )

    // Drained: the taint eviction controller reports each pod (TaintManagerEviction) and deletes it.
    await cp.admin.patch(node, { spec: { taints: [{ key: "example.com/drain", effect: "NoExecute" }] } })
    await eventually(
      async () => {
        for (const pod of pods) {
          const answer = await cp.admin.request("GET", `/api/v1/namespaces/${NS}/pods/${pod.name}`)
          expect(answer.status, pod.name).toBe(404)
        }
      },
      60_000,
      250
    )
    // What the pods' kubelet would say once they are gone, a moment after: the collector's watch has seen them go.
    await new Promise((r) => setTimeout(r, 2_000))
    for (const pod of pods) {
      await cp.admin.create({
        ...coreEvent(NS, `${pod.name}.killing`, pod.name),
        involvedObject: { apiVersion: "v1", kind: "Pod", namespace: NS, name: pod.name, uid: pod.uid },
        reason: "Killing",
        message: "Stopping container shop",
        type: "Normal",
        source: { component: "kubelet", host: NODE }
      })
    }

    await eventually(
      () => {
        for (const pod of pods) {
          expect(withReason(receiver.records, "TaintManagerEviction").filter(about(pod)), pod.name).toHaveLength(1)
          expect(withReason(receiver.records, "Killing").filter(about(pod)), pod.name).toHaveLength(1)
        }
      },
      60_000,
      250
    )
    for (const pod of pods) {
      for (const reason of ["TaintManagerEviction", "Killing"]) {
        const [record] = withReason(receiver.records, reason).filter(about(pod))
        expect(record?.resource, `${reason} ${pod.name}`).toMatchObject({
          "k8s.pod.name": pod.name,
          "k8s.pod.uid": pod.uid,
          "k8s.node.name": NODE,
          "k8s.replicaset.name": pod.replicaSet,
          "k8s.deployment.name": "shop",
          "service.name": "shop"
        })
      }
    }
  })
})

describe("pods that may be listed but not watched", () => {
  it("are listed again every --enrichment-cache-ttl; the 403 is said once", async () => {
    const ns = "real-enrichment-no-watch"
    const name = "no-pod-watch"
    await cp.admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
    // deploy/'s ClusterRole, less watch on pods, for a ServiceAccount of its own.
    const role = await cp.admin.ok("GET", objectPath(deployObject("ClusterRole", "k8s-event-collector")))
    const rules = (Array.isArray(role["rules"]) ? role["rules"] : []).map((rule: unknown) =>
      isKubeObject(rule) && Array.isArray(rule["resources"]) && rule["resources"].includes("pods")
        ? { ...rule, verbs: ["get", "list"] }
        : rule
    )
    const rbac = "rbac.authorization.k8s.io"
    await cp.admin.create({ apiVersion: `${rbac}/v1`, kind: "ClusterRole", metadata: { name }, rules })
    await cp.admin.create({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name, namespace: cp.deployNamespace }
    })
    await cp.admin.create({
      apiVersion: `${rbac}/v1`,
      kind: "ClusterRoleBinding",
      metadata: { name },
      roleRef: { apiGroup: rbac, kind: "ClusterRole", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: cp.deployNamespace }]
    })
    const user = `system:serviceaccount:${cp.deployNamespace}:${name}`
    const allowed = (verb: string) =>
      cp.admin
        .ok("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user,
            groups: ["system:serviceaccounts"],
            resourceAttributes: { verb, resource: "pods", namespace: ns }
          }
        })
        .then((review) => isKubeObject(review["status"]) && review["status"]["allowed"] === true)
    await eventually(async () => expect([await allowed("list"), await allowed("watch")]).toEqual([true, false]), 10_000)

    const own = await startOtlpReceiver()
    const kubeconfig = await cp.serviceAccountKubeconfig(cp.deployNamespace, name)
    const ttl = "3s"
    const args = ["--api", "core/v1", "--namespaces", ns, "--enrichment-cache-ttl", ttl, "--api-retry-max", "1s"]
    const noWatch = await runCollector(kubeconfig, own, args)
    try {
      const refusal = new RegExp(`not allowed to watch pods in namespace ${ns} for enrichment \\(HTTP 403\\)`, "g")
      await eventually(() => expect(noWatch.output.stderr).toMatch(refusal), 30_000, 250)
      const calls = (verb: string) =>
        auditEntries(cp.auditLog, user).filter((e) => e.verb === verb && e.resource === "pods")
      // Listed again and again (the first list, then one every 3 s or so), the watch refused each time it is tried.
      await eventually(() => expect(calls("list").length).toBeGreaterThanOrEqual(4), 30_000, 250)
      expect(calls("list").every((e) => e.code === 200)).toBe(true)
      const watches = calls("watch")
      expect(watches.length).toBeGreaterThanOrEqual(calls("list").length - 1)
      expect(new Set(watches.map((e) => e.code))).toEqual(new Set([403]))
      expect(noWatch.output.stderr.match(refusal)).toHaveLength(1)
      expect(noWatch.output.stderr).toContain(`listed again every ${ttl}`)
    } finally {
      await noWatch.stop()
      await own.close()
    }
  })
})

/**
 * Against a real kube-apiserver, kube-controller-manager and kube-scheduler: the events the real components emit
 * and events written through the API are each exported once per stored occurrence (every count or series.count
 * step the server stored, read from its audit log), through a normal watch, an API server restart mid-stream,
 * and a 410 Gone after etcd compaction; both Event APIs give the same records; the server accepts every field
 * selector the collector sends. Records name the node their object runs on, never a reporter's host, and the
 * cluster by the uid of its kube-system namespace.
 */
import { Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseRuleFlag } from "../../src/rules/config.ts"
import { fieldSelectorFor } from "../../src/rules/filter.ts"
import type { Rule } from "../../src/rules/filter.ts"
import { eventually } from "../support/collector.ts"
import { type OtlpLogRecord, type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"
import {
  attribute,
  auditEntries,
  auditLines,
  occurrenceIds,
  type RealCollector,
  repeated,
  runCollector,
  storedOccurrences,
  withReason
} from "./support/collectorRun.ts"
import { type ControlPlane, field, isKubeObject, type KubeObject, startControlPlane } from "./support/controlPlane.ts"
import { coreEvent, EventWriter, now } from "./support/eventWriter.ts"

const NS = "real-events"

let cp: ControlPlane
let receiver: OtlpReceiver
let collector: RealCollector
let collectorUser: string
/** Audit lines before the collector started: what it must export begins after them. */
let startLine: number
const others: Array<{ stop: () => Promise<unknown> }> = []

beforeAll(async () => {
  cp = await startControlPlane({ controllerManager: true, scheduler: true })
  receiver = await startOtlpReceiver()
  await cp.admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } })
  collectorUser = `system:serviceaccount:${cp.deployNamespace}:${cp.deployServiceAccount}`
  const kubeconfig = await cp.serviceAccountKubeconfig(cp.deployNamespace, cp.deployServiceAccount)
  startLine = auditLines(cp.auditLog)
  collector = await runCollector(kubeconfig, receiver, ["--api", "core/v1"])
})

afterAll(async () => {
  for (const o of others.splice(0)) await o.stop()
  await collector?.stop()
  await receiver?.close()
  await cp?.stop()
})

const eventUid = (occurrenceId: string): string => occurrenceId.split(":")[0] ?? ""

/** The first record, failing the test when there is none. */
const first = (records: ReadonlyArray<OtlpLogRecord>, what: string): OtlpLogRecord => {
  const [record] = records
  if (record === undefined) throw new Error(`no record: ${what}`)
  return record
}

/** Every stored occurrence of an Event created since the collector started arrived, and none twice. */
const expectEveryStoredOccurrenceOnce = async (timeoutMs = 30_000) => {
  await eventually(
    () => {
      const expected = storedOccurrences(cp.auditLog, startLine).map((o) => o.id)
      const uids = new Set(expected.map(eventUid))
      const received = occurrenceIds(receiver.records).filter((id) => uids.has(eventUid(id)))
      expect(new Set(received)).toEqual(new Set(expected))
    },
    timeoutMs,
    500
  )
  expect(repeated(occurrenceIds(receiver.records))).toEqual([])
}

/** The first line of a watch from `resourceVersion`, or its HTTP status when the server refused it. */
const watchAnswer = async (resourceVersion: string): Promise<number> => {
  const response = await cp.admin.request(
    "GET",
    `/api/v1/namespaces/${NS}/events?watch=true&resourceVersion=${resourceVersion}&timeoutSeconds=1`
  )
  if (response.status !== 200) return response.status
  const line: unknown = JSON.parse(response.text.split("\n")[0] ?? "{}")
  if (!isKubeObject(line) || line["type"] !== "ERROR") return 200
  const status = line["object"]
  return isKubeObject(status) && typeof status["code"] === "number" ? status["code"] : 0
}

/** What a kubelet reports of its Node once: this capacity, and Ready (there is no kubelet to keep it so). */
const reportReady = (node: KubeObject, capacity: Readonly<Record<string, string>>) =>
  cp.admin.patch(
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

describe("the real components' events", () => {
  it("a Deployment scaled up, pods no node can take, a Node with no kubelet: each stored occurrence once", async () => {
    const deployment = await cp.admin.create({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: NS },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { containers: [{ name: "web", image: "registry.invalid/web:1" }] }
        }
      }
    })
    await eventually(() => expect(withReason(receiver.records, "SuccessfulCreate")).toHaveLength(1), 60_000, 250)
    await cp.admin.patch(deployment, { spec: { replicas: 3 } })
    await eventually(
      () => {
        expect(withReason(receiver.records, "ScalingReplicaSet").map((r) => r.body)).toEqual([
          expect.stringMatching(/^Scaled up replica set web-[a-z0-9]+ from 0 to 1$/),
          expect.stringMatching(/^Scaled up replica set web-[a-z0-9]+ from 1 to 3$/)
        ])
        expect(withReason(receiver.records, "SuccessfulCreate")).toHaveLength(3)
        // No node at all: the scheduler reports each pod once through events.k8s.io/v1.
        const unschedulable = withReason(receiver.records, "FailedScheduling").map((r) =>
          attribute(r, "k8s.object.name")
        )
        expect(new Set(unschedulable).size).toBe(3)
      },
      90_000,
      500
    )

    // No node at all: the scheduler tries each pod again after a backoff, fails the same way, and makes the pod's
    // Event a series (events.k8s.io/v1 keeps further repeats in memory for 30 minutes before writing them).
    await eventually(
      () => {
        const series = withReason(receiver.records, "FailedScheduling").filter(
          (r) => attribute(r, "k8s.event.count") === 2
        )
        expect(series.length).toBeGreaterThanOrEqual(1)
      },
      60_000,
      500
    )

    // A Node that said Ready once and has no kubelet: the node lifecycle controller finds it NotReady after its
    // grace period.
    const node = await cp.admin.create({ apiVersion: "v1", kind: "Node", metadata: { name: "node-without-kubelet" } })
    await reportReady(node, { cpu: "1", pods: "0" })
    await eventually(
      () => {
        expect(withReason(receiver.records, "NodeNotReady").map((r) => attribute(r, "k8s.object.name"))).toContain(
          "node-without-kubelet"
        )
      },
      90_000,
      500
    )

    const scaling = first(withReason(receiver.records, "ScalingReplicaSet"), "ScalingReplicaSet")
    expect(scaling.resource).toMatchObject({ "k8s.deployment.name": "web", "k8s.namespace.name": NS })
    expect(attribute(scaling, "k8s.event.source.component")).toBe("deployment-controller")
    const scheduling = first(withReason(receiver.records, "FailedScheduling"), "FailedScheduling")
    expect(attribute(scheduling, "k8s.event.reporting_controller")).toBe("default-scheduler")
    expect(scheduling.resource).toMatchObject({
      "k8s.deployment.name": "web",
      "k8s.replicaset.name": expect.stringMatching(/^web-/)
    })
    await expectEveryStoredOccurrenceOnce()
  })

  it("k8s.node.name is where the object runs, and k8s.cluster.uid is the kube-system namespace's uid", async () => {
    // A Node that takes one pod: its taint keeps the Deployment's pods off it, and the pod tolerates every taint,
    // so the scheduler binds it whether or not the node lifecycle controller already found the node NotReady.
    const node = await cp.admin.create({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "node-with-room" },
      spec: { taints: [{ key: "example.com/reserved", value: "real-events", effect: "NoSchedule" }] }
    })
    await reportReady(node, { cpu: "1", memory: "1Gi", pods: "10" })
    const pod = await cp.admin.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "placed", namespace: NS },
      spec: {
        containers: [{ name: "app", image: "registry.invalid/app:1" }],
        tolerations: [{ operator: "Exists" }]
      }
    })
    let podNode = ""
    await eventually(
      async () => {
        podNode = field(await cp.admin.ok("GET", `/api/v1/namespaces/${NS}/pods/placed`), "spec", "nodeName")
      },
      60_000,
      250
    )
    expect(podNode).toBe("node-with-room")

    // Reporters that name their own host in source.host, about the pod and about the Deployment: neither host is
    // where those objects run.
    const elsewhere = { component: "example.com/node-agent", host: "somewhere-else" }
    await cp.admin.create({
      ...coreEvent(NS, "placed.from-elsewhere", "placed"),
      involvedObject: {
        apiVersion: "v1",
        kind: "Pod",
        namespace: NS,
        name: "placed",
        uid: field(pod, "metadata", "uid")
      },
      source: elsewhere
    })
    await cp.admin.create({
      ...coreEvent(NS, "web.from-elsewhere"),
      involvedObject: { apiVersion: "apps/v1", kind: "Deployment", namespace: NS, name: "web" },
      reason: "RolloutChecked",
      type: "Normal",
      source: elsewhere
    })

    const about = (kind: string, name: string) => (r: OtlpLogRecord) =>
      attribute(r, "k8s.object.kind") === kind && attribute(r, "k8s.object.name") === name
    await eventually(
      () => {
        // The scheduler's own event about the pod it bound (events.k8s.io/v1, no source.host).
        expect(withReason(receiver.records, "Scheduled").filter(about("Pod", "placed"))).toHaveLength(1)
        expect(withReason(receiver.records, "NodeNotReady").filter(about("Node", "node-with-room"))).not.toEqual([])
        expect(
          receiver.records.filter((r) => attribute(r, "k8s.event.name")?.toString().endsWith(".from-elsewhere"))
        ).toHaveLength(2)
      },
      90_000,
      500
    )

    const nodeOf = (r: OtlpLogRecord) => r.resource["k8s.node.name"]
    // Records about a Node carry that node's name: NodeNotReady of both Nodes, and whatever else was said of them.
    const notReady = withReason(receiver.records, "NodeNotReady").filter(
      (r) => attribute(r, "k8s.object.kind") === "Node"
    )
    expect(new Set(notReady.map((r) => attribute(r, "k8s.object.name")))).toEqual(
      new Set(["node-with-room", "node-without-kubelet"])
    )
    const aboutNodes = receiver.records.filter((r) => attribute(r, "k8s.object.kind") === "Node")
    for (const r of aboutNodes) {
      expect(nodeOf(r), String(attribute(r, "k8s.event.reason"))).toBe(attribute(r, "k8s.object.name"))
    }
    // Records about the pod carry the node it was bound to, whoever reported and whatever host they named. The
    // scheduler writes its Scheduled event as it binds the pod, so the enricher's pod cache may not hold the
    // binding yet: that record carries the pod's node or none, never another host.
    const aboutPlaced = receiver.records.filter(about("Pod", "placed"))
    expect(aboutPlaced.length).toBeGreaterThanOrEqual(2)
    for (const r of aboutPlaced) {
      const reason = String(attribute(r, "k8s.event.reason"))
      if (reason === "Scheduled") expect([podNode, undefined], reason).toContain(nodeOf(r))
      else expect(nodeOf(r), reason).toBe(podNode)
    }
    // Records about pods no node took carry none.
    const unscheduled = withReason(receiver.records, "FailedScheduling")
    expect(unscheduled.length).toBeGreaterThan(0)
    for (const r of unscheduled) expect(nodeOf(r)).toBeUndefined()
    // Nor do records about a Deployment or a ReplicaSet, which run nowhere: not even from a reporter with a host.
    const workloads = receiver.records.filter((r) =>
      ["Deployment", "ReplicaSet"].includes(String(attribute(r, "k8s.object.kind")))
    )
    expect(workloads.map((r) => attribute(r, "k8s.event.reason"))).toEqual(
      expect.arrayContaining(["ScalingReplicaSet", "SuccessfulCreate", "RolloutChecked"])
    )
    for (const r of workloads) expect(nodeOf(r), String(attribute(r, "k8s.event.reason"))).toBeUndefined()

    // Every record names the cluster by the uid of its kube-system namespace, as the admin reads it.
    const kubeSystem = await cp.admin.ok("GET", "/api/v1/namespaces/kube-system")
    const clusterUid = field(kubeSystem, "metadata", "uid")
    expect(receiver.records.length).toBeGreaterThan(10)
    expect(new Set(receiver.records.map((r) => r.resource["k8s.cluster.uid"]))).toEqual(new Set([clusterUid]))
    expect(collector.output.stderr).not.toMatch(/k8s\.cluster\.uid/)
    // Read once, at start.
    const reads = auditEntries(cp.auditLog, collectorUser).filter((e) => e.resource === "namespaces")
    expect(reads.map((e) => `${e.verb} ${e.requestURI} ${e.code}`)).toEqual(["get /api/v1/namespaces/kube-system 200"])
  })

  it("events written through the API, through a restart of the API server and a 410 after etcd compaction", async () => {
    const writer = new EventWriter(cp.admin, NS)
    others.push(writer)
    for (let i = 0; i < 12; i++) await writer.step()
    writer.start(100)
    await new Promise((r) => setTimeout(r, 2_000))

    // Restarted mid-stream: the collector's watch breaks and resumes from its last resourceVersion.
    await cp.restartApiServer()
    await new Promise((r) => setTimeout(r, 3_000))
    await expectEveryStoredOccurrenceOnce()

    // Down again; meanwhile etcd's history is compacted past everything the collector saw. The resourceVersion
    // of an Event stored before is now gone: a watch from it is answered 410, and so is an exact read of it,
    // which only etcd could answer. No Event is repeated until the collector listed again: a step stored and
    // superseded while no history is left cannot be read by anyone (the README says so).
    await writer.pause()
    const before = await cp.admin.create(coreEvent(NS, "before-compaction"))
    const oldRv = field(before, "metadata", "resourceVersion")
    const exactList = `/api/v1/namespaces/${NS}/events?resourceVersion=${oldRv}&resourceVersionMatch=Exact`
    expect((await cp.admin.request("GET", exactList)).status).toBe(200)
    const expiredBefore = await collector.metric("k8s_event_collector_watch_restarts_total", { cause: "expired" })
    await cp.restartApiServer(async () => {
      await cp.compactEtcd()
    })
    // (Until its watch cache is filled, the server answers 429.)
    await eventually(async () => expect(await watchAnswer(oldRv)).toBe(410), 30_000, 250)
    await eventually(async () => expect((await cp.admin.request("GET", exactList)).status).toBe(410), 30_000, 250)
    // The collector was answered 410 too (events have no watch cache: etcd's answer comes as an ERROR event in
    // the watch stream), and listed again.
    await eventually(
      async () => {
        expect(
          await collector.metric("k8s_event_collector_watch_restarts_total", { cause: "expired" })
        ).toBeGreaterThan(expiredBefore)
        expect(
          await collector.metric("k8s_event_collector_relists_total", { cause: "expired" })
        ).toBeGreaterThanOrEqual(1)
        expect(collector.output.stderr).toMatch(/is gone \(410\); listing again/)
      },
      60_000,
      500
    )
    await eventually(
      () => {
        expect(occurrenceIds(receiver.records)).toContain(`${field(before, "metadata", "uid")}:${oldRv}`)
      },
      30_000,
      250
    )
    writer.resume()
    await new Promise((r) => setTimeout(r, 3_000))
    await writer.stop()

    await expectEveryStoredOccurrenceOnce()
    const watches = auditEntries(cp.auditLog, collectorUser).filter((e) => e.verb === "watch")
    expect(watches.length).toBeGreaterThanOrEqual(3)
    for (const w of watches) expect(w.requestURI).toContain("allowWatchBookmarks=true")
    expect(storedOccurrences(cp.auditLog, startLine).filter((o) => o.count > 1).length).toBeGreaterThan(20)
  })

  it("--api events.k8s.io/v1 gives the same records as core/v1 for the same stored events", async () => {
    // Two more collectors, one per API, each listing what is stored now (the latest occurrence of each Event).
    // Without enrichment: what a lookup adds depends on its timing, not on the API.
    const kubeconfig = await cp.serviceAccountKubeconfig(cp.deployNamespace, cp.deployServiceAccount)
    const [viaCoreReceiver, viaEventsReceiver] = [await startOtlpReceiver(), await startOtlpReceiver()]
    others.push({ stop: () => viaCoreReceiver.close() }, { stop: () => viaEventsReceiver.close() })
    others.push(await runCollector(kubeconfig, viaCoreReceiver, ["--api", "core/v1", "--enrichment", "off"]))
    others.push(await runCollector(kubeconfig, viaEventsReceiver, ["--api", "events.k8s.io/v1", "--enrichment", "off"]))
    const stored = await cp.admin.ok("GET", `/api/v1/namespaces/${NS}/events`)
    const latest = (Array.isArray(stored["items"]) ? stored["items"] : []).map(
      (e: unknown) => `${field(e, "metadata", "uid")}:${field(e, "metadata", "resourceVersion")}`
    )
    expect(latest.length).toBeGreaterThan(10)
    await eventually(
      () => {
        for (const r of [viaCoreReceiver, viaEventsReceiver]) {
          const ids = new Set(occurrenceIds(r.records))
          for (const id of latest) expect(ids.has(id), id).toBe(true)
        }
      },
      60_000,
      500
    )
    const comparable = (r: OtlpLogRecord) => ({
      resource: r.resource,
      attributes: r.attributes,
      body: r.body,
      severityNumber: r.severityNumber,
      severityText: r.severityText,
      timeUnixNano: r.timeUnixNano,
      eventName: r.eventName
    })
    for (const id of latest) {
      const viaCore = first(
        viaCoreReceiver.records.filter((r) => attribute(r, "log.record.uid") === id),
        `${id} via core/v1`
      )
      const viaEvents = first(
        viaEventsReceiver.records.filter((r) => attribute(r, "log.record.uid") === id),
        `${id} via events.k8s.io/v1`
      )
      expect(comparable(viaEvents), id).toEqual(comparable(viaCore))
    }
  })
})

describe("field selectors", () => {
  /** Rules whose selectors cover every field and both operators the collector can push to the server. */
  const rules = (texts: ReadonlyArray<string>): ReadonlyArray<Rule> =>
    texts.map((t) => Either.getOrThrowWith(parseRuleFlag(t), (e) => new Error(e)))
  const config = {
    include: rules(["reason=BackOff,name=web-1"]),
    exclude: rules([
      "reason=Pulled",
      "name=db",
      "namespace=kube-system",
      "kind=Node",
      "type=Normal",
      "component=kubelet"
    ])
  }

  it.each(["core/v1", "events.k8s.io/v1"] as const)(
    "%s: the server accepts every one the collector sends",
    async (api) => {
      const selector = fieldSelectorFor(config, api)
      expect(selector).toBeDefined()
      const base = api === "core/v1" ? "/api/v1" : "/apis/events.k8s.io/v1"
      const query = new URLSearchParams({ fieldSelector: selector ?? "" })
      // Each term alone, so that a refusal names the field, then all together, as the collector sends them.
      for (const term of [...(selector ?? "").split(/(?<!\\),/), selector ?? ""]) {
        const list = await cp.admin.request("GET", `${base}/events?${new URLSearchParams({ fieldSelector: term })}`)
        expect(list.status, `${term}: ${list.text}`).toBe(200)
      }
      const watch = await cp.admin.request(
        "GET",
        `${base}/namespaces/${NS}/events?watch=true&timeoutSeconds=1&${query}`
      )
      expect(watch.status, watch.text).toBe(200)
    }
  )
})

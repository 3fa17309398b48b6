/**
 * Enrichment from the first record: the whole collector against the simulated API server, exporting to a
 * receiver. Every record about a pod that exists carries its ReplicaSet and Deployment (or Job and CronJob) and
 * its service.name, from the events listed at start to those created while it starts; an event about a pod that
 * is gone still goes out, with what the event says. The failover runs two replicas as child processes.
 */
import { afterEach, describe, expect, it } from "vitest"
import { Resource as R } from "../../src/domain/attributes.ts"
import { objectReference, Resources } from "@k8s-event-collector/sim"
import { workloads } from "../enrich/support.ts"
import { eventually, useSimAndReceiver } from "../support/collector.ts"
import { type CollectorProcess, leaseArgs, sleep, spawnCollector, writeKubeconfig } from "../support/processes.ts"

const env = useSimAndReceiver()

const FAST = ["--batch-linger", "20ms", "--retry-initial", "50ms", "--otlp-compression", "none"]

type Pods = ReturnType<typeof workloads>

let seq = 0
const eventAbout = (p: Pods[number]["pod"]) =>
  env.sim.events.create({
    namespace: p.metadata.namespace ?? "shop",
    reason: "BackOff",
    type: "Warning",
    message: `Back-off restarting failed container (${++seq})`,
    involvedObject: objectReference(p)
  })

/** The chain each pod record carries, by pod name; `[]` for a record with none. */
const chains = () =>
  env.receiver.records.map((r) => {
    const a = r.resource
    const owner = a[R.replicaSetName] ?? a[R.jobName]
    const top = a[R.deploymentName] ?? a[R.cronJobName]
    return { pod: String(a[R.podName]), chain: [owner, top, a[R.serviceName]] }
  })

const expectedChains = (pods: Pods) => new Map(pods.map((p) => [p.pod.metadata.name, [p.owner, p.top, p.service]]))

describe("enrichment from the first record", () => {
  it("12 pods under ReplicaSets and Jobs: every record, listed or new while starting, carries the chain", async () => {
    const pods = workloads(env.sim, 5, 2)
    expect(pods).toHaveLength(12)
    for (let round = 0; round < 3; round++) for (const p of pods) eventAbout(p.pod)
    env.start(FAST)
    // More occurrences while the collector lists and warms up.
    for (let round = 0; round < 6; round++) {
      for (const p of pods) eventAbout(p.pod)
      await new Promise((r) => setTimeout(r, 50))
    }
    const total = 9 * pods.length
    await eventually(() => expect(env.receiver.records.length).toBe(total), 20_000)

    const expected = expectedChains(pods)
    const got = chains()
    expect(got.filter(({ pod, chain }) => JSON.stringify(chain) !== JSON.stringify(expected.get(pod)))).toEqual([])
    expect(got).toHaveLength(total)
  })

  it("1 000 pods and 5 000 events listed at start: all 5 000 records carry the chain", async () => {
    const pods = workloads(env.sim, 450, 100)
    expect(pods).toHaveLength(1_000)
    for (let i = 0; i < 5_000; i++) eventAbout((pods[i % pods.length] as Pods[number]).pod)
    env.start([...FAST, "--list-page-size", "500"])
    await eventually(() => expect(env.receiver.records.length).toBe(5_000), 60_000, 200)

    const expected = expectedChains(pods)
    const missing = chains().filter(({ pod, chain }) => JSON.stringify(chain) !== JSON.stringify(expected.get(pod)))
    expect(missing).toEqual([])
    // The caches were listed in pages; no object was read one by one (the one GET is the kube-system namespace's,
    // for k8s.cluster.uid).
    expect(env.sim.requests.count({ verb: "list", resource: "pods" })).toBe(2)
    expect(env.sim.requests.filter({ verb: "get" }).map((r) => `${r.resource ?? ""}/${r.name ?? ""}`)).toEqual([
      "namespaces/kube-system"
    ])
  }, 90_000)

  it("an event about a pod that is gone goes out, with the pod the event names and no chain", async () => {
    const [kept] = workloads(env.sim, 1, 0)
    const gone = env.sim.objects.pod({ name: "gone-0", namespace: "shop", nodeName: "node-1" })
    const event = eventAbout(gone)
    env.sim.store.delete(Resources.pods, "shop", "gone-0")
    if (kept !== undefined) eventAbout(kept.pod)
    const started = Date.now()
    env.start([...FAST, "--enrichment-timeout", "300ms"])
    await eventually(() => expect(env.receiver.records.length).toBe(2), 10_000)
    expect(Date.now() - started).toBeLessThan(5_000)

    const record = env.receiver.records.find((r) => r.resource[R.podName] === "gone-0")
    expect(record?.attributes["log.record.uid"]).toBe(`${event.metadata.uid}:${event.metadata.resourceVersion}`)
    expect(record?.resource[R.podUid]).toBe(gone.metadata.uid)
    expect(record?.resource[R.replicaSetName]).toBeUndefined()
    expect(env.sim.requests.count({ verb: "get", resource: "pods" })).toBe(1)
  })
})

describe("enrichment right after a failover", () => {
  const running: Array<CollectorProcess> = []
  afterEach(async () => {
    for (const p of running) p.child.kill("SIGKILL")
    await Promise.all(running.splice(0).map((p) => p.exited))
  })

  it("the standby keeps its caches; when it takes over, every record has the chain, from its first", async () => {
    // 250 pods: more objects than a burst of GETs covers when the new leader reads what piled up meanwhile.
    const pods = workloads(env.sim, 100, 50)
    const kubeconfig = writeKubeconfig(env.sim)
    const replica = (name: string) => {
      const p = spawnCollector(
        [
          "--kubeconfig",
          kubeconfig,
          "--otlp-endpoint",
          env.receiver.url,
          ...FAST,
          ...leaseArgs("3s", "2s", "400ms"),
          "--checkpoint",
          "configmap:default/kec-checkpoint",
          "--checkpoint-interval",
          "0s"
        ],
        { POD_NAME: name }
      )
      running.push(p)
      return p
    }
    for (const p of pods) eventAbout(p.pod)
    const a = replica("replica-a")
    await eventually(() => expect(env.receiver.records.length).toBe(pods.length), 20_000)
    replica("replica-b")
    // The standby keeps caches of its own: listed once by each replica, before any takeover.
    await eventually(() => expect(env.sim.requests.count({ verb: "list", resource: "pods" })).toBe(2), 20_000)
    await sleep(1_000)
    expect(env.sim.requests.count({ verb: "list", resource: "pods" })).toBe(2)
    a.child.kill("SIGKILL")
    const created = new Set<string>()
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 50; i++) {
        const e = eventAbout((pods[(round * 50 + i) % pods.length] as Pods[number]).pod)
        created.add(`${e.metadata.uid}:${e.metadata.resourceVersion}`)
      }
      await sleep(200)
    }
    const uids = () => new Set(env.receiver.records.map((r) => String(r.attributes["log.record.uid"])))
    await eventually(() => expect([...created].filter((u) => !uids().has(u))).toEqual([]), 30_000, 200)

    const expected = expectedChains(pods)
    expect(chains().filter(({ pod, chain }) => JSON.stringify(chain) !== JSON.stringify(expected.get(pod)))).toEqual([])
  }, 60_000)
})

/**
 * The real pipeline and @kubernetes/client-node against the simulated API server, exporting to a receiver that
 * decodes what the real OTLP exporter sent. Every scenario checks the same thing: each occurrence arrives
 * exactly once (the set of `log.record.uid`s equals what the server produced), whatever the API did meanwhile.
 */
import { describe, expect, it } from "vitest"
import { Resources, type StoredKubeObject } from "@k8s-event-collector/sim"
import { eventually, useSimAndReceiver } from "../support/collector.ts"
import { expiredWatchStatus } from "../support/apiserverStatus.ts"

const env = useSimAndReceiver()

const FAST = [
  "--batch-linger",
  "20ms",
  "--retry-initial",
  "50ms",
  "--api-retry-initial",
  "50ms",
  "--api-retry-max",
  "300ms",
  "--otlp-compression",
  "none"
]
const start = (extra: ReadonlyArray<string> = []) => env.start([...FAST, ...extra])

const occurrence = (o: StoredKubeObject) => `${o.metadata.uid}:${o.metadata.resourceVersion}`
const received = () => env.receiver.records.map((r) => String(r.attributes["log.record.uid"]))

/** Every expected occurrence arrived, and nothing arrived twice. */
const expectExactlyOnce = async (expected: ReadonlySet<string>, timeoutMs = 15_000) => {
  await eventually(() => expect(new Set(received())).toEqual(expected), timeoutMs)
  // Give a straggler a moment to show up before counting duplicates.
  await new Promise((r) => setTimeout(r, 300))
  expect(received()).toHaveLength(expected.size)
}

let seq = 0
const create = (namespace = "shop", style: "core" | "series" = "core") =>
  env.sim.events.create({
    namespace,
    style,
    reason: "BackOff",
    type: "Warning",
    message: `Back-off restarting failed container (${++seq})`,
    involvedObject: { apiVersion: "v1", kind: "Pod", namespace, name: `pod-${seq}`, uid: `pod-uid-${seq}` }
  })

const allEvents = () => new Set([...env.sim.store.all(Resources.events)].map((s) => occurrence(s.object)))

describe("--source kube (watch)", () => {
  for (const api of ["core/v1", "events.k8s.io/v1"]) {
    it(`lists in pages, then follows creations and repeats, each occurrence once (${api})`, async () => {
      env.sim.events.bulkLoad(1_234)
      const expected = allEvents()
      start(["--api", api, "--list-page-size", "500"])
      await expectExactlyOnce(expected)
      expect(env.sim.requests.count({ verb: "list", resource: "events" })).toBe(3)
      const group = api === "core/v1" ? "" : "events.k8s.io"
      expect(env.sim.requests.filter({ resource: "events" }).every((r) => r.group === group)).toBe(true)

      const live = [create(), create("shop", "series"), create("other")]
      for (const o of live) expected.add(occurrence(o))
      for (const o of live) expected.add(occurrence(env.sim.events.repeat(o.metadata.uid)))
      expected.add(occurrence(env.sim.events.repeat(live[1]?.metadata.uid ?? "")))
      await expectExactlyOnce(expected)
      const repeats = env.receiver.records.filter((r) => r.attributes["k8s.event.uid"] === live[1]?.metadata.uid)
      // A series-style event has no count until it repeats: then series.count is 2.
      expect(repeats.map((r) => r.attributes["k8s.event.count"])).toEqual([undefined, 2, 3])
    })
  }

  it("sends nothing for a change that is not a new occurrence, nor for a deletion", async () => {
    const o = create()
    start()
    await expectExactlyOnce(new Set([occurrence(o)]))
    env.sim.events.updateWithoutNewOccurrence(o.metadata.uid)
    env.sim.events.delete(o.metadata.uid)
    const marker = create()
    await expectExactlyOnce(new Set([occurrence(o), occurrence(marker)]))
  })

  it("resumes from the last resourceVersion across several watch timeouts, without listing again", async () => {
    start(["--watch-timeout", "1s"])
    await eventually(() => expect(env.sim.requests.count({ verb: "watch", resource: "events" })).toBe(1))
    const expected = new Set<string>()
    for (let i = 0; i < 12; i++) {
      expected.add(occurrence(create()))
      await new Promise((r) => setTimeout(r, 250))
    }
    await expectExactlyOnce(expected)
    const watches = env.sim.requests.filter({ verb: "watch", resource: "events" })
    expect(watches.length).toBeGreaterThanOrEqual(2)
    expect(watches.every((w) => w.query["allowWatchBookmarks"] === "true" && w.query["resourceVersion"] !== "")).toBe(
      true
    )
    expect(env.sim.requests.count({ verb: "list", resource: "events" })).toBe(1)
  })

  it("relists once after an in-band ERROR 410, not in a loop, and emits only what was missed", async () => {
    const before = [create(), create()]
    start()
    await expectExactlyOnce(new Set(before.map(occurrence)))
    // The watch ends; before the collector is back, the server moves on and compacts its resourceVersion away.
    env.sim.endWatches()
    const missed = [create(), create()]
    env.sim.store.compact()
    await expectExactlyOnce(new Set([...before, ...missed].map(occurrence)))
    const events = env.sim.requests.filter({ resource: "events" })
    // The watch that came back after the server ended the first one, from a resourceVersion now compacted away.
    const expiredWatch = events.findIndex(
      (r, i) =>
        i > 1 && r.verb === "watch" && Number(r.query["resourceVersion"]) < env.sim.store.compactedResourceVersion
    )
    expect(expiredWatch).toBeGreaterThan(1)
    // Exactly one list after the expired watch, then watching again.
    const after = env.sim.requests.filter({ resource: "events" }).slice(expiredWatch + 1)
    expect(after[0]?.verb).toBe("list")
    expect(after.filter((r) => r.verb === "list")).toHaveLength(1)
    const later = create()
    await expectExactlyOnce(new Set([...before, ...missed, later].map(occurrence)))
  })

  it("relists after an HTTP 410 on the watch request", async () => {
    const first = create()
    start()
    await expectExactlyOnce(new Set([occurrence(first)]))
    env.sim.faults.add({
      verb: "watch",
      resource: "events",
      times: 1,
      action: {
        type: "status",
        status: expiredWatchStatus
      }
    })
    env.sim.endWatches()
    const second = create()
    await expectExactlyOnce(new Set([occurrence(first), occurrence(second)]))
    expect(env.sim.requests.count({ verb: "list", resource: "events" })).toBe(2)
  })

  it("survives dropped connections, a silent watch and 429s, losing and repeating nothing", async () => {
    env.sim.faults.add({
      verb: "list",
      resource: "events",
      times: 2,
      action: { type: "tooManyRequests", form: "apf", retryAfterSeconds: 1 }
    })
    const expected = new Set([occurrence(create())])
    const c = start(["--watch-timeout", "1s", "--watch-idle-timeout", "2100ms", "--stall-timeout", "1h"])
    await expectExactlyOnce(expected)
    expect(c.logs.some((l) => /asked to slow down .*HTTP 429, retry after 1s/.test(l.message))).toBe(true)

    env.sim.faults.add({ verb: "watch", resource: "events", times: 2, action: { type: "dropWatch", afterEvents: 2 } })
    env.sim.endWatches()
    for (let i = 0; i < 6; i++) expected.add(occurrence(create()))
    await expectExactlyOnce(expected)

    env.sim.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "silentWatch" } })
    env.sim.endWatches()
    await new Promise((r) => setTimeout(r, 100))
    expected.add(occurrence(create()))
    await expectExactlyOnce(expected)
    expect(env.sim.requests.count({ verb: "list", resource: "events" })).toBe(3)
  })

  it("watches only the namespaces it is given, one watch each", async () => {
    const wanted = [create("a"), create("b")]
    create("c")
    start(["--namespaces", "a,b"])
    await expectExactlyOnce(new Set(wanted.map(occurrence)))
    const more = [create("b"), create("c"), create("a")]
    await expectExactlyOnce(new Set([...wanted, more[0], more[2]].map((o) => occurrence(o!))))
    const namespaces = new Set(env.sim.requests.filter({ resource: "events" }).map((r) => r.namespace))
    expect(namespaces).toEqual(new Set(["a", "b"]))
  })

  it("reports a 403 once in plain words, keeps running, and recovers when access is granted", async () => {
    const forbidden = env.sim.faults.add({ verb: "list", resource: "events", action: { type: "forbidden" } })
    const first = create()
    const c = start()
    await eventually(() =>
      expect(env.sim.requests.count({ verb: "list", resource: "events" })).toBeGreaterThanOrEqual(4)
    )
    const errors = c.logs.filter((l) => l.level === "ERROR")
    expect(errors).toHaveLength(1)
    expect(errors[0]?.message).toMatch(/not allowed to list events \(core\/v1\) at the cluster scope \(HTTP 403\)/)
    // The rule deploy/clusterrole.yaml has: list and watch, nothing the collector does not call.
    expect(errors[0]?.message).toMatch(/\{apiGroups: \[""\], resources: \["events"\], verbs: \["list", "watch"\]\}/)
    expect(errors[0]?.message).toMatch(/cannot list resource "events"/)
    forbidden.clear()
    await expectExactlyOnce(new Set([occurrence(first)]))
    expect(c.logs.some((l) => /works again/.test(l.message))).toBe(true)
  })

  it("says that watching works again as soon as a watch delivers, not when that watch ends", async () => {
    const forbidden = env.sim.faults.add({ verb: "watch", resource: "events", action: { type: "forbidden" } })
    // The watch that recovers stays open (the default --watch-timeout is 5 minutes).
    const c = start()
    await eventually(() =>
      expect(c.logs.filter((l) => l.level === "ERROR").map((l) => l.message)).toEqual([
        expect.stringMatching(/^not allowed to watch events \(core\/v1\) at the cluster scope \(HTTP 403\)/)
      ])
    )
    forbidden.clear()
    await expectExactlyOnce(new Set([occurrence(create())]))
    await eventually(() => {
      expect(c.logs.map((l) => l.message)).toContain("watch events (core/v1) at the cluster scope works again")
    })
  })
})

describe("--source kube: k8s.cluster.uid", () => {
  it("is the uid of the kube-system namespace on every record, read once at start", async () => {
    const kubeSystem = env.sim.objects.kubeSystemNamespace()
    const expected = new Set([occurrence(create()), occurrence(create("other"))])
    const c = start()
    await expectExactlyOnce(expected)
    const later = create()
    expected.add(occurrence(later))
    expected.add(occurrence(env.sim.events.repeat(later.metadata.uid)))
    await expectExactlyOnce(expected)
    expect(env.receiver.records.map((r) => r.resource["k8s.cluster.uid"])).toEqual(
      [...expected].map(() => kubeSystem.metadata.uid)
    )
    expect(env.sim.requests.filter({ resource: "namespaces" }).map((r) => `${r.verb} ${r.name ?? ""}`)).toEqual([
      "get kube-system"
    ])
    expect(c.logs.filter((l) => l.message.includes("k8s.cluster.uid"))).toEqual([])
  })

  it("forbidden: said once, as a warning with the RBAC rule, and the records go out without it", async () => {
    env.sim.objects.kubeSystemNamespace()
    env.sim.faults.add({ verb: "get", resource: "namespaces", action: { type: "forbidden" } })
    const first = create()
    const c = start()
    await expectExactlyOnce(new Set([occurrence(first)]))
    const said = c.logs.filter((l) => l.message.includes("k8s.cluster.uid"))
    expect(said.map((l) => l.level)).toEqual(["WARN"])
    expect(said[0]?.message).toContain("could not get namespace kube-system")
    expect(said[0]?.message).toContain(
      '{apiGroups: [""], resources: ["namespaces"], resourceNames: ["kube-system"], verbs: ["get"]}'
    )
    expect(env.receiver.records.map((r) => r.resource["k8s.cluster.uid"])).toEqual([undefined])
  })
})

describe("--source kube --mode poll", () => {
  it("lists every interval and emits each occurrence once", async () => {
    const expected = new Set([occurrence(create()), occurrence(create())])
    start(["--mode", "poll", "--poll-interval", "300ms", "--list-page-size", "1"])
    await expectExactlyOnce(expected)
    // A poll sees only the state at each list: a repeat is seen when a list happens before the next repeat.
    const o = create()
    expected.add(occurrence(o))
    await expectExactlyOnce(expected)
    expected.add(occurrence(env.sim.events.repeat(o.metadata.uid)))
    await expectExactlyOnce(expected)
    expected.add(occurrence(env.sim.events.repeat(o.metadata.uid)))
    await expectExactlyOnce(expected)
    expect(env.sim.requests.count({ verb: "watch", resource: "events" })).toBe(0)
    expect(env.sim.requests.count({ verb: "list", resource: "events" })).toBeGreaterThan(6)
  })
})

import { CoreV1Api } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { Resources, SimEvents, VersionedStore, simKubeConfig, startSimServer } from "../src/index.ts"
import { podRef } from "./helpers.ts"

const names = (items: ReadonlyArray<{ name: string }>) => items.map((o) => o.name)

describe("VersionedStore", () => {
  it("shares one resourceVersion counter across resource types", () => {
    const store = new VersionedStore()
    const a = store.create(Resources.pods, { metadata: { name: "p", namespace: "a" } })
    const b = store.create(Resources.nodes, { metadata: { name: "n" } })
    const c = store.create(Resources.events, { metadata: { name: "e", namespace: "a" } })
    expect([a.rv, b.rv, c.rv]).toEqual([1, 2, 3])
    expect(b.object.metadata.namespace).toBeUndefined()
    expect(store.resourceVersion).toBe(3)
  })

  it("reconstructs any resourceVersion inside the compaction window, in key order, per namespace", () => {
    const store = new VersionedStore()
    const ev = new SimEvents(store)
    for (const [ns, name] of [
      ["a", "3"],
      ["a", "1"],
      ["ab", "0"],
      ["a-b", "9"],
      ["a", "2"]
    ] as const) {
      ev.create({ namespace: ns, name, involvedObject: podRef(ns, name) })
    }
    const at = store.resourceVersion
    ev.repeat({ namespace: "a", name: "1" })
    ev.delete({ namespace: "a", name: "2" })
    ev.create({ namespace: "a", name: "0", involvedObject: podRef("a", "0") })

    expect(names(store.list(Resources.events, { namespace: "a" }).items)).toEqual(["0", "1", "3"])
    const old = store.list(Resources.events, { namespace: "a", atRv: at })
    expect(old.rv).toBe(at)
    expect(names(old.items)).toEqual(["1", "2", "3"])
    expect(old.items[0]?.object["count"]).toBe(1)
    expect(names(store.list(Resources.events).items)).toEqual(["9", "0", "1", "3", "0"]) // "a-b/" < "a/" < "ab/"

    const page1 = store.list(Resources.events, { namespace: "a", atRv: at, limit: 2 })
    expect(names(page1.items)).toEqual(["1", "2"])
    const page2 = store.list(Resources.events, {
      namespace: "a",
      atRv: at,
      limit: 2,
      ...(page1.nextKey === undefined ? {} : { startKey: page1.nextKey })
    })
    expect(names(page2.items)).toEqual(["3"])
    expect(page2.nextKey).toBeUndefined()
  })

  it("compacts by count, by age and on demand", () => {
    let now = 1_000_000
    const store = new VersionedStore({ now: () => now, compaction: { maxAgeMs: 5 * 60_000 } })
    const ev = new SimEvents(store)
    ev.create({ involvedObject: podRef("a", "x") })
    now += 4 * 60_000
    ev.create({ involvedObject: podRef("a", "y") })
    expect(store.compactedResourceVersion).toBe(0)
    now += 2 * 60_000
    expect(store.compactedResourceVersion).toBe(1)
    expect(store.changesAfter(0)).toBe("expired")
    expect(store.changesAfter(1)).toHaveLength(1)
    store.setCompactionPolicy({ maxChanges: 0 })
    expect(store.compactedResourceVersion).toBe(2)
    ev.create({ involvedObject: podRef("a", "z") })
    store.compact(2)
    expect(store.compactedResourceVersion).toBe(3)
  })

  it("bulk-loads 100 000 events quickly and serves list pages cheaply", async () => {
    const sim = await startSimServer()
    try {
      const t0 = performance.now()
      const r = sim.events.bulkLoad(100_000, { namespaces: ["ns-a", "ns-b", "ns-c", "ns-d"] })
      const loadMs = performance.now() - t0
      expect(r.count).toBe(100_000)
      expect(r.lastResourceVersion - r.firstResourceVersion + 1).toBe(100_000)
      expect(sim.events.count()).toBe(100_000)
      expect(loadMs).toBeLessThan(5000)

      // Raw pagination over HTTP: every object exactly once.
      const t1 = performance.now()
      let cont = ""
      let total = 0
      let pages = 0
      const seen = new Set<string>()
      do {
        const res = await fetch(
          `${sim.url}/api/v1/events?limit=5000${cont === "" ? "" : `&continue=${encodeURIComponent(cont)}`}`
        )
        const body: unknown = await res.json()
        if (
          typeof body !== "object" ||
          body === null ||
          !("items" in body) ||
          !Array.isArray(body.items) ||
          !("metadata" in body)
        )
          throw new Error("bad list")
        const meta = body.metadata
        total += body.items.length
        pages++
        for (const it of body.items) {
          if (
            typeof it === "object" &&
            it !== null &&
            "metadata" in it &&
            typeof it.metadata === "object" &&
            it.metadata !== null &&
            "uid" in it.metadata
          ) {
            seen.add(String(it.metadata.uid))
          }
        }
        cont =
          typeof meta === "object" && meta !== null && "continue" in meta && typeof meta.continue === "string"
            ? meta.continue
            : ""
      } while (cont !== "")
      const pageMs = performance.now() - t1
      expect(total).toBe(100_000)
      expect(seen.size).toBe(100_000)
      expect(pages).toBe(20)
      expect(pageMs).toBeLessThan(10_000)

      // The same data through client-node, one page.
      const core = simKubeConfig(sim.url).makeApiClient(CoreV1Api)
      const page = await core.listNamespacedEvent({ namespace: "ns-b", limit: 500 })
      expect(page.items).toHaveLength(500)
      expect(page.items.every((e) => e.metadata.namespace === "ns-b")).toBe(true)
      expect(page.metadata?.remainingItemCount).toBe(25_000 - 500)
    } finally {
      await sim.close()
    }
  })

  it("loads real-shaped events as they are (name, uid and timestamps kept)", () => {
    const store = new VersionedStore()
    const ev = new SimEvents(store)
    ev.load([
      {
        apiVersion: "v1",
        kind: "Event",
        count: 1,
        eventTime: null,
        firstTimestamp: "2021-08-03T09:21:09Z",
        involvedObject: { apiVersion: "coordination.k8s.io/v1", kind: "Lease" },
        lastTimestamp: "2021-08-03T09:21:09Z",
        message: "ip-10-0-22-225_712590f5 stopped leading",
        metadata: {
          creationTimestamp: "2021-08-03T09:21:09Z",
          name: ".1697c16e501a4ae4",
          namespace: "default",
          resourceVersion: "9614",
          uid: "dbeb8925-740b-4973-a6d7-dd54f918ab66"
        },
        reason: "LeaderElection",
        reportingComponent: "",
        reportingInstance: "",
        source: { component: "default-scheduler" },
        type: "Normal"
      }
    ])
    const e = ev.get("dbeb8925-740b-4973-a6d7-dd54f918ab66")
    expect(e?.metadata.name).toBe(".1697c16e501a4ae4")
    expect(e?.metadata.creationTimestamp).toBe("2021-08-03T09:21:09Z")
    expect(e?.metadata.resourceVersion).toBe("1")
  })
})

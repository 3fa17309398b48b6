import { CoreV1Api } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { collectWatch, field, podRef, simPerTest, sleep, waitUntil } from "./helpers.ts"

const sims = simPerTest()
const start = sims.start

describe("watch", () => {
  it("from a list's resourceVersion receives live ADDED, MODIFIED and DELETED", async () => {
    const s = await start()
    s.events.create({ involvedObject: podRef("a", "before") })
    const list = await sims.kc.makeApiClient(CoreV1Api).listEventForAllNamespaces({ limit: 500 })
    const w = await collectWatch(sims.kc, "/api/v1/events", {
      resourceVersion: list.metadata?.resourceVersion ?? "",
      allowWatchBookmarks: true
    })

    const e = s.events.create({ involvedObject: podRef("a", "web"), reason: "BackOff", type: "Warning" })
    s.events.repeat(e.metadata.uid)
    s.events.updateWithoutNewOccurrence(e.metadata.uid)
    s.events.delete(e.metadata.uid)
    await w.waitFor((evs) => evs.some((x) => x.type === "DELETED"))
    const changes = w.events.filter((x) => x.type !== "BOOKMARK")
    expect(changes.map((x) => x.type)).toEqual(["ADDED", "MODIFIED", "MODIFIED", "DELETED"])
    expect(changes.map((x) => field(x.object, "count"))).toEqual([1, 2, 2, 2])
    const rvs = changes.map((x) => Number(field(x.object, "metadata.resourceVersion")))
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs)
    expect(new Set(rvs).size).toBe(4)
    expect(field(changes[2]?.object, "metadata.annotations")).toBeDefined()
    w.abort()
  })

  it("without a resourceVersion starts with synthetic ADDED events for existing objects", async () => {
    const s = await start()
    for (let i = 0; i < 3; i++) s.events.create({ involvedObject: podRef("a", `p${i}`) })
    const w = await collectWatch(sims.kc, "/api/v1/namespaces/a/events", {})
    await w.waitFor((evs) => evs.length >= 3)
    expect(w.events.map((x) => x.type)).toEqual(["ADDED", "ADDED", "ADDED"])
    w.abort()
  })

  it("sends BOOKMARK events when asked, with only metadata.resourceVersion", async () => {
    const s = await start()
    s.events.create({ involvedObject: podRef("a", "x") })
    const w = await collectWatch(sims.kc, "/apis/events.k8s.io/v1/events", {
      resourceVersion: String(s.store.resourceVersion),
      allowWatchBookmarks: true
    })
    await w.waitFor((evs) => evs.filter((x) => x.type === "BOOKMARK").length >= 2)
    const b = w.events.find((x) => x.type === "BOOKMARK")
    expect(b?.object).toEqual({
      kind: "Event",
      apiVersion: "events.k8s.io/v1",
      metadata: { resourceVersion: String(s.store.resourceVersion) }
    })
    w.abort()

    const w2 = await collectWatch(sims.kc, "/api/v1/events", { resourceVersion: String(s.store.resourceVersion) })
    await sleep(200)
    expect(w2.events).toEqual([])
    w2.abort()
  })

  it("never sends periodic bookmarks when configured like the etcd-backed events store", async () => {
    const s = await start({ bookmarks: false })
    const w = await collectWatch(sims.kc, "/api/v1/events", {
      resourceVersion: String(s.store.resourceVersion),
      allowWatchBookmarks: true
    })
    await sleep(200)
    expect(w.events).toEqual([])
    w.abort()
  })

  it("sendInitialEvents ends the initial ADDED events with an initial-events-end bookmark", async () => {
    const s = await start({ bookmarks: false })
    s.events.create({ involvedObject: podRef("a", "x") })
    s.events.create({ involvedObject: podRef("a", "y") })
    const w = await collectWatch(sims.kc, "/api/v1/events", {
      sendInitialEvents: true,
      resourceVersionMatch: "NotOlderThan",
      allowWatchBookmarks: true
    })
    await w.waitFor((evs) => evs.length >= 3)
    expect(w.events.map((x) => x.type)).toEqual(["ADDED", "ADDED", "BOOKMARK"])
    expect(field(w.events[2]?.object, "metadata.annotations")).toEqual({ "k8s.io/initial-events-end": "true" })
    w.abort()
  })

  it("answers a compacted resourceVersion with one in-band ERROR 410 on a 200 stream, then ends it", async () => {
    const s = await start()
    for (let i = 0; i < 5; i++) s.events.create({ involvedObject: podRef("a", `p${i}`) })
    s.store.compact()
    const w = await collectWatch(sims.kc, "/api/v1/events", { resourceVersion: "2", allowWatchBookmarks: true })
    const err = await w.done
    expect(err).toBeNull()
    expect(w.events).toEqual([
      {
        type: "ERROR",
        object: {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: `too old resource version: 2 (${s.store.compactedResourceVersion})`,
          reason: "Expired",
          code: 410
        }
      }
    ])
    expect(s.requests.filter({ verb: "watch" })[0]?.status).toBe(200)
  })

  it("can word the 410 the way an etcd-served watch does", async () => {
    const s = await start({ expiredMessages: "etcd" })
    s.events.create({ involvedObject: podRef("a", "x") })
    s.events.create({ involvedObject: podRef("a", "y") })
    s.store.compact()
    const w = await collectWatch(sims.kc, "/api/v1/events", { resourceVersion: "1" })
    await w.done
    expect(w.events[0]?.object).toMatchObject({
      reason: "Expired",
      code: 410,
      message: "The resourceVersion for the provided watch is too old."
    })
  })

  it("applies the compaction policy: only the last K changes can be replayed", async () => {
    const s = await start({ compaction: { maxChanges: 3 } })
    for (let i = 0; i < 10; i++) s.events.create({ involvedObject: podRef("a", `p${i}`) })
    expect(s.store.compactedResourceVersion).toBe(7)
    const ok = await collectWatch(sims.kc, "/api/v1/events", { resourceVersion: "7" })
    await ok.waitFor((evs) => evs.length === 3)
    ok.abort()
    const tooOld = await collectWatch(sims.kc, "/api/v1/events", { resourceVersion: "6" })
    await tooOld.done
    expect(tooOld.events[0]?.type).toBe("ERROR")
  })

  it("closes the stream after timeoutSeconds", async () => {
    const s = await start()
    const t0 = Date.now()
    const w = await collectWatch(sims.kc, "/api/v1/events", {
      resourceVersion: String(s.store.resourceVersion),
      timeoutSeconds: 1
    })
    expect(await w.done).toBeNull()
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
  })

  it("applies field selectors to watches, including objects moving out of the selection", async () => {
    const s = await start()
    const w = await collectWatch(sims.kc, "/api/v1/events", { resourceVersion: "0", fieldSelector: "type=Warning" })
    const normal = s.events.create({ involvedObject: podRef("a", "n"), type: "Normal" })
    const warning = s.events.create({ involvedObject: podRef("a", "w"), type: "Warning" })
    s.events.updateWithoutNewOccurrence(warning.metadata.uid, (e) => ({ ...e, type: "Normal" }))
    s.events.delete(normal.metadata.uid)
    await w.waitFor((evs) => evs.length >= 2)
    await sleep(50)
    expect(w.events.map((x) => [x.type, field(x.object, "involvedObject.name")])).toEqual([
      ["ADDED", "w"],
      ["DELETED", "w"]
    ])
    w.abort()
  })

  it("emits DELETED when an event's TTL runs out, counted from its last write", async () => {
    const s = await start({ eventTtlMs: 300 })
    const w = await collectWatch(sims.kc, "/api/v1/events", { resourceVersion: String(s.store.resourceVersion) })
    const a = s.events.create({ involvedObject: podRef("a", "short") })
    const b = s.events.create({ involvedObject: podRef("a", "refreshed") })
    await sleep(150)
    s.events.repeat(b.metadata.uid)
    await w.waitFor((evs) => evs.some((x) => x.type === "DELETED"), 2000)
    expect(s.events.get(a.metadata.uid)).toBeUndefined()
    expect(s.events.get(b.metadata.uid)).toBeDefined()
    await w.waitFor((evs) => evs.filter((x) => x.type === "DELETED").length === 2, 2000)
    expect(w.events.map((x) => `${x.type} ${String(field(x.object, "involvedObject.name"))}`)).toEqual([
      "ADDED short",
      "ADDED refreshed",
      "MODIFIED refreshed",
      "DELETED short",
      "DELETED refreshed"
    ])
    expect(s.events.count()).toBe(0)
    w.abort()
  })

  it("close() ends open watches promptly", async () => {
    const s = await start()
    const ws = await Promise.all(
      [0, 1, 2].map(() => collectWatch(sims.kc, "/api/v1/events", { resourceVersion: "0", allowWatchBookmarks: true }))
    )
    await waitUntil(() => s.openWatches === 3)
    const t0 = Date.now()
    await s.close()
    await Promise.all(ws.map((w) => w.done))
    expect(Date.now() - t0).toBeLessThan(1000)
  })
})

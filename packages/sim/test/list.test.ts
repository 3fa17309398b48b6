import { CoreV1Api, EventsV1Api } from "@kubernetes/client-node"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Resources, type SimServer, simKubeConfig, startSimServer } from "../src/index.ts"
import { apiError, field, podRef } from "./helpers.ts"

let sim: SimServer
let core: CoreV1Api
let eventsV1: EventsV1Api

beforeEach(async () => {
  sim = await startSimServer({ bookmarkIntervalMs: 50 })
  const kc = simKubeConfig(sim.url)
  core = kc.makeApiClient(CoreV1Api)
  eventsV1 = kc.makeApiClient(EventsV1Api)
})

afterEach(async () => {
  await sim.close()
})

const seed = (n: number, namespaces = ["a", "b", "c"]) => {
  for (let i = 0; i < n; i++) {
    const ns = namespaces[i % namespaces.length] ?? "a"
    sim.events.create({
      involvedObject: podRef(ns, `pod-${i}`),
      reason: i % 2 === 0 ? "BackOff" : "Pulled",
      type: i % 2 === 0 ? "Warning" : "Normal",
      message: `message ${i}`,
      source: { component: "kubelet", host: "node-1" }
    })
  }
}

describe("list paging", () => {
  it("pages with limit/continue and returns every event exactly once", async () => {
    seed(25)
    const names: string[] = []
    let cont: string | undefined
    let pages = 0
    let listRv: string | undefined
    do {
      const page = await core.listEventForAllNamespaces({
        limit: 10,
        ...(cont === undefined ? {} : { _continue: cont })
      })
      pages++
      listRv ??= page.metadata?.resourceVersion
      expect(page.metadata?.resourceVersion).toBe(listRv)
      expect(page.kind).toBe("EventList")
      expect(page.apiVersion).toBe("v1")
      for (const e of page.items) {
        expect(e.kind).toBe("Event")
        expect(e.apiVersion).toBe("v1")
        names.push(e.metadata.name ?? "")
      }
      cont = page.metadata?._continue
    } while (cont !== undefined && cont !== "")
    expect(pages).toBe(3)
    expect(new Set(names).size).toBe(25)
    expect(listRv).toBe(String(sim.store.resourceVersion))
  })

  it("serves later pages from the first page's snapshot even when events change in between", async () => {
    seed(6, ["a"])
    const first = await core.listNamespacedEvent({ namespace: "a", limit: 3 })
    const firstNames = first.items.map((e) => e.metadata.name ?? "")
    const all = [...sim.store.all(Resources.events)].map((o) => o.name).sort()
    const rest = all.filter((n) => !firstNames.includes(n))
    const [modified, deleted] = rest
    if (modified === undefined || deleted === undefined) throw new Error("seed too small")
    sim.events.repeat({ namespace: "a", name: modified })
    sim.events.delete({ namespace: "a", name: deleted })
    sim.events.create({ namespace: "a", name: "zzz-new", involvedObject: podRef("a", "late") })

    const second = await core.listNamespacedEvent({
      namespace: "a",
      limit: 10,
      _continue: first.metadata?._continue ?? ""
    })
    const secondNames = second.items.map((e) => e.metadata.name)
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion)
    expect(secondNames).toContain(deleted)
    expect(secondNames).not.toContain("zzz-new")
    const m = second.items.find((e) => e.metadata.name === modified)
    expect(m?.count).toBe(1)
    expect(second.metadata?._continue).toBeUndefined()
  })

  it("returns 410 Expired for a continue token whose resourceVersion was compacted", async () => {
    seed(10)
    const first = await core.listEventForAllNamespaces({ limit: 4 })
    sim.events.create({ involvedObject: podRef("a", "more") })
    sim.store.compact()
    const err = await apiError(core.listEventForAllNamespaces({ limit: 4, _continue: first.metadata?._continue ?? "" }))
    expect(err.code).toBe(410)
    expect(err.body).toMatchObject({
      kind: "Status",
      status: "Failure",
      reason: "Expired",
      code: 410,
      message:
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
    })
  })

  it("optionally answers an expired continue with a token for an inconsistent remainder, like etcd", async () => {
    const s2 = await startSimServer({ inconsistentContinue: true })
    try {
      const api = simKubeConfig(s2.url).makeApiClient(CoreV1Api)
      for (let i = 0; i < 6; i++)
        s2.events.create({ namespace: "a", name: `e${i}`, involvedObject: podRef("a", `p${i}`) })
      const first = await api.listEventForAllNamespaces({ limit: 2 })
      s2.events.create({ namespace: "a", name: "e9", involvedObject: podRef("a", "late") })
      s2.store.compact()
      const err = await apiError(
        api.listEventForAllNamespaces({ limit: 2, _continue: first.metadata?._continue ?? "" })
      )
      expect(err.code).toBe(410)
      const token = field(err.body, "metadata.continue")
      expect(typeof token).toBe("string")
      const rest = await api.listEventForAllNamespaces({
        limit: 100,
        _continue: typeof token === "string" ? token : ""
      })
      expect(rest.items.map((e) => e.metadata.name)).toEqual(["e2", "e3", "e4", "e5", "e9"])
      expect(rest.metadata?.resourceVersion).toBe(String(s2.store.resourceVersion))
    } finally {
      await s2.close()
    }
  })

  it("applies resourceVersion / resourceVersionMatch rules", async () => {
    seed(5)
    const old = sim.store.resourceVersion
    seed(5)
    // Exact (explicit, and implied by limit without match) reads the old snapshot.
    const exact = await core.listEventForAllNamespaces({ resourceVersion: String(old), resourceVersionMatch: "Exact" })
    expect(exact.items).toHaveLength(5)
    expect(exact.metadata?.resourceVersion).toBe(String(old))
    const legacyExact = await core.listEventForAllNamespaces({ resourceVersion: String(old), limit: 100 })
    expect(legacyExact.items).toHaveLength(5)
    // NotOlderThan and "0" read the latest state.
    const notOlder = await core.listEventForAllNamespaces({
      resourceVersion: String(old),
      resourceVersionMatch: "NotOlderThan"
    })
    expect(notOlder.items).toHaveLength(10)
    expect((await core.listEventForAllNamespaces({ resourceVersion: "0" })).items).toHaveLength(10)
    // A compacted RV with Exact is 410.
    sim.store.compact()
    const gone = await apiError(
      core.listEventForAllNamespaces({ resourceVersion: String(old), resourceVersionMatch: "Exact" })
    )
    expect(gone.code).toBe(410)
    expect(gone.body).toMatchObject({ reason: "Expired", code: 410 })
    // A future RV is 504 "Too large resource version" with Retry-After.
    const future = await apiError(
      core.listEventForAllNamespaces({
        resourceVersion: String(sim.store.resourceVersion + 100),
        resourceVersionMatch: "NotOlderThan"
      })
    )
    expect(future.code).toBe(504)
    expect(future.body).toMatchObject({ reason: "Timeout", details: { causes: [{ type: "ResourceVersionTooLarge" }] } })
    expect(future.headers["retry-after"]).toBe("1")
    // resourceVersionMatch without resourceVersion is invalid.
    const bad = await apiError(core.listEventForAllNamespaces({ resourceVersionMatch: "Exact" }))
    expect(bad.code).toBe(422)
    expect(bad.body).toMatchObject({ reason: "Invalid" })
  })

  it("reports remainingItemCount only without selectors", async () => {
    seed(12)
    const page = await core.listEventForAllNamespaces({ limit: 5 })
    expect(page.metadata?.remainingItemCount).toBe(7)
    const filtered = await core.listEventForAllNamespaces({ limit: 2, fieldSelector: "reason=BackOff" })
    expect(filtered.metadata?.remainingItemCount).toBeUndefined()
    expect(filtered.metadata?._continue).toBeTruthy()
  })
})

describe("core/v1 and events.k8s.io/v1 serve the same objects", () => {
  it("converts fields the way the apiserver does", async () => {
    sim.events.create({
      namespace: "a",
      name: "core-style",
      involvedObject: { ...podRef("a", "web"), fieldPath: "spec.containers{web}" },
      reason: "BackOff",
      type: "Warning",
      message: "Back-off restarting failed container",
      source: { component: "kubelet", host: "node-1" }
    })
    const series = sim.events.create({
      namespace: "a",
      name: "series-style",
      involvedObject: podRef("a", "db"),
      reason: "FailedScheduling",
      type: "Warning",
      message: "0/3 nodes are available",
      style: "series",
      action: "Scheduling",
      reportingComponent: "default-scheduler",
      reportingInstance: "default-scheduler-1"
    })
    sim.events.repeat(series.metadata.uid)

    const c = await core.listNamespacedEvent({ namespace: "a" })
    const v = await eventsV1.listNamespacedEvent({ namespace: "a" })
    expect(v.kind).toBe("EventList")
    expect(v.apiVersion).toBe("events.k8s.io/v1")
    expect(v.metadata?.resourceVersion).toBe(c.metadata?.resourceVersion)
    expect(v.items.map((e) => [e.metadata?.name, e.metadata?.uid, e.metadata?.resourceVersion])).toEqual(
      c.items.map((e) => [e.metadata.name, e.metadata.uid, e.metadata.resourceVersion])
    )

    const cc = c.items.find((e) => e.metadata.name === "core-style")
    const vc = v.items.find((e) => e.metadata?.name === "core-style")
    expect(vc?.apiVersion).toBe("events.k8s.io/v1")
    expect(vc?.regarding).toEqual(cc?.involvedObject)
    expect(vc?.note).toBe(cc?.message)
    expect(vc?.deprecatedSource).toEqual(cc?.source)
    expect(vc?.deprecatedCount).toBe(1)
    expect(vc?.deprecatedFirstTimestamp).toEqual(cc?.firstTimestamp)
    expect(vc?.deprecatedLastTimestamp).toEqual(cc?.lastTimestamp)
    expect(vc?.reportingController).toBeUndefined()

    const cs = c.items.find((e) => e.metadata.name === "series-style")
    const vs = v.items.find((e) => e.metadata?.name === "series-style")
    expect(cs?.count).toBeUndefined()
    expect(cs?.firstTimestamp).toBeNull()
    expect(field(cs, "series.count")).toBe(2)
    expect(vs?.reportingController).toBe("default-scheduler")
    expect(cs?.reportingComponent).toBe("default-scheduler")
    expect(vs?.reportingInstance).toBe("default-scheduler-1")
    expect(vs?.action).toBe("Scheduling")
    // client-node types eventTime/lastObservedTime as Date but leaves MicroTime strings untouched.
    expect(typeof vs?.eventTime).toBe("string")
    expect(vs?.eventTime).toBe(cs?.eventTime)
    expect(field(vs, "series.count")).toBe(2)
    expect(field(vs, "series.lastObservedTime")).toBe(field(cs, "series.lastObservedTime"))

    const one = await eventsV1.readNamespacedEvent({ namespace: "a", name: "series-style" })
    expect(one.note).toBe("0/3 nodes are available")
  })
})

describe("fieldSelector", () => {
  it("filters with =, == and != (comma = AND) on both APIs", async () => {
    seed(9)
    const warnings = await core.listEventForAllNamespaces({ fieldSelector: "type=Warning" })
    expect(warnings.items.length).toBe(5)
    expect(warnings.items.every((e) => e.type === "Warning")).toBe(true)
    const both = await core.listEventForAllNamespaces({
      fieldSelector: "involvedObject.kind==Pod,reason!=BackOff,metadata.namespace=b"
    })
    expect(both.items.every((e) => e.reason === "Pulled" && e.metadata.namespace === "b")).toBe(true)
    expect(both.items.length).toBeGreaterThan(0)
    const byName = await core.listEventForAllNamespaces({ fieldSelector: "involvedObject.name=pod-4" })
    expect(byName.items.map((e) => e.involvedObject.name)).toEqual(["pod-4"])
    const bySource = await core.listEventForAllNamespaces({ fieldSelector: "source=kubelet" })
    expect(bySource.items.length).toBe(9)
    const v = await eventsV1.listEventForAllNamespaces({ fieldSelector: "regarding.name=pod-4,reportingController=" })
    expect(v.items.map((e) => e.regarding?.name)).toEqual(["pod-4"])
    expect(sim.requests.filter({ resource: "events", verb: "list" }).map((r) => r.query["fieldSelector"])).toContain(
      "type=Warning"
    )
  })

  it("rejects fields the apiserver does not index with 400 `field label not supported`", async () => {
    const err = await apiError(core.listEventForAllNamespaces({ fieldSelector: "lastTimestamp>2024-01-01" }))
    expect(err.code).toBe(400)
    const err2 = await apiError(core.listEventForAllNamespaces({ fieldSelector: "count=3" }))
    expect(err2.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "field label not supported: count",
      reason: "BadRequest",
      code: 400
    })
    // core/v1 names are not valid on events.k8s.io/v1 and vice versa.
    expect((await apiError(eventsV1.listEventForAllNamespaces({ fieldSelector: "involvedObject.name=x" }))).code).toBe(
      400
    )
    expect((await apiError(core.listEventForAllNamespaces({ fieldSelector: "regarding.name=x" }))).code).toBe(400)
    // `source` is a core/v1 label only (kube-apiserver v1.37: "field label not supported: source").
    const source = await apiError(eventsV1.listEventForAllNamespaces({ fieldSelector: "source!=kubelet" }))
    expect(source.code).toBe(400)
    expect(source.body).toMatchObject({ message: "field label not supported: source" })
  })
})

import { CoreV1Api, EventsV1Api, type KubeConfig } from "@kubernetes/client-node"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type SimServer, StatusBodies, simKubeConfig, startSimServer } from "../src/index.ts"
import { apiError, collectWatch, podRef, sleep } from "./helpers.ts"

let sim: SimServer
let kc: KubeConfig
let core: CoreV1Api

beforeEach(async () => {
  sim = await startSimServer({ bookmarkIntervalMs: 50, user: "system:serviceaccount:ns:sa" })
  kc = simKubeConfig(sim.url)
  core = kc.makeApiClient(CoreV1Api)
  for (let i = 0; i < 5; i++) sim.events.create({ involvedObject: podRef("a", `p${i}`) })
})

afterEach(async () => {
  await sim.close()
})

describe("faults", () => {
  it("403 Forbidden with the RBAC Status body, for the next N matching requests", async () => {
    const fault = sim.faults.add({ verb: "list", resource: "events", action: { type: "forbidden" }, times: 2 })
    const err = await apiError(core.listEventForAllNamespaces())
    expect(err.code).toBe(403)
    expect(err.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message:
        'events is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "events" in API group "" at the cluster scope',
      reason: "Forbidden",
      details: { kind: "events" },
      code: 403
    })
    const ns = await apiError(kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: "a" }))
    expect(ns.body).toMatchObject({
      message:
        'events.events.k8s.io is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "events" in API group "events.k8s.io" in the namespace "a"',
      details: { group: "events.k8s.io", kind: "events" }
    })
    expect(fault.remaining).toBe(0)
    expect(fault.active).toBe(false)
    expect((await core.listEventForAllNamespaces()).items).toHaveLength(5)
  })

  it("429 in the API Priority and Fairness form: plain text and Retry-After", async () => {
    sim.faults.add({
      path: "/api/v1/events",
      action: { type: "tooManyRequests", form: "apf", retryAfterSeconds: 3 },
      times: 1
    })
    const err = await apiError(core.listEventForAllNamespaces())
    expect(err.code).toBe(429)
    expect(err.body).toBe("Too many requests, please try again later.\n")
    expect(err.headers["retry-after"]).toBe("3")
    expect(err.headers["content-type"]).toBe("text/plain; charset=utf-8")
  })

  it("429 in the JSON Status form with details.retryAfterSeconds", async () => {
    sim.faults.add({
      path: "/api/v1/*",
      action: { type: "tooManyRequests", form: "status", retryAfterSeconds: 2 },
      times: 1
    })
    const err = await apiError(core.listEventForAllNamespaces())
    expect(err.code).toBe(429)
    expect(err.body).toMatchObject({
      kind: "Status",
      reason: "TooManyRequests",
      code: 429,
      details: { retryAfterSeconds: 2 }
    })
    expect(err.headers["retry-after"]).toBe("2")
  })

  it("500 and 504 Too large resource version, until cleared", async () => {
    const f = sim.faults.add({ verb: "list", action: { type: "internalError" } })
    expect((await apiError(core.listEventForAllNamespaces())).code).toBe(500)
    expect((await apiError(core.listEventForAllNamespaces())).body).toMatchObject({
      reason: "InternalError",
      code: 500
    })
    f.clear()
    sim.faults.add({ verb: "list", action: { type: "tooLargeResourceVersion", retryAfterSeconds: 1 }, times: 1 })
    const tooLarge = await apiError(
      core.listEventForAllNamespaces({ resourceVersion: "999", resourceVersionMatch: "NotOlderThan" })
    )
    expect(tooLarge.code).toBe(504)
    expect(tooLarge.body).toMatchObject({
      reason: "Timeout",
      message: `Too large resource version: 999, current: ${sim.store.resourceVersion}`
    })
    expect(tooLarge.headers["retry-after"]).toBe("1")
    expect((await core.listEventForAllNamespaces()).items).toHaveLength(5)
  })

  it("any Status, e.g. an HTTP 410 on list", async () => {
    sim.faults.add({
      verb: "list",
      action: { type: "status", status: StatusBodies.expired("too old resource version: 1") },
      times: 1
    })
    const err = await apiError(core.listEventForAllNamespaces())
    expect(err.code).toBe(410)
    expect(err.body).toMatchObject({ reason: "Expired" })
  })

  it("drops a watch connection mid-stream after K events", async () => {
    sim.faults.add({ verb: "watch", action: { type: "dropWatch", afterEvents: 3 }, times: 1 })
    const w = await collectWatch(kc, "/api/v1/events", { resourceVersion: "0" })
    const err = await w.done
    expect(err).toBeInstanceOf(Error)
    expect(w.events.map((e) => e.type)).toEqual(["ADDED", "ADDED", "ADDED"])
    // The next watch is served normally.
    const again = await collectWatch(kc, "/api/v1/events", { resourceVersion: "0" })
    await again.waitFor((evs) => evs.length === 5)
    again.abort()
  })

  it("a silent watch answers 200 and sends nothing, not even bookmarks", async () => {
    sim.faults.add({ verb: "watch", action: { type: "silentWatch" }, times: 1 })
    const w = await collectWatch(
      kc,
      "/api/v1/events",
      { resourceVersion: "0", allowWatchBookmarks: true, timeoutSeconds: 1 },
      (watch) => {
        // client-node's inactivity timeout (a private field, default 30 s) is what eventually notices.
        Reflect.set(watch, "requestTimeoutMs", 300)
      }
    )
    sim.events.create({ involvedObject: podRef("a", "ignored") })
    const err = await w.done
    expect(w.events).toEqual([])
    expect(err).toBeInstanceOf(DOMException)
    expect(err instanceof DOMException ? err.name : "").toBe("TimeoutError")
    expect(sim.requests.filter({ verb: "watch" })[0]?.status).toBe(200)
  })

  it("an HTTP error on a watch request reaches client-node's done callback as an Error with statusCode", async () => {
    sim.faults.add({ verb: "watch", resource: "events", action: { type: "forbidden" }, times: 1 })
    const w = await collectWatch(kc, "/api/v1/events", { resourceVersion: "0" })
    const err = await w.done
    expect(err).toBeInstanceOf(Error)
    expect(err instanceof Error ? Reflect.get(err, "statusCode") : undefined).toBe(403)
    expect(w.events).toEqual([])
  })

  it("resets a connection without an answer and delays requests", async () => {
    sim.faults.add({ verb: "list", action: { type: "resetConnection" }, times: 1 })
    await expect(core.listEventForAllNamespaces()).rejects.toThrow()
    sim.faults.add({ verb: "list", action: { type: "delay", ms: 150 }, times: 1 })
    const t0 = Date.now()
    await core.listEventForAllNamespaces()
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140)
  })

  it("lets the first `after` matching requests through: the third page of a list fails", async () => {
    const fault = sim.faults.add({
      verb: "list",
      resource: "events",
      after: 2,
      times: 1,
      action: { type: "resetConnection" }
    })
    const first = await core.listEventForAllNamespaces({ limit: 2 })
    const second = await core.listEventForAllNamespaces({ limit: 2, _continue: first.metadata?._continue ?? "" })
    expect(second.items).toHaveLength(2)
    expect(fault.hits).toBe(0)
    await expect(
      core.listEventForAllNamespaces({ limit: 2, _continue: second.metadata?._continue ?? "" })
    ).rejects.toThrow()
    expect(fault.hits).toBe(1)
    expect((await core.listEventForAllNamespaces()).items).toHaveLength(5)
  })

  it("records every request so tests can count relists and inspect query parameters", async () => {
    sim.requests.clear()
    await core.listEventForAllNamespaces({ limit: 2, fieldSelector: "type=Warning" })
    await core.listNamespacedEvent({ namespace: "a" })
    const w = await collectWatch(kc, "/api/v1/events", {
      resourceVersion: "1",
      allowWatchBookmarks: true,
      timeoutSeconds: 5
    })
    await sleep(20)
    w.abort()
    expect(sim.requests.count({ verb: "list", resource: "events" })).toBe(2)
    expect(sim.requests.count({ verb: "list", namespace: "a" })).toBe(1)
    const watches = sim.requests.filter({ verb: "watch" })
    expect(watches).toHaveLength(1)
    expect(watches[0]?.query).toMatchObject({
      watch: "true",
      resourceVersion: "1",
      allowWatchBookmarks: "true",
      timeoutSeconds: "5"
    })
    expect(sim.requests.all[0]).toMatchObject({
      method: "GET",
      path: "/api/v1/events",
      verb: "list",
      query: { limit: "2", fieldSelector: "type=Warning" },
      status: 200
    })
  })
})

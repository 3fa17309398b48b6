/**
 * KubeApi's watch, a Stream read straight off the socket: against the simulated API server over real HTTP with
 * the real KubeConfig, and, for the byte-level cases the simulator cannot produce (lines that are not watch
 * events, a line split inside a UTF-8 character, a last line without a newline, TCP backpressure), a raw
 * `node:http` server written here. Every watch delivers its events in order, each once, then ends or fails once.
 * The clock is the test clock: what happens over HTTP is waited for by turns of the event loop.
 */
import * as Http from "node:http"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Option, Stream, TestClock } from "effect"
import type { StoredKubeObject } from "@k8s-event-collector/sim"
import { KubeConfig } from "@kubernetes/client-node"
import { KubeApi, type WatchRequest } from "../../src/kube/KubeApi.ts"
import { KubeApiError } from "../../src/kube/KubeApiError.ts"
import type { WatchLine } from "../../src/kube/watchStream.ts"
import { eventCollection } from "../../src/source/WatchTarget.ts"
import { expiredWatchStatus } from "../support/apiserverStatus.ts"
import { spinUntil, turns } from "../support/eventLoop.ts"
import {
  ALL_CORE_EVENTS,
  apiFor,
  create,
  eventLine,
  freePort,
  holds,
  isEvent,
  messageOf,
  nameOf,
  rawServer,
  readAll,
  reading,
  rvOf,
  send,
  sim,
  startStream,
  withoutBookmarks
} from "./support.ts"

const IDLE = Duration.seconds(10)

const watch = (url: string, request: Partial<WatchRequest> = {}) =>
  apiFor(url).watch({
    collection: ALL_CORE_EVENTS,
    resourceVersion: "",
    timeoutSeconds: 60,
    readAhead: 10_000,
    idleTimeout: IDLE,
    ...request
  })

/** The failure a watch ended with; fails the test if it ended otherwise. */
const failure = (end: "closed" | KubeApiError): KubeApiError => {
  if (end === "closed") throw new Error("expected a failure, the watch was closed")
  expect(end).toBeInstanceOf(KubeApiError)
  expect(end.verb).toBe("watch")
  return end
}

/** What a refusal says, `undefined` where it says nothing. */
const refusal = (e: KubeApiError) => ({
  status: e.status,
  reason: e.reason,
  statusReason: e.statusReason,
  description: e.description,
  retryAfterSeconds: e.retryAfterSeconds
})

/** Pulls one array of lines; fails the test when the stream ended instead. */
const pullLines = (pull: Effect.Effect<Chunk.Chunk<ReadonlyArray<WatchLine>>, Option.Option<KubeApiError>>) =>
  pull.pipe(
    Effect.map((chunk) => Chunk.toReadonlyArray(chunk).flat()),
    Effect.mapError((e) => new Error(`the watch ended: ${Option.isSome(e) ? e.value.message : "closed"}`)),
    Effect.orDie
  )

describe("KubeApi watch against the simulated API server", () => {
  it.scoped(
    "delivers each event in order with its type and object, once, and bookmarks; asks for what it was given",
    () =>
      Effect.gen(function* () {
        const s = yield* sim({ bookmarkIntervalMs: 40 })
        const from = String(s.store.resourceVersion)
        // Before the watch: replayed from its resourceVersion.
        const replayed = [create(s), create(s)]
        create(s, { type: "Normal" })
        create(s, { namespace: "other" })
        const w = yield* reading(
          watch(s.url, {
            collection: eventCollection({ api: "core/v1", namespace: "shop", fieldSelector: "type=Warning" }),
            resourceVersion: from
          })
        )
        yield* w.until(() => withoutBookmarks(w.events()).length === 2, "the replayed events")

        const live = [create(s), create(s)]
        create(s, { type: "Normal" })
        const repeated = s.events.repeat(live[0]?.metadata.uid ?? "")
        const deleted = s.events.delete(replayed[0]?.metadata.uid ?? "")
        const last = create(s)
        // A bookmark after the last change: everything before it has been read.
        yield* w.until(
          () =>
            w.events().some((e) => e.type === "BOOKMARK" && rvOf(e.object) >= Number(last.metadata.resourceVersion)),
          "a bookmark past the last change"
        )

        const expected: ReadonlyArray<readonly [string, StoredKubeObject | undefined]> = [
          ["ADDED", replayed[0]],
          ["ADDED", replayed[1]],
          ["ADDED", live[0]],
          ["ADDED", live[1]],
          ["MODIFIED", repeated],
          ["DELETED", deleted],
          ["ADDED", last]
        ]
        // The objects as the server serialized them.
        expect(withoutBookmarks(w.events())).toEqual(
          expected.map(([type, object]) => ({ type, object: JSON.parse(JSON.stringify(object)) }))
        )

        const bookmarks = w.events().filter((e) => e.type === "BOOKMARK")
        expect(bookmarks.length).toBeGreaterThan(0)
        for (const b of bookmarks)
          expect(b.object).toMatchObject({
            kind: "Event",
            apiVersion: "v1",
            metadata: { resourceVersion: expect.any(String) }
          })
        // Bookmarks never go back, and none arrives ahead of an event it claims to be past.
        const rvs = w.events().map((e) => rvOf(e.object))
        for (let i = 1; i < rvs.length; i++) expect(rvs[i]).toBeGreaterThanOrEqual(rvs[i - 1] ?? 0)
        expect(w.malformed()).toEqual([])
        expect(Option.isNone(yield* Fiber.poll(w.fiber))).toBe(true)

        const requests = s.requests.filter({ resource: "events" })
        expect(requests).toHaveLength(1)
        expect(requests[0]).toMatchObject({
          verb: "watch",
          path: "/api/v1/namespaces/shop/events",
          query: {
            watch: "true",
            resourceVersion: from,
            allowWatchBookmarks: "true",
            timeoutSeconds: "60",
            fieldSelector: "type=Warning"
          }
        })
      })
  )

  it.scoped("watches events.k8s.io/v1 at the cluster scope, in that API's form", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      const w = yield* reading(
        watch(s.url, {
          collection: eventCollection({ api: "events.k8s.io/v1", namespace: undefined, fieldSelector: undefined }),
          resourceVersion: String(s.store.resourceVersion)
        })
      )
      yield* spinUntil(() => s.openWatches === 1, "the watch")
      const a = create(s, { namespace: "a" })
      const b = create(s, { namespace: "b" })
      yield* w.until(() => w.events().length === 2, "two events")
      expect(w.events().map((e) => e.type)).toEqual(["ADDED", "ADDED"])
      expect(w.events().map((e) => nameOf(e.object))).toEqual([a.metadata.name, b.metadata.name])
      expect(w.events()[0]?.object).toMatchObject({
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        note: a.message,
        regarding: a.involvedObject
      })
      expect(s.requests.filter({ resource: "events" })[0]).toMatchObject({
        verb: "watch",
        group: "events.k8s.io",
        path: "/apis/events.k8s.io/v1/events"
      })
    })
  )

  it.scoped(
    "an in-band ERROR event fails the watch with its Status (410 Expired is Gone) after the events before it",
    () =>
      Effect.gen(function* () {
        const s = yield* sim()
        create(s)
        const stale = String(s.store.resourceVersion)
        create(s)
        s.store.compact()
        const w = yield* readAll(watch(s.url, { resourceVersion: stale }))
        expect(w.items).toEqual([])
        expect(failure(w.end)).toMatchObject({ reason: "Gone", status: 410, statusReason: "Expired" })
      })
  )

  it.scoped(
    "a consumer that stops pulling gets what the server sent meanwhile when it pulls again, on the same connection",
    () =>
      Effect.gen(function* () {
        const s = yield* sim({ bookmarks: false })
        const before = [create(s), create(s)]
        const from = String(Number(before[0]?.metadata.resourceVersion) - 1)
        const pull = yield* Stream.toPull(watch(s.url, { resourceVersion: from, readAhead: 1 }))
        // The first pull sends the request; the server answers with what came before.
        const first = yield* Effect.fork(pullLines(pull))
        yield* spinUntil(() => s.openWatches === 1, "the watch")
        const got = [...(yield* Fiber.join(first))]
        // Not pulling while the server sends more.
        const during = Array.from({ length: 12 }, () => create(s))
        yield* Effect.promise(() => turns(50))
        while (got.length < 14) got.push(...(yield* pullLines(pull)))
        expect(got.filter(isEvent).map((e) => nameOf(e.object))).toEqual(
          [...before, ...during].map((o) => o.metadata.name)
        )
        expect(s.requests.count({ verb: "watch", resource: "events" })).toBe(1)
      })
  )

  it.scoped("a pull that waits idleTimeout for a line fails the watch as Idle and closes the connection", () =>
    Effect.gen(function* () {
      const s = yield* sim()
      s.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "silentWatch" } })
      const w = yield* reading(watch(s.url))
      yield* spinUntil(() => s.openWatches === 1, "the watch")
      yield* TestClock.adjust(Duration.subtract(IDLE, Duration.millis(1)))
      yield* Effect.promise(() => turns(20))
      expect(Option.isNone(yield* Fiber.poll(w.fiber))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      expect(failure(yield* Fiber.join(w.fiber))).toMatchObject({
        reason: "Idle",
        description: "nothing arrived for 10s, not even a bookmark"
      })
      yield* spinUntil(() => s.openWatches === 0, "the server to see the connection closed")
      expect(w.items).toEqual([])
    })
  )

  it.scoped(
    "the time the consumer takes between pulls is not silence; a waiting pull's silence counts from its start",
    () =>
      Effect.gen(function* () {
        const s = yield* sim({ bookmarks: false })
        const pull = yield* Stream.toPull(watch(s.url, { resourceVersion: String(s.store.resourceVersion) }))
        const first = yield* Effect.fork(pullLines(pull))
        yield* spinUntil(() => s.openWatches === 1, "the watch")
        const a = create(s)
        expect((yield* Fiber.join(first)).filter(isEvent).map((e) => nameOf(e.object))).toEqual([a.metadata.name])

        // Not pulling for three times the idle timeout while the server sends one more event, then nothing.
        const b = create(s)
        yield* Effect.promise(() => turns(50))
        yield* TestClock.adjust(Duration.times(IDLE, 3))
        expect((yield* pullLines(pull)).filter(isEvent).map((e) => nameOf(e.object))).toEqual([b.metadata.name])

        const waiting = yield* Effect.fork(Effect.either(pull))
        yield* Effect.promise(() => turns(20))
        yield* TestClock.adjust(Duration.subtract(IDLE, Duration.millis(1)))
        expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
        yield* TestClock.adjust(Duration.millis(1))
        const ended = yield* Fiber.join(waiting)
        expect(ended._tag === "Left" && Option.isSome(ended.left) ? ended.left.value.reason : ended._tag).toBe("Idle")
        expect(s.requests.count({ verb: "watch" })).toBe(1)
      })
  )

  it.scoped("a 403 on the watch request fails with its status, the Status message and reason", () =>
    Effect.gen(function* () {
      const s = yield* sim()
      s.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "forbidden" } })
      const w = yield* readAll(watch(s.url))
      const error = failure(w.end)
      expect(error.status).toBe(403)
      expect(error.reason).toBe("Forbidden")
      expect(error.statusReason).toBe("Forbidden")
      expect(error.description).toMatch(
        /^events is forbidden: User ".+" cannot watch resource "events" in API group "" at the cluster scope$/
      )
      expect(error.retryAfterSeconds).toBeUndefined()
      expect(error.message).toMatch(/^watch failed with HTTP 403 Forbidden: events is forbidden/)
      expect(w.items).toEqual([])
    })
  )

  it.scoped("a 410 on the watch request fails with its status, the Status message and reason", () =>
    Effect.gen(function* () {
      const s = yield* sim()
      s.faults.add({
        verb: "watch",
        resource: "events",
        times: 1,
        action: { type: "status", status: expiredWatchStatus }
      })
      const w = yield* readAll(watch(s.url, { resourceVersion: "1" }))
      expect(refusal(failure(w.end))).toEqual({
        status: 410,
        reason: "Gone",
        statusReason: "Expired",
        description: "too old resource version: 1 (9)",
        retryAfterSeconds: undefined
      })
      expect(w.items).toEqual([])
    })
  )

  it.scoped("a 429 gives retryAfterSeconds: from a Status body, and from Retry-After with a plain-text body", () =>
    Effect.gen(function* () {
      const s = yield* sim()
      s.faults.add({
        verb: "watch",
        resource: "events",
        times: 1,
        action: {
          type: "tooManyRequests",
          form: "status",
          retryAfterSeconds: 7,
          message: "storage is (re)initializing"
        }
      })
      const fromStatus = failure((yield* readAll(watch(s.url))).end)
      expect(fromStatus).toMatchObject({
        status: 429,
        reason: "TooManyRequests",
        statusReason: "TooManyRequests",
        description: "storage is (re)initializing",
        retryAfterSeconds: 7
      })

      s.faults.add({
        verb: "watch",
        resource: "events",
        times: 1,
        action: { type: "tooManyRequests", form: "apf", retryAfterSeconds: 3 }
      })
      const fromHeader = failure((yield* readAll(watch(s.url))).end)
      expect(refusal(fromHeader)).toEqual({
        status: 429,
        reason: "TooManyRequests",
        statusReason: undefined,
        description: "Too many requests, please try again later.",
        retryAfterSeconds: 3
      })
      expect(s.requests.count({ verb: "watch" })).toBe(2)
    })
  )

  it.scoped("connection refused fails without a status", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const w = yield* readAll(watch(`http://127.0.0.1:${port}`))
      const error = failure(w.end)
      expect(error.status).toBeUndefined()
      expect(error.reason).toBe("Transport")
      expect(error.cause).toBeInstanceOf(Error)
      expect(error.message).toMatch(/ECONNREFUSED/)
    })
  )

  it.scoped("a connection cut mid-stream fails without a status, after the events before the cut", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      const from = String(s.store.resourceVersion)
      const created = [create(s), create(s), create(s), create(s)]
      s.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "dropWatch", afterEvents: 2 } })
      const w = yield* readAll(watch(s.url, { resourceVersion: from }))
      const error = failure(w.end)
      expect(error.status).toBeUndefined()
      expect(error.reason).toBe("Transport")
      expect(w.events().map((e) => nameOf(e.object))).toEqual(created.slice(0, 2).map((o) => o.metadata.name))
      expect(w.malformed()).toEqual([])
    })
  )

  it.scoped("a connection reset before any answer fails without a status", () =>
    Effect.gen(function* () {
      const s = yield* sim()
      s.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "resetConnection" } })
      const error = failure((yield* readAll(watch(s.url))).end)
      expect(error.status).toBeUndefined()
      expect(error.reason).toBe("Transport")
      expect(error.explanation).not.toBe("")
    })
  )

  it.scoped("stopping the stream closes the connection, and nothing is delivered after", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarkIntervalMs: 20 })
      const w = yield* reading(watch(s.url, { resourceVersion: String(s.store.resourceVersion) }))
      yield* spinUntil(() => s.openWatches === 1, "the watch")
      create(s)
      yield* w.until(() => w.events().some((e) => e.type === "ADDED"), "an event")
      yield* Fiber.interrupt(w.fiber)
      const delivered = w.items.length
      create(s)
      // Bookmarks every 20 ms and a new event: none of them may arrive, and the server sees the connection go.
      yield* spinUntil(() => s.openWatches === 0, "the server to see the connection closed")
      yield* holds(() => w.items.length === delivered, "nothing after stop")
      expect(w.malformed()).toEqual([])
    })
  )

  it.scoped("a consumer that takes only the first array closes the connection; that array holds the whole burst", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      const from = String(s.store.resourceVersion)
      // Replayed together at the start of the stream: one write, one chunk.
      const created = Array.from({ length: 20 }, () => create(s))
      const [first] = yield* Stream.runCollect(watch(s.url, { resourceVersion: from }).pipe(Stream.take(1))).pipe(
        Effect.map(Chunk.toReadonlyArray)
      )
      expect(first?.filter(isEvent).map((e) => nameOf(e.object))).toEqual(created.map((o) => o.metadata.name))
      yield* spinUntil(() => s.openWatches === 0, "the server to see the connection closed")
      expect(s.requests.count({ verb: "watch" })).toBe(1)
    })
  )

  it.scoped("stopped before the server answers: no event ever, and the connection goes", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarkIntervalMs: 10 })
      create(s)
      const w = yield* reading(watch(s.url, { resourceVersion: "0" }))
      yield* Fiber.interrupt(w.fiber)
      yield* holds(() => w.items.length === 0, "nothing after stop", 1_000)
      yield* spinUntil(() => s.openWatches === 0, "no watch open")
    })
  )

  it.scoped("the server ending the stream at timeoutSeconds ends it", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      const w = yield* reading(watch(s.url, { resourceVersion: String(s.store.resourceVersion), timeoutSeconds: 1 }))
      yield* spinUntil(() => s.openWatches === 1, "the watch")
      const o = create(s)
      expect(yield* Fiber.join(w.fiber)).toBe("closed")
      expect(w.events().map((e) => nameOf(e.object))).toEqual([o.metadata.name])
      expect(s.requests.filter({ verb: "watch" })[0]?.query["timeoutSeconds"]).toBe("1")
    })
  )

  it.scoped("the server ending every watch (a restart) ends it", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      const w = yield* reading(watch(s.url, { resourceVersion: String(s.store.resourceVersion) }))
      yield* spinUntil(() => s.openWatches === 1, "the watch")
      s.endWatches()
      expect(yield* Fiber.join(w.fiber)).toBe("closed")
    })
  )
})

describe("KubeApi watch, byte by byte", () => {
  it.scoped(
    "decodes lines split across TCP writes, inside multi-byte UTF-8 characters, and a last line without a newline",
    () =>
      Effect.gen(function* () {
        const messages = ["café crème", "日本のノード", "rocket 🚀 launched", "mixed é日🚀 end"]
        const lines = messages.map((message, i) => eventLine(`u-${i}`, { message }))
        const bytes = Buffer.from(`${lines.join("\n")}`, "utf8")
        // Cut inside "é" (2 bytes), "日" and "本" (3 bytes, after one and after two of them), "🚀" (4 bytes, after 1, 2
        // and 3), in the middle of plain ASCII, and keep one write spanning a line's end and the next line's start.
        const at = (text: string, from: number) => bytes.indexOf(Buffer.from(text, "utf8"), from)
        const cafe = at("é", 0)
        const nichi = at("日", cafe)
        const hon = at("本", nichi)
        const rocket = at("🚀", hon)
        const launched = at("launched", rocket)
        const mixedE = at("é", launched)
        const mixedRocket = at("🚀", mixedE)
        const cuts = [cafe + 1, nichi + 1, hon + 2, rocket + 1, rocket + 3, launched + 4, mixedE + 1, mixedRocket + 2]
        expect([...cuts].sort((a, b) => a - b)).toEqual(cuts)
        expect(new Set(cuts).size).toBe(cuts.length)
        const server = yield* rawServer(async (res) => {
          startStream(res)
          let start = 0
          for (const cut of cuts) {
            await send(res, bytes.subarray(start, cut))
            start = cut
          }
          // The last line ends without a newline: the stream's end ends it.
          res.end(bytes.subarray(start))
        })
        const w = yield* readAll(watch(server.url))
        expect(w.end).toBe("closed")
        expect(w.malformed()).toEqual([])
        expect(w.events().map((e) => e.type)).toEqual(["ADDED", "ADDED", "ADDED", "ADDED"])
        expect(w.events().map((e) => messageOf(e.object))).toEqual(messages)
        expect(w.events().map((e) => nameOf(e.object))).toEqual(["u-0", "u-1", "u-2", "u-3"])
      })
  )

  it.scoped("passes lines that are not watch events on as malformed, in their place among the events", () =>
    Effect.gen(function* () {
      const garbage = `not json at all ${"x".repeat(100_000)}`
      const server = yield* rawServer(async (res) => {
        startStream(res)
        await send(res, `${eventLine("a")}\n`)
        await send(res, "this is not json\n")
        await send(res, `${eventLine("b")}\n{"object":{"metadata":{"name":"typeless"}}}\n`)
        // Blank lines and CRLF line ends are not malformed.
        await send(res, `\n\r\n${eventLine("c")}\r\n`)
        await send(res, `[1,2,3]\n{"type":7,"object":{}}\n${garbage}\n`)
        res.end(`${eventLine("d")}\n`)
      })
      const w = yield* readAll(watch(server.url))
      expect(w.end).toBe("closed")
      expect(w.events().map((e) => nameOf(e.object))).toEqual(["a", "b", "c", "d"])
      expect(w.items.map((l) => (isEvent(l) ? nameOf(l.object) : "malformed"))).toEqual([
        "a",
        "malformed",
        "b",
        "malformed",
        "c",
        "malformed",
        "malformed",
        "malformed",
        "d"
      ])
      const [notJson, typeless, array, numericType, long] = w.malformed()
      expect(notJson).toMatch(/not JSON/)
      expect(notJson).toContain("this is not json")
      expect(typeless).toMatch(/not a watch event \(no "type"\)/)
      expect(typeless).toContain(`{"object":{"metadata":{"name":"typeless"}}}`)
      expect(array).toMatch(/not a watch event/)
      expect(array).toContain("[1,2,3]")
      expect(numericType).toMatch(/not a watch event/)
      expect(numericType).toContain(`{"type":7`)
      // A long line is quoted, not copied whole.
      expect(long).toMatch(/not JSON/)
      expect(long).toContain("not json at all xxx")
      expect(long?.length).toBeLessThan(500)
    })
  )

  it.scoped("a pull takes every line read and not yet taken as one array, up to 4 096 lines, then the end", () =>
    Effect.gen(function* () {
      const names = Array.from({ length: 5_000 }, (_, i) => `p-${i}`)
      let finished = false
      const server = yield* rawServer((res) => {
        startStream(res)
        res.end(`${names.map((name) => eventLine(name)).join("\n")}\n`, () => {
          finished = true
        })
      })
      const pull = yield* Stream.toPull(watch(server.url))
      const arrays: Array<ReadonlyArray<WatchLine>> = [...Chunk.toReadonlyArray(yield* pull)]
      // Everything read while the consumer does not pull.
      yield* spinUntil(() => finished, "the server to have written everything")
      yield* Effect.promise(() => turns(50))
      for (;;) {
        const next = yield* Effect.either(pull)
        if (next._tag === "Left") {
          expect(next.left).toEqual(Option.none())
          break
        }
        arrays.push(...Chunk.toReadonlyArray(next.right))
      }
      expect(arrays.flat().map((line) => (isEvent(line) ? nameOf(line.object) : "malformed"))).toEqual(names)
      expect(arrays.map((a) => a.length)).toContain(4_096)
      expect(arrays.every((a) => a.length <= 4_096)).toBe(true)
    })
  )

  it.scoped(
    "a connection destroyed in the middle of a line fails without a status and delivers no part of that line",
    () =>
      Effect.gen(function* () {
        const server = yield* rawServer(async (res) => {
          startStream(res)
          await send(res, `${eventLine("whole")}\n${eventLine("half").slice(0, 30)}`)
          res.socket?.destroy()
        })
        const w = yield* readAll(watch(server.url))
        const error = failure(w.end)
        expect(error.status).toBeUndefined()
        expect(error.reason).toBe("Transport")
        expect(w.events().map((e) => nameOf(e.object))).toEqual(["whole"])
        expect(w.malformed()).toEqual([])
      })
  )

  it.scoped("a refused watch with a body that is not a Status gives the body's start as description", () =>
    Effect.gen(function* () {
      const server = yield* rawServer((res) => {
        res.writeHead(503, { "Content-Type": "text/plain", "Retry-After": "2" })
        res.end("upstream connect error\n")
      })
      const error = failure((yield* readAll(watch(server.url))).end)
      expect(refusal(error)).toEqual({
        status: 503,
        reason: "ServerError",
        statusReason: undefined,
        description: "upstream connect error",
        retryAfterSeconds: 2
      })
    })
  )

  it.scoped(
    "not pulled, it stops reading at readAhead: the server's writes back up until the consumer pulls, " +
      "then every line arrives once, in order",
    () =>
      Effect.gen(function* () {
        const line = (i: number) => `${eventLine(`bp-${i}`, { message: "y".repeat(60_000) })}\n`
        let written = 0
        let blocked = false
        const server = yield* rawServer(async (res) => {
          startStream(res)
          // Write until the socket stays full: 'drain' does not come within 500 turns of the event loop.
          for (;;) {
            const more = res.write(line(written++))
            if (!more) {
              const drained = await Promise.race([
                new Promise<boolean>((resolve) => res.once("drain", () => resolve(true))),
                turns(500).then(() => false)
              ])
              if (!drained) break
            }
            if (written > 5_000) throw new Error("the client never pushed back")
          }
          blocked = true
          await new Promise<void>((resolve) => res.once("drain", () => resolve()))
          res.end()
        })
        const pull = yield* Stream.toPull(watch(server.url, { readAhead: 1 }))
        const got = [...(yield* pullLines(pull))]
        yield* spinUntil(() => blocked, "the server to be held back")
        for (;;) {
          const next = yield* Effect.either(pull)
          if (next._tag === "Left") {
            expect(next.left).toEqual(Option.none())
            break
          }
          got.push(...Chunk.toReadonlyArray(next.right).flat())
        }
        expect(got.filter(isEvent).map((e) => nameOf(e.object))).toEqual(
          Array.from({ length: written }, (_, i) => `bp-${i}`)
        )
        expect(server.requests).toHaveLength(1)
      })
  )
})

// The Status reasons and codes of k8s.io/apimachinery/pkg/apis/meta/v1 (StatusReasonUnauthorized, …), as the API
// server sends them for a refused request.
const refusals = [
  { code: 401, statusReason: "Unauthorized", reason: "Unauthorized" },
  { code: 403, statusReason: "Forbidden", reason: "Forbidden" },
  { code: 404, statusReason: "NotFound", reason: "NotFound" },
  { code: 410, statusReason: "Expired", reason: "Gone" },
  { code: 422, statusReason: "Invalid", reason: "StatusCode" },
  { code: 429, statusReason: "TooManyRequests", reason: "TooManyRequests" },
  { code: 500, statusReason: "InternalError", reason: "ServerError" },
  { code: 504, statusReason: "Timeout", reason: "ServerError" }
] as const

const statusBody = (code: number, reason: string) =>
  JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "m", reason, code })

const refusingServer = (code: number, body: string) =>
  rawServer((res: Http.ServerResponse) => {
    res.writeHead(code, { "Content-Type": "application/json" })
    res.end(body)
  })

describe("KubeApiError: one reason per kind of failure, the same for list, watch and a watch's ERROR event", () => {
  it.scoped.each(refusals)("HTTP $code ($statusReason) is $reason", ({ code, statusReason, reason }) =>
    Effect.gen(function* () {
      const server = yield* refusingServer(code, statusBody(code, statusReason))
      const watched = failure((yield* readAll(watch(server.url))).end)
      const listed = yield* Effect.flip(
        apiFor(server.url).list({ collection: ALL_CORE_EVENTS, limit: 1, continueToken: undefined })
      )
      for (const error of [watched, listed]) {
        expect(error).toMatchObject({ reason, status: code, statusReason, description: "m" })
      }
      const event = KubeApiError.errorEvent(JSON.parse(statusBody(code, statusReason)))
      expect(event).toMatchObject({ verb: "watch", reason, status: code, statusReason, description: "m" })
    })
  )

  it.scoped("a list answered with something that is not a list is Decode, with the decoding error as cause", () =>
    Effect.gen(function* () {
      const server = yield* refusingServer(200, JSON.stringify({ kind: "EventList", items: "not an array" }))
      const error = yield* Effect.flip(
        apiFor(server.url).list({ collection: ALL_CORE_EVENTS, limit: 1, continueToken: undefined })
      )
      expect(error).toMatchObject({ verb: "list", reason: "Decode", status: 200 })
      expect(error.cause).toBeDefined()
      expect(error.message).toBe("list failed with HTTP 200: the answer is not a list")
    })
  )

  it.effect("a list that gets no answer is Transport, with the network error as cause", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const error = yield* Effect.flip(
        apiFor(`http://127.0.0.1:${port}`).list({ collection: ALL_CORE_EVENTS, limit: 1, continueToken: undefined })
      )
      expect(error).toMatchObject({ verb: "list", reason: "Transport" })
      expect(error.status).toBeUndefined()
      expect(error.cause).toBeInstanceOf(Error)
    })
  )

  it("an ERROR event whose Status has no code is ErrorEvent, with the Status message", () => {
    const error = KubeApiError.errorEvent({ kind: "Status", status: "Failure", message: "something broke" })
    expect(error).toMatchObject({ verb: "watch", reason: "ErrorEvent", description: "something broke" })
    expect(error.status).toBeUndefined()
  })

  it.effect("a kubeconfig without a cluster fails a watch as Transport, saying so", () =>
    Effect.gen(function* () {
      const api = Effect.runSync(KubeApi.pipe(Effect.provide(KubeApi.layer(new KubeConfig()))))
      const stream = api.watch({
        collection: ALL_CORE_EVENTS,
        resourceVersion: "",
        timeoutSeconds: 60,
        readAhead: 1,
        idleTimeout: IDLE
      })
      const w = yield* Effect.scoped(readAll(stream))
      expect(failure(w.end)).toMatchObject({ reason: "Transport", description: "the kubeconfig names no cluster" })
    })
  )
})

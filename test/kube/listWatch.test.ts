/**
 * `listWatch`, the one list+watch loop of the source and the caches, against the simulated API server over real
 * HTTP, on the test clock: what the API concepts page asks of a client (/work/shared/reference/
 * kubernetes-watch-semantics.md): list in pages and watch from the list's resourceVersion; go on from the last
 * resourceVersion seen; on 410 Gone list again; an expired `continue` token lists from the beginning. A watch
 * silent for `watchIdleTimeout` is ended; the time a consumer takes is not silence. Failures come out as `Failed`
 * and are retried after a backoff that starts over when the kind of failure changes, a longer Retry-After
 * (apiserver-error-shapes.md) waited out up to its cap. A 401 or 403 just after a failed connection is a
 * restarted API server whose caches are still filling: asked again every 200 ms for up to 30 s.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Fiber, Option, Stream, TestClock } from "effect"
import { type SimServer, StatusBodies } from "@k8s-event-collector/sim"
import type { KubeApiError } from "../../src/kube/KubeApiError.ts"
import {
  API_RETRY_AFTER_CAP,
  listWatch,
  type ListWatchRequest,
  type Observation,
  STARTING_GRACE,
  STARTING_RETRY
} from "../../src/kube/listWatch.ts"
import { expiredWatchStatus } from "../support/apiserverStatus.ts"
import { spinUntil, turns } from "../support/eventLoop.ts"
import { ALL_CORE_EVENTS, apiFor, create, isEvent, nameOf, record, sim } from "./support.ts"

const IDLE = Duration.seconds(10)

const request = (overrides: Partial<ListWatchRequest> = {}): ListWatchRequest => ({
  collection: ALL_CORE_EVENTS,
  pageSize: 500,
  watchTimeout: Duration.minutes(5),
  watchIdleTimeout: IDLE,
  retryInitial: Duration.seconds(1),
  retryMax: Duration.seconds(30),
  ...overrides
})

/** Each observation as a short text: `Listing start`, `Page 2`, `Listed`, `Watched ev-1,ev-2`, `WatchEnded idle`… */
const show = (o: Observation): string => {
  switch (o._tag) {
    case "Listing":
      return `Listing ${o.cause}`
    case "Page":
      return `Page ${o.items.length}`
    case "Listed":
      return "Listed"
    case "Watched":
      return `Watched ${o.lines.map((l) => (isEvent(l) ? nameOf(l.object) : "malformed")).join(",")}`
    case "WatchEnded":
      return `WatchEnded ${o.cause}`
    case "Failed":
      return `Failed ${o.error.status ?? o.error.reason}`
  }
}

/** Reads `stream` in the background; `until` waits for the observations so far, as `show` says them. */
const recording = (stream: Stream.Stream<Observation>) =>
  Effect.map(record(stream), (r) => {
    const shown = () => r.items.map(show)
    const until = (pred: (shown: ReadonlyArray<string>) => boolean) =>
      r.until(() => pred(shown()), "the observations expected")
    return { seen: r.items, shown, until, fiber: r.fiber }
  })

/** The next observations a pull gives, as `show` says them. */
const pulled = (pull: Effect.Effect<Chunk.Chunk<Observation>, Option.Option<never>>) =>
  pull.pipe(
    Effect.map((chunk) => Chunk.toReadonlyArray(chunk).map(show)),
    Effect.orDieWith(() => new Error("list+watch ended"))
  )

/** Each failure passed on so far: its verb, reason and status. */
const failures = (seen: ReadonlyArray<Observation>) =>
  seen.flatMap((o) => (o._tag === "Failed" ? [[o.error.verb, o.error.reason, o.error.status]] : []))

/**
 * The wait that began after the last failure, in milliseconds, once it has begun; the clock is then moved to its
 * end, and the next list awaited. Nothing else moves the clock meanwhile: the wait began when the failure came out.
 */
const nextWait = (s: SimServer) =>
  Effect.gen(function* () {
    let sleeps = yield* TestClock.sleeps()
    for (let i = 0; i < 10_000 && Chunk.isEmpty(sleeps); i++) {
      yield* Effect.promise(() => turns(1))
      sleeps = yield* TestClock.sleeps()
    }
    const [due] = Chunk.toReadonlyArray(sleeps)
    if (due === undefined || Chunk.size(sleeps) > 1) return yield* Effect.die(new Error("not one wait"))
    const waited = due - (yield* Clock.currentTimeMillis)
    const before = s.requests.count({ verb: "list" })
    yield* TestClock.adjust(Duration.millis(waited))
    yield* spinUntil(() => s.requests.count({ verb: "list" }) === before + 1, "the next list")
    return waited
  })

const unauthorized = StatusBodies.failure(401, "Unauthorized", "Unauthorized")

const watchRvs = (s: SimServer) => s.requests.filter({ verb: "watch" }).map((r) => r.query["resourceVersion"])

describe("listWatch", () => {
  it.scoped(
    "lists in pages, watches from the list's resourceVersion, and goes on from the last one seen when a watch ends",
    () =>
      Effect.gen(function* () {
        const s = yield* sim({ bookmarks: false })
        const listed = Array.from({ length: 5 }, () => create(s))
        const r = yield* recording(listWatch(apiFor(s.url), request({ pageSize: 2 })))
        yield* r.until((o) => o.includes("Listed"))
        yield* spinUntil(() => s.openWatches === 1, "the watch")
        const listRv = String(s.store.resourceVersion)
        const watched = create(s)
        yield* r.until((o) => o.includes(`Watched ${watched.metadata.name}`))
        s.endWatches()
        yield* r.until((o) => o.includes("WatchEnded timeout"))
        yield* spinUntil(() => s.requests.count({ verb: "watch" }) === 2, "the next watch")

        expect(r.shown()).toEqual([
          "Listing start",
          "Page 2",
          "Page 2",
          "Page 1",
          "Listed",
          `Watched ${watched.metadata.name}`,
          "WatchEnded timeout"
        ])
        const pages = r.seen.flatMap((o) => (o._tag === "Page" ? o.items.map(nameOf) : []))
        expect(pages).toEqual(listed.map((o) => o.metadata.name))
        const lists = s.requests.filter({ verb: "list" })
        expect(lists.map((l) => l.query["limit"])).toEqual(["2", "2", "2"])
        expect(lists.map((l) => l.query["continue"] !== undefined)).toEqual([false, true, true])
        expect(watchRvs(s)).toEqual([listRv, watched.metadata.resourceVersion])
        expect(s.requests.filter({ verb: "watch" })[0]?.query).toMatchObject({ allowWatchBookmarks: "true" })
      })
  )

  it.scoped("resumes from resumeFrom without listing", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      const from = String(s.store.resourceVersion)
      const after = create(s)
      const r = yield* recording(listWatch(apiFor(s.url), request({ resumeFrom: from })))
      yield* r.until((o) => o.length > 0)
      expect(r.shown()).toEqual([`Watched ${after.metadata.name}`])
      expect(s.requests.count({ verb: "list" })).toBe(0)
      expect(watchRvs(s)).toEqual([from])
    })
  )

  it.scoped(
    "a watch silent for watchIdleTimeout is ended as idle, its connection closed; the next goes on from there",
    () =>
      Effect.gen(function* () {
        const s = yield* sim()
        create(s)
        s.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "silentWatch" } })
        const r = yield* recording(listWatch(apiFor(s.url), request()))
        yield* r.until((o) => o.includes("Listed"))
        yield* spinUntil(() => s.openWatches === 1, "the watch")
        yield* TestClock.adjust(Duration.subtract(IDLE, Duration.millis(1)))
        yield* Effect.promise(() => turns(20))
        expect(r.shown()).not.toContain("WatchEnded idle")
        yield* TestClock.adjust(Duration.millis(1))
        yield* r.until((o) => o.includes("WatchEnded idle"))
        yield* spinUntil(() => s.requests.count({ verb: "watch" }) === 2, "the next watch")
        const [first, second] = watchRvs(s)
        expect(second).toBe(first)
        // The silent one is closed; the next is open.
        yield* spinUntil(() => s.openWatches === 1, "only the next watch open")
      })
  )

  it.scoped("the time a consumer takes is not silence; once it pulls again, silence counts from that pull", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      const pull = yield* Stream.toPull(listWatch(apiFor(s.url), request()))
      const seen: Array<string> = []
      while (!seen.includes("Listed")) seen.push(...(yield* pulled(pull)))
      const next = yield* Effect.fork(pulled(pull))
      yield* spinUntil(() => s.openWatches === 1, "the watch")
      const a = create(s)
      expect(yield* Fiber.join(next)).toEqual([`Watched ${a.metadata.name}`])

      // Not pulling for twice the idle timeout while the server sends more.
      const during = [create(s), create(s)]
      yield* Effect.promise(() => turns(50))
      yield* TestClock.adjust(Duration.times(IDLE, 2))
      const names: Array<string> = []
      while (names.length < during.length) {
        for (const o of yield* pulled(pull)) {
          expect(o).toMatch(/^Watched /)
          names.push(...o.slice("Watched ".length).split(","))
        }
      }
      expect(names).toEqual(during.map((o) => o.metadata.name))

      // Waiting for more: silence counts from this pull.
      const waiting = yield* Effect.fork(pulled(pull))
      yield* Effect.promise(() => turns(20))
      yield* TestClock.adjust(Duration.subtract(IDLE, Duration.millis(1)))
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* Fiber.join(waiting)).toEqual(["WatchEnded idle"])
      expect(s.requests.count({ verb: "watch" })).toBe(1)
    })
  )

  it.scoped(
    "a 410 lists again at once; when the fresh list's version is gone again at once, only after a backoff",
    () =>
      Effect.gen(function* () {
        const s = yield* sim({ bookmarks: false })
        s.faults.add({
          verb: "watch",
          resource: "events",
          times: 2,
          action: { type: "status", status: expiredWatchStatus }
        })
        const r = yield* recording(listWatch(apiFor(s.url), request()))
        yield* r.until((o) => o.filter((x) => x === "WatchEnded expired").length === 2)
        yield* Effect.promise(() => turns(20))
        expect(r.shown()).toEqual([
          "Listing start",
          "Page 0",
          "Listed",
          "WatchEnded expired",
          "Listing expired",
          "Page 0",
          "Listed",
          "WatchEnded expired"
        ])
        // The first delay is retryInitial, jittered into [1/2, 1) of it.
        yield* TestClock.adjust(Duration.millis(499))
        yield* Effect.promise(() => turns(20))
        expect(s.requests.count({ verb: "list" })).toBe(2)
        yield* TestClock.adjust(Duration.millis(501))
        yield* spinUntil(() => s.openWatches === 1, "a watch after the third list")
        expect(s.requests.count({ verb: "list" })).toBe(3)
        expect(r.shown().slice(8)).toEqual(["Listing expired", "Page 0", "Listed"])
      })
  )

  it.scoped("an ERROR event with 410 lists again, and the watch goes on from the new list", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      create(s)
      const stale = String(s.store.resourceVersion)
      const kept = create(s)
      s.store.compact()
      const r = yield* recording(listWatch(apiFor(s.url), request({ resumeFrom: stale })))
      yield* r.until((o) => o.includes("Listed"))
      yield* spinUntil(() => s.requests.count({ verb: "watch" }) === 2, "the watch after the list")
      expect(r.shown()).toEqual(["WatchEnded expired", "Listing expired", "Page 2", "Listed"])
      expect(r.seen.flatMap((o) => (o._tag === "Page" ? o.items.map(nameOf) : []))).toContain(kept.metadata.name)
      expect(watchRvs(s)).toEqual([stale, String(s.store.resourceVersion)])
    })
  )

  it.scoped("an expired continue token lists from the beginning", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      for (let i = 0; i < 3; i++) create(s)
      const pull = yield* Stream.toPull(listWatch(apiFor(s.url), request({ pageSize: 2 })))
      const seen: Array<string> = []
      while (!seen.includes("Page 2")) seen.push(...(yield* pulled(pull)))
      const expired = StatusBodies.expired("The provided continue parameter is too old")
      s.faults.add({ verb: "list", resource: "events", times: 1, action: { type: "status", status: expired } })
      while (!seen.includes("Listed")) seen.push(...(yield* pulled(pull)))
      expect(seen).toEqual(["Listing start", "Page 2", "Listing continueExpired", "Page 2", "Page 1", "Listed"])
      const lists = s.requests.filter({ verb: "list" })
      expect(lists.map((l) => l.query["continue"] !== undefined)).toEqual([false, true, false, true])
    })
  )

  it.scoped("a failure comes out as Failed and is retried after the backoff, a longer Retry-After waited out", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      s.faults.add({
        verb: "list",
        resource: "events",
        times: 1,
        action: { type: "tooManyRequests", form: "status", retryAfterSeconds: 20 }
      })
      s.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "internalError" } })
      const r = yield* recording(listWatch(apiFor(s.url), request()))
      yield* r.until((o) => o.includes("Failed 429"))
      yield* TestClock.adjust(Duration.seconds(19))
      yield* Effect.promise(() => turns(20))
      expect(s.requests.count({ verb: "list" })).toBe(1)
      yield* TestClock.adjust(Duration.seconds(1))
      // The list succeeds: progress. The watch's failure waits for a backoff from retryInitial again.
      yield* r.until((o) => o.includes("Failed 500"))
      expect(r.shown()).toEqual(["Listing start", "Failed 429", "Listing start", "Page 0", "Listed", "Failed 500"])
      yield* TestClock.adjust(Duration.seconds(1))
      yield* spinUntil(() => s.openWatches === 1, "the watch again")
      const failed = r.seen.flatMap((o): Array<KubeApiError> => (o._tag === "Failed" ? [o.error] : []))
      expect(failed.map((e) => [e.verb, e.reason, e.retryAfterSeconds])).toEqual([
        ["list", "TooManyRequests", 20],
        ["watch", "ServerError", undefined]
      ])
      expect(Option.isNone(yield* Fiber.poll(r.fiber))).toBe(true)
    })
  )

  it.scoped(
    "a 401 or 403 just after a failed connection is the API server starting: Starting, asked again every 200 ms",
    () =>
      Effect.gen(function* () {
        const s = yield* sim({ bookmarks: false })
        // A restarted API server: no connection at first, then its authenticator and RBAC caches are filling.
        s.faults.add({ verb: "list", resource: "events", times: 1, action: { type: "resetConnection" } })
        s.faults.add({ verb: "list", resource: "events", times: 2, action: { type: "status", status: unauthorized } })
        s.faults.add({ verb: "list", resource: "events", times: 3, action: { type: "forbidden" } })
        const r = yield* recording(listWatch(apiFor(s.url), request()))
        const waits: Array<number> = []
        for (let n = 1; n <= 6; n++) {
          yield* r.until(() => failures(r.seen).length === n)
          waits.push(yield* nextWait(s))
        }
        yield* r.until((o) => o.includes("Listed"))
        expect(failures(r.seen)).toEqual([
          ["list", "Transport", undefined],
          ["list", "Starting", 401],
          ["list", "Starting", 401],
          ["list", "Starting", 403],
          ["list", "Starting", 403],
          ["list", "Starting", 403]
        ])
        // After the failed connection, retryInitial jittered into [1/2, 1] of it (whole milliseconds); then 200 ms.
        expect(waits[0]).toBeGreaterThanOrEqual(500)
        expect(waits[0]).toBeLessThanOrEqual(1000)
        expect(waits.slice(1)).toEqual(Array.from({ length: 5 }, () => Duration.toMillis(STARTING_RETRY)))
        const said = r.seen.flatMap((o) => (o._tag === "Failed" ? [o.error.message] : []))
        expect(said[1]).toMatch(/^list failed with HTTP 401 Unauthorized \(the API server is starting: authentication/)
        expect(said[3]).toMatch(/^list failed with HTTP 403 Forbidden \(the API server is starting: authorization not/)
        expect(said[3]).toMatch(/cannot list resource "events"/)
      })
  )

  it.scoped(
    "a 403 that lasts STARTING_GRACE is a refusal, backed off from retryInitial; so is one with no failed connection",
    () =>
      Effect.gen(function* () {
        const s = yield* sim({ bookmarks: false })
        s.faults.add({ verb: "list", resource: "events", times: 1, action: { type: "forbidden" } })
        s.faults.add({ verb: "list", resource: "events", times: 1, action: { type: "resetConnection" } })
        const forbidden = s.faults.add({ verb: "list", resource: "events", action: { type: "forbidden" } })
        const r = yield* recording(listWatch(apiFor(s.url), request()))
        const starting = Duration.toMillis(STARTING_GRACE) / Duration.toMillis(STARTING_RETRY)
        const waits: Array<number> = []
        for (let n = 1; n <= starting + 4; n++) {
          yield* r.until(() => failures(r.seen).length === n)
          waits.push(yield* nextWait(s))
        }
        const reasons = failures(r.seen).map(([, reason]) => reason)
        // Refused with no failed connection before: a refusal at once.
        expect(reasons.slice(0, 2)).toEqual(["Forbidden", "Transport"])
        // After the failed connection, every 200 ms while it can still be the start-up...
        expect(reasons.slice(2, 2 + starting)).toEqual(Array.from({ length: starting }, () => "Starting"))
        expect(new Set(waits.slice(2, 2 + starting))).toEqual(new Set([Duration.toMillis(STARTING_RETRY)]))
        // ...and a refusal once it has lasted STARTING_GRACE: backed off from retryInitial again, and growing.
        expect(reasons.slice(2 + starting, 4 + starting)).toEqual(["Forbidden", "Forbidden"])
        const [refused = 0, again = 0] = waits.slice(2 + starting)
        expect([refused >= 500 && refused <= 1000, again >= 1000 && again <= 2000]).toEqual([true, true])
        yield* r.until(() => failures(r.seen).length === starting + 5)
        forbidden.clear()
        yield* nextWait(s)
        yield* r.until((o) => o.includes("Listed"))
      })
  )

  it.scoped("the backoff starts over from retryInitial when the kind of failure changes", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      s.faults.add({ verb: "list", resource: "events", times: 3, action: { type: "internalError" } })
      s.faults.add({ verb: "list", resource: "events", times: 1, action: { type: "resetConnection" } })
      s.faults.add({ verb: "list", resource: "events", times: 1, action: { type: "internalError" } })
      const r = yield* recording(listWatch(apiFor(s.url), request()))
      const waits: Array<number> = []
      for (let n = 1; n <= 5; n++) {
        yield* r.until(() => failures(r.seen).length === n)
        waits.push(yield* nextWait(s))
      }
      yield* r.until((o) => o.includes("Listed"))
      expect(failures(r.seen).map(([, reason]) => reason)).toEqual([
        "ServerError",
        "ServerError",
        "ServerError",
        "Transport",
        "ServerError"
      ])
      // Each wait in [d/2, d] (whole milliseconds): 1 s, 2 s, 4 s for the 500s; the failed connection from 1 s again,
      // not 8 s; and the 500 after it from 1 s again, not 2 s.
      const bounds = [1000, 2000, 4000, 1000, 1000]
      expect(waits.map((w, i) => w >= (bounds[i] ?? 0) / 2 && w <= (bounds[i] ?? 0))).toEqual(bounds.map(() => true))
    })
  )

  it.scoped("a Retry-After longer than API_RETRY_AFTER_CAP is waited out only up to it", () =>
    Effect.gen(function* () {
      const s = yield* sim({ bookmarks: false })
      s.faults.add({
        verb: "list",
        resource: "events",
        times: 1,
        action: { type: "tooManyRequests", form: "status", retryAfterSeconds: 3600 }
      })
      const r = yield* recording(listWatch(apiFor(s.url), request()))
      yield* r.until(() => failures(r.seen).length === 1)
      expect(r.seen.flatMap((o) => (o._tag === "Failed" ? [o.error.retryAfterSeconds] : []))).toEqual([3600])
      expect(yield* nextWait(s)).toBe(Duration.toMillis(API_RETRY_AFTER_CAP))
      expect(Duration.toSeconds(API_RETRY_AFTER_CAP)).toBe(30)
      yield* r.until((o) => o.includes("Listed"))
    })
  )
})

/**
 * The sink against a scripted exporter (the LogExporter service's test layer): batching by size and linger,
 * the ack as the only way a batch counts as delivered, retries, rejection, partial success, markers,
 * backpressure and the stop. Time is the TestClock's: every wait is stepped, never slept.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Deferred, Duration, Effect, Fiber, Layer, Option, Order, Ref, TestClock } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { Metrics } from "../../src/observability/Metrics.ts"
import { type Accepted, allAccepted, ExportFailed, LogExporter } from "../../src/sink/LogExporter.ts"
import { RecordSink, type RecordSinkShape, RETRY_AFTER_CAP, type SinkSettings } from "../../src/sink/RecordSink.ts"

const resource = resourceFromAttributes({})
const record = (n: number): ReadableLogRecord => ({
  hrTime: [n, 0],
  hrTimeObserved: [n, 0],
  resource,
  instrumentationScope: { name: "test" },
  attributes: { n },
  droppedAttributesCount: 0
})

type Answer = ExportFailed | Accepted | "ok" | "hang"

/**
 * An exporter that answers from a script: each call takes the next answer; past the end it succeeds. It keeps
 * each call's records and the TestClock's time when it was made.
 */
const scripted = (answers: ReadonlyArray<Answer>) =>
  Effect.gen(function* () {
    const calls = yield* Ref.make<ReadonlyArray<ReadonlyArray<number>>>([])
    const times = yield* Ref.make<ReadonlyArray<number>>([])
    const layer = Layer.succeed(LogExporter, {
      name: "scripted",
      export: (batch) =>
        Effect.gen(function* () {
          const seen = yield* Ref.getAndUpdate(calls, (c) => [...c, batch.map((r) => Number(r.attributes["n"]))])
          const now = yield* Clock.currentTimeMillis
          yield* Ref.update(times, (t) => [...t, now])
          const answer = answers[seen.length] ?? "ok"
          if (answer === "ok") return allAccepted
          if (answer === "hang") return yield* Effect.never
          if (answer instanceof ExportFailed) return yield* answer
          return answer
        }),
      shutdown: Effect.void
    })
    return { calls, times, layer }
  })

/**
 * An exporter whose answers wait for `open`: every export started before it is acknowledged then, the ones after
 * wait for the next. It keeps each call's records and the TestClock's time when it was made.
 */
const gated = Effect.gen(function* () {
  const calls = yield* Ref.make<ReadonlyArray<ReadonlyArray<number>>>([])
  const times = yield* Ref.make<ReadonlyArray<number>>([])
  const gate = yield* Ref.make(yield* Deferred.make<void>())
  const layer = Layer.succeed(LogExporter, {
    name: "gated",
    export: (batch) =>
      Effect.gen(function* () {
        yield* Ref.update(calls, (c) => [...c, batch.map((r) => Number(r.attributes["n"]))])
        const now = yield* Clock.currentTimeMillis
        yield* Ref.update(times, (t) => [...t, now])
        yield* Deferred.await(yield* Ref.get(gate))
        return allAccepted
      }),
    shutdown: Effect.void
  })
  const open = Effect.gen(function* () {
    const answered = yield* Ref.getAndSet(gate, yield* Deferred.make<void>())
    yield* Deferred.succeed(answered, undefined)
  })
  return { calls, times, layer, open }
})

const settings: SinkSettings = {
  queueSize: 100,
  batchSize: 10,
  linger: Duration.millis(200),
  concurrency: 1,
  retryInitial: Duration.millis(5),
  retryMax: Duration.millis(100),
  retryGiveUpAfter: undefined,
  maxRecordAge: undefined
}

const withSink = <A, E>(
  exporter: Layer.Layer<LogExporter>,
  s: SinkSettings,
  body: Effect.Effect<A, E, RecordSink | Metrics>
) => body.pipe(Effect.provide(RecordSink.layer(s).pipe(Layer.provide(exporter), Layer.provideMerge(Metrics.layer))))

/** Runs `body` against a sink with settings `s` and the exporter `make` makes (`scripted`, `gated`). */
const against = <X extends { readonly layer: Layer.Layer<LogExporter> }, A, E>(
  make: Effect.Effect<X>,
  s: SinkSettings,
  body: (exporter: X, sink: RecordSinkShape) => Effect.Effect<A, E, RecordSink | Metrics>
) =>
  Effect.gen(function* () {
    const exporter = yield* make
    return yield* withSink(
      exporter.layer,
      s,
      Effect.flatMap(RecordSink, (sink) => body(exporter, sink))
    )
  })

/** A sink with the default linger time and four exports at once, before a `gated` exporter. */
const whileGated = <A, E>(
  body: (
    exporter: Effect.Effect.Success<typeof gated>,
    sink: RecordSinkShape
  ) => Effect.Effect<A, E, RecordSink | Metrics>
) => against(gated, { ...settings, concurrency: 4 }, body)

/**
 * Lets the sink's fibers (forked in the layer's scope, not the test's fiber) run until they wait again: a few
 * turns of the event loop, as the runtime hands a busy fiber on to a timer.
 */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 3; i++) {
    yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 0)))
    for (let j = 0; j < 5; j++) yield* Effect.yieldNow()
  }
})

/**
 * Moves the TestClock on by `total`, one pending sleep at a time: whatever a sleep's end starts (an attempt and
 * the wait before the next) has run before the clock passes the next one.
 */
const advance = (total: Duration.DurationInput) =>
  Effect.gen(function* () {
    const end = (yield* TestClock.currentTimeMillis) + Duration.toMillis(total)
    for (;;) {
      yield* settle
      const next = Chunk.head(Chunk.sort(yield* TestClock.sleeps(), Order.number))
      if (Option.isNone(next) || next.value > end) break
      yield* TestClock.setTime(next.value)
    }
    yield* TestClock.setTime(end)
    yield* settle
  })

/** Runs `effect` in a fiber while the clock moves on by `total`, then waits for it. */
const within = <A, E, R>(total: Duration.DurationInput, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    yield* advance(total)
    return yield* Fiber.join(fiber)
  })

const droppedMetric = (metrics: Metrics["Type"]) =>
  Effect.promise(() => metrics.recordsDropped.get()).pipe(Effect.map((m) => m.values))

const unavailable = new ExportFailed({ reason: "ServerError", status: 503, description: "Service Unavailable" })
const rejected = new ExportFailed({ reason: "Rejected", status: 400, description: "Bad Request" })

describe("RecordSink", () => {
  it.effect("sends a full batch at once and, while records arrive fast, a partial one after the linger time", () =>
    Effect.gen(function* () {
      const { calls, layer } = yield* scripted([])
      yield* withSink(
        layer,
        settings,
        Effect.gen(function* () {
          const sink = yield* RecordSink
          yield* sink.offerAll(Array.from({ length: 13 }, (_, i) => record(i)))
          yield* advance(Duration.millis(1))
          expect((yield* Ref.get(calls)).map((b) => b.length)).toEqual([10])
          yield* advance(Duration.millis(150))
          // The linger time (200 ms) is not over yet.
          expect((yield* Ref.get(calls)).map((b) => b.length)).toEqual([10])
          yield* advance(Duration.millis(60))
          expect((yield* Ref.get(calls)).map((b) => b.length)).toEqual([10, 3])
          expect((yield* sink.stats).exported).toBe(13)
        })
      )
    })
  )

  it.effect("exports batches concurrently, yet runs each marker only once every batch before it is acknowledged", () =>
    Effect.gen(function* () {
      // The first batch's export hangs until released; the next ones answer at once.
      const release = yield* Deferred.make<void>()
      const started = yield* Ref.make<ReadonlyArray<number>>([])
      const layer = Layer.succeed(LogExporter, {
        name: "gated",
        export: (batch) =>
          Effect.gen(function* () {
            const first = Number(batch[0]?.attributes["n"])
            yield* Ref.update(started, (s) => [...s, first])
            if (first === 0) yield* Deferred.await(release)
            return allAccepted
          }),
        shutdown: Effect.void
      })
      yield* withSink(
        layer,
        { ...settings, batchSize: 2, linger: Duration.zero, concurrency: 3 },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          const reached = yield* Ref.make<ReadonlyArray<string>>([])
          const mark = (name: string) => sink.mark(Ref.update(reached, (r) => [...r, name]))
          yield* sink.offerAll([record(0), record(1)])
          yield* mark("after first")
          yield* sink.offerAll([record(2), record(3)])
          yield* mark("after second")
          yield* sink.offerAll([record(4), record(5), record(6), record(7)])
          yield* mark("after fourth")
          yield* advance(Duration.millis(10))
          // Three batches in flight at most: the fourth waits for a slot, which the stuck first one holds up.
          expect(yield* Ref.get(started)).toEqual([0, 2, 4])
          expect(yield* Ref.get(reached)).toEqual([])
          yield* Deferred.succeed(release, undefined)
          yield* within(Duration.millis(10), sink.flush)
          expect(yield* Ref.get(started)).toEqual([0, 2, 4, 6])
          expect(yield* Ref.get(reached)).toEqual(["after first", "after second", "after fourth"])
          expect((yield* sink.stats).exported).toBe(8)
        })
      )
    })
  )

  it.effect("retries a failing batch with growing waits until it is acknowledged, once", () =>
    Effect.gen(function* () {
      const { calls, times, layer } = yield* scripted([unavailable, unavailable, unavailable, "ok"])
      yield* withSink(
        layer,
        { ...settings, linger: Duration.zero },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          yield* sink.offerAll([record(1), record(2)])
          yield* within(Duration.millis(200), sink.flush)
          expect(yield* Ref.get(calls)).toEqual([
            [1, 2],
            [1, 2],
            [1, 2],
            [1, 2]
          ])
          // 5, 10, 20 ms apart, each ±20 % (jitter) and rounded to the 1 ms steps.
          const t = yield* Ref.get(times)
          const gaps = t.slice(1).map((at, i) => at - (t[i] ?? 0))
          expect(gaps).toHaveLength(3)
          gaps.forEach((gap, i) => {
            expect(gap).toBeGreaterThanOrEqual(Math.floor(5 * 2 ** i * 0.8))
            expect(gap).toBeLessThanOrEqual(Math.ceil(5 * 2 ** i * 1.2) + 1)
          })
          const stats = yield* sink.stats
          expect(stats.exported).toBe(2)
          expect(stats.dropped).toEqual({})
        })
      )
    })
  )

  it.effect("waits no longer than retryMax between attempts", () =>
    Effect.gen(function* () {
      const { calls, layer } = yield* scripted(Array.from({ length: 40 }, () => unavailable))
      yield* withSink(
        layer,
        { ...settings, linger: Duration.zero, retryMax: Duration.millis(20) },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          yield* sink.offer(record(1))
          // Uncapped doubling from 5 ms would make 7 attempts in 600 ms; capped at 20 ms (±jitter) it is over 20.
          yield* advance(Duration.millis(600))
          expect((yield* Ref.get(calls)).length).toBeGreaterThan(20)
        })
      )
    })
  )

  it.effect.each([
    { asked: 3, waited: 3000 },
    { asked: 3600, waited: Duration.toMillis(RETRY_AFTER_CAP) }
  ])("waits out a Retry-After of $asked s longer than its own backoff, up to RETRY_AFTER_CAP: $waited ms", (c) =>
    Effect.gen(function* () {
      expect(Duration.toMinutes(RETRY_AFTER_CAP)).toBe(5)
      const later = new ExportFailed({ ...unavailable, retryAfter: Duration.seconds(c.asked) })
      const { times, layer } = yield* scripted([later, "ok"])
      yield* withSink(
        layer,
        { ...settings, linger: Duration.zero },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          yield* sink.offer(record(1))
          yield* within(Duration.millis(c.waited), sink.flush)
          const [first = 0, second = 0] = yield* Ref.get(times)
          expect(second - first).toBe(c.waited)
          expect((yield* sink.stats).exported).toBe(1)
        })
      )
    })
  )

  it.effect("retries a failure by its reason: no answer, 408, 429 and 5xx again; 4xx and any other status never", () =>
    Effect.gen(function* () {
      const failures: ReadonlyArray<readonly [ExportFailed, "retried" | "dropped"]> = [
        [
          new ExportFailed({ reason: "Transport", description: "socket hang up", cause: new Error("reset") }),
          "retried"
        ],
        [new ExportFailed({ reason: "Timeout", description: "no answer within 10s" }), "retried"],
        [new ExportFailed({ reason: "RequestTimeout", status: 408, description: "Request Timeout" }), "retried"],
        [new ExportFailed({ reason: "TooManyRequests", status: 429, description: "slow down" }), "retried"],
        [unavailable, "retried"],
        [rejected, "dropped"],
        [new ExportFailed({ reason: "StatusCode", status: 302, description: "Found" }), "dropped"]
      ]
      for (const [failure, expected] of failures) {
        const { calls, layer } = yield* scripted([failure, "ok"])
        const outcome = yield* withSink(
          layer,
          { ...settings, linger: Duration.zero },
          Effect.gen(function* () {
            const sink = yield* RecordSink
            yield* sink.offer(record(1))
            yield* within(Duration.millis(20), sink.flush)
            return (yield* sink.stats).exported === 1 ? "retried" : "dropped"
          })
        )
        expect(outcome, failure.reason).toBe(expected)
        expect((yield* Ref.get(calls)).length, failure.reason).toBe(expected === "retried" ? 2 : 1)
      }
    })
  )

  it.effect("drops a rejected batch with its reason, counts it, and goes on with the next", () =>
    Effect.gen(function* () {
      const { calls, layer } = yield* scripted([rejected, "ok"])
      yield* withSink(
        layer,
        { ...settings, batchSize: 2, linger: Duration.zero },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          const metrics = yield* Metrics
          yield* sink.offerAll([record(1), record(2), record(3)])
          yield* within(Duration.millis(10), sink.flush)
          expect(yield* Ref.get(calls)).toEqual([[1, 2], [3]])
          const stats = yield* sink.stats
          expect(stats.dropped).toEqual({ rejected_by_backend: 2 })
          expect(stats.exported).toBe(1)
          expect(yield* droppedMetric(metrics)).toEqual([{ labels: { reason: "rejected_by_backend" }, value: 2 }])
        })
      )
    })
  )

  it.effect("counts what a partial success rejected as dropped, and the rest as exported", () =>
    Effect.gen(function* () {
      const partial = (rejected: number, message: string): Accepted => ({
        rejected,
        rejectionMessage: Option.some(message)
      })
      const { calls, layer } = yield* scripted([
        partial(3, "out of order"),
        partial(1, "out of order"),
        partial(2, "too big")
      ])
      yield* withSink(
        layer,
        { ...settings, batchSize: 4, linger: Duration.zero },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          const metrics = yield* Metrics
          yield* sink.offerAll(Array.from({ length: 12 }, (_, i) => record(i)))
          yield* within(Duration.millis(10), sink.flush)
          expect((yield* Ref.get(calls)).map((b) => b.length)).toEqual([4, 4, 4])
          const stats = yield* sink.stats
          expect(stats.exported).toBe(12 - 6)
          expect(stats.dropped).toEqual({ rejected_by_backend: 6 })
          expect(stats.lastError).toMatch(/too big/)
          expect(yield* droppedMetric(metrics)).toEqual([{ labels: { reason: "rejected_by_backend" }, value: 6 }])
        })
      )
    })
  )

  it.effect("gives up after retryGiveUpAfter when one is set", () =>
    Effect.gen(function* () {
      const { layer } = yield* scripted(Array.from({ length: 1000 }, () => unavailable))
      yield* withSink(
        layer,
        { ...settings, linger: Duration.zero, retryGiveUpAfter: Duration.millis(200) },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          yield* sink.offer(record(1))
          yield* within(Duration.millis(210), sink.flush)
          expect((yield* sink.stats).dropped).toEqual({ retries_exhausted: 1 })
        })
      )
    })
  )

  it.effect("gives up at retryGiveUpAfter even while an attempt is still waiting for its answer", () =>
    Effect.gen(function* () {
      const { calls, layer } = yield* scripted([unavailable, "hang"])
      yield* withSink(
        layer,
        { ...settings, linger: Duration.zero, retryGiveUpAfter: Duration.seconds(5) },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          yield* sink.offer(record(1))
          const flushed = yield* Effect.fork(sink.flush)
          yield* advance(Duration.millis(4990))
          expect(flushed.unsafePoll()).toBeNull()
          yield* advance(Duration.millis(20))
          yield* Fiber.join(flushed)
          expect((yield* Ref.get(calls)).length).toBe(2)
          const stats = yield* sink.stats
          expect(stats.dropped).toEqual({ retries_exhausted: 1 })
          expect(stats.lastError).toMatch(/gave up after 5s: HTTP 503/)
        })
      )
    })
  )

  it.effect("drops records that became older than maxRecordAge while the backend failed, and says why", () =>
    Effect.gen(function* () {
      const { calls, layer } = yield* scripted([unavailable, unavailable, unavailable])
      // The records' times are on the TestClock's scale: it starts at 1 000 000 s.
      yield* TestClock.setTime(1_000_000_000)
      const aging = (n: number, ageSeconds: number): ReadableLogRecord => {
        const t = 1_000_000 - ageSeconds
        return { ...record(n), hrTime: [Math.floor(t), Math.round((t % 1) * 1e9)] }
      }
      const s = {
        ...settings,
        linger: Duration.zero,
        retryInitial: Duration.millis(300),
        retryMax: Duration.seconds(2),
        maxRecordAge: Duration.seconds(10)
      }
      yield* withSink(
        layer,
        s,
        Effect.gen(function* () {
          const sink = yield* RecordSink
          // 1 is fresh; 2 turns 10 s old during the retries (the 4th attempt is over 1 s later); 3 is already too old.
          yield* sink.offerAll([aging(1, 0), aging(2, 9.7), aging(3, 60)])
          yield* within(Duration.millis(3000), sink.flush)
          const c = yield* Ref.get(calls)
          expect(c[0]).toEqual([1, 2])
          expect(c.at(-1)).toEqual([1])
          const stats = yield* sink.stats
          expect(stats.exported).toBe(1)
          expect(stats.dropped).toEqual({ older_than_ttl: 2 })
          expect(stats.lastError).toMatch(/older than 10s/)
        })
      )
    })
  )

  it.effect("runs a marker only after every record offered before it was acknowledged", () =>
    Effect.gen(function* () {
      const { layer } = yield* scripted([unavailable, "ok"])
      yield* withSink(
        layer,
        { ...settings, linger: Duration.zero },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          const reached = yield* Deferred.make<number>()
          yield* sink.offerAll([record(1), record(2)])
          yield* sink.mark(Effect.flatMap(sink.stats, (s) => Deferred.succeed(reached, s.exported)))
          yield* advance(Duration.millis(1))
          expect(yield* Deferred.isDone(reached)).toBe(false)
          yield* advance(Duration.millis(10))
          expect(yield* Deferred.await(reached)).toBe(2)
        })
      )
    })
  )

  it.effect("makes the producer wait while the queue is full (backpressure), losing nothing", () =>
    Effect.gen(function* () {
      const { calls, layer } = yield* scripted(Array.from({ length: 5 }, () => unavailable))
      yield* withSink(
        layer,
        { ...settings, queueSize: 5, batchSize: 2, linger: Duration.zero },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          const producer = yield* Effect.fork(sink.offerAll(Array.from({ length: 20 }, (_, i) => record(i))))
          yield* advance(Duration.millis(5))
          // One batch is being retried and the queue is full: the producer is suspended, not dropping.
          expect(producer.unsafePoll()).toBeNull()
          yield* advance(Duration.millis(300))
          yield* Fiber.join(producer)
          yield* within(Duration.millis(10), sink.flush)
          const delivered = (yield* Ref.get(calls)).slice(5).flat()
          expect(delivered).toEqual(Array.from({ length: 20 }, (_, i) => i))
          expect((yield* sink.stats).exported).toBe(20)
        })
      )
    })
  )

  it.effect("on a stop, delivers for at most the timeout, then counts what is left as dropped for shutdown", () =>
    Effect.gen(function* () {
      // The first batch's request is never answered; the other one is refused again and again.
      const { layer } = yield* scripted(["hang", ...Array.from({ length: 1000 }, () => unavailable)])
      yield* withSink(
        layer,
        { ...settings, batchSize: 4, linger: Duration.zero, concurrency: 2 },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          const metrics = yield* Metrics
          const reached = yield* Ref.make(false)
          yield* sink.offerAll(Array.from({ length: 10 }, (_, i) => record(i)))
          yield* sink.mark(Ref.set(reached, true))
          const drained = yield* Effect.fork(sink.drain(Duration.seconds(2)))
          yield* advance(Duration.millis(1990))
          expect(drained.unsafePoll()).toBeNull()
          yield* advance(Duration.millis(20))
          expect(yield* Fiber.join(drained)).toBe(10)
          const stats = yield* sink.stats
          expect(stats.dropped).toEqual({ shutdown: 10 })
          expect(stats.exported).toBe(0)
          expect(yield* droppedMetric(metrics)).toEqual([{ labels: { reason: "shutdown" }, value: 10 }])
          // The checkpoint's marker never ran: those records are read again after a restart.
          yield* advance(Duration.millis(100))
          expect(yield* Ref.get(reached)).toBe(false)
        })
      )
    })
  )

  it.effect("on a stop with everything acknowledged in time, drops nothing", () =>
    Effect.gen(function* () {
      const { layer } = yield* scripted([unavailable, unavailable])
      yield* withSink(
        layer,
        { ...settings, linger: Duration.zero },
        Effect.gen(function* () {
          const sink = yield* RecordSink
          yield* sink.offerAll([record(1), record(2)])
          expect(yield* within(Duration.millis(100), sink.drain(Duration.seconds(2)))).toBe(0)
          expect(yield* sink.stats).toEqual({ exported: 2, dropped: {}, lastError: undefined })
        })
      )
    })
  )

  describe("adaptive batching (linger only while an export is in flight or a batch fills fast)", () => {
    it.effect("sends a lone record at once, without waiting for the linger time", () =>
      against(scripted([]), settings, ({ calls, times }, sink) =>
        Effect.gen(function* () {
          yield* sink.offer(record(0))
          yield* advance(Duration.millis(1))
          yield* advance(Duration.millis(999))
          yield* sink.offer(record(1))
          yield* advance(Duration.millis(1))
          expect(yield* Ref.get(calls)).toEqual([[0], [1]])
          expect(yield* Ref.get(times)).toEqual([0, 1000])
        })
      )
    )

    it.effect("batches the records that arrive while an export is in flight and sends them when it is answered", () =>
      whileGated(({ calls, times, open }, sink) =>
        Effect.gen(function* () {
          yield* sink.offer(record(0))
          for (const n of [1, 2, 3]) {
            yield* advance(Duration.millis(10))
            yield* sink.offer(record(n))
          }
          yield* advance(Duration.millis(10))
          // Slots are free, yet the records wait for the answer to the export in flight.
          expect(yield* Ref.get(calls)).toEqual([[0]])
          yield* open
          yield* advance(Duration.millis(1))
          expect(yield* Ref.get(calls)).toEqual([[0], [1, 2, 3]])
          expect(yield* Ref.get(times)).toEqual([0, 40])
        })
      )
    )

    it.effect("while an export is in flight, sends a full batch at once and a partial one after the linger time", () =>
      whileGated(({ calls, times }, sink) =>
        Effect.gen(function* () {
          yield* sink.offer(record(0))
          yield* advance(Duration.millis(1))
          yield* sink.offerAll(Array.from({ length: 11 }, (_, i) => record(i + 1)))
          yield* advance(Duration.millis(1))
          expect(yield* Ref.get(calls)).toEqual([[0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
          // The eleventh, taken at 1 ms, waits for the answers (none comes) for at most the linger time.
          yield* advance(Duration.millis(198))
          expect(yield* Ref.get(calls)).toHaveLength(2)
          yield* advance(Duration.millis(2))
          expect(yield* Ref.get(calls)).toEqual([[0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [11]])
          expect(yield* Ref.get(times)).toEqual([0, 1, 201])
        })
      )
    )

    it.effect("lingers to fill a batch while records arrive fast, and not once they come slowly again", () =>
      against(scripted([]), settings, ({ calls, times }, sink) =>
        Effect.gen(function* () {
          yield* sink.offerAll(Array.from({ length: 10 }, (_, i) => record(i)))
          yield* advance(Duration.millis(1))
          // 10 records in the last 200 ms: at that pace the next batch of 10 fills within its linger time.
          yield* sink.offer(record(10))
          yield* advance(Duration.millis(49))
          expect(yield* Ref.get(calls)).toHaveLength(1)
          yield* sink.offerAll(Array.from({ length: 9 }, (_, i) => record(i + 11)))
          yield* advance(Duration.millis(1))
          expect((yield* Ref.get(calls)).map((b) => b.length)).toEqual([10, 10])
          yield* advance(Duration.millis(1000))
          yield* sink.offer(record(20))
          yield* advance(Duration.millis(1))
          expect(yield* Ref.get(calls)).toHaveLength(3)
          expect(yield* Ref.get(times)).toEqual([0, 50, 1051])
        })
      )
    )

    it.effect(
      "with a queue smaller than a batch, sends a batch once it holds the whole queue, not after the linger",
      () =>
        // Queue 4, batch 10: a batch holds the room of what it took until it is sent, so it never holds more than 4.
        against(gated, { ...settings, concurrency: 4, queueSize: 4 }, ({ calls, times }, sink) =>
          Effect.gen(function* () {
            yield* sink.offer(record(0))
            yield* advance(Duration.millis(1))
            const producer = yield* Effect.fork(sink.offerAll(Array.from({ length: 8 }, (_, i) => record(i + 1))))
            yield* advance(Duration.millis(1))
            expect(yield* Ref.get(calls)).toEqual([[0], [1, 2, 3, 4], [5, 6, 7, 8]])
            expect(yield* Ref.get(times)).toEqual([0, 1, 1])
            yield* Fiber.join(producer)
          })
        )
    )

    it.effect("runs markers in order while batches wait for exports in flight", () =>
      whileGated(({ calls, open }, sink) =>
        Effect.gen(function* () {
          const reached = yield* Ref.make<ReadonlyArray<string>>([])
          const mark = (name: string) => sink.mark(Ref.update(reached, (r) => [...r, name]))
          yield* sink.offer(record(0))
          yield* advance(Duration.millis(1))
          yield* mark("after 0")
          yield* sink.offer(record(1))
          yield* mark("after 1")
          yield* advance(Duration.millis(10))
          expect(yield* Ref.get(calls)).toEqual([[0]])
          expect(yield* Ref.get(reached)).toEqual([])
          yield* open
          yield* advance(Duration.millis(1))
          // The answer for 0 sends the batch that waited for it; the markers taken with it wait for its answer.
          expect(yield* Ref.get(calls)).toEqual([[0], [1]])
          expect(yield* Ref.get(reached)).toEqual([])
          yield* open
          yield* advance(Duration.millis(1))
          expect(yield* Ref.get(reached)).toEqual(["after 0", "after 1"])
          expect((yield* sink.stats).exported).toBe(2)
        })
      )
    )

    it.effect("on a stop, sends a lone record at once instead of lingering past a short timeout", () =>
      against(scripted([]), settings, ({ calls }, sink) =>
        Effect.gen(function* () {
          yield* sink.offer(record(0))
          expect(yield* within(Duration.millis(150), sink.drain(Duration.millis(100)))).toBe(0)
          expect(yield* Ref.get(calls)).toEqual([[0]])
          expect((yield* sink.stats).dropped).toEqual({})
        })
      )
    )
  })
})

/**
 * The sink against a scripted exporter (the LogExporter service's test layer): batching by size and linger,
 * the ack as the only way a batch counts as delivered, retries, rejection, markers and backpressure.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Ref } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { Metrics } from "../../src/observability/Metrics.ts"
import { ExportFailed, LogExporter } from "../../src/sink/LogExporter.ts"
import { RecordSink, type SinkSettings } from "../../src/sink/RecordSink.ts"

const resource = resourceFromAttributes({})
const record = (n: number): ReadableLogRecord => ({
  hrTime: [n, 0],
  hrTimeObserved: [n, 0],
  resource,
  instrumentationScope: { name: "test" },
  attributes: { n },
  droppedAttributesCount: 0
})

/** An exporter that answers from a script: each call takes the next answer; past the end it succeeds. */
const scripted = (answers: ReadonlyArray<ExportFailed | "ok">) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make<ReadonlyArray<ReadonlyArray<number>>>([])
    const layer = Layer.succeed(LogExporter, {
      name: "scripted",
      export: (batch) =>
        Effect.gen(function*() {
          const seen = yield* Ref.getAndUpdate(calls, (c) => [...c, batch.map((r) => Number(r.attributes["n"]))])
          const answer = answers[seen.length]
          if (answer !== undefined && answer !== "ok") return yield* answer
        }),
      shutdown: Effect.void
    })
    return { calls, layer }
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

/**
 * These tests run on the real clock with millisecond settings: the sink's fiber schedules each retry only after
 * the previous attempt failed, which a stepped TestClock does not reliably interleave with.
 */
const advance = (total: Duration.DurationInput) => Effect.sleep(total)

const unavailable = new ExportFailed({ reason: "Service Unavailable", retryable: true, status: 503 })
const rejected = new ExportFailed({ reason: "Bad Request", retryable: false, status: 400 })

describe("RecordSink", () => {
  it.live("sends a full batch at once and a partial one after the linger time", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* scripted([])
      yield* withSink(layer, settings, Effect.gen(function*() {
        const sink = yield* RecordSink
        yield* sink.offerAll(Array.from({ length: 13 }, (_, i) => record(i)))
        yield* advance(Duration.millis(50))
        expect((yield* Ref.get(calls)).map((b) => b.length)).toEqual([10])
        yield* advance(Duration.millis(300))
        expect((yield* Ref.get(calls)).map((b) => b.length)).toEqual([10, 3])
        expect((yield* sink.stats).exported).toBe(13)
      }))
    }))

  it.live("exports batches concurrently, yet runs each marker only once every batch before it is acknowledged", () =>
    Effect.gen(function*() {
      // The first batch's export hangs until released; the next ones answer at once.
      const release = yield* Deferred.make<void>()
      const started = yield* Ref.make<ReadonlyArray<number>>([])
      const layer = Layer.succeed(LogExporter, {
        name: "gated",
        export: (batch) =>
          Effect.gen(function*() {
            const first = Number(batch[0]?.attributes["n"])
            yield* Ref.update(started, (s) => [...s, first])
            if (first === 0) yield* Deferred.await(release)
          }),
        shutdown: Effect.void
      })
      yield* withSink(layer, { ...settings, batchSize: 2, linger: Duration.zero, concurrency: 3 }, Effect.gen(function*() {
        const sink = yield* RecordSink
        const reached = yield* Ref.make<ReadonlyArray<string>>([])
        const mark = (name: string) => sink.mark(Ref.update(reached, (r) => [...r, name]))
        yield* sink.offerAll([record(0), record(1)])
        yield* mark("after first")
        yield* sink.offerAll([record(2), record(3)])
        yield* mark("after second")
        yield* sink.offerAll([record(4), record(5), record(6), record(7)])
        yield* mark("after fourth")
        yield* advance(Duration.millis(150))
        // Three batches in flight at most: the fourth waits for a slot, which the stuck first one holds up.
        expect(yield* Ref.get(started)).toEqual([0, 2, 4])
        expect(yield* Ref.get(reached)).toEqual([])
        yield* Deferred.succeed(release, undefined)
        yield* sink.flush
        expect(yield* Ref.get(started)).toEqual([0, 2, 4, 6])
        expect(yield* Ref.get(reached)).toEqual(["after first", "after second", "after fourth"])
        expect((yield* sink.stats).exported).toBe(8)
      }))
    }))

  it.live("retries a failing batch with growing waits until it is acknowledged, once", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* scripted([unavailable, unavailable, unavailable, "ok"])
      yield* withSink(layer, { ...settings, linger: Duration.zero }, Effect.gen(function*() {
        const sink = yield* RecordSink
        yield* sink.offerAll([record(1), record(2)])
        const flushed = yield* Effect.fork(sink.flush)
        yield* advance(Duration.millis(1000))
        yield* Fiber.join(flushed)
        const c = yield* Ref.get(calls)
        expect(c).toEqual([[1, 2], [1, 2], [1, 2], [1, 2]])
        const stats = yield* sink.stats
        expect(stats.exported).toBe(2)
        expect(stats.dropped).toEqual({})
      }))
    }))

  it.live("waits no longer than retryMax between attempts", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* scripted(Array.from({ length: 20 }, () => unavailable))
      yield* withSink(layer, { ...settings, linger: Duration.zero, retryMax: Duration.millis(20) }, Effect.gen(function*() {
        const sink = yield* RecordSink
        yield* sink.offer(record(1))
        // Uncapped doubling from 5 ms would make 7 attempts in 600 ms; capped at 20 ms (±jitter) it is over 20.
        yield* advance(Duration.millis(600))
        expect((yield* Ref.get(calls)).length).toBeGreaterThan(15)
      }))
    }))

  it.live("drops a rejected batch with its reason, counts it, and goes on with the next", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* scripted([rejected, "ok"])
      yield* withSink(layer, { ...settings, batchSize: 2, linger: Duration.zero }, Effect.gen(function*() {
        const sink = yield* RecordSink
        const metrics = yield* Metrics
        yield* sink.offerAll([record(1), record(2), record(3)])
        const flushed = yield* Effect.fork(sink.flush)
        yield* advance(Duration.millis(100))
        yield* Fiber.join(flushed)
        expect(yield* Ref.get(calls)).toEqual([[1, 2], [3]])
        const stats = yield* sink.stats
        expect(stats.dropped).toEqual({ rejected_by_backend: 2 })
        expect(stats.exported).toBe(1)
        const dropped = yield* Effect.promise(() => metrics.recordsDropped.get())
        expect(dropped.values).toEqual([{ labels: { reason: "rejected_by_backend" }, value: 2 }])
      }))
    }))

  it.live("gives up after retryGiveUpAfter when one is set", () =>
    Effect.gen(function*() {
      const { layer } = yield* scripted(Array.from({ length: 1000 }, () => unavailable))
      yield* withSink(layer, { ...settings, linger: Duration.zero, retryGiveUpAfter: Duration.millis(200) }, Effect.gen(function*() {
        const sink = yield* RecordSink
        yield* sink.offer(record(1))
        const flushed = yield* Effect.fork(sink.flush)
        yield* advance(Duration.millis(1000))
        yield* Fiber.join(flushed)
        expect((yield* sink.stats).dropped).toEqual({ retries_exhausted: 1 })
      }))
    }))

  it.live("drops records that became older than maxRecordAge while the backend failed, and says why", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* scripted([unavailable, unavailable, unavailable])
      const now = Date.now() / 1000
      const aging = (n: number, ageSeconds: number): ReadableLogRecord => {
        const t = now - ageSeconds
        return { ...record(n), hrTime: [Math.floor(t), Math.round((t % 1) * 1e9)] }
      }
      yield* withSink(layer, { ...settings, linger: Duration.zero, retryInitial: Duration.millis(300), retryMax: Duration.seconds(2), maxRecordAge: Duration.seconds(10) }, Effect.gen(function*() {
        const sink = yield* RecordSink
        // 1 is fresh; 2 turns 10 s old during the retries (the 4th attempt is over 1 s later); 3 is already too old.
        yield* sink.offerAll([aging(1, 0), aging(2, 9.7), aging(3, 60)])
        const flushed = yield* Effect.fork(sink.flush)
        yield* Fiber.join(flushed)
        const c = yield* Ref.get(calls)
        expect(c[0]).toEqual([1, 2])
        expect(c.at(-1)).toEqual([1])
        const stats = yield* sink.stats
        expect(stats.exported).toBe(1)
        expect(stats.dropped).toEqual({ older_than_ttl: 2 })
        expect(stats.lastError).toMatch(/older than 10s/)
      }))
    }))

  it.live("runs a marker only after every record offered before it was acknowledged", () =>
    Effect.gen(function*() {
      const { layer } = yield* scripted([unavailable, "ok"])
      yield* withSink(layer, { ...settings, linger: Duration.zero }, Effect.gen(function*() {
        const sink = yield* RecordSink
        const reached = yield* Deferred.make<number>()
        yield* sink.offerAll([record(1), record(2)])
        yield* sink.mark(Effect.flatMap(sink.stats, (s) => Deferred.succeed(reached, s.exported)))
        yield* advance(Duration.millis(1))
        expect(yield* Deferred.isDone(reached)).toBe(false)
        yield* advance(Duration.millis(100))
        expect(yield* Deferred.await(reached)).toBe(2)
      }))
    }))

  it.live("makes the producer wait while the queue is full (backpressure), losing nothing", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* scripted(Array.from({ length: 5 }, () => unavailable))
      yield* withSink(layer, { ...settings, queueSize: 5, batchSize: 2, linger: Duration.zero }, Effect.gen(function*() {
        const sink = yield* RecordSink
        const producer = yield* Effect.fork(sink.offerAll(Array.from({ length: 20 }, (_, i) => record(i))))
        yield* advance(Duration.millis(5))
        // One batch is being retried and the queue is full: the producer is suspended, not dropping.
        expect(producer.unsafePoll()).toBeNull()
        yield* advance(Duration.millis(3000))
        yield* Fiber.join(producer)
        yield* Effect.fork(sink.flush).pipe(Effect.tap(() => advance(Duration.seconds(1))), Effect.flatMap(Fiber.join))
        const delivered = (yield* Ref.get(calls)).slice(5).flat()
        expect(delivered).toEqual(Array.from({ length: 20 }, (_, i) => i))
        expect((yield* sink.stats).exported).toBe(20)
      }))
    }))
})

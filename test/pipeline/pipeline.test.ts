/**
 * `runPipeline` on its own: decoded changes in, records out through the sink to a test exporter, progress into an
 * in-memory checkpoint. The events follow the core/v1 Event API: a repeat keeps the event's uid, raises `count`
 * and `lastTimestamp`, and gets a new resourceVersion; a BOOKMARK carries only a resourceVersion. Time is the
 * TestClock's.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Ref, Stream, TestClock } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { pipelineSettings } from "../../src/app/settings.ts"
import { Checkpoint } from "../../src/checkpoint/Checkpoint.ts"
import { CheckpointStore, MemoryCheckpoints } from "../../src/checkpoint/CheckpointStore.ts"
import { RecordAttr as A } from "../../src/domain/attributes.ts"
import { Enricher } from "../../src/enrich/Enricher.ts"
import { HeapWatch } from "../../src/observability/heapWatch.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { runPipeline } from "../../src/pipeline/pipeline.ts"
import { DEFAULT_RULES_CONFIG } from "../../src/rules/config.ts"
import { allAccepted, LogExporter } from "../../src/sink/LogExporter.ts"
import { RecordSink } from "../../src/sink/RecordSink.ts"
import { type Change, decodeChange } from "../../src/source/Change.ts"
import { Translator } from "../../src/translate/Translator.ts"

const STREAM = "core/v1/*"

/** The test clock's time when a test starts: `NOW` sets it. */
const START_MS = Date.parse("2026-03-02T10:00:00Z")
const NOW = TestClock.setTime(START_MS)
/** A minute before: the checkpoint keeps occurrences of the last hour (the API server's event TTL). */
const T0 = START_MS - 60_000
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString().replace(".000Z", "Z")

/** A core/v1 Event as the API server serves it. */
const coreEvent = (name: string, resourceVersion: string, count = 1, lastTimestamp = at(0)) => ({
  apiVersion: "v1",
  kind: "Event",
  metadata: { name, namespace: "shop", uid: `uid-${name}`, resourceVersion },
  involvedObject: { kind: "Pod", namespace: "shop", name: "web-1", apiVersion: "v1" },
  reason: "BackOff",
  message: "Back-off restarting failed container",
  type: "Warning",
  count,
  firstTimestamp: at(0),
  lastTimestamp,
  source: { component: "kubelet" }
})

const added = (object: unknown): Change => decodeChange("ADDED", object, "core/v1", STREAM)
const modified = (object: unknown): Change => decodeChange("MODIFIED", object, "core/v1", STREAM)
const bookmark = (resourceVersion: string): Change => ({ _tag: "Bookmark", stream: STREAM, resourceVersion })

/** An exporter that keeps what it is sent; with a gate, it answers only once the gate opens. */
const testExporter = (exported: Ref.Ref<ReadonlyArray<ReadableLogRecord>>, gate?: Deferred.Deferred<void>) =>
  Layer.succeed(LogExporter, {
    name: "test",
    export: (batch) =>
      Effect.gen(function* () {
        if (gate !== undefined) yield* Deferred.await(gate)
        yield* Ref.update(exported, (all) => [...all, ...batch])
        return allAccepted
      }),
    shutdown: Effect.void
  })

const recordUids = (records: ReadonlyArray<ReadableLogRecord>) => records.map((r) => r.attributes[A.recordUid])

const sinkLayer = RecordSink.layer({
  queueSize: 1000,
  batchSize: 100,
  linger: Duration.zero,
  concurrency: 1,
  retryInitial: Duration.millis(10),
  retryMax: Duration.seconds(1),
  retryGiveUpAfter: undefined,
  maxRecordAge: undefined
})

/** The pipeline's services around a test exporter and a memory checkpoint store. */
const pipelineLayer = (exporter: Layer.Layer<LogExporter>, checkpoints: MemoryCheckpoints) =>
  Layer.mergeAll(
    sinkLayer.pipe(Layer.provide(exporter)),
    Checkpoint.layer({ interval: Duration.zero, ttl: Duration.hours(1), maxOccurrences: 1000 }).pipe(
      Layer.provide(CheckpointStore.layerMemory(checkpoints))
    )
  ).pipe(Layer.provideMerge(Metrics.layer))

const settings = pipelineSettings(DEFAULT_RULES_CONFIG, false, 1000)

/** Runs the chunks through the pipeline and waits until the backend has everything; what it got. */
const runChunks = (chunks: ReadonlyArray<ReadonlyArray<Change>>, checkpoints = new MemoryCheckpoints()) =>
  Effect.gen(function* () {
    yield* NOW
    const exported = yield* Ref.make<ReadonlyArray<ReadableLogRecord>>([])
    return yield* Effect.gen(function* () {
      yield* runPipeline(Stream.fromIterable(chunks), settings)
      yield* (yield* RecordSink).flush
      const metrics = yield* Metrics
      const decodeFailures = (yield* Effect.promise(() => metrics.decodeFailures.get())).values[0]?.value ?? 0
      return { records: yield* Ref.get(exported), state: yield* (yield* Checkpoint).current, decodeFailures }
    }).pipe(Effect.provide(pipelineLayer(testExporter(exported), checkpoints)))
  })

layer(
  Layer.mergeAll(
    Translator.layer({ baseAttributes: {}, resourceCacheSize: 100 }),
    Enricher.layerNoop,
    HeapWatch.layerNoop
  )
)("runPipeline", (it) => {
  it.effect("exports each decoded event once and moves the stream to the last resourceVersion read", () =>
    Effect.gen(function* () {
      const { records, state } = yield* runChunks([
        [added(coreEvent("a", "101")), added(coreEvent("b", "102"))],
        [bookmark("150")]
      ])
      expect(recordUids(records)).toEqual(["uid-a:101", "uid-b:102"])
      expect(state.streams).toEqual({ [STREAM]: "150" })
      expect(state.occurrences.map((o) => [o.uid, o.count])).toEqual([
        ["uid-a", 1],
        ["uid-b", 1]
      ])
    })
  )

  it.effect("counts an undecodable change, skips it and delivers the rest", () =>
    Effect.gen(function* () {
      const broken = { apiVersion: "v1", kind: "Event", metadata: { name: "x", resourceVersion: "7" } }
      const malformed: Change = { _tag: "Undecodable", message: "not JSON; skipped", stream: STREAM }
      const { records, state, decodeFailures } = yield* runChunks([
        [added(coreEvent("a", "5")), added(broken), malformed, added(coreEvent("b", "8"))]
      ])
      expect(added(broken)._tag).toBe("Undecodable")
      expect(decodeFailures).toBe(2)
      expect(recordUids(records)).toEqual(["uid-a:5", "uid-b:8"])
      expect(state.streams).toEqual({ [STREAM]: "8" })
    })
  )

  it.effect("sends a repeat (count raised) once more, and nothing for a relisted or metadata-only change", () =>
    Effect.gen(function* () {
      const first = coreEvent("a", "10")
      const { records } = yield* runChunks([
        [added(first)],
        // A relist after 410 lists the same object again; a MODIFIED that did not repeat the event.
        [added(first), modified({ ...first, metadata: { ...first.metadata, resourceVersion: "11" } })],
        [modified(coreEvent("a", "12", 2, at(30)))]
      ])
      expect(recordUids(records)).toEqual(["uid-a:10", "uid-a:12"])
      expect(records.map((r) => r.attributes[A.count])).toEqual([1, 2])
    })
  )

  it.effect("does not send again what the checkpoint of an earlier run says was exported", () =>
    Effect.gen(function* () {
      const checkpoints = new MemoryCheckpoints()
      yield* checkpoints.store
        .save({
          streams: { [STREAM]: "10" },
          occurrences: [{ uid: "uid-a", count: 1, timeMs: T0 }],
          savedAtMs: T0
        })
        .pipe(Effect.orDie)
      const { records } = yield* runChunks([[added(coreEvent("a", "10")), added(coreEvent("b", "11"))]], checkpoints)
      expect(recordUids(records)).toEqual(["uid-b:11"])
    })
  )

  it.effect("moves the checkpoint only after the backend acknowledged the records before the marker", () =>
    Effect.gen(function* () {
      yield* NOW
      const exported = yield* Ref.make<ReadonlyArray<ReadableLogRecord>>([])
      const gate = yield* Deferred.make<void>()
      const checkpoints = new MemoryCheckpoints()
      yield* Effect.gen(function* () {
        const checkpoint = yield* Checkpoint
        yield* runPipeline(Stream.make([added(coreEvent("a", "20")), bookmark("25")]), settings)
        const flushed = yield* Effect.fork((yield* RecordSink).flush)
        yield* TestClock.adjust(Duration.seconds(1))
        expect((yield* checkpoint.current).streams).toEqual({})
        expect(checkpoints.latest).toBeUndefined()
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(flushed)
        expect(recordUids(yield* Ref.get(exported))).toEqual(["uid-a:20"])
        expect((yield* checkpoint.current).streams).toEqual({ [STREAM]: "25" })
      }).pipe(Effect.provide(pipelineLayer(testExporter(exported, gate), checkpoints)))
      expect(checkpoints.latest?.streams).toEqual({ [STREAM]: "25" })
    })
  )

  it.effect("sums up what noise control held back when its window ends, without waiting for another event", () =>
    Effect.gen(function* () {
      yield* NOW
      const exported = yield* Ref.make<ReadonlyArray<ReadableLogRecord>>([])
      const throttled = { ...settings, throttle: { limit: 1, windowMs: 10_000, maxKeys: 100 } }
      // One chunk of three occurrences under one key, then nothing more: the stream stays open.
      const chunk = [added(coreEvent("a", "1")), added(coreEvent("b", "2")), added(coreEvent("c", "3"))]
      const changes = Stream.concat(Stream.make(chunk), Stream.never)
      yield* Effect.gen(function* () {
        const sink = yield* RecordSink
        yield* Effect.forkScoped(runPipeline(changes, throttled))
        while ((yield* Ref.get(exported)).length === 0) yield* Effect.yieldNow()
        expect(recordUids(yield* Ref.get(exported))).toEqual(["uid-a:1"])

        yield* TestClock.adjust(Duration.millis(9_900))
        yield* sink.flush
        expect(recordUids(yield* Ref.get(exported))).toEqual(["uid-a:1"])

        yield* TestClock.adjust(Duration.millis(150))
        yield* sink.flush
        const [first, summary] = yield* Ref.get(exported)
        expect(recordUids(yield* Ref.get(exported))).toEqual(["uid-a:1", `uid-c:3:suppressed:${START_MS}`])
        expect(first?.attributes[A.suppressedCount]).toBeUndefined()
        expect(summary?.attributes[A.suppressedCount]).toBe(2)
        // Emitted as the window ended, 10 s after it opened with the first occurrence.
        expect(summary?.hrTimeObserved).toEqual([(START_MS + 10_000) / 1000, 0])
      }).pipe(Effect.scoped, Effect.provide(pipelineLayer(testExporter(exported), new MemoryCheckpoints())))
    })
  )
})

describe("runPipeline with the heap near its cap", () => {
  it.effect("slows intake while the heap is short, and goes on at once when it is not", () => {
    let share = 0.9
    const heap = () => ({ usedBytes: share * 2 ** 27, limitBytes: 2 ** 27 })
    return Effect.gen(function* () {
      yield* NOW
      const exported = yield* Ref.make<ReadonlyArray<ReadableLogRecord>>([])
      yield* Effect.gen(function* () {
        // The watch's first reading: short.
        yield* TestClock.adjust(Duration.seconds(1))
        const sink = yield* RecordSink
        const run = yield* Effect.fork(
          runPipeline(Stream.make([added(coreEvent("a", "1"))]), settings).pipe(Effect.zipRight(sink.flush))
        )
        yield* TestClock.adjust(Duration.millis(900))
        expect(yield* Ref.get(exported)).toEqual([])
        share = 0.6
        yield* TestClock.adjust(Duration.seconds(1))
        yield* Fiber.join(run)
        expect(recordUids(yield* Ref.get(exported))).toEqual(["uid-a:1"])
      }).pipe(
        Effect.provide(pipelineLayer(testExporter(exported), new MemoryCheckpoints())),
        Effect.provide(
          Layer.mergeAll(
            Translator.layer({ baseAttributes: {}, resourceCacheSize: 100 }),
            Enricher.layerNoop,
            HeapWatch.layer(heap)
          )
        )
      )
    })
  })
})

describe("decodeChange", () => {
  it("keeps the resourceVersion of an object it cannot decode, so that progress is not lost", () => {
    const change = decodeChange("ADDED", { metadata: { resourceVersion: "42" } }, "core/v1", STREAM)
    expect(change).toMatchObject({ _tag: "Undecodable", stream: STREAM, resourceVersion: "42" })
  })
})

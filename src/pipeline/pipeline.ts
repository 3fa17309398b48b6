import { Clock, Duration, Effect, Fiber, Stream } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import type { KubeEvent } from "../domain/KubeEvent.ts"
import type { Severity } from "../domain/defaultSeverity.ts"
import { type Enrichment, Enricher } from "../enrich/Enricher.ts"
import { HeapWatch } from "../observability/heapWatch.ts"
import { Metrics } from "../observability/Metrics.ts"
import type { Filters } from "../rules/filter.ts"
import type { SeverityClassifier } from "../rules/severity.ts"
import { type Summary, Throttle, type ThrottleSettings } from "../rules/throttle.ts"
import { RecordSink } from "../sink/RecordSink.ts"
import { type Change, resourceVersionOfChange } from "../source/Change.ts"
import { Translator } from "../translate/Translator.ts"
import { occurrenceMs } from "../domain/eventTimes.ts"
import { Checkpoint } from "../checkpoint/Checkpoint.ts"
import type { ExportedOccurrence, Progress } from "../checkpoint/CheckpointState.ts"
import { OccurrenceWindow } from "./OccurrenceWindow.ts"

export interface PipelineSettings {
  /** How many event uids the once-only window remembers. */
  readonly windowSize: number
  readonly filters: Filters
  readonly severity: SeverityClassifier
  /** Noise control; `undefined` lets everything through. */
  readonly throttle: ThrottleSettings | undefined
  /** Whether the enricher can know labels (label filters never match unknown labels). */
  readonly labelsKnown: boolean
}

/** One occurrence on its way through the stages, with what each of them decided about it. */
interface Occurrence {
  readonly event: KubeEvent
  readonly severity: Severity
  /** When it happened; when the event says nothing, when it was read. */
  readonly timeMs: number
  /** What the enricher found; `undefined` until it answers, or when it was not asked (a dropped event). */
  enrichment: Enrichment | undefined
  /** The filter rule that drops it; `undefined` while it is kept. */
  droppedBy: string | undefined
}

/** A chunk after stage one: its occurrences, the progress it makes, and the lookups started for it. */
interface Prepared {
  readonly nowMs: number
  readonly progress: Progress
  readonly occurrences: ReadonlyArray<Occurrence>
  readonly enriching: ReadonlyArray<Occurrence>
  readonly enrichment: Fiber.Fiber<ReadonlyArray<Enrichment>> | undefined
}

const kept = (o: Occurrence): boolean => o.droppedBy === undefined

/** What every step of a running pipeline uses. */
interface Running {
  readonly settings: PipelineSettings
  readonly metrics: Metrics["Type"]
  readonly translator: Translator["Type"]
  readonly sink: RecordSink["Type"]
  readonly checkpoint: Checkpoint["Type"]
  readonly enricher: Enricher["Type"]
  readonly window: OccurrenceWindow
  readonly throttle: Throttle | undefined
}

/**
 * Runs changes (in the arrays a source reads them in) through once-only → classify → filter → enrich → throttle →
 * translate → sink, a chunk at a time, in two stages: the first starts a chunk's lookups and goes on with the next
 * chunks while the second waits for them, so that chunks waiting for the API server wait together rather than one
 * after another. An undecodable change is counted, logged with its name and skipped; it never stops the stream.
 * After each chunk's records a marker goes into the sink: when the backend has acknowledged them, the checkpoint
 * takes the chunk's `Progress`: the last resourceVersion per stream and the occurrences it handled (filtered and
 * held-back ones included: they were dealt with, not lost).
 */
export const runPipeline = <E, R>(changes: Stream.Stream<ReadonlyArray<Change>, E, R>, settings: PipelineSettings) =>
  Effect.gen(function* () {
    const checkpoint = yield* Checkpoint
    const window = new OccurrenceWindow(settings.windowSize)
    for (const o of checkpoint.initial.occurrences) window.seed(o.uid, o.count, o.timeMs)
    const running: Running = {
      settings,
      metrics: yield* Metrics,
      translator: yield* Translator,
      sink: yield* RecordSink,
      checkpoint,
      enricher: yield* Enricher,
      window,
      throttle: settings.throttle === undefined ? undefined : new Throttle(settings.throttle)
    }
    if (running.throttle !== undefined) yield* summariesOnTime(running.throttle, (s) => emitSummaries(running, s))
    const heap = yield* HeapWatch
    yield* heap.register({ name: "occurrence window uids", size: () => window.size })
    yield* changes.pipe(
      // A heap near its cap slows intake: the source is read less, and backpressure reaches the API server.
      Stream.tap(() => heap.roomToGrow),
      Stream.mapEffect((chunk) => prepare(running, chunk)),
      // Stage one runs ahead by this many chunks while stage two waits for lookups or for the sink.
      Stream.buffer({ capacity: 2 }),
      Stream.runForEach((prepared) => deliver(running, prepared))
    )
  }).pipe(Effect.scoped)

/** The summary records of what noise control held back. */
const emitSummaries = ({ enricher, sink, translator, settings }: Running, summaries: ReadonlyArray<Summary>) =>
  summaries.length === 0
    ? Effect.void
    : Effect.gen(function* () {
        const enrichments = yield* enricher.enrichAll(summaries.map((s) => s.event))
        yield* sink.offerAll(
          summaries.map((s, i) =>
            translator.summarize(s, {
              resource: enrichments[i]?.resource ?? {},
              severity: settings.severity.classify(s.event)
            })
          )
        )
      })

/**
 * The chunk's new occurrences, in order, and its progress. Undecodable changes are counted and skipped; what
 * was received is counted per chunk (a labelled counter's increment is a hash lookup, too dear per event).
 */
const admit = ({ metrics, window, settings }: Running, chunk: ReadonlyArray<Change>, nowMs: number) =>
  Effect.gen(function* () {
    const streams: Record<string, string> = {}
    const handled: Array<ExportedOccurrence> = []
    const occurrences: Array<Occurrence> = []
    const received = new Map<string, { api: string; type: string; n: number }>()
    for (const change of chunk) {
      if (change.stream !== undefined) {
        const rv = resourceVersionOfChange(change)
        if (rv !== undefined) streams[change.stream] = rv
      }
      if (change._tag === "Bookmark") continue
      if (change._tag === "Undecodable") {
        metrics.decodeFailures.inc()
        yield* Effect.logWarning(change.message)
        continue
      }
      const { event } = change
      const key = event.api + change.type
      const seen = received.get(key)
      if (seen === undefined) received.set(key, { api: event.api, type: change.type, n: 1 })
      else seen.n++
      if (!window.admit(event)) continue
      const timeMs = occurrenceMs(event) ?? nowMs
      const severity = settings.severity.classify(event)
      occurrences.push({ event, severity, timeMs, enrichment: undefined, droppedBy: undefined })
      handled.push({ uid: event.uid, count: event.count ?? 1, timeMs })
    }
    for (const r of received.values()) metrics.eventsReceived.inc({ api: r.api, type: r.type }, r.n)
    const progress: Progress = { streams, occurrences: handled }
    return { occurrences, progress }
  })

/** Marks the occurrences a filter rule drops, and counts them by rule. */
const filter = (
  { settings, metrics }: Running,
  occurrences: ReadonlyArray<Occurrence>,
  nowMs: number,
  withLabels: boolean
) => {
  for (const o of occurrences) {
    const labels = withLabels && settings.labelsKnown ? o.enrichment?.labels : undefined
    o.droppedBy = settings.filters.verdict(o.event, labels, o.severity.number, nowMs)
    if (o.droppedBy !== undefined) metrics.recordsFiltered.inc({ rule: o.droppedBy })
  }
}

/** Stage one: admit, classify, filter (unless label filters need the labels), and start enrichment. */
const prepare = (running: Running, chunk: ReadonlyArray<Change>) =>
  Effect.gen(function* () {
    const nowMs = yield* Clock.currentTimeMillis
    const { occurrences, progress } = yield* admit(running, chunk, nowMs)
    // Label filters need the labels first; otherwise filter first and look up only what is kept.
    if (!running.settings.filters.needsLabels) filter(running, occurrences, nowMs, false)
    const enriching = occurrences.filter(kept)
    // Started now, awaited in stage two: the next chunks are prepared while this one's lookups are answered.
    // In the pipeline's scope, not stage one's fiber: that fiber may end (a finite source) before stage two
    // has taken the chunk.
    const enrichment =
      enriching.length === 0
        ? undefined
        : yield* Effect.forkScoped(running.enricher.enrichAll(enriching.map((o) => o.event)))
    return { nowMs, progress, occurrences, enriching, enrichment } satisfies Prepared
  })

/** Waits for a chunk's lookups and gives each occurrence its enrichment. */
const enrich = (prepared: Prepared) =>
  Effect.gen(function* () {
    if (prepared.enrichment === undefined) return
    const found = yield* Fiber.join(prepared.enrichment)
    prepared.enriching.forEach((o, i) => {
      o.enrichment = found[i]
    })
  })

/** Whether noise control lets an occurrence through; what it holds back is counted. */
const throttled =
  ({ throttle, metrics }: Running, nowMs: number) =>
  (o: Occurrence) => {
    if (throttle === undefined || throttle.admit(o.event, nowMs) === "pass") return true
    metrics.recordsSuppressed.inc()
    return false
  }

const translate =
  ({ translator }: Running) =>
  (o: Occurrence): ReadableLogRecord => {
    const resource = o.enrichment?.resource
    return translator.translate(o.event, { ...(resource === undefined ? {} : { resource }), severity: o.severity })
  }

/** Stage two: wait for the enrichment, filter by labels, hold back noise, translate, send, mark. */
const deliver = (running: Running, prepared: Prepared) =>
  Effect.gen(function* () {
    const { metrics, sink, checkpoint } = running
    const { nowMs, occurrences, progress } = prepared
    yield* enrich(prepared)
    if (running.settings.filters.needsLabels) filter(running, occurrences, nowMs, true)
    const sent = occurrences.filter(kept).filter(throttled(running, nowMs))
    const newestMs = sent.reduce((newest, o) => Math.max(newest, o.timeMs), 0)
    if (newestMs > 0) metrics.lastEventTimestamp.set(newestMs / 1000)
    if (sent.length > 0) yield* sink.offerAll(sent.map(translate(running)))
    if (progress.occurrences.length > 0 || Object.keys(progress.streams).length > 0) {
      yield* sink.mark(checkpoint.acknowledged(progress))
    }
  })

/**
 * Windows end on time, not only when the next event comes: a summary must not wait for a quiet key. What is
 * still held back when the pipeline stops is summed up then.
 */
const summariesOnTime = <R>(
  throttle: Throttle,
  emit: (summaries: ReadonlyArray<Summary>) => Effect.Effect<void, never, R>
) =>
  Effect.gen(function* () {
    yield* Effect.gen(function* () {
      for (;;) {
        const next = throttle.nextDueMs()
        const now = yield* Clock.currentTimeMillis
        yield* Effect.sleep(Duration.millis(Math.max(50, Math.min(1000, next === undefined ? 1000 : next - now))))
        yield* emit(throttle.due(yield* Clock.currentTimeMillis))
      }
    }).pipe(Effect.forkScoped)
    yield* Effect.addFinalizer(() => emit(throttle.flush()))
  })

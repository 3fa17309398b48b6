import { Duration, Effect, Fiber, Stream } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import type { KubeEvent } from "../domain/KubeEvent.ts"
import { type Enrichment, Enricher } from "../enrich/Enricher.ts"
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

/**
 * Runs changes (in the arrays a source reads them in) through decode → once-only → classify → filter → enrich →
 * throttle → translate → sink, a chunk at a time, in two stages: the first starts a chunk's lookups and goes on with
 * the next chunks while the second waits for them, so that chunks waiting for the API server wait together rather
 * than one after another. A change that does not decode is counted, logged with its name and skipped; it never stops
 * the stream. After each chunk's records a marker goes into the sink: when the backend has acknowledged them, the
 * checkpoint moves to the chunk's last resourceVersion per stream and learns the occurrences it handled
 * (filtered and held-back ones included: they were dealt with, not lost).
 */
export const runPipeline = <E, R>(changes: Stream.Stream<ReadonlyArray<Change>, E, R>, settings: PipelineSettings) =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const translator = yield* Translator
    const sink = yield* RecordSink
    const checkpoint = yield* Checkpoint
    const enricher = yield* Enricher
    const window = new OccurrenceWindow(settings.windowSize)
    for (const o of checkpoint.initial.occurrences) window.seed(o.uid, o.count, o.timeMs)
    const { filters } = settings
    const throttle = settings.throttle === undefined ? undefined : new Throttle(settings.throttle)

    const emitSummaries = (summaries: ReadonlyArray<Summary>) =>
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

    if (throttle !== undefined) {
      // Windows end on time, not only when the next event comes: a summary must not wait for a quiet key.
      yield* Effect.gen(function* () {
        for (;;) {
          const next = throttle.nextDueMs()
          yield* Effect.sleep(
            Duration.millis(Math.max(50, Math.min(1000, next === undefined ? 1000 : next - Date.now())))
          )
          yield* emitSummaries(throttle.due(Date.now()))
        }
      }).pipe(Effect.forkScoped)
      yield* Effect.addFinalizer(() => emitSummaries(throttle.flush()))
    }

    type Enrichments = ReadonlyArray<Enrichment>

    /** Stage one: decode, once-only, classify, filter (unless label filters need the labels), and start enrichment. */
    const prepare = (chunk: ReadonlyArray<Change>) =>
      Effect.gen(function* () {
        const nowMs = Date.now()
        const streams: Record<string, string> = {}
        const occurrences: Array<ExportedOccurrence> = []
        const admitted: Array<KubeEvent> = []
        // Counted per chunk: a labelled counter's increment is a hash lookup, too dear per event.
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
          admitted.push(event)
          occurrences.push({ uid: event.uid, count: event.count ?? 1, timeMs: occurrenceMs(event) ?? nowMs })
        }
        for (const r of received.values()) metrics.eventsReceived.inc({ api: r.api, type: r.type }, r.n)
        const severities = admitted.map((e) => settings.severity.classify(e))
        // Label filters need the labels first; otherwise filter first and look up only what is kept.
        const kept: Array<number> = []
        if (!filters.needsLabels) {
          admitted.forEach((e, i) => {
            const rule = filters.verdict(e, undefined, severities[i]?.number, nowMs)
            if (rule === undefined) kept.push(i)
            else metrics.recordsFiltered.inc({ rule })
          })
        }
        const lookedUp = filters.needsLabels ? admitted : kept.map((i) => admitted[i] as KubeEvent)
        // Started now, awaited in stage two: the next chunks are prepared while this one's lookups are answered.
        // In the pipeline's scope, not stage one's fiber: that fiber may end (a finite source) before stage two
        // has taken the chunk.
        const enrichment = lookedUp.length === 0 ? undefined : yield* Effect.forkScoped(enricher.enrichAll(lookedUp))
        return { nowMs, streams, occurrences, admitted, severities, kept, enrichment }
      })

    /** Stage two: wait for the enrichment, filter by labels, hold back noise, translate, send, mark. */
    const deliver = (prepared: Effect.Effect.Success<ReturnType<typeof prepare>>) =>
      Effect.gen(function* () {
        const { nowMs, streams, occurrences, admitted, severities } = prepared
        const found: Enrichments = prepared.enrichment === undefined ? [] : yield* Fiber.join(prepared.enrichment)
        let kept = prepared.kept
        let enrichments: ReadonlyArray<Enrichment | undefined>
        if (filters.needsLabels) {
          enrichments = found
          kept = []
          admitted.forEach((e, i) => {
            const rule = filters.verdict(
              e,
              settings.labelsKnown ? found[i]?.labels : undefined,
              severities[i]?.number,
              nowMs
            )
            if (rule === undefined) kept.push(i)
            else metrics.recordsFiltered.inc({ rule })
          })
        } else {
          const byIndex = new Array<Enrichment | undefined>(admitted.length)
          kept.forEach((i, k) => {
            byIndex[i] = found[k]
          })
          enrichments = byIndex
        }
        if (throttle !== undefined) {
          kept = kept.filter((i) => {
            const pass = throttle.admit(admitted[i] as KubeEvent, nowMs) === "pass"
            if (!pass) metrics.recordsSuppressed.inc()
            return pass
          })
        }

        const records: Array<ReadableLogRecord> = []
        let newestMs = 0
        for (const i of kept) {
          const event = admitted[i] as KubeEvent
          const severity = severities[i]
          const resource = enrichments[i]?.resource
          records.push(
            translator.translate(event, {
              ...(resource === undefined ? {} : { resource }),
              ...(severity === undefined ? {} : { severity })
            })
          )
          const t = occurrences[i]?.timeMs ?? 0
          if (t > newestMs) newestMs = t
        }
        if (newestMs > 0) metrics.lastEventTimestamp.set(newestMs / 1000)
        if (records.length > 0) yield* sink.offerAll(records)
        const progress: Progress = { streams, occurrences }
        if (occurrences.length > 0 || Object.keys(streams).length > 0) {
          yield* sink.mark(checkpoint.acknowledged(progress))
        }
      })

    yield* changes.pipe(
      Stream.mapEffect(prepare),
      // Stage one runs ahead by this many chunks while stage two waits for lookups or for the sink.
      Stream.buffer({ capacity: 2 }),
      Stream.runForEach(deliver)
    )
  }).pipe(Effect.scoped)

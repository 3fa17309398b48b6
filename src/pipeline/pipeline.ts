import { Effect, Either, Stream } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { decodeKubeEvent } from "../domain/KubeEvent.ts"
import { Metrics } from "../observability/Metrics.ts"
import { RecordSink } from "../sink/RecordSink.ts"
import type { Change } from "../source/Change.ts"
import { Translator } from "../translate/Translator.ts"
import { occurrenceTime } from "../translate/timestamp.ts"
import { Checkpoint } from "../checkpoint/Checkpoint.ts"
import type { ExportedOccurrence } from "../checkpoint/CheckpointState.ts"
import { OccurrenceWindow } from "./OccurrenceWindow.ts"

export interface PipelineSettings {
  /** How many event uids the once-only window remembers. */
  readonly windowSize: number
}

const resourceVersionOf = (object: unknown): string | undefined => {
  if (typeof object !== "object" || object === null || !("metadata" in object)) return undefined
  const meta = object.metadata
  return typeof meta === "object" && meta !== null && "resourceVersion" in meta && typeof meta.resourceVersion === "string"
    ? meta.resourceVersion
    : undefined
}

/**
 * Runs changes through decode → once-only → translate → sink, a chunk at a time. A change that does not
 * decode is counted, logged with its name and skipped; it never stops the stream. After each chunk's records
 * a marker goes into the sink: when the backend has acknowledged them, the checkpoint moves to the chunk's
 * last resourceVersion per stream and learns the occurrences it exported.
 */
export const runPipeline = <E, R>(changes: Stream.Stream<Change, E, R>, settings: PipelineSettings) =>
  Effect.gen(function*() {
    const metrics = yield* Metrics
    const translator = yield* Translator
    const sink = yield* RecordSink
    const checkpoint = yield* Checkpoint
    const window = new OccurrenceWindow(settings.windowSize)
    for (const o of checkpoint.initial.occurrences) window.seed(o.uid, o.count, o.timeMs)
    yield* changes.pipe(
      Stream.runForEachChunk((chunk) =>
        Effect.gen(function*() {
          const records: Array<ReadableLogRecord> = []
          const streams: Record<string, string> = {}
          const occurrences: Array<ExportedOccurrence> = []
          let newestMs = 0
          for (const change of chunk) {
            if (change.stream !== undefined) {
              const rv = resourceVersionOf(change.object)
              if (rv !== undefined) streams[change.stream] = rv
            }
            if (change.type === "BOOKMARK") continue
            const decoded = decodeKubeEvent(change.object, change.api)
            if (Either.isLeft(decoded)) {
              metrics.decodeFailures.inc()
              yield* Effect.logWarning(decoded.left.message)
              continue
            }
            const event = decoded.right
            metrics.eventsReceived.inc({ api: event.api, type: change.type })
            if (!window.admit(event)) continue
            records.push(translator.translate(event))
            const time = occurrenceTime(event)
            const timeMs = time === undefined ? Date.now() : time.seconds * 1000 + Math.floor(time.nanos / 1e6)
            occurrences.push({ uid: event.uid, count: event.count ?? 1, timeMs })
            if (timeMs > newestMs) newestMs = timeMs
          }
          if (newestMs > 0) metrics.lastEventTimestamp.set(newestMs / 1000)
          if (records.length > 0) yield* sink.offerAll(records)
          if (occurrences.length > 0 || Object.keys(streams).length > 0) {
            yield* sink.mark(checkpoint.acknowledged({ streams, occurrences }))
          }
        })
      )
    )
  })

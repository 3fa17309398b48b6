import { Effect, Either, Stream } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { decodeKubeEvent } from "../domain/KubeEvent.ts"
import { Metrics } from "../observability/Metrics.ts"
import { RecordSink } from "../sink/RecordSink.ts"
import type { Change } from "../source/Change.ts"
import { Translator } from "../translate/Translator.ts"
import { OccurrenceWindow } from "./OccurrenceWindow.ts"

export interface PipelineSettings {
  /** How many event uids the once-only window remembers. */
  readonly windowSize: number
}

/**
 * Runs changes through decode → once-only → translate → sink, a chunk at a time. A change that does not
 * decode is counted, logged with its name and skipped; it never stops the stream.
 */
export const runPipeline = <E, R>(changes: Stream.Stream<Change, E, R>, settings: PipelineSettings) =>
  Effect.gen(function*() {
    const metrics = yield* Metrics
    const translator = yield* Translator
    const sink = yield* RecordSink
    const window = new OccurrenceWindow(settings.windowSize)
    yield* changes.pipe(
      Stream.runForEachChunk((chunk) =>
        Effect.gen(function*() {
          const records: Array<ReadableLogRecord> = []
          for (const change of chunk) {
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
          }
          if (records.length > 0) yield* sink.offerAll(records)
        })
      )
    )
  })

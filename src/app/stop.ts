/** How a stopped run ends: what is queued gets delivered within a time limit, and what was not is reported. */
import { Duration, Effect } from "effect"
import { DeliveryFailed } from "../sink/DeliveryFailed.ts"
import type { RecordSinkShape } from "../sink/RecordSink.ts"

/**
 * A stop on SIGTERM or SIGINT: what was queued gets at most `--shutdown-timeout` to be acknowledged, the rest is
 * dropped (reason `shutdown`); returns how many records that left undelivered.
 */
export const deliverQueued = (sink: RecordSinkShape, timeout: Duration.Duration) =>
  Effect.logInfo(`stopping: delivering queued records (for at most ${Duration.format(timeout)})`).pipe(
    Effect.zipRight(sink.drain(timeout))
  )

/**
 * Ends a stopped run. Its exit is the interruption, which alone is a clean stop (exit code 0); records left
 * undelivered are added to it as a defect, `DeliveryFailed`, which the entry point turns into exit code 1.
 */
export const reportStop = (sink: RecordSinkShape, undelivered: number) =>
  Effect.gen(function* () {
    const stats = yield* sink.stats
    if (undelivered === 0) return yield* Effect.logInfo(`stopped after exporting ${stats.exported} records`)
    const failure = DeliveryFailed.fromStats(stats)
    yield* Effect.logError(`stopped after exporting ${stats.exported} records: ${failure.message}`)
    return yield* Effect.die(failure)
  })

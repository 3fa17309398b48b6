/** How a stopped run ends: what is queued gets delivered within a time limit, and what was not is reported. */
import { Cause, Duration, Effect, Exit } from "effect"
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
 * Says how a stopped run ended; fails with `DeliveryFailed` when records were left undelivered (exit code 1,
 * `exitCodes.ts`).
 */
export const reportStop = (sink: Pick<RecordSinkShape, "stats">, undelivered: number) =>
  Effect.gen(function* () {
    const stats = yield* sink.stats
    if (undelivered === 0) return yield* Effect.logInfo(`stopped after exporting ${stats.exported} records`)
    const failure = DeliveryFailed.fromStats(stats)
    yield* Effect.logError(`stopped after exporting ${stats.exported} records: ${failure.message}`)
    return yield* failure
  })

/**
 * Runs `stop` when `run` is interrupted (a stop on SIGTERM or SIGINT, or the end of a term as leader), itself
 * without interruption. The run then ends with the interruption, which alone is a clean stop (exit code 0), and
 * with what `stop` failed with beside it: unlike `Effect.onInterrupt`'s finalizer, `stop` may fail, and its
 * failure (`DeliveryFailed`) stays in the error channel up to the exit code (`processExitCode`).
 */
export const whenStopped =
  <E2, R2>(stop: Effect.Effect<void, E2, R2>) =>
  <A, E, R>(run: Effect.Effect<A, E, R>): Effect.Effect<A, E | E2, R | R2> =>
    Effect.uninterruptibleMask((restore) =>
      restore(run).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.flatMap(Effect.exit(stop), (stopped) =>
                Effect.failCause(Exit.isFailure(stopped) ? Cause.sequential(cause, stopped.cause) : cause)
              )
            : Effect.failCause(cause)
        )
      )
    )

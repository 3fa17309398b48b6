/**
 * The exit code of a run (README, "Exit codes"): 0 done (a stop by SIGTERM, SIGINT or SIGHUP included), 1 records
 * could not be delivered, 2 invalid configuration or input, 70 a failure of the collector itself (a defect). A
 * failure is logged here, once, with its message; a stop's failure is said by the stop (`reportStop`) and only
 * given its code here; a defect is said by the entry point, with its cause (`lastWords.ts`).
 */
import { Cause, Effect, Exit, Option, Predicate } from "effect"
import type { CheckpointError } from "../checkpoint/CheckpointStore.ts"
import type { InvalidLeaderElectionSettings } from "../leader/LeaderElection.ts"
import type { ListenError } from "../observability/HttpServer.ts"
import type { DeliveryFailed } from "../sink/DeliveryFailed.ts"
import type { ExporterSetupError } from "../sink/otlp.ts"
import type { DumpError } from "../source/FileSource.ts"
import type { KubeConfigError } from "../source/kubeconfig.ts"
import { EXIT_INTERNAL } from "./lastWords.ts"

/** Every way a command can fail. */
export type RunError =
  | DumpError
  | KubeConfigError
  | DeliveryFailed
  | InvalidLeaderElectionSettings
  | ListenError
  | ExporterSetupError
  | CheckpointError

/** Error tag → exit code. */
export const EXIT_CODES = {
  DumpError: 2,
  KubeConfigError: 2,
  InvalidLeaderElectionSettings: 2,
  ListenError: 2,
  ExporterSetupError: 2,
  CheckpointError: 2,
  DeliveryFailed: 1
} as const satisfies Record<RunError["_tag"], number>

/** Any other failure: a defect. */
const FAILED = 1

const exitCodeOf = (error: unknown): number =>
  Object.entries(EXIT_CODES).find(([tag]) => Predicate.isTagged(error, tag))?.[1] ?? FAILED

/**
 * Runs a command to its exit code; its failure is logged. A run stopped by an interruption ends interrupted: what
 * its stop failed with stays beside the interruption, for `processExitCode`. The run alone is interruptible: the
 * failure is read here even when the interruption has reached this fiber.
 */
export const toExitCode = (run: Effect.Effect<void, RunError>): Effect.Effect<number, RunError> =>
  Effect.uninterruptibleMask((restore) =>
    restore(run).pipe(
      Effect.as(0),
      Effect.catchAllCause((cause) =>
        Cause.isInterrupted(cause)
          ? Effect.failCause(cause)
          : Option.match(Cause.failureOption(cause), {
              onNone: () => Effect.failCause(cause),
              onSome: (e) => Effect.logError(e.message).pipe(Effect.as(EXIT_CODES[e._tag]))
            })
      )
    )
  )

/**
 * The process's exit code from the main fiber's exit: an interruption alone is a stop that went as planned; a stop
 * that failed (records left undelivered) has its failure's code.
 */
export const processExitCode = (exit: Exit.Exit<unknown, unknown>): number =>
  Exit.match(exit, {
    onSuccess: (code) => (typeof code === "number" ? code : FAILED),
    onFailure: (cause) =>
      Option.match(Cause.failureOption(cause), {
        onSome: exitCodeOf,
        onNone: () => (Cause.isInterruptedOnly(cause) ? 0 : EXIT_INTERNAL)
      })
  })

/**
 * The exit code of a run: 0 done (a stop by SIGTERM or SIGINT included), 1 records could not be delivered,
 * 2 invalid configuration or input. A failure is logged here, once, with its message.
 */
import { Cause, Effect, Exit } from "effect"
import type { CheckpointError } from "../checkpoint/CheckpointStore.ts"
import type { InvalidLeaderElectionSettings } from "../leader/LeaderElection.ts"
import type { ListenError } from "../observability/HttpServer.ts"
import type { DeliveryFailed } from "../sink/DeliveryFailed.ts"
import type { ExporterSetupError } from "../sink/otlp.ts"
import type { DumpError } from "../source/FileSource.ts"
import type { KubeConfigError } from "../source/kubeconfig.ts"

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
const EXIT_CODES = {
  DumpError: 2,
  KubeConfigError: 2,
  InvalidLeaderElectionSettings: 2,
  ListenError: 2,
  ExporterSetupError: 2,
  CheckpointError: 2,
  DeliveryFailed: 1
} as const satisfies Record<RunError["_tag"], number>

/** Any other failure: a defect, or a stop that left records undelivered. */
const FAILED = 1

/** Runs a command to its exit code; its failure is logged. */
export const toExitCode = (run: Effect.Effect<void, RunError>): Effect.Effect<number> =>
  run.pipe(
    Effect.as(0),
    Effect.catchAll((e) => Effect.logError(e.message).pipe(Effect.as(EXIT_CODES[e._tag])))
  )

/** The process's exit code from the main fiber's exit: an interruption alone is a stop that went as planned. */
export const processExitCode = (exit: Exit.Exit<unknown, unknown>): number =>
  Exit.isSuccess(exit)
    ? typeof exit.value === "number"
      ? exit.value
      : FAILED
    : Cause.isInterruptedOnly(exit.cause)
      ? 0
      : FAILED

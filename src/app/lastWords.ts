/**
 * No exit without a reason. Imported first by main.ts, with `earlySignals.ts`: from the first moment, an
 * exception nothing caught, a rejected promise nothing awaited, or a SIGHUP leaves a last log line that says why,
 * in the format the logs are written in, and ends the process with its documented exit code (README, "Exit codes").
 * V8 aborting at its heap limit cannot be caught; the heap watch (src/observability/heapWatch.ts) warns before.
 */
import { Cause, Effect, Logger } from "effect"
import { type LogFormat, logFormatFor, stderrLogger } from "../observability/logging.ts"

/** Exit code of a failure of the collector itself: a defect, an uncaught exception, an unhandled rejection. */
export const EXIT_INTERNAL = 70

let format: LogFormat = logFormatFor(undefined, process.stderr)

/** The format the last words are written in, once the configuration names it. */
export const useLogFormat = (chosen: LogFormat): void => {
  format = chosen
}

/** One log line at `level`, written before the call returns (stderr is synchronous for files and pipes). */
export const sayLastWords = (level: "Info" | "Fatal", message: string, cause: Cause.Cause<unknown> = Cause.empty) =>
  Effect.runSync(
    (level === "Fatal" ? Effect.logFatal(message, cause) : Effect.logInfo(message)).pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, stderrLogger(format)))
    )
  )

const fatal = (what: string) => (error: unknown) => {
  sayLastWords("Fatal", `${what}; exiting with code ${EXIT_INTERNAL}`, Cause.die(error))
  process.exit(EXIT_INTERNAL)
}

process.on("uncaughtException", fatal("an exception nothing caught"))
process.on("unhandledRejection", fatal("a promise rejected with nothing to catch it"))
// A closed terminal or a supervisor's reload: a stop like SIGTERM's (what is queued is delivered), said first.
process.on("SIGHUP", () => {
  sayLastWords("Info", "SIGHUP: stopping as on SIGTERM")
  process.kill(process.pid, "SIGTERM")
})

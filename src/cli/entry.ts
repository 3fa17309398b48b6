/** Reads the command line and runs the command; the exit code is the command's. */
import { takeEarlySignal } from "./earlySignals.ts"
// The module itself, not the package index: the index loads every platform module (about 100 MB of RSS).
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Either, Exit } from "effect"
import { readFileSync } from "node:fs"
import { renderConfig, renderHelp } from "./help.ts"
import { loadConfig } from "./load.ts"
import { runCommand } from "./program.ts"

const VERSION = "0.1.0"

const loaded = loadConfig({ argv: process.argv.slice(2), env: process.env, readText: (path) => readFileSync(path, "utf8") })

const main: Effect.Effect<number> = Either.match(loaded, {
  onLeft: (problems) => Effect.sync(() => (process.stderr.write(`k8s-event-collector: ${problems.message}\n`), 2)),
  onRight: ({ command, values, origins, rules }) => {
    if (command === "help") return Effect.sync(() => (process.stdout.write(renderHelp(VERSION)), 0))
    if (command === "version") return Effect.sync(() => (process.stdout.write(`${VERSION}\n`), 0))
    if (values.printConfig) return Effect.sync(() => (process.stdout.write(renderConfig(values, origins, rules)), 0))
    return runCommand(command, values, origins, rules)
  }
})

// A reader that went away (`| head`) ends the process quietly, the way a closed pipe ends any Unix tool: what was
// not printed had nowhere to go, and nothing else this process does is worth a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0)
  throw error
})

const early = await takeEarlySignal()
if (early !== undefined) {
  process.stderr.write(`k8s-event-collector: ${early} during start-up; exiting\n`)
  process.exit(0)
}

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  disablePrettyLogger: true,
  // SIGTERM and SIGINT interrupt the main fiber; a stop that went as planned is a success.
  teardown: (exit, onExit) =>
    onExit(Exit.isSuccess(exit) && typeof exit.value === "number" ? exit.value : Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? 0 : 1)
})

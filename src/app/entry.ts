/** Reads the command line and runs the command; the exit code is the command's. */
import { takeEarlySignal } from "./earlySignals.ts"
// The module itself, not the package index: the index loads every platform module (about 100 MB of RSS).
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Either, Exit } from "effect"
import { readFileSync } from "node:fs"
import { renderConfig, renderHelp } from "../cli/help.ts"
import { type Loaded, loadConfig } from "../cli/load.ts"
import { COLLECTOR_VERSION } from "../domain/version.ts"
import { loadKubeConfig } from "../source/kubeconfig.ts"
import { runDemo } from "./demo.ts"
import { processExitCode, type RunError, toExitCode } from "./exitCodes.ts"
import { runFile } from "./file.ts"
import { runKube } from "./kube.ts"
import { EXIT_INTERNAL, sayLastWords } from "./lastWords.ts"
import { LoggingLive } from "./layers.ts"
import { commandSettings, loggingSettings } from "./settings.ts"

/** `demo`, a dump (`--source file:PATH`) or a cluster (`--source kube`). */
const runCommand = (loaded: Loaded & { readonly command: "run" | "demo" }) => {
  const cut = commandSettings(loaded)
  const run =
    cut.command === "demo"
      ? runDemo(cut.settings)
      : cut.command === "file"
        ? runFile(cut.settings)
        : Effect.flatMap(loadKubeConfig(cut.kubeconfig), (kc) => runKube(cut.settings, kc))
  return toExitCode(run).pipe(Effect.provide(LoggingLive(loggingSettings(loaded.values))))
}

const loaded = loadConfig({
  argv: process.argv.slice(2),
  env: process.env,
  readText: (path) => readFileSync(path, "utf8")
})

const main: Effect.Effect<number, RunError> = Either.match(loaded, {
  onLeft: (problems) => Effect.sync(() => (process.stderr.write(`k8s-event-collector: ${problems.message}\n`), 2)),
  onRight: (config) => {
    const { command, values, origins, rules } = config
    if (command === "help") return Effect.sync(() => (process.stdout.write(renderHelp(COLLECTOR_VERSION)), 0))
    if (command === "version") return Effect.sync(() => (process.stdout.write(`${COLLECTOR_VERSION}\n`), 0))
    if (values.printConfig) return Effect.sync(() => (process.stdout.write(renderConfig(values, origins, rules)), 0))
    return runCommand({ ...config, command })
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
  // SIGTERM and SIGINT interrupt the main fiber; a stop that went as planned is a success. A defect is said here,
  // its last words, since error reporting is off (the failures it would report were logged with their message).
  teardown: (exit, onExit) => {
    const code = processExitCode(exit)
    if (code === EXIT_INTERNAL && Exit.isFailure(exit))
      sayLastWords("Fatal", `a failure of the collector itself; exiting with code ${EXIT_INTERNAL}`, exit.cause)
    onExit(code)
  }
})

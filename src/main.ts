/**
 * The entry point. Loading the collector's modules takes a moment; a SIGTERM or SIGINT during it is caught here
 * (by the first module evaluated, which imports nothing: the static imports of an ES module are all loaded before
 * any of them runs) and turned into a clean exit; from then on a failure nothing caught leaves a last log line and
 * its exit code (`lastWords.ts`); then the command line is run.
 */
import "./app/earlySignals.ts"

await import("./app/lastWords.ts")
await import("./app/entry.ts")

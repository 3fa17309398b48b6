/**
 * The entry point. Loading the collector's modules takes a moment; a SIGTERM or SIGINT during it is caught here
 * (by the first module evaluated) and turned into a clean exit; from then on a failure nothing caught leaves a
 * last log line and its exit code (`lastWords.ts`); then the command line is run.
 */
import "./app/earlySignals.ts"
import "./app/lastWords.ts"

await import("./app/entry.ts")

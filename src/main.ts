/**
 * The entry point. Loading the collector's modules takes a moment; a SIGTERM or SIGINT during it is caught here
 * (by the first module evaluated) and turned into a clean exit, then the command line is run.
 */
import "./app/earlySignals.ts"

await import("./app/entry.ts")

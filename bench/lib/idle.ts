/**
 * Footprint probe, run as a child process: imports a module (the collector's program, or nothing), waits for the
 * heap to settle, and prints its RSS and heap as one JSON line. What the collector costs before reading one event.
 *
 *   node bench/lib/idle.ts [MODULE_PATH | PACKAGE]
 */
import { pathToFileURL } from "node:url"

const target = process.argv[2]
const t0 = performance.now()
if (target !== undefined && target !== "")
  await import(target.startsWith(".") || target.startsWith("/") ? pathToFileURL(target).href : target)
const importMs = performance.now() - t0
await new Promise((r) => setTimeout(r, 1500))
const m = process.memoryUsage()
process.stdout.write(
  `${JSON.stringify({ importMs, rssMb: m.rss / 2 ** 20, heapUsedMb: m.heapUsed / 2 ** 20, externalMb: m.external / 2 ** 20 })}\n`
)
process.exit(0)

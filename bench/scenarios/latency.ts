/**
 * latency: the server creates events at a steady rate; each is created the events.k8s.io way (style "series"),
 * so its occurrence time is `eventTime` with microsecond precision, stamped from the server's clock at creation.
 * The collector puts that time into the record's time_unix_nano; the receiver reads it back and subtracts it from
 * the arrival time (same machine, same clock). A core/v1 event's `lastTimestamp` has whole seconds only, which
 * would add up to a second of error.
 *
 * Beside the default watch, a collector in `--mode poll` reads the same stream from the same server (it is idle
 * between polls, so it does not disturb the other); its records go to a receiver of their own.
 *
 * A quiet cluster (QUIET_RATE events/s) shows what a record waits when exports are not busy: the network round trip
 * and the pipeline. The round trip is measured after its stream, by a child process posting empty OTLP requests to
 * the same receiver.
 */
import { spawn } from "node:child_process"
import { startSimServer, type SimServer } from "@k8s-event-collector/sim"
import { type Launch, REPO, startCollector } from "../lib/collector.ts"
import { fixtureTemplates } from "../lib/fixtures.ts"
import { startReceiver } from "../lib/receiver.ts"
import { quantile, sleep, until } from "../lib/stats.ts"

interface LatencyFigures {
  readonly records: number
  readonly p50_ms: number
  readonly p99_ms: number
  readonly max_ms: number
}

/** Events per second in the quiet phase. */
const QUIET_RATE = 10

/** Records created this long after the stream started count as "warm": the enrichment cache is filled by then. */
const WARM_AFTER_MS = 5_000

export interface LatencyResult {
  readonly rate_per_s: number
  readonly duration_s: number
  /** Events actually created per second (the timer's achieved rate). */
  readonly achieved_rate_per_s: number
  readonly default: LatencyFigures
  /** The same run, only records created WARM_AFTER_MS or more after the start. */
  readonly default_warm: LatencyFigures
  /** Export requests per 100 000 records with the default settings. */
  readonly default_requests_per_100k: number
  readonly linger50: LatencyFigures
  readonly linger50_warm: LatencyFigures
  /** QUIET_RATE events/s for the same duration, default settings. */
  readonly quiet: LatencyFigures & { readonly rate_per_s: number; readonly requests_per_100k: number }
  /** Empty OTLP requests from another process to the quiet phase's receiver, one at a time. */
  readonly round_trip: LatencyFigures
  /** With `--enrichment off` (full runs only): how much of the latency is the enrichment's lookups. */
  readonly enrichment_off?: LatencyFigures
  readonly poll: LatencyFigures & { readonly interval_s: number }
}

const figures = (samples: ReadonlyArray<number>): LatencyFigures => ({
  records: samples.length,
  p50_ms: quantile(samples, 0.5),
  p99_ms: quantile(samples, 0.99),
  max_ms: quantile(samples, 1)
})

export interface Shape {
  readonly involvedObject: Record<string, unknown>
  readonly reason?: string
  readonly message?: string
  readonly type?: string
  readonly source?: Record<string, unknown>
}

/** What an event is about and says, from the fixtures; the server fills in the rest as a recorder would. */
export const eventShapes = (): ReadonlyArray<Shape> =>
  fixtureTemplates().map((t) => ({
    involvedObject:
      typeof t["involvedObject"] === "object" && t["involvedObject"] !== null
        ? (t["involvedObject"] as Record<string, unknown>)
        : {},
    ...(typeof t["reason"] === "string" ? { reason: t["reason"] } : {}),
    ...(typeof t["message"] === "string" ? { message: t["message"] } : {}),
    ...(typeof t["type"] === "string" ? { type: t["type"] } : {}),
    ...(typeof t["source"] === "object" && t["source"] !== null
      ? { source: t["source"] as Record<string, unknown> }
      : {})
  }))

/** Creates events at `rate`/s for `seconds`, catching up every few ms; returns how many it created. */
const createAtRate = async (
  sim: SimServer,
  rate: number,
  seconds: number,
  make?: (i: number) => void
): Promise<number> => {
  const all = eventShapes()
  const start = Date.now()
  const total = Math.round(rate * seconds)
  let created = 0
  while (created < total) {
    const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * rate))
    for (; created < due; created++) {
      if (make !== undefined) make(created)
      else {
        const s = all[created % all.length] as Shape
        sim.events.create({ ...s, involvedObject: s.involvedObject, style: "series" })
      }
    }
    await sleep(2)
  }
  return created
}

const ROUND_TRIPS = 100

/** ROUND_TRIPS empty OTLP requests, 50 ms apart, from a child process; each one's time in ms. */
const roundTrips = async (otlpUrl: string): Promise<ReadonlyArray<number>> => {
  const child = spawn(process.execPath, ["bench/lib/roundTrip.ts", otlpUrl, String(ROUND_TRIPS), "50"], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "inherit"]
  })
  let out = ""
  child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s))
  const code = await new Promise<number | null>((r) => child.on("exit", r))
  if (code !== 0) throw new Error(`the round-trip client failed (code ${code})`)
  return JSON.parse(out) as ReadonlyArray<number>
}

/** One latency run: `launch` (ours by default, or a peer) watching, and our poll mode beside it if asked. */
export const phase = async (
  rate: number,
  seconds: number,
  args: ReadonlyArray<string>,
  pollIntervalS: number | undefined,
  withRoundTrip = false,
  launch: Launch = startCollector
) => {
  const sim = await startSimServer()
  const watchRx = await startReceiver({ latencies: true })
  const pollRx = await startReceiver({ latencies: true })
  const watch = launch({ simUrl: sim.url, otlpUrl: watchRx.url, args })
  const poll =
    pollIntervalS === undefined
      ? undefined
      : startCollector({
          simUrl: sim.url,
          otlpUrl: pollRx.url,
          args: ["--mode", "poll", "--poll-interval", `${pollIntervalS}s`]
        })
  try {
    // Its events watch: the poll collector and the enrichment caches open watches of their own.
    await until("the collector's watch", () => sim.requests.count({ verb: "watch", resource: "events" }) > 0, 60_000)
    // The poll collector's first list (of an empty store) has happened once two lists were made.
    if (poll !== undefined)
      await until(
        "the poll collector's first list",
        () => sim.requests.count({ verb: "list", resource: "events" }) >= 2,
        60_000
      )
    await sleep(500)
    const t0 = Date.now()
    const created = await createAtRate(sim, rate, seconds)
    const warm = (rx: typeof watchRx) =>
      figures(rx.latenciesMs.filter((_, i) => (rx.recordTimesMs[i] ?? 0) >= t0 + WARM_AFTER_MS))
    const elapsedS = (Date.now() - t0) / 1000
    await watchRx.waitFor(created, 60_000)
    const requestsPer100k = (watchRx.requests / watchRx.records) * 100_000
    if (poll !== undefined) await pollRx.waitFor(created, (pollIntervalS ?? 0) * 1000 + 60_000)
    return {
      created,
      achieved: created / elapsedS,
      watch: figures(watchRx.latenciesMs),
      watchWarm: warm(watchRx),
      requestsPer100k,
      roundTrip: withRoundTrip ? figures(await roundTrips(watchRx.url)) : undefined,
      poll: poll === undefined ? undefined : figures(pollRx.latenciesMs)
    }
  } finally {
    await Promise.all([watch.stop(), poll?.stop()])
    await watchRx.close()
    await pollRx.close()
    await sim.close()
  }
}

export const measureLatency = async (
  rate: number,
  seconds: number,
  pollIntervalS: number,
  withoutEnrichment: boolean
): Promise<LatencyResult> => {
  const base = await phase(rate, seconds, [], pollIntervalS)
  const linger = await phase(rate, seconds, ["--batch-linger", "50ms"], undefined)
  const quiet = await phase(QUIET_RATE, seconds, [], undefined, true)
  const off = withoutEnrichment ? await phase(rate, seconds, ["--enrichment", "off"], undefined) : undefined
  if (base.poll === undefined || quiet.roundTrip === undefined) throw new Error("no poll or round-trip figures")
  return {
    rate_per_s: rate,
    duration_s: seconds,
    achieved_rate_per_s: base.achieved,
    default: base.watch,
    default_warm: base.watchWarm,
    default_requests_per_100k: base.requestsPer100k,
    linger50: linger.watch,
    linger50_warm: linger.watchWarm,
    quiet: { ...quiet.watch, rate_per_s: QUIET_RATE, requests_per_100k: quiet.requestsPer100k },
    round_trip: quiet.roundTrip,
    ...(off === undefined ? {} : { enrichment_off: off.watch }),
    poll: { ...base.poll, interval_s: pollIntervalS }
  }
}

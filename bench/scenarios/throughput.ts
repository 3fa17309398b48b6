/**
 * throughput-watch: 100 000 events through one open watch, as fast as the collector reads them.
 * throughput-list: 100 000 events on the server; a fresh collector lists them (paged) and exports them.
 * Events/s from the first byte to the last record the receiver got; CPU seconds of the collector in that
 * interval per 10 000 events; its peak RSS (VmHWM, start-up included).
 */
import { spawn } from "node:child_process"
import { mkdirSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { type KubeObject, Resources, type SimServer, startSimServer } from "@k8s-event-collector/sim"
import { type Launch, type ProcSample, REPO, type Runtime, scratch, startCollector } from "../lib/collector.ts"
import { feed, prewarm } from "../lib/load.ts"
import { formatProfile, type ProfileSummary, summariseProfile } from "../lib/profile.ts"
import { startReceiver } from "../lib/receiver.ts"
import { sleep, until } from "../lib/stats.ts"

export interface ThroughputRun {
  readonly events_per_s: number
  readonly cpu_s_per_10k: number
  readonly peak_rss_mb: number
  readonly wall_s: number
  /** Watch requests the collector made (more than one: it paused reading under backpressure and resumed). */
  readonly watch_requests: number
  readonly list_requests: number
  readonly export_requests: number
  /** Export requests per 100 000 events: what batching saves in requests (and in their cost). */
  readonly export_requests_per_100k: number
  /** Bench-process time spent counting records in the receiver. */
  readonly receiver_busy_ms: number
}

const TIMEOUT_MS = 300_000

export interface RunOptions {
  readonly events: number
  readonly compression: "none" | "gzip"
  /** Write a CPU profile of the collector into this directory. */
  readonly profileDir?: string
  readonly extraArgs?: ReadonlyArray<string>
  /** Instead of the bench run's runtime (the footprint scenario compares runtimes). */
  readonly runtime?: Runtime
  /** Another collector than ours (a peer, bench/lib/peer.ts). */
  readonly launch?: Launch
  /** The events it exports (default: every one); the run waits for those and counts them. */
  readonly exports?: (event: KubeObject) => boolean
}

/** Until the next whole second: events stamped with whole seconds then read as after any earlier moment. */
export const nextWholeSecond = (): Promise<void> => sleep(1000 - (Date.now() % 1000))

/** How many of the stored events the collector is expected to export. */
const expectedRecords = (sim: SimServer, o: RunOptions): number => {
  const exports = o.exports
  if (exports === undefined) return o.events
  let n = 0
  for (const s of sim.store.all(Resources.events)) if (exports(s.object)) n++
  return n
}

/** One throughput-watch run. */
/** Waits for every record, then the run's figures: events/s from `t0` to the last arrival, CPU, RSS, requests. */
const figures = async (
  events: number,
  t0: number,
  before: ProcSample | undefined,
  collector: { sample(): ProcSample | undefined; readonly log: string; readonly exited: Promise<number | null> },
  receiver: {
    waitFor(n: number, ms: number): Promise<unknown>
    readonly lastArrivalMs: number | undefined
    readonly requests: number
    readonly busyMs: number
  },
  sim: { readonly requests: { count(m: { verb: "watch" | "list"; resource: string }): number } }
): Promise<ThroughputRun> => {
  // A collector that dies (out of heap, say) fails the run at once instead of at the timeout.
  let arrived = false
  const died = collector.exited.then((code) => {
    if (!arrived) throw new Error(`the collector exited (code ${code}) before every record arrived:\n${collector.log}`)
  })
  await Promise.race([receiver.waitFor(events, TIMEOUT_MS), died]).finally(() => (arrived = true))
  const after = collector.sample()
  if (before === undefined || after === undefined) throw new Error(`the collector exited:\n${collector.log}`)
  const wallS = ((receiver.lastArrivalMs ?? Date.now()) - t0) / 1000
  return {
    events_per_s: events / wallS,
    cpu_s_per_10k: ((after.cpuS - before.cpuS) / events) * 10_000,
    peak_rss_mb: after.peakRssMb,
    wall_s: wallS,
    watch_requests: sim.requests.count({ verb: "watch", resource: "events" }),
    list_requests: sim.requests.count({ verb: "list", resource: "events" }),
    export_requests: receiver.requests,
    export_requests_per_100k: (receiver.requests / events) * 100_000,
    receiver_busy_ms: receiver.busyMs
  }
}

export const runWatchThroughput = async (
  o: RunOptions
): Promise<ThroughputRun & { readonly profile?: ProfileSummary }> => {
  const sim = await startSimServer()
  const receiver = await startReceiver()
  const collector = (o.launch ?? startCollector)({
    simUrl: sim.url,
    otlpUrl: receiver.url,
    args: ["--otlp-compression", o.compression, ...(o.extraArgs ?? [])],
    ...(o.profileDir === undefined ? {} : { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${o.profileDir}`] }),
    ...(o.runtime === undefined ? {} : { runtime: o.runtime })
  })
  try {
    await until("the collector's watch", () => sim.requests.count({ verb: "watch", resource: "events" }) > 0, 60_000)
    await sleep(500)
    // The peer drops events stamped before its start; a whole second later, none is.
    await nextWholeSecond()
    const before = collector.sample()
    const t0 = Date.now()
    await feed(sim, o.events)
    const run = await figures(expectedRecords(sim, o), t0, before, collector, receiver, sim)
    const skipMs = t0 - collector.spawnedAtMs
    await collector.stop()
    if (o.profileDir !== undefined) {
      const file = readdirSync(o.profileDir).find((f) => f.endsWith(".cpuprofile"))
      if (file !== undefined) return { ...run, profile: summariseProfile(join(o.profileDir, file), 25, skipMs) }
    }
    return run
  } finally {
    await collector.stop()
    await receiver.close()
    await sim.close()
  }
}

/** One throughput-list run. */
export const runListThroughput = async (o: RunOptions): Promise<ThroughputRun> => {
  const sim = await startSimServer()
  await feed(sim, o.events)
  prewarm(sim)
  const receiver = await startReceiver()
  const collector = startCollector({
    simUrl: sim.url,
    otlpUrl: receiver.url,
    args: ["--otlp-compression", o.compression, ...(o.extraArgs ?? [])],
    ...(o.runtime === undefined ? {} : { runtime: o.runtime })
  })
  try {
    await until(
      "the collector's first list",
      () => sim.requests.count({ verb: "list", resource: "events" }) > 0,
      60_000,
      2
    )
    const before = collector.sample()
    const t0 = sim.requests.filter({ verb: "list", resource: "events" })[0]?.at ?? Date.now()
    return await figures(o.events, t0, before, collector, receiver, sim)
  } finally {
    await collector.stop()
    await receiver.close()
    await sim.close()
  }
}

export interface SimCapacity {
  /** Events/s a client that only splits lines reads from one watch while the same feed creates them. */
  readonly count_events_per_s: number
  /** The same with JSON.parse of every line: the least a real client does (not in --quick). */
  readonly parse_events_per_s?: number
  /** Where the captured watch bytes are (the floor reads them). */
  readonly capture: string
  readonly bytes: number
}

const runRawWatch = async (events: number, mode: "count" | "parse", save?: string) => {
  const sim = await startSimServer()
  try {
    const url = `${sim.url}/api/v1/events?watch=true&resourceVersion=${sim.store.resourceVersion}&allowWatchBookmarks=true`
    const child = spawn(
      process.execPath,
      ["bench/lib/rawWatch.ts", url, String(events), mode, ...(save === undefined ? [] : [save])],
      {
        cwd: REPO,
        stdio: ["ignore", "pipe", "inherit"]
      }
    )
    let out = ""
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s))
    const exited = new Promise<number | null>((r) => child.on("exit", r))
    await until("the raw watch", () => sim.openWatches > 0, 30_000)
    const t0 = Date.now()
    await feed(sim, events)
    if ((await exited) !== 0) throw new Error("the raw watch client failed")
    const r = JSON.parse(out) as { lastMs: number; bytes: number }
    return { eventsPerS: events / ((r.lastMs - t0) / 1000), bytes: r.bytes }
  } finally {
    await sim.close()
  }
}

/** How fast the simulated server streams to a client that does almost nothing; also captures the bytes. */
export const measureSimCapacity = async (events: number, withParse: boolean): Promise<SimCapacity> => {
  const capture = join(scratch(), "watch-bytes.ndjson")
  const count = await runRawWatch(events, "count", capture)
  const parse = withParse ? (await runRawWatch(events, "parse")).eventsPerS : undefined
  return {
    count_events_per_s: count.eventsPerS,
    ...(parse === undefined ? {} : { parse_events_per_s: parse }),
    capture,
    bytes: count.bytes
  }
}

export const profileDir = (name: string): string => {
  const dir = join(scratch(), `prof-${name}-${Date.now()}`)
  mkdirSync(dir, { recursive: true })
  return dir
}

export { formatProfile }

/**
 * `npm run bench`: throughput (watch and list) against the floor, latency (watch with default settings and with
 * --batch-linger 50ms, poll mode beside it; 10 events/s beside the network round trip), memory under churn, resume
 * from a checkpoint (and relists after a 410), and the footprint at rest; and the peers: the OpenTelemetry
 * Collector's k8s_events receiver through the same scenarios, beside ours (bench/scenarios/peers.ts). The soak
 * (30 minutes of churn and faults, bench/scenarios/soak.ts) runs only when named: `--only soak`. Everything runs on 127.0.0.1: the simulated
 * API server and a counting OTLP receiver in this process, the collector as a child process of its own: by default
 * what the image ships (the bundle scripts/build.ts makes, run with its NODE_FLAGS), with --sources
 * `node src/main.ts`. Prints the machine and a table; writes the figures as JSON, with the collector's command line
 * under run.collector.
 *
 *   npm run bench                  # the full run (about 13 minutes on 2 cores)
 *   npm run bench -- --quick       # under two minutes
 *   npm run bench -- --peers       # the peers alone (--quick --peers: added to the quick run)
 *   npm run bench -- --only soak   # the soak (--quick --only soak: 4 minutes of it)
 *   npm run bench -- --help
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { cpus, loadavg, totalmem } from "node:os"
import { dirname, join, resolve } from "node:path"
import { buildCollector, NODE_ENV_DEFAULTS, NODE_FLAGS } from "../scripts/build.ts"
import { collectorDefaults, REPO, type Runtime, scratch, SOURCES } from "./lib/collector.ts"
import { type BenchSettings, parseSettings, type ScenarioName, usage } from "./lib/settings.ts"
import { median, round } from "./lib/stats.ts"
import { DESIGNS, measureColdStart, type ColdStartRun } from "./scenarios/coldstart.ts"
import { measureFloor, type FloorResult } from "./scenarios/floor.ts"
import { measureFootprint } from "./scenarios/footprint.ts"
import { measureLatency } from "./scenarios/latency.ts"
import { measureMemory } from "./scenarios/memory.ts"
import { measurePeers, peersTable } from "./scenarios/peers.ts"
import { PEER } from "./lib/peer.ts"
import { measureResume } from "./scenarios/resume.ts"
import { measureSoak } from "./scenarios/soak.ts"
import {
  formatProfile,
  measureSimCapacity,
  profileDir,
  runListThroughput,
  runWatchThroughput,
  type SimCapacity,
  type ThroughputRun
} from "./scenarios/throughput.ts"

const parsed = parseSettings(process.argv.slice(2))
if (parsed === "help") {
  process.stdout.write(usage)
  process.exit(0)
}
const settings: BenchSettings = parsed
const wanted = (s: ScenarioName) => settings.only.has(s)
const log = (line: string) =>
  process.stderr.write(`[bench +${((Date.now() - startedAt) / 1000).toFixed(0)}s] ${line}\n`)
const startedAt = Date.now()

const machine = {
  cores: cpus().length,
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  memory_gb: round(totalmem() / 2 ** 30, 1),
  loadavg_at_start: loadavg().map((x) => round(x, 2))
}
process.stdout.write(
  `machine: ${machine.cores} cores, ${machine.cpu}, ${machine.memory_gb} GB, Node ${machine.node}; load average ${machine.loadavg_at_start.join(" ")}\n`
)
// What the image ships (the bundle, run with NODE_FLAGS and NODE_ENV_DEFAULTS), unless --sources; --node-options
// replaces the flags; an environment variable the bench is given replaces its default, as with the launcher.
const runtime: Runtime = settings.sources
  ? SOURCES
  : {
      entry: (await buildCollector(join(scratch(), "dist"))).main,
      nodeArgs: NODE_FLAGS,
      envDefaults: NODE_ENV_DEFAULTS
    }
collectorDefaults.runtime = { ...runtime, nodeArgs: settings.nodeOptions ?? runtime.nodeArgs }
collectorDefaults.args = settings.collectorArgs
const collectorEnv = Object.entries({ ...runtime.envDefaults, ...process.env }).filter(
  ([k]) => k in (runtime.envDefaults ?? {})
)
const collector = {
  artifact: settings.sources ? "sources" : "bundle",
  command: [
    ...collectorEnv.map(([k, v]) => `${k}=${v}`),
    "node",
    ...collectorDefaults.runtime.nodeArgs,
    settings.sources ? "src/main.ts" : "dist/main.mjs",
    ...settings.collectorArgs
  ].join(" "),
  shipped:
    !settings.sources &&
    settings.nodeOptions === undefined &&
    settings.collectorArgs.length === 0 &&
    collectorEnv.every(([k, v]) => runtime.envDefaults?.[k] === v)
}
process.stdout.write(
  `mode: ${settings.quick ? "quick" : "full"}; collector: ${collector.command}${collector.shipped ? " (as shipped)" : ""}; scenarios: ${[...settings.only].join(", ")}\n`
)

const scenarios: Record<string, unknown> = {}
const errors: Record<string, string> = {}

/** Runs one scenario; a failure is reported and recorded, and the others still run. */
const scenario = async <A>(name: string, run: () => Promise<A>): Promise<A | undefined> => {
  log(`${name}…`)
  try {
    const result = await run()
    log(`${name} done`)
    return result
  } catch (e) {
    const message = e instanceof Error ? (e.stack ?? e.message) : String(e)
    errors[name] = message
    log(`${name} FAILED: ${message}`)
    return undefined
  }
}

interface Summary {
  readonly events_per_s: number
  readonly cpu_s_per_10k: number
  readonly peak_rss_mb: number
  readonly export_requests_per_100k: number
  readonly runs: ReadonlyArray<ThroughputRun>
}

const summarise = (runs: ReadonlyArray<ThroughputRun>): Summary => ({
  events_per_s: round(median(runs.map((r) => r.events_per_s))),
  cpu_s_per_10k: round(median(runs.map((r) => r.cpu_s_per_10k)), 3),
  peak_rss_mb: round(median(runs.map((r) => r.peak_rss_mb))),
  export_requests_per_100k: round(median(runs.map((r) => r.export_requests_per_100k))),
  runs: runs.map((r) => ({
    ...r,
    events_per_s: round(r.events_per_s),
    cpu_s_per_10k: round(r.cpu_s_per_10k, 3),
    peak_rss_mb: round(r.peak_rss_mb),
    wall_s: round(r.wall_s, 2),
    export_requests_per_100k: round(r.export_requests_per_100k),
    receiver_busy_ms: round(r.receiver_busy_ms)
  }))
})

const repeat = async (n: number, run: () => Promise<ThroughputRun>): Promise<Array<ThroughputRun>> => {
  const out: Array<ThroughputRun> = []
  for (let i = 0; i < n; i++) out.push(await run())
  return out
}

// --- throughput (the floor needs the captured watch bytes, so the server's capacity run comes first) ---
const events = settings.events
let capacity: SimCapacity | undefined
let floor: FloorResult | undefined
if (wanted("throughput-watch") || wanted("throughput-list") || wanted("floor")) {
  capacity = await scenario("server capacity (raw watch client)", () => measureSimCapacity(events, !settings.quick))
}
if (capacity !== undefined) {
  const captured = capacity
  floor = await scenario("floor", async () => measureFloor(captured.capture, settings.quick ? 1 : 5))
  rmSync(captured.capture, { force: true })
  if (floor !== undefined) {
    scenarios["floor"] = {
      ...floor,
      parse_ms: round(floor.parse_ms),
      encode_ms: round(floor.encode_ms),
      encode_own_ms: round(floor.encode_own_ms),
      gzip_ms: round(floor.gzip_ms),
      floor_events_per_s: round(floor.floor_events_per_s),
      floor_own_events_per_s: round(floor.floor_own_events_per_s),
      floor_gzip_events_per_s: round(floor.floor_gzip_events_per_s)
    }
  }
}
const floorRate = floor?.floor_events_per_s
const floorGzipRate = floor?.floor_gzip_events_per_s
const withFloor = (s: Summary, gzip: boolean) => {
  const f = gzip ? floorGzipRate : floorRate
  return {
    events_per_s: s.events_per_s,
    floor_events_per_s: f === undefined ? null : round(f),
    ratio_to_floor: f === undefined ? null : round(s.events_per_s / f, 3),
    cpu_s_per_10k: s.cpu_s_per_10k,
    peak_rss_mb: s.peak_rss_mb,
    export_requests_per_100k: s.export_requests_per_100k
  }
}

if (wanted("throughput-watch")) {
  const none = await scenario("throughput-watch (--otlp-compression none)", () =>
    repeat(settings.repeats, () => runWatchThroughput({ events, compression: "none" }))
  )
  const gzip = settings.gzip
    ? await scenario("throughput-watch (gzip)", () =>
        repeat(settings.repeats, () => runWatchThroughput({ events, compression: "gzip" }))
      )
    : undefined
  const enrichmentOff = settings.quick
    ? undefined
    : await scenario("throughput-watch (--enrichment off)", () =>
        repeat(settings.repeats, () =>
          runWatchThroughput({ events, compression: "none", extraArgs: ["--enrichment", "off"] })
        )
      )
  // From the sources whatever the run's runtime: in the bundle every frame is in one file, with no package to name.
  const profiled = settings.profile
    ? await scenario("throughput-watch, profiled", () =>
        runWatchThroughput({ events, compression: "none", profileDir: profileDir("watch"), runtime: SOURCES })
      )
    : undefined
  if (none !== undefined) {
    const s = summarise(none)
    scenarios["throughput-watch"] = {
      ...withFloor(s, false),
      events: events,
      compression: "none",
      repeats: settings.repeats,
      runs: s.runs,
      ...(gzip === undefined ? {} : { gzip: { ...withFloor(summarise(gzip), true), runs: summarise(gzip).runs } }),
      ...(enrichmentOff === undefined
        ? {}
        : { enrichment_off: { ...withFloor(summarise(enrichmentOff), false), runs: summarise(enrichmentOff).runs } }),
      ...(capacity === undefined
        ? {}
        : {
            server_capacity: {
              count_events_per_s: round(capacity.count_events_per_s),
              ...(capacity.parse_events_per_s === undefined
                ? {}
                : { parse_events_per_s: round(capacity.parse_events_per_s) }),
              bytes: capacity.bytes
            }
          }),
      ...(profiled?.profile === undefined
        ? {}
        : {
            profile: {
              events_per_s_while_profiled: round(profiled.events_per_s),
              busy_ms: round(profiled.profile.busyMs),
              packages: profiled.profile.packages
                .slice(0, 15)
                .map((l) => ({ ...l, selfMs: round(l.selfMs), pct: round(l.pct, 1) })),
              functions: profiled.profile.functions
                .slice(0, 25)
                .map((l) => ({ ...l, selfMs: round(l.selfMs), pct: round(l.pct, 1) })),
              inclusive: profiled.profile.inclusive
                .slice(0, 20)
                .map((l) => ({ ...l, selfMs: round(l.selfMs), pct: round(l.pct, 1) }))
            }
          })
    }
    if (profiled?.profile !== undefined)
      process.stdout.write(
        `\nprofile of the collector during throughput-watch:\n${formatProfile(profiled.profile)}\n\n`
      )
  }
}

if (wanted("throughput-list")) {
  const none = await scenario("throughput-list (--otlp-compression none)", () =>
    repeat(settings.repeats, () => runListThroughput({ events, compression: "none" }))
  )
  const gzip =
    settings.gzip && !settings.quick
      ? await scenario("throughput-list (gzip)", () =>
          repeat(settings.repeats, () => runListThroughput({ events, compression: "gzip" }))
        )
      : undefined
  if (none !== undefined) {
    const s = summarise(none)
    scenarios["throughput-list"] = {
      ...withFloor(s, false),
      events,
      compression: "none",
      repeats: settings.repeats,
      runs: s.runs,
      ...(gzip === undefined ? {} : { gzip: { ...withFloor(summarise(gzip), true), runs: summarise(gzip).runs } })
    }
  }
}

if (wanted("latency")) {
  const r = await scenario("latency", () =>
    measureLatency(settings.latencyRate, settings.latencySeconds, settings.pollIntervalSeconds, !settings.quick)
  )
  if (r !== undefined) {
    scenarios["latency"] = {
      p50_ms: round(r.default.p50_ms),
      p99_ms: round(r.default.p99_ms),
      max_ms: round(r.default.max_ms),
      linger50_p50_ms: round(r.linger50.p50_ms),
      linger50_p99_ms: round(r.linger50.p99_ms),
      linger50_max_ms: round(r.linger50.max_ms),
      // Records created 5 s or more into the stream: the enrichment cache is warm by then.
      warm_p50_ms: round(r.default_warm.p50_ms),
      warm_p99_ms: round(r.default_warm.p99_ms),
      warm_max_ms: round(r.default_warm.max_ms),
      linger50_warm_p99_ms: round(r.linger50_warm.p99_ms),
      requests_per_100k: round(r.default_requests_per_100k),
      quiet_rate_per_s: r.quiet.rate_per_s,
      quiet_p50_ms: round(r.quiet.p50_ms, 1),
      quiet_p99_ms: round(r.quiet.p99_ms, 1),
      quiet_max_ms: round(r.quiet.max_ms, 1),
      quiet_requests_per_100k: round(r.quiet.requests_per_100k),
      round_trip_p50_ms: round(r.round_trip.p50_ms, 2),
      round_trip_p99_ms: round(r.round_trip.p99_ms, 2),
      round_trip_max_ms: round(r.round_trip.max_ms, 2),
      ...(r.enrichment_off === undefined
        ? {}
        : {
            enrichment_off_p50_ms: round(r.enrichment_off.p50_ms),
            enrichment_off_p99_ms: round(r.enrichment_off.p99_ms),
            enrichment_off_max_ms: round(r.enrichment_off.max_ms)
          }),
      // Only a 60 s poll fills the field; a shortened one (--quick) is reported under its own interval.
      poll60_p99_ms: r.poll.interval_s === 60 ? round(r.poll.p99_ms) : null,
      poll_interval_s: r.poll.interval_s,
      poll_p50_ms: round(r.poll.p50_ms),
      poll_p99_ms: round(r.poll.p99_ms),
      poll_max_ms: round(r.poll.max_ms),
      rate_per_s: r.rate_per_s,
      achieved_rate_per_s: round(r.achieved_rate_per_s),
      duration_s: r.duration_s,
      records: r.default.records
    }
  }
}

if (wanted("memory")) {
  const r = await scenario("memory", () =>
    measureMemory({
      live: settings.memoryLive,
      churnPerS: settings.churnRate,
      seconds: settings.memorySeconds,
      warmupSeconds: settings.memoryWarmupSeconds
    })
  )
  if (r !== undefined) {
    scenarios["memory"] = {
      ...r,
      peak_rss_mb: round(r.peak_rss_mb),
      rss_after_warmup_mb: round(r.rss_after_warmup_mb),
      rss_end_mb: round(r.rss_end_mb),
      rss_growth_pct: round(r.rss_growth_pct, 1),
      initial_list_s: round(r.initial_list_s, 1),
      initial_load_s: round(r.initial_load_s, 1)
    }
  }
  // The curve: a collector of its own per point, its peak (the initial list) and its RSS after 10 s of churn.
  const curve: Array<Record<string, number>> = []
  for (const live of settings.memoryCurve) {
    const p = await scenario(`memory curve at ${live} live events`, () =>
      measureMemory({ live, churnPerS: settings.churnRate, seconds: 10, warmupSeconds: 5 })
    )
    if (p !== undefined) {
      curve.push({
        live_events: live,
        peak_rss_mb: round(p.peak_rss_mb),
        rss_end_mb: round(p.rss_end_mb),
        initial_list_s: round(p.initial_list_s, 1)
      })
    }
  }
  if (curve.length > 0) scenarios["memory"] = { ...(scenarios["memory"] as object | undefined), rss_curve: curve }
}

if (wanted("resume")) {
  const r = await scenario("resume", () => measureResume(settings.resumeEvents))
  if (r !== undefined) {
    const relist = (x: typeof r.late_410) => ({
      ...x,
      relist_s: round(x.relist_s, 1),
      peak_rss_mb: round(x.peak_rss_mb)
    })
    scenarios["resume"] = {
      ...r,
      first_export_s: round(r.first_export_s, 2),
      first_run_export_s: round(r.first_run_export_s, 2),
      stop_s: round(r.stop_s, 2),
      first_run_peak_rss_mb: round(r.first_run_peak_rss_mb),
      late_410: relist(r.late_410),
      restart_after_compaction: relist(r.restart_after_compaction)
    }
  }
}

if (wanted("soak")) {
  // The quick form: 4 minutes with every disruption at least once; the full one: 30 with each several times.
  const q = settings.quick
  const r = await scenario("soak", () =>
    measureSoak(
      {
        live: settings.soakLive,
        churnPerS: settings.churnRate,
        seconds: settings.soakSeconds,
        // After the first round of disruptions: the first backend outage ends at 120 s (quick) or 282 s.
        warmupSeconds: q ? 135 : 300,
        restartEverySeconds: q ? 60 : 240,
        restartDownMs: 3000,
        late410EverySeconds: q ? 50 : 150,
        watchDropEverySeconds: q ? 25 : 45,
        outageEverySeconds: q ? 150 : 420,
        outageMs: 30_000,
        checkpointIntervalS: 1
      },
      log
    )
  )
  if (r !== undefined) {
    scenarios["soak"] = {
      ...r,
      initial_list_s: round(r.initial_list_s, 1),
      drain_s: round(r.drain_s, 1),
      rss_start_mb: round(r.rss_start_mb, 1),
      rss_peak_after_warmup_mb: round(r.rss_peak_after_warmup_mb, 1),
      rss_end_mb: round(r.rss_end_mb, 1),
      rss_growth_pct: round(r.rss_growth_pct, 1),
      peak_rss_mb: round(r.peak_rss_mb, 1),
      cpu_s: round(r.cpu_s, 1),
      kill: {
        ...r.kill,
        restart_to_first_record_s: round(r.kill.restart_to_first_record_s, 2),
        stop_s: round(r.kill.stop_s, 2)
      }
    }
  }
}

if (wanted("coldstart")) {
  const runs: Array<ColdStartRun> = []
  for (const design of DESIGNS) {
    const r = await scenario(`coldstart (${design.design})`, () => measureColdStart(design))
    if (r !== undefined) {
      runs.push({
        ...r,
        first_record_s: round(r.first_record_s, 2),
        last_record_s: round(r.last_record_s, 2),
        peak_rss_mb: round(r.peak_rss_mb)
      })
    }
  }
  scenarios["coldstart"] = { runs, with_owner_pct: runs.map((r) => round((100 * r.with_owner) / r.records, 1)) }
}

if (wanted("footprint")) {
  const r = await scenario("footprint", () =>
    measureFootprint({ repeats: settings.quick ? 1 : 3, events, probes: true })
  )
  if (r !== undefined) {
    const rounded = (m: Readonly<Record<string, number>>, d = 0) =>
      Object.fromEntries(Object.entries(m).map(([k, v]) => [k, round(v, d)]))
    scenarios["footprint"] = {
      import_rss_mb: rounded(r.import_rss_mb),
      import_ms: rounded(r.import_ms),
      variants: Object.fromEntries(
        Object.entries(r.variants).map(([k, v]) => [
          k,
          {
            idle_rss_mb: round(v.idle_rss_mb),
            startup_cpu_s: round(v.startup_cpu_s, 2),
            watch_events_per_s: round(v.watch_events_per_s),
            watch_cpu_s_per_10k: round(v.watch_cpu_s_per_10k, 3),
            watch_peak_rss_mb: round(v.watch_peak_rss_mb)
          }
        ])
      )
    }
  }
}

// --- targets, table, JSON ---
const get = (scenario: string, field: string): number | null => {
  const s = scenarios[scenario]
  if (typeof s !== "object" || s === null) return null
  const v = (s as Record<string, unknown>)[field]
  return typeof v === "number" ? v : null
}

if (wanted("peers")) {
  // Ours from this run's own scenarios where they ran (the same code, the same sizes); else measured there.
  const ours = <K extends string>(name: string, fields: ReadonlyArray<K>): Record<K, number> | undefined => {
    const out: Partial<Record<K, number>> = {}
    for (const f of fields) {
      const v = get(name, f)
      if (v === null) return undefined
      out[f] = v
    }
    return out as Record<K, number>
  }
  const peers = await measurePeers(
    {
      events,
      repeats: settings.repeats,
      latencyRate: settings.latencyRate,
      latencySeconds: settings.latencySeconds,
      memory: {
        live: settings.memoryLive,
        churnPerS: settings.churnRate,
        seconds: settings.memorySeconds,
        warmupSeconds: settings.memoryWarmupSeconds
      },
      costLive: settings.costLive,
      costBurst: settings.costBurst,
      correctnessExisting: 1000
    },
    {
      throughput: ours("throughput-watch", ["events_per_s", "cpu_s_per_10k", "peak_rss_mb"]),
      latency: ours("latency", ["p50_ms", "p99_ms", "max_ms"]),
      memory: ours("memory", ["peak_rss_mb", "rss_end_mb", "rss_after_warmup_mb"])
    },
    scenario
  )
  scenarios["peers"] = { peer: PEER, ratio: "ours ÷ peer", ...peers }
}

/** The share of records with the owner chain in the cold start of the default design. */
function coldStartPct(): number | null {
  const c = scenarios["coldstart"] as { readonly runs: ReadonlyArray<ColdStartRun> } | undefined
  const r = c?.runs.find((x) => x.args.length === 0)
  return r === undefined ? null : round((100 * r.with_owner) / r.records, 1)
}

/** What a relist of the resume scenario re-sent. */
function resumeResent(phase: "late_410" | "restart_after_compaction"): number | null {
  const r = scenarios["resume"] as Record<string, { readonly resent: number } | undefined> | undefined
  return r?.[phase]?.resent ?? null
}

/** How many times the soak's collector exited without being asked to. */
function soakExits(): number | null {
  const s = scenarios["soak"] as { readonly unexplained_exits: ReadonlyArray<unknown> } | undefined
  return s === undefined ? null : s.unexplained_exits.length
}

interface Target {
  readonly name: string
  readonly target: string
  readonly value: number | null
  readonly met: boolean | null
}
const target = (name: string, text: string, value: number | null, ok: (v: number) => boolean): Target => ({
  name,
  target: text,
  value,
  met: value === null ? null : ok(value)
})
const targets: Array<Target> = [
  target("throughput-watch events/s", ">= 50000", get("throughput-watch", "events_per_s"), (v) => v >= 50_000),
  target("throughput-watch ratio to floor", ">= 0.5", get("throughput-watch", "ratio_to_floor"), (v) => v >= 0.5),
  target("latency p99 (default settings)", "<= 100 ms", get("latency", "p99_ms"), (v) => v <= 100),
  target("memory peak RSS (200 000 live)", "<= 150 MB", get("memory", "peak_rss_mb"), (v) => v <= 150),
  target("memory RSS growth after warm-up", "~0 % (<= 5 %)", get("memory", "rss_growth_pct"), (v) => v <= 5),
  target("resume first export", "<= 2 s", get("resume", "first_export_s"), (v) => v <= 2),
  target("resume records re-sent", "0", get("resume", "resent"), (v) => v === 0),
  target("resume: a late 410 re-sends", "0", resumeResent("late_410"), (v) => v === 0),
  target("resume: a relist on restart re-sends", "0", resumeResent("restart_after_compaction"), (v) => v === 0),
  target("coldstart records with the owner chain", "100 %", coldStartPct(), (v) => v === 100),
  target("soak occurrences lost", "0", get("soak", "lost"), (v) => v === 0),
  target("soak duplicates (before the SIGKILL)", "0", get("soak", "duplicates"), (v) => v === 0),
  target("soak RSS growth after warm-up", "< 5 %", get("soak", "rss_growth_pct"), (v) => v < 5),
  target("soak unexplained exits", "0", soakExits(), (v) => v === 0)
]

const fmt = (v: unknown): string =>
  v === null || v === undefined ? "-" : typeof v === "number" ? v.toLocaleString("en-US") : String(v)
const rows: Array<[string, string, string]> = []
const row = (scenario: string, figure: string, value: unknown) => rows.push([scenario, figure, fmt(value)])
for (const name of ["throughput-watch", "throughput-list"]) {
  const s = scenarios[name] as Record<string, unknown> | undefined
  if (s === undefined) continue
  row(name, "events/s (compression none)", s["events_per_s"])
  row(name, "ratio to floor", s["ratio_to_floor"])
  row(name, "CPU s per 10k events", s["cpu_s_per_10k"])
  row(name, "peak RSS MB", s["peak_rss_mb"])
  row(name, "export requests per 100k events", s["export_requests_per_100k"])
  const g = s["gzip"] as Record<string, unknown> | undefined
  if (g !== undefined) {
    row(name, "events/s (gzip)", g["events_per_s"])
    row(name, "ratio to floor with gzip", g["ratio_to_floor"])
    row(name, "CPU s per 10k (gzip)", g["cpu_s_per_10k"])
  }
  const off = s["enrichment_off"] as Record<string, unknown> | undefined
  if (off !== undefined) {
    row(name, "events/s (--enrichment off)", off["events_per_s"])
    row(name, "CPU s per 10k (--enrichment off)", off["cpu_s_per_10k"])
  }
  const c = s["server_capacity"] as Record<string, unknown> | undefined
  if (c !== undefined) {
    row(name, "server → line-counting client, events/s", c["count_events_per_s"])
    if (c["parse_events_per_s"] !== undefined)
      row(name, "server → JSON.parse client, events/s", c["parse_events_per_s"])
  }
}
const fl = scenarios["floor"] as Record<string, unknown> | undefined
if (fl !== undefined) {
  row("floor", "events/s (JSON.parse + protobuf)", fl["floor_events_per_s"])
  row("floor", "events/s (+ gzip)", fl["floor_gzip_events_per_s"])
  row("floor", "events/s with the collector's own encoder", fl["floor_own_events_per_s"])
  row(
    "floor",
    "parse / encode (exporter's, own) / gzip ms per 100k",
    `${fmt(fl["parse_ms"])} / ${fmt(fl["encode_ms"])}, ${fmt(fl["encode_own_ms"])} / ${fmt(fl["gzip_ms"])}`
  )
}
const la = scenarios["latency"] as Record<string, unknown> | undefined
if (la !== undefined) {
  row(
    "latency",
    `p50 / p99 / max ms (${fmt(la["rate_per_s"])}/s, ${fmt(la["duration_s"])} s)`,
    `${fmt(la["p50_ms"])} / ${fmt(la["p99_ms"])} / ${fmt(la["max_ms"])}`
  )
  row(
    "latency",
    "  the same, created 5 s or more into the run",
    `${fmt(la["warm_p50_ms"])} / ${fmt(la["warm_p99_ms"])} / ${fmt(la["warm_max_ms"])}`
  )
  row(
    "latency",
    "--batch-linger 50ms p50 / p99 / max ms",
    `${fmt(la["linger50_p50_ms"])} / ${fmt(la["linger50_p99_ms"])} / ${fmt(la["linger50_max_ms"])}`
  )
  row("latency", "  --batch-linger 50ms p99, created 5 s or more into the run", la["linger50_warm_p99_ms"])
  row("latency", "export requests per 100k events (default settings)", la["requests_per_100k"])
  row(
    "latency",
    `quiet (${fmt(la["quiet_rate_per_s"])}/s) p50 / p99 / max ms`,
    `${fmt(la["quiet_p50_ms"])} / ${fmt(la["quiet_p99_ms"])} / ${fmt(la["quiet_max_ms"])}`
  )
  row(
    "latency",
    "  round trip (empty OTLP request) p50 / p99 / max ms",
    `${fmt(la["round_trip_p50_ms"])} / ${fmt(la["round_trip_p99_ms"])} / ${fmt(la["round_trip_max_ms"])}`
  )
  if (la["enrichment_off_p99_ms"] !== undefined) {
    row(
      "latency",
      "--enrichment off p50 / p99 / max ms",
      `${fmt(la["enrichment_off_p50_ms"])} / ${fmt(la["enrichment_off_p99_ms"])} / ${fmt(la["enrichment_off_max_ms"])}`
    )
  }
  row(
    "latency",
    `--mode poll (${fmt(la["poll_interval_s"])} s) p50 / p99 / max ms`,
    `${fmt(la["poll_p50_ms"])} / ${fmt(la["poll_p99_ms"])} / ${fmt(la["poll_max_ms"])}`
  )
}
const me = scenarios["memory"] as Record<string, unknown> | undefined
if (me !== undefined) {
  row(
    "memory",
    `peak RSS MB (${fmt(me["live_events_at_start"])} live, ${fmt(me["churn_per_s"])}/s, ${fmt(me["duration_s"])} s)`,
    me["peak_rss_mb"]
  )
  row(
    "memory",
    `RSS MB after ${fmt(me["warmup_s"])} s / at end`,
    `${fmt(me["rss_after_warmup_mb"])} / ${fmt(me["rss_end_mb"])}`
  )
  row("memory", "RSS growth after warm-up %", me["rss_growth_pct"])
  const curve = me["rss_curve"]
  if (Array.isArray(curve)) {
    for (const p of curve as ReadonlyArray<Record<string, number>>) {
      row(
        "memory",
        `${fmt(p["live_events"])} live: peak / after 10 s of churn MB`,
        `${fmt(p["peak_rss_mb"])} / ${fmt(p["rss_end_mb"])}`
      )
    }
  }
}
const re = scenarios["resume"] as Record<string, unknown> | undefined
if (re !== undefined) {
  row("resume", `first export after restart s (${fmt(re["live_events"])} live)`, re["first_export_s"])
  row("resume", "records re-sent", re["resent"])
  for (const [name, label] of [
    ["late_410", "a late 410"],
    ["restart_after_compaction", "a restart, checkpoint compacted away"]
  ] as const) {
    const x = re[name] as Record<string, unknown> | undefined
    if (x === undefined) continue
    row(
      "resume",
      `${label}: re-sent / lost / records / relist s / peak RSS MB`,
      `${fmt(x["resent"])} / ${fmt(x["lost"])} / ${fmt(x["records"])} / ${fmt(x["relist_s"])} / ${fmt(x["peak_rss_mb"])}`
    )
  }
}
const so = scenarios["soak"] as Record<string, unknown> | undefined
if (so !== undefined) {
  const k = so["kill"] as Record<string, unknown>
  row(
    "soak",
    `${fmt(so["live_events_at_start"])} live, ${fmt(so["churn_per_s"])}/s, ${fmt(so["duration_s"])} s: occurrences`,
    so["occurrences"]
  )
  row(
    "soak",
    "lost / duplicates / records of no occurrence",
    `${fmt(so["lost"])} / ${fmt(so["duplicates"])} / ${fmt(so["unexpected"])}`
  )
  const ld = so["lost_detail"] as Record<string, unknown> | undefined
  if (ld !== undefined)
    row("soak", "lost: latest write / superseded", `${fmt(ld["latest"])} / ${fmt(ld["superseded"])}`)
  row(
    "soak",
    "RSS MB after warm-up / peak after it / at the end (growth %)",
    `${fmt(so["rss_start_mb"])} / ${fmt(so["rss_peak_after_warmup_mb"])} / ${fmt(so["rss_end_mb"])} (${fmt(so["rss_growth_pct"])})`
  )
  row("soak", "peak RSS MB (VmHWM, initial list included)", so["peak_rss_mb"])
  row("soak", "disruptions", JSON.stringify(so["disruption_counts"]))
  row("soak", "relists / watch requests", `${fmt(so["relists"])} / ${fmt(so["watch_requests"])}`)
  row("soak", "unexplained exits", (so["unexplained_exits"] as ReadonlyArray<unknown>).length)
  row(
    "soak",
    "SIGKILL: re-sent (bound) / lost / SIGTERM exit code",
    `${fmt(k["resent"])} (${fmt(k["bound"])}) / ${fmt(k["lost"])} / ${fmt(k["stop_exit_code"])}`
  )
}
const cs = scenarios["coldstart"] as { readonly runs: ReadonlyArray<ColdStartRun> } | undefined
for (const r of cs?.runs ?? []) {
  row(
    "coldstart",
    `${r.design}: records with owners / first s / last s / peak RSS MB`,
    `${fmt(r.with_owner)} of ${fmt(r.records)} / ${fmt(r.first_record_s)} / ${fmt(r.last_record_s)} / ${fmt(r.peak_rss_mb)}`
  )
  row(
    "coldstart",
    `${r.design}: lists / watches / GETs`,
    `${fmt(r.enrichment_lists)} / ${fmt(r.enrichment_watches)} / ${fmt(r.enrichment_gets)}`
  )
}
const fp = scenarios["footprint"] as { variants: Record<string, Record<string, number>> } | undefined
if (fp !== undefined) {
  for (const [name, v] of Object.entries(fp.variants)) {
    row(
      "footprint",
      `${name}: idle RSS MB / watch peak RSS MB / watch events/s`,
      `${fmt(v["idle_rss_mb"])} / ${fmt(v["watch_peak_rss_mb"])} / ${fmt(v["watch_events_per_s"])}`
    )
  }
}

const w0 = Math.max(...rows.map((r) => r[0].length), 8)
const w1 = Math.max(...rows.map((r) => r[1].length), 6)
process.stdout.write(`\n${"scenario".padEnd(w0)}  ${"figure".padEnd(w1)}  value\n${"-".repeat(w0 + w1 + 16)}\n`)
for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}\n`)
const pe = scenarios["peers"] as Record<string, unknown> | undefined
if (pe !== undefined) process.stdout.write(`\n${peersTable(pe)}`)
process.stdout.write(`\ntargets:\n`)
for (const t of targets) {
  process.stdout.write(
    `  ${t.met === null ? "n/a " : t.met ? "met " : "MISS"}  ${t.name.padEnd(36)} ${t.target.padEnd(14)} ${fmt(t.value)}\n`
  )
}
if (settings.quick) {
  process.stdout.write(
    "\n--quick: one run per throughput figure, 10 s of latency with a 10 s poll (not 60 s), 30 s of memory churn.\n"
  )
}

const result = {
  machine: { ...machine, loadavg_at_end: loadavg().map((x) => round(x, 2)) },
  run: {
    quick: settings.quick,
    started_at: new Date(startedAt).toISOString(),
    collector,
    duration_s: round((Date.now() - startedAt) / 1000),
    settings: { ...settings, only: [...settings.only] }
  },
  scenarios,
  targets,
  ...(Object.keys(errors).length === 0 ? {} : { errors })
}
const out = resolve(REPO, settings.out)
mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
process.stdout.write(`\nwrote ${out} (${round((Date.now() - startedAt) / 1000)} s)\n`)
if (process.env["BENCH_KEEP_SCRATCH"] === undefined) rmSync(scratch(), { recursive: true, force: true })
process.exit(Object.keys(errors).length === 0 ? 0 : 1)

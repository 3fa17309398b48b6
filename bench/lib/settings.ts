/** What one `npm run bench` does: the scenarios, their sizes and durations, from the command line. */

const SCENARIOS = [
  "throughput-watch",
  "throughput-list",
  "floor",
  "latency",
  "memory",
  "resume",
  "coldstart",
  "footprint",
  "peers",
  "soak"
] as const
export type ScenarioName = (typeof SCENARIOS)[number]

export interface BenchSettings {
  readonly quick: boolean
  readonly out: string
  readonly only: ReadonlySet<ScenarioName>
  /** Events per throughput run and for the floor. */
  readonly events: number
  /** Runs per throughput measurement (the median is reported). */
  readonly repeats: number
  /** Also measure throughput with the default gzip compression (the headline runs use none). */
  readonly gzip: boolean
  /** Profile one extra throughput-watch run with --cpu-prof and summarise it. */
  readonly profile: boolean
  readonly latencySeconds: number
  readonly latencyRate: number
  readonly pollIntervalSeconds: number
  readonly memorySeconds: number
  readonly memoryWarmupSeconds: number
  readonly memoryLive: number
  /** Live events at start of each point of the RSS curve (each a collector of its own, 10 s of churn). */
  readonly memoryCurve: ReadonlyArray<number>
  readonly churnRate: number
  readonly resumeEvents: number
  /**
   * Run every collector as `node src/main.ts` (V8's default heap sizes) instead of what the image ships: the
   * bundle scripts/build.ts makes, with its NODE_FLAGS.
   */
  readonly sources: boolean
  /** Node/V8 flags for every collector process instead of the runtime's own (undefined: its own). */
  readonly nodeOptions: ReadonlyArray<string> | undefined
  /** Collector flags for every collector process (before the scenario's own), e.g. `--enrichment-timeout 100ms`. */
  readonly collectorArgs: ReadonlyArray<string>
  /** Live events of the peers' cost-growth runs, and the burst created after they are read. */
  readonly costLive: ReadonlyArray<number>
  readonly costBurst: number
  /** Seconds of the soak's churn, and its live events; the soak runs only when named in `--only`. */
  readonly soakSeconds: number
  readonly soakLive: number
}

const USAGE = `npm run bench -- [options]
  --quick                  a run under two minutes: one repeat, no gzip or --enrichment off runs, 10 s of
                           latency with a 10 s poll, 30 s of memory churn, no profile, no footprint
  --out PATH               where to write the JSON (default bench/results.json)
  --only a,b               only these scenarios: ${SCENARIOS.join(", ")}
  --repeats N              throughput runs per figure (default 3, quick 1)
  --events N               events per throughput run (default 100000)
  --no-gzip / --gzip       skip / add the throughput runs with gzip compression (default: full runs only)
  --profile / --no-profile profile one extra throughput-watch run (node --cpu-prof) and summarise it
                           (default: full runs only); it runs the sources, so that frames name their package
  --latency-duration S     seconds of events at --latency-rate (default 30, quick 10)
  --latency-rate N         events per second (default 1000)
  --poll-interval S        poll mode interval measured beside the watch (default 60, quick 10)
  --memory-duration S      seconds of churn (default 300, quick 30)
  --memory-warmup S        RSS is compared with its value this long into the churn (default 60, quick 10)
  --memory-live N          live events at start (default 200000)
  --memory-curve N,N,...   also the peak and end RSS at these live events, 10 s of churn each (default
                           10000,100000,200000,500000; quick: none); "none" for none
  --churn-rate N           changes per second: creations, repeats, expiries (default 1000)
  --resume-events N        live events in the resume scenario (default 500000, quick 100000)
  --sources                run the collector as \`node src/main.ts\` with V8's default heap sizes, instead of
                           what the image ships: the bundle \`npm run build\` makes (built here into a scratch
                           directory), run with the V8 flags in scripts/build.ts (NODE_FLAGS)
  --node-options "FLAGS"   Node/V8 flags for every collector process instead of those ("" for none),
                           e.g. "--max-semi-space-size=16 --max-old-space-size=128"
  --collector-args "FLAGS" collector flags for every collector process, e.g. "--enrichment-timeout 100ms"
  --peers                  the peers scenario alone (the same as --only peers; the full run has it too), or
                           with --quick, added to the quick run: the OpenTelemetry Collector's k8s_events
                           receiver beside ours (throughput-watch, latency, memory, cost growth, correctness)
  --cost-live N,N          live events of the peers' cost-growth runs (default 10000,100000,500000;
                           quick 10000,50000)
  --cost-burst N           events created after the live set is read (default 20000, quick 10000)
  --soak-duration S        seconds of the soak's churn (default 1800, quick 240); the soak runs only when named:
                           \`--only soak\` (with --quick: the short form)
  --soak-live N            live events of the soak (default 200000)
Environment: BENCH_KEEP_SCRATCH=1 keeps the scratch directory (kubeconfigs, the bundle, --profile's .cpuprofile)
for a closer look, e.g. \`node bench/lib/profile.ts FILE.cpuprofile 40 SKIP_MS\`.
`

const num = (flag: string, text: string | undefined): number => {
  const n = Number(text)
  if (text === undefined || !Number.isFinite(n) || n <= 0)
    throw new Error(`${flag} needs a positive number, got ${text}\n\n${USAGE}`)
  return n
}

export const parseSettings = (argv: ReadonlyArray<string>): BenchSettings | "help" => {
  const flags = new Map<string, string | undefined>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}\n\n${USAGE}`)
    const eq = a.indexOf("=")
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1))
    else if (["quick", "no-gzip", "gzip", "profile", "no-profile", "help", "sources", "peers"].includes(a.slice(2)))
      flags.set(a.slice(2), undefined)
    else flags.set(a.slice(2), argv[++i])
  }
  if (flags.has("help")) return "help"
  const known = new Set([
    "quick",
    "out",
    "only",
    "repeats",
    "events",
    "no-gzip",
    "gzip",
    "profile",
    "no-profile",
    "latency-duration",
    "latency-rate",
    "poll-interval",
    "memory-duration",
    "memory-warmup",
    "memory-live",
    "memory-curve",
    "churn-rate",
    "resume-events",
    "sources",
    "node-options",
    "collector-args",
    "peers",
    "cost-live",
    "cost-burst",
    "soak-duration",
    "soak-live"
  ])
  for (const k of flags.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}\n\n${USAGE}`)
  const quick = flags.has("quick")
  const get = (flag: string, full: number, quickValue: number) =>
    flags.has(flag) ? num(`--${flag}`, flags.get(flag)) : quick ? quickValue : full
  const onlyText = flags.get("only")
  const only = new Set<ScenarioName>()
  // The footprint probes take most of a minute; --quick leaves them out unless asked for by name, and the peers
  // unless --peers. The soak (30 minutes, or 4 with --quick) only when asked for by name.
  const defaults = quick
    ? SCENARIOS.filter((x) => x !== "footprint" && x !== "soak" && (x !== "peers" || flags.has("peers")))
    : SCENARIOS.filter((x) => x !== "soak")
  const alone = onlyText === undefined && !quick && flags.has("peers") ? ["peers"] : undefined
  for (const s of alone ?? (onlyText === undefined ? defaults : onlyText.split(","))) {
    const name = SCENARIOS.find((x) => x === s.trim())
    if (name === undefined) throw new Error(`unknown scenario ${s}; known: ${SCENARIOS.join(", ")}`)
    only.add(name)
  }
  return {
    quick,
    out: flags.get("out") ?? "bench/results.json",
    only,
    events: get("events", 100_000, 100_000),
    repeats: get("repeats", 3, 1),
    gzip: !flags.has("no-gzip") && (!quick || flags.has("gzip")),
    profile: flags.has("profile") || (!quick && !flags.has("no-profile")),
    latencySeconds: get("latency-duration", 30, 10),
    latencyRate: get("latency-rate", 1000, 1000),
    pollIntervalSeconds: get("poll-interval", 60, 10),
    memorySeconds: get("memory-duration", 300, 30),
    memoryWarmupSeconds: get("memory-warmup", 60, 10),
    memoryLive: get("memory-live", 200_000, 200_000),
    memoryCurve: curve(flags.get("memory-curve") ?? (quick ? "none" : "10000,100000,200000,500000")),
    churnRate: get("churn-rate", 1000, 1000),
    resumeEvents: get("resume-events", 500_000, 100_000),
    sources: flags.has("sources"),
    nodeOptions: flags.has("node-options")
      ? (flags.get("node-options") ?? "").split(/\s+/).filter((x) => x !== "")
      : undefined,
    collectorArgs: (flags.get("collector-args") ?? "").split(/\s+/).filter((x) => x !== ""),
    costLive: flags.has("cost-live")
      ? (flags.get("cost-live") ?? "").split(",").map((x) => num("--cost-live", x))
      : quick
        ? [10_000, 50_000]
        : [10_000, 100_000, 500_000],
    costBurst: get("cost-burst", 20_000, 10_000),
    soakSeconds: get("soak-duration", 1800, 240),
    soakLive: get("soak-live", 200_000, 200_000)
  }
}

/** `--memory-curve`: whole numbers separated by commas, or "none". */
const curve = (text: string): ReadonlyArray<number> =>
  text.trim() === "none" ? [] : text.split(",").map((n) => num("--memory-curve", n.trim()))

export const usage = USAGE

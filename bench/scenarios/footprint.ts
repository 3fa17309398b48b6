/**
 * footprint: what the collector's RSS is before it has read a single event, and where it comes from. Each probe
 * is a fresh process that imports one module and idles (bench/lib/idle.ts); then the real collector idles on an
 * empty server, from the sources (Node strips the types at load) and from the bundle scripts/build.ts makes,
 * each with V8's default heap sizes and with other flags (the bundle: the shipped NODE_FLAGS); and
 * throughput-watch runs of those variants, to show what each costs or saves under load. The bundle is built
 * into the scratch directory; nothing in the repository changes.
 */
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { buildCollector, NODE_ENV_DEFAULTS, NODE_FLAGS } from "../../scripts/build.ts"
import { startSimServer } from "@k8s-event-collector/sim"
import { REPO, type Runtime, scratch, SOURCES, startCollector } from "../lib/collector.ts"
import { startReceiver } from "../lib/receiver.ts"
import { median, sleep, until } from "../lib/stats.ts"
import { runWatchThroughput } from "./throughput.ts"

export interface FootprintResult {
  /** RSS of a Node process that imported only this module and idled 1.5 s, MB (median of 3). */
  readonly import_rss_mb: Readonly<Record<string, number>>
  readonly import_ms: Readonly<Record<string, number>>
  /**
   * By variant (sources / bundle, default heap sizes / other flags): RSS of the collector
   * connected to an empty server, 3 s after its watch opened; its CPU seconds to get there; and a
   * throughput-watch run (median of the repeats).
   */
  readonly variants: Readonly<Record<string, VariantFigures>>
}

interface VariantFigures {
  readonly idle_rss_mb: number
  readonly startup_cpu_s: number
  readonly watch_events_per_s: number
  readonly watch_cpu_s_per_10k: number
  readonly watch_peak_rss_mb: number
}

const PROBES: ReadonlyArray<readonly [label: string, module: string]> = [
  ["node (nothing imported)", ""],
  ["effect", "effect"],
  ["@kubernetes/client-node", "@kubernetes/client-node"],
  ["@effect/platform-node", "@effect/platform-node"],
  ["@opentelemetry/exporter-logs-otlp-proto", "@opentelemetry/exporter-logs-otlp-proto"],
  ["src/app/kube.ts (all of the collector but the demo)", "./src/app/kube.ts"]
]

const probe = (module: string): { rssMb: number; importMs: number } => {
  const out = execFileSync(process.execPath, ["bench/lib/idle.ts", module], { cwd: REPO, encoding: "utf8" })
  return JSON.parse(out) as { rssMb: number; importMs: number }
}

const idleCollector = async (runtime: Runtime): Promise<{ rssMb: number; cpuS: number }> => {
  const sim = await startSimServer()
  const receiver = await startReceiver()
  const collector = startCollector({ simUrl: sim.url, otlpUrl: receiver.url, runtime })
  try {
    await until("the collector's watch", () => sim.requests.count({ verb: "watch", resource: "events" }) > 0, 60_000)
    await sleep(3000)
    const s = collector.sample()
    if (s === undefined) throw new Error(`the collector exited:\n${collector.log}`)
    return { rssMb: s.rssMb, cpuS: s.cpuS }
  } finally {
    await collector.stop()
    await receiver.close()
    await sim.close()
  }
}

export const measureFootprint = async (o: {
  readonly repeats: number
  readonly events: number
  readonly probes: boolean
}): Promise<FootprintResult> => {
  const rss: Record<string, number> = {}
  const ms: Record<string, number> = {}
  if (o.probes) {
    for (const [label, module] of PROBES) {
      const runs = Array.from({ length: o.repeats }, () => probe(module))
      rss[label] = median(runs.map((r) => r.rssMb))
      ms[label] = median(runs.map((r) => r.importMs))
    }
  }
  const bundle = (await buildCollector(join(scratch(), "footprint-dist"))).main
  const semi = ["--max-semi-space-size=16"]
  const variants: Array<readonly [string, Runtime]> = [
    ["sources", SOURCES],
    ["sources, --max-semi-space-size=16", { ...SOURCES, nodeArgs: semi }],
    ["bundle, default heap sizes", { entry: bundle, nodeArgs: [] }],
    [
      `bundle, ${NODE_FLAGS.join(" ")} (shipped)`,
      { entry: bundle, nodeArgs: NODE_FLAGS, envDefaults: NODE_ENV_DEFAULTS }
    ]
  ]
  const figures: Record<string, VariantFigures> = {}
  for (const [name, v] of variants) {
    const idle: Array<{ rssMb: number; cpuS: number }> = []
    const runs: Array<Awaited<ReturnType<typeof runWatchThroughput>>> = []
    for (let i = 0; i < o.repeats; i++) {
      idle.push(await idleCollector(v))
      runs.push(await runWatchThroughput({ events: o.events, compression: "none", runtime: v }))
    }
    figures[name] = {
      idle_rss_mb: median(idle.map((r) => r.rssMb)),
      startup_cpu_s: median(idle.map((r) => r.cpuS)),
      watch_events_per_s: median(runs.map((r) => r.events_per_s)),
      watch_cpu_s_per_10k: median(runs.map((r) => r.cpu_s_per_10k)),
      watch_peak_rss_mb: median(runs.map((r) => r.peak_rss_mb))
    }
  }
  return { import_rss_mb: rss, import_ms: ms, variants: figures }
}

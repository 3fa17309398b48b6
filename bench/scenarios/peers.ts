/**
 * peers: ours and a peer (the OpenTelemetry Collector's `k8s_events` receiver, bench/lib/peer.ts) through the
 * same scenarios, against the same simulated API server, exporting to the same counting receiver, measured the
 * same way (each collector's own process in /proc).
 *
 * - throughput-watch, latency, memory: the scenarios of bench/scenarios/ with the peer launched instead of ours;
 *   ours come from the same run's scenarios when they ran, else are measured here.
 * - cost growth: N live events when the collector starts (10 000, 100 000, 500 000), then a burst of new ones:
 *   peak RSS, RSS once the live set is read, and CPU per event of the burst.
 * - correctness: records per event occurrence (`k8s.event.uid` and `k8s.event.count`, which both write), counted
 *   by the receiver, over four phases: events that existed before the start, new events and their repeats, a
 *   restart with changes while it was down, and a watch that ends with a 410 with changes in the gap.
 */
import { rmSync } from "node:fs"
import { join } from "node:path"
import {
  type KubeObject,
  Resources,
  type SimServer,
  startSimServer,
  type StoredKubeObject
} from "@k8s-event-collector/sim"
import { type CollectorProcess, type Launch, type ProcSample, scratch, startCollector } from "../lib/collector.ts"
import { feed, prewarm } from "../lib/load.ts"
import { startPeer } from "../lib/peer.ts"
import { type CountingReceiver, startReceiver } from "../lib/receiver.ts"
import { median, sleep, until } from "../lib/stats.ts"
import { phase } from "./latency.ts"
import { measureMemory } from "./memory.ts"
import { nextWholeSecond, runWatchThroughput, type ThroughputRun } from "./throughput.ts"

/** A collector under comparison: how to start it, what it exports, and what it needs to resume. */
export interface Subject {
  readonly name: "ours" | "peer"
  readonly launch: Launch
  /** Which of the events created while it runs it exports. */
  readonly exports: (event: KubeObject) => boolean
  /** Whether it exports the events that existed before it started (ours: each once; the peer: none). */
  readonly exportsExisting: boolean
  /** Flags for a collector that is to be restarted (ours: a checkpoint file; the peer has no equivalent). */
  readonly restartArgs: () => ReadonlyArray<string>
}

const OURS: Subject = {
  name: "ours",
  launch: startCollector,
  exports: () => true,
  exportsExisting: true,
  restartArgs: () => ["--checkpoint", `file:${join(scratch(), `peers-checkpoint-${Date.now()}.json`)}`]
}

/**
 * The peer exports an event only when its `eventTime`, else `lastTimestamp`, else `firstTimestamp` is not before
 * its own start (receiver.go, `allowEvent`): an event with none of the three (12 of the 277 real fixture events,
 * e.g. the API server's `TerminationStart`) is never exported. The bench creates events a whole second after the
 * peer started, so the start filter drops nothing else.
 */
const hasTimestamp = (e: KubeObject): boolean =>
  [e["eventTime"], e["lastTimestamp"], e["firstTimestamp"]].some((t) => typeof t === "string" && t !== "")

const PEER_SUBJECT: Subject = {
  name: "peer",
  launch: startPeer,
  exports: hasTimestamp,
  exportsExisting: false,
  restartArgs: () => []
}

// --- throughput-watch, latency, memory: the shared scenarios with the peer launched -------------------------------

export interface ThroughputFigures {
  readonly events_per_s: number
  readonly cpu_s_per_10k: number
  readonly peak_rss_mb: number
}

const throughputOf = (runs: ReadonlyArray<ThroughputRun>): ThroughputFigures => ({
  events_per_s: median(runs.map((r) => r.events_per_s)),
  cpu_s_per_10k: median(runs.map((r) => r.cpu_s_per_10k)),
  peak_rss_mb: median(runs.map((r) => r.peak_rss_mb))
})

const peerWatchThroughput = async (s: Subject, events: number, repeats: number) => {
  const runs: Array<ThroughputRun> = []
  for (let i = 0; i < repeats; i++)
    runs.push(await runWatchThroughput({ events, compression: "none", launch: s.launch, exports: s.exports }))
  return { ...throughputOf(runs), runs }
}

export interface LatencyFigures {
  readonly p50_ms: number
  readonly p99_ms: number
  readonly max_ms: number
}

const peerLatency = async (s: Subject, rate: number, seconds: number): Promise<LatencyFigures> => {
  const r = await phase(rate, seconds, [], undefined, false, s.launch)
  return { p50_ms: r.watch.p50_ms, p99_ms: r.watch.p99_ms, max_ms: r.watch.max_ms }
}

export interface MemoryFigures {
  readonly peak_rss_mb: number
  /** RSS at the end of the churn: the steady state. */
  readonly rss_end_mb: number
  readonly rss_after_warmup_mb: number
}

const peerMemory = async (
  s: Subject,
  o: { readonly live: number; readonly churnPerS: number; readonly seconds: number; readonly warmupSeconds: number }
): Promise<MemoryFigures> => {
  const r = await measureMemory({ ...o, launch: s.launch })
  return { peak_rss_mb: r.peak_rss_mb, rss_end_mb: r.rss_end_mb, rss_after_warmup_mb: r.rss_after_warmup_mb }
}

// --- helpers ---------------------------------------------------------------------------------------------------

/**
 * Resolves once the receiver has `atLeast` records (or `waitMs` went by: a collector may drop some) and then
 * none new for `quietMs` (at most `timeoutMs` in all).
 */
const settle = async (
  receiver: CountingReceiver,
  quietMs = 1500,
  timeoutMs = 120_000,
  atLeast = 0,
  waitMs = 15_000
): Promise<void> => {
  await receiver.waitFor(atLeast, waitMs).catch(() => undefined)
  const deadline = Date.now() + timeoutMs
  let seen = -1
  let since = Date.now()
  while (Date.now() < deadline) {
    if (receiver.records !== seen) {
      seen = receiver.records
      since = Date.now()
    } else if (Date.now() - since >= quietMs) return
    await sleep(100)
  }
}

const watching = (sim: SimServer, collector: CollectorProcess, timeoutMs: number) => {
  const before = sim.requests.count({ verb: "watch", resource: "events" })
  return until(
    "the collector's watch",
    () => {
      if (collector.child.exitCode !== null) throw new Error(`the collector exited:\n${collector.log}`)
      return sim.requests.count({ verb: "watch", resource: "events" }) > before
    },
    timeoutMs,
    50
  )
}

const sampleOf = (c: CollectorProcess): ProcSample => {
  const s = c.sample()
  if (s === undefined) throw new Error(`the collector exited:\n${c.log}`)
  return s
}

// --- cost growth -----------------------------------------------------------------------------------------------

export interface CostRun {
  readonly live: number
  readonly peak_rss_mb: number
  /** RSS once the live set was read (and, for ours, exported). */
  readonly rss_listed_mb: number
  /** CPU seconds from the spawn until the live set was read. */
  readonly startup_cpu_s: number
  /** CPU per 10 000 events of the burst created after that. */
  readonly cpu_s_per_10k: number
  /** Records for the live events that existed before the start. */
  readonly existing_records: number
}

/** `live` events exist when the collector starts; once it has read them, `burst` new ones are created. */
const measureCost = async (s: Subject, live: number, burst: number): Promise<CostRun> => {
  const sim = await startSimServer()
  await feed(sim, live)
  prewarm(sim)
  const receiver = await startReceiver()
  const collector = s.launch({ simUrl: sim.url, otlpUrl: receiver.url, args: ["--otlp-compression", "none"] })
  try {
    await watching(sim, collector, 300_000)
    await settle(receiver, 1500, 300_000, s.exportsExisting ? live : 0, 300_000)
    const listed = sampleOf(collector)
    const existing = receiver.records
    await nextWholeSecond()
    const seq = sim.store.resourceVersion
    await feed(sim, burst)
    let expected = 0
    for (const o of sim.store.all(Resources.events)) if (o.rv > seq && s.exports(o.object)) expected++
    await receiver.waitFor(existing + expected, 300_000)
    const end = sampleOf(collector)
    return {
      live,
      peak_rss_mb: end.peakRssMb,
      rss_listed_mb: listed.rssMb,
      startup_cpu_s: listed.cpuS,
      cpu_s_per_10k: ((end.cpuS - listed.cpuS) / expected) * 10_000,
      existing_records: existing
    }
  } finally {
    await collector.stop()
    await receiver.close()
    await sim.close()
  }
}

// --- correctness -----------------------------------------------------------------------------------------------

interface PhaseCount {
  /** Occurrences the bench made in this phase (each creation and each `count` step). */
  readonly occurrences: number
  /** Of those, how many reached the receiver at least once. */
  readonly delivered: number
  /** Records beyond the first for an occurrence of this phase. */
  readonly duplicates: number
  /** Records, in this phase, of occurrences already received in an earlier one. */
  readonly resent: number
}

export interface Correctness {
  /** Events that existed before the start: how many, and the records sent for them. */
  readonly existing_events: number
  readonly existing_records: number
  readonly live: PhaseCount
  readonly restart: PhaseCount
  readonly after_410: PhaseCount & { readonly list_requests: number }
  /** Records per delivered occurrence over the three phases (1 is each `count` step exported once). */
  readonly records_per_occurrence: number
}

type Key = string
const keyOf = (uid: string, count: number): Key => `${uid}#${count}`

/** Records per occurrence key, flattened from the receiver. */
const snapshot = (r: CountingReceiver): Map<Key, number> => {
  const out = new Map<Key, number>()
  for (const [uid, counts] of r.occurrenceCounts) for (const [c, n] of counts) out.set(keyOf(uid, c), n)
  return out
}

/** What a phase's occurrences did between two snapshots. */
const countPhase = (made: ReadonlyArray<Key>, before: Map<Key, number>, after: Map<Key, number>): PhaseCount => {
  const mine = new Set(made)
  let delivered = 0
  let duplicates = 0
  let resent = 0
  for (const k of mine) {
    const n = after.get(k) ?? 0
    if (n > 0) delivered++
    if (n > 1) duplicates += n - 1
  }
  for (const [k, n] of after) if (!mine.has(k) && (before.get(k) ?? 0) > 0) resent += n - (before.get(k) ?? 0)
  return { occurrences: mine.size, delivered, duplicates, resent }
}

let made = 0
/** A core/v1 event of its own (count 1, `lastTimestamp` now), so that every occurrence has a count both write. */
const create = (sim: SimServer): StoredKubeObject =>
  sim.events.create({
    involvedObject: { kind: "Pod", namespace: "peers", name: `pod-${made}`, apiVersion: "v1" },
    reason: "BackOff",
    message: `Back-off restarting failed container ${made++}`,
    type: "Warning"
  })

const occurrence = (e: StoredKubeObject): Key => keyOf(e.metadata.uid, typeof e["count"] === "number" ? e["count"] : 0)

/** Creates `n` events and repeats the first `repeated` of `earlier` once each; the occurrences made. */
const changes = (sim: SimServer, n: number, earlier: ReadonlyArray<StoredKubeObject>, repeated: number) => {
  const created = Array.from({ length: n }, () => create(sim))
  const repeats = earlier.slice(0, repeated).map((e) => sim.events.repeat(e.metadata.uid))
  return { created, keys: [...created, ...repeats].map(occurrence) }
}

const measureCorrectness = async (s: Subject, existing: number): Promise<Correctness> => {
  const sim = await startSimServer()
  await feed(sim, existing)
  const receiver = await startReceiver({ occurrences: true })
  const args = s.restartArgs()
  let collector = s.launch({ simUrl: sim.url, otlpUrl: receiver.url, args })
  try {
    await watching(sim, collector, 120_000)
    await settle(receiver, 1500, 120_000, s.exportsExisting ? existing : 0)
    const existingRecords = receiver.records
    await nextWholeSecond()
    // Live: 1 000 new events; 200 of them repeated twice (count 2 and 3).
    const s0 = snapshot(receiver)
    const live = changes(sim, 1000, [], 0)
    const again = live.created.slice(0, 200)
    const liveKeys = [...live.keys, ...again.map((e) => occurrence(sim.events.repeat(e.metadata.uid)))]
    liveKeys.push(...again.map((e) => occurrence(sim.events.repeat(e.metadata.uid))))
    await settle(receiver, 1500, 120_000, receiver.records + liveKeys.length)
    const s1 = snapshot(receiver)
    // Restart: stopped (SIGTERM), 200 new events and 100 repeats of live ones while it is down, started again.
    await sleep(1500)
    await collector.stop()
    const down = changes(sim, 200, live.created.slice(200), 100)
    const beforeRestart = receiver.records
    collector = s.launch({ simUrl: sim.url, otlpUrl: receiver.url, args })
    await watching(sim, collector, 120_000)
    await settle(receiver, 3000, 120_000, beforeRestart + down.keys.length)
    // And 100 new events once it runs again, which the relist after the 410 reads back.
    await nextWholeSecond()
    const after = changes(sim, 100, [], 0)
    await settle(receiver, 1500, 120_000, receiver.records + after.keys.length)
    const s2 = snapshot(receiver)
    // 410: the watch ends; 100 new events and 50 repeats; the store is compacted past what it has seen.
    // The watch it opens again from its last resourceVersion gets the 410 (an ERROR event, as from the cacher).
    const lists = sim.requests.count({ verb: "list", resource: "events" })
    sim.endWatches()
    const gap = changes(sim, 100, live.created.slice(400), 50)
    sim.store.compact()
    await until(
      "the list after the 410",
      () => sim.requests.count({ verb: "list", resource: "events" }) > lists,
      60_000
    )
    await watching(sim, collector, 120_000)
    await settle(receiver, 3000, 120_000, receiver.records + gap.keys.length)
    const s3 = snapshot(receiver)
    const phases = [
      countPhase(liveKeys, s0, s1),
      countPhase([...down.keys, ...after.keys], s1, s2),
      countPhase(gap.keys, s2, s3)
    ]
    const [p1, p2, p3] = phases as [PhaseCount, PhaseCount, PhaseCount]
    const delivered = phases.reduce((n, p) => n + p.delivered, 0)
    const records = phases.reduce((n, p) => n + p.delivered + p.duplicates + p.resent, 0)
    return {
      existing_events: existing,
      existing_records: existingRecords,
      live: p1,
      restart: p2,
      after_410: { ...p3, list_requests: sim.requests.count({ verb: "list", resource: "events" }) - lists },
      records_per_occurrence: delivered === 0 ? 0 : records / delivered
    }
  } finally {
    await collector.stop()
    await receiver.close()
    await sim.close()
    for (const a of args) if (a.startsWith("file:")) rmSync(a.slice(5), { force: true })
  }
}

/** `ours ÷ peer` for each figure both have. */
const ratios = <T extends object>(ours: T, peer: T): Record<string, number | null> =>
  Object.fromEntries(
    Object.entries(ours).flatMap(([k, v]) => {
      const p: unknown = (peer as Record<string, unknown>)[k]
      return typeof v === "number" && typeof p === "number" ? [[k, p === 0 ? null : v / p]] : []
    })
  )

// --- the whole comparison --------------------------------------------------------------------------------------

export interface PeersSettings {
  readonly events: number
  readonly repeats: number
  readonly latencyRate: number
  readonly latencySeconds: number
  readonly memory: Parameters<typeof peerMemory>[1]
  /** Live events of the cost-growth runs. */
  readonly costLive: ReadonlyArray<number>
  readonly costBurst: number
  readonly correctnessExisting: number
}

/** Ours as this run's own scenarios measured them, where they ran. */
export interface OursFromRun {
  readonly throughput: ThroughputFigures | undefined
  readonly latency: LatencyFigures | undefined
  readonly memory: MemoryFigures | undefined
}

/** Runs one part, records its failure, and lets the others run (bench/run.ts's `scenario`). */
export type Part = <A>(name: string, run: () => Promise<A>) => Promise<A | undefined>

const tidy = (v: number | null): number | null =>
  v === null ? null : Math.abs(v) >= 100 ? Math.round(v) : +v.toFixed(3)
const tidied = (o: object): Record<string, number | null> =>
  Object.fromEntries(Object.entries(o).flatMap(([k, v]) => (typeof v === "number" ? [[k, tidy(v)]] : [])))

/** Fields that describe a run rather than measure it: no ratio. */
const NOT_FIGURES = new Set(["live", "existing_records"])

/** The peer's figures under ours' field names, with ours beside them and `ratio` (ours ÷ peer) per figure. */
const sideBySide = <T extends object>(ours: T | undefined, peer: T | undefined) =>
  peer === undefined
    ? undefined
    : {
        ...tidied(peer),
        ...(ours === undefined
          ? {}
          : {
              ours: tidied(ours),
              ratio: Object.fromEntries(
                Object.entries(ratios(ours, peer)).flatMap(([k, v]) => (NOT_FIGURES.has(k) ? [] : [[k, tidy(v)]]))
              )
            })
      }

export const measurePeers = async (o: PeersSettings, ours: OursFromRun, part: Part) => {
  const out: Record<string, unknown> = {}
  const peerTw = await part("peers: throughput-watch (peer)", () =>
    peerWatchThroughput(PEER_SUBJECT, o.events, o.repeats)
  )
  const oursTw =
    ours.throughput ??
    (await part("peers: throughput-watch (ours)", () => peerWatchThroughput(OURS, o.events, o.repeats)))
  out["throughput-watch"] = {
    ...sideBySide<ThroughputFigures>(oursTw, peerTw),
    events: o.events,
    ...(peerTw === undefined ? {} : { runs_events_per_s: peerTw.runs.map((r) => Math.round(r.events_per_s)) })
  }
  const peerLa = await part("peers: latency (peer)", () => peerLatency(PEER_SUBJECT, o.latencyRate, o.latencySeconds))
  const oursLa =
    ours.latency ?? (await part("peers: latency (ours)", () => peerLatency(OURS, o.latencyRate, o.latencySeconds)))
  out["latency"] = { ...sideBySide(oursLa, peerLa), rate_per_s: o.latencyRate, duration_s: o.latencySeconds }
  const peerMe = await part("peers: memory (peer)", () => peerMemory(PEER_SUBJECT, o.memory))
  const oursMe = ours.memory ?? (await part("peers: memory (ours)", () => peerMemory(OURS, o.memory)))
  out["memory"] = { ...sideBySide(oursMe, peerMe), live: o.memory.live, churn_per_s: o.memory.churnPerS }
  const cost: Array<unknown> = []
  for (const live of o.costLive) {
    const oursCost = await part(`peers: cost growth, ${live} live (ours)`, () => measureCost(OURS, live, o.costBurst))
    const peerCost = await part(`peers: cost growth, ${live} live (peer)`, () =>
      measureCost(PEER_SUBJECT, live, o.costBurst)
    )
    cost.push({ ...sideBySide(oursCost, peerCost), live, burst: o.costBurst })
  }
  out["cost_growth"] = cost
  const oursOk = await part("peers: correctness (ours)", () => measureCorrectness(OURS, o.correctnessExisting))
  const peerOk = await part("peers: correctness (peer)", () => measureCorrectness(PEER_SUBJECT, o.correctnessExisting))
  out["correctness"] = { ours: oursOk, peer: peerOk }
  return out
}

// --- the printed table -----------------------------------------------------------------------------------------

const show = (v: unknown): string =>
  v === null || v === undefined ? "-" : typeof v === "number" ? v.toLocaleString("en-US") : String(v)
const field = (o: unknown, k: string): unknown =>
  typeof o === "object" && o !== null ? (o as Record<string, unknown>)[k] : undefined

/** Ours, the peer and the ratio per figure, one line each; then what the receiver counted for each. */
export const peersTable = (peers: Readonly<Record<string, unknown>>): string => {
  const rows: Array<ReadonlyArray<string>> = [["peers", "figure", "ours", "peer", "ours ÷ peer"]]
  const add = (scenario: string, side: unknown, figures: ReadonlyArray<string>) => {
    for (const f of figures)
      rows.push([
        scenario,
        f,
        show(field(field(side, "ours"), f)),
        show(field(side, f)),
        show(field(field(side, "ratio"), f))
      ])
  }
  add("throughput-watch", peers["throughput-watch"], ["events_per_s", "cpu_s_per_10k", "peak_rss_mb"])
  add("latency", peers["latency"], ["p50_ms", "p99_ms", "max_ms"])
  add("memory", peers["memory"], ["peak_rss_mb", "rss_end_mb"])
  const cost = peers["cost_growth"]
  for (const c of Array.isArray(cost) ? cost : [])
    add(`cost, ${show(field(c, "live"))} live`, c, ["peak_rss_mb", "rss_listed_mb", "cpu_s_per_10k"])
  const ok = peers["correctness"]
  for (const who of ["ours", "peer"]) {
    const c = field(ok, who)
    if (c === undefined) continue
    const phase = (p: string) => {
      const x = field(c, p)
      return `${show(field(x, "delivered"))}/${show(field(x, "occurrences"))} delivered, ${show(field(x, "duplicates"))} dup, ${show(field(x, "resent"))} re-sent`
    }
    rows.push([
      `correctness, ${who}`,
      "existing events → records",
      `${show(field(c, "existing_events"))} → ${show(field(c, "existing_records"))}`,
      "",
      ""
    ])
    rows.push([`correctness, ${who}`, "live phase", phase("live"), "", ""])
    rows.push([`correctness, ${who}`, "restart", phase("restart"), "", ""])
    rows.push([`correctness, ${who}`, "after a 410", phase("after_410"), "", ""])
    rows.push([`correctness, ${who}`, "records per occurrence", show(field(c, "records_per_occurrence")), "", ""])
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? "").length)))
  return `${rows.map((r) => r.map((c, i) => (i < 4 ? c.padEnd(widths[i] ?? 0) : c)).join("  ")).join("\n")}\n`
}

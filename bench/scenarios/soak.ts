/**
 * soak: one collector for a long time (`--soak-duration`, 30 minutes; `--quick` 4) against 200 000 live events
 * and 1 000 changes/s (40 % creations, 20 % repeats, 40 % expiries), while everything around it misbehaves now
 * and then: the API server restarted (down a few seconds; every other time its watch history compacted away, so
 * that the collector lists again), a late 410 (a watch reconnect held back until the history it asks for is
 * compacted), watch connections cut mid-stream, and the OTLP backend refusing connections for 30 s. The
 * collector runs as shipped with `--checkpoint file:PATH`.
 *
 * Counted by the receiver per `log.record.uid` (event uid and resourceVersion: one per occurrence), against every
 * occurrence the bench made: lost, duplicates, and records of no occurrence. RSS every 5 s: after the warm-up, the
 * peak after it and at the end; the collector's exits (code, signal, last stderr lines) and restarts. At the end,
 * with everything delivered, the collector is killed (SIGKILL) while changes keep coming and a new one resumes
 * from the checkpoint: what it re-sends is counted apart (at most what was acknowledged within one
 * `--checkpoint-interval` and the batches in flight), and it is stopped with SIGTERM (exit code 0 expected).
 *
 * What no collector could deliver is kept out of the load: an occurrence superseded (repeated again or deleted)
 * before it was read, while the history that held it is compacted away, exists in no list. So an event is
 * repeated or expired only when its last write is older than `quietMs`, longer than the collector ever lags
 * behind (the backend outage and the catching up after it).
 */
import { rmSync } from "node:fs"
import { join } from "node:path"
import { Resources, startSimServer, type StoredKubeObject } from "@k8s-event-collector/sim"
import { type CollectorProcess, scratch, startCollector } from "../lib/collector.ts"
import { feed } from "../lib/load.ts"
import { type CountingReceiver, startReceiver } from "../lib/receiver.ts"
import { sleep, until } from "../lib/stats.ts"
import { eventShapes } from "./latency.ts"

export interface SoakOptions {
  readonly live: number
  readonly churnPerS: number
  readonly seconds: number
  /**
   * RSS at start is taken this long into the churn: once every kind of disruption has happened (the first
   * relists and the first backend outage raise RSS to the level it then keeps).
   */
  readonly warmupSeconds: number
  readonly restartEverySeconds: number
  readonly restartDownMs: number
  readonly late410EverySeconds: number
  readonly watchDropEverySeconds: number
  readonly outageEverySeconds: number
  readonly outageMs: number
  /** The collector's `--checkpoint-interval` (its default, 1 s): what bounds the SIGKILL's re-sends. */
  readonly checkpointIntervalS: number
}

/** One thing done to the collector's surroundings, and when (seconds since the churn started). */
interface Disruption {
  readonly at_s: number
  readonly kind:
    "api server restart" | "api server restart, history compacted" | "late 410" | "watch cut" | "backend down"
  readonly detail?: string
}

interface Exit {
  readonly at_s: number
  readonly code: number | null
  readonly signal: string | null
  /** The end of what it wrote on stderr. */
  readonly last_lines: ReadonlyArray<string>
}

export interface SoakResult {
  readonly live_events_at_start: number
  readonly live_events_at_end: number
  readonly churn_per_s: number
  readonly duration_s: number
  readonly warmup_s: number
  readonly initial_list_s: number
  /** Occurrences the bench made (the initial events, creations, repeats) and how many were never received. */
  readonly occurrences: number
  readonly lost: number
  /**
   * Of the lost: those that were their event's latest write when the churn ended (the collector had every chance
   * to read them), and those superseded by a later write or a deletion (possible only if it lagged behind by more
   * than `quietMs` when the history was compacted); by when they were made, in 30 s steps of the churn (-1: the
   * initial events).
   */
  readonly lost_detail: {
    readonly latest: number
    readonly superseded: number
    readonly by_30s: Readonly<Record<string, number>>
  }
  /** Records received more than once for one occurrence, before the SIGKILL at the end. */
  readonly duplicates: number
  /** By when they arrived, in 30 s steps of the churn. */
  readonly duplicates_by_30s: Readonly<Record<string, number>>
  /** Records that are no occurrence the bench made. */
  readonly unexpected: number
  readonly records: number
  /** Seconds from the end of the churn until every occurrence was received. */
  readonly drain_s: number
  readonly rss_start_mb: number
  readonly rss_peak_after_warmup_mb: number
  readonly rss_end_mb: number
  readonly rss_growth_pct: number
  /** VmHWM: the initial list included. */
  readonly peak_rss_mb: number
  /** RSS every 30 s from the start of the churn. */
  readonly rss_trace_mb: ReadonlyArray<number>
  readonly cpu_s: number
  readonly disruptions: ReadonlyArray<Disruption>
  readonly disruption_counts: Readonly<Record<string, number>>
  /** Lists of events the collector started (pages are not counted) after its initial one. */
  readonly relists: number
  readonly watch_requests: number
  /** Exits nobody asked for: each was followed by a new collector on the checkpoint. */
  readonly unexplained_exits: ReadonlyArray<Exit>
  readonly kill: {
    /** Records re-sent by the collector that resumed after the SIGKILL. */
    readonly resent: number
    readonly lost: number
    /** Records acknowledged per checkpoint interval at the churn's rate, plus 4 batches of 512 in flight. */
    readonly bound: number
    readonly restart_to_first_record_s: number
    /** SIGTERM of the resumed collector: exit code (0 expected) and seconds to exit. */
    readonly stop_exit_code: number | null
    readonly stop_s: number
  }
}

/** A write the bench made to an event, in the order made: the FIFO that expiries and repeats pick from. */
class Writes {
  uids: Array<string> = []
  rvs: Array<string> = []
  at: Array<number> = []
  head = 0

  push(o: StoredKubeObject, at: number): void {
    this.uids.push(o.metadata.uid)
    this.rvs.push(o.metadata.resourceVersion ?? "")
    this.at.push(at)
  }

  /** Index of the first write at or after `t` (the writes are in time order). */
  firstAtOrAfter(t: number, from: number): number {
    let i = Math.max(from, this.head)
    while (i < this.at.length && (this.at[i] ?? 0) < t) i++
    return i
  }

  /** Drops the consumed head once it is most of the arrays. */
  compact(): number {
    if (this.head < 100_000 || this.head * 2 < this.uids.length) return 0
    const h = this.head
    this.uids = this.uids.slice(h)
    this.rvs = this.rvs.slice(h)
    this.at = this.at.slice(h)
    this.head = 0
    return h
  }
}

const tailLines = (log: string, n = 12): ReadonlyArray<string> =>
  log
    .split("\n")
    .filter((l) => l.trim() !== "")
    .slice(-n)

export const measureSoak = async (o: SoakOptions, say: (line: string) => void): Promise<SoakResult> => {
  const createPerS = Math.round(o.churnPerS * 0.4)
  const repeatPerS = Math.round(o.churnPerS * 0.2)
  const expirePerS = o.churnPerS - createPerS - repeatPerS
  // Longer than the collector can lag behind: the outage, the drain after it, a restart's backoff.
  const quietMs = 2 * o.outageMs + 60_000
  const checkpoint = join(scratch(), `soak-checkpoint-${Date.now()}.json`)
  // The change log bounded as etcd's is by its compaction (5 minutes at this rate).
  const sim = await startSimServer({ compaction: { maxChanges: 300_000 } })
  const shapes = eventShapes()
  await feed(sim, o.live)
  /** Every occurrence made: `uid:resourceVersion` → seconds into the churn when it was made (-1: before). */
  const expected = new Map<string, number>()
  /** The latest write per event uid (its resourceVersion), and the events deleted. */
  const latestRv = new Map<string, string>()
  const deleted = new Set<string>()
  const writes = new Writes()
  const key = (x: StoredKubeObject) => `${x.metadata.uid}:${x.metadata.resourceVersion ?? ""}`
  for (const s of [...sim.store.all(Resources.events)].sort((a, b) => a.rv - b.rv)) {
    expected.set(key(s.object), -1)
    latestRv.set(s.object.metadata.uid, s.object.metadata.resourceVersion ?? "")
    writes.push(s.object, 0)
  }
  const receiver: CountingReceiver = await startReceiver({ uids: true })
  const args = ["--checkpoint", `file:${checkpoint}`]
  const launch = () => startCollector({ simUrl: sim.url, otlpUrl: receiver.url, args })
  let collector: CollectorProcess = launch()
  const exits: Array<Exit> = []
  const disruptions: Array<Disruption> = []
  let cpuBefore = 0
  let start = Date.now()
  const nowS = () => (Date.now() - start) / 1000
  /** Restarts a collector that exited by itself, keeping its last words. */
  const supervise = () => {
    const { exitCode, signalCode } = collector.child
    if (exitCode === null && signalCode === null) return
    exits.push({ at_s: Math.round(nowS()), code: exitCode, signal: signalCode, last_lines: tailLines(collector.log) })
    say(`soak: the collector exited (${signalCode ?? `code ${exitCode}`}); starting another on the checkpoint`)
    cpuBefore += collector.sample()?.cpuS ?? 0
    collector = launch()
  }
  // One at a time on each side: an API server restart never overlaps another, nor a late 410.
  const chains = { api: Promise.resolve(), backend: Promise.resolve() }
  const disrupt = (d: Disruption, run: () => Promise<void>) => {
    disruptions.push(d)
    say(`soak +${d.at_s}s: ${d.kind}${d.detail === undefined ? "" : ` (${d.detail})`}`)
    const side = d.kind === "backend down" ? "backend" : "api"
    chains[side] = chains[side].then(run).catch((e: unknown) => say(`soak: ${d.kind} failed: ${String(e)}`))
  }
  const lists = () =>
    sim.requests.filter({ verb: "list", resource: "events" }).filter((r) => r.query["continue"] === undefined).length

  try {
    const spawned = Date.now()
    let progress = { records: -1, at: Date.now() }
    await until(
      "the collector's initial list",
      () => {
        if (collector.child.exitCode !== null || collector.child.signalCode !== null)
          throw new Error(`the collector exited during its initial list:\n${collector.log}`)
        if (receiver.records !== progress.records) progress = { records: receiver.records, at: Date.now() }
        else if (Date.now() - progress.at > 60_000)
          throw new Error(`the collector stalled at ${receiver.records} records:\n${collector.log}`)
        return sim.requests.count({ verb: "watch", resource: "events" }) > 0
      },
      Math.max(300_000, o.live * 2),
      50
    )
    const listS = (Date.now() - spawned) / 1000
    const listsAtStart = lists()
    say(`soak: initial list of ${o.live} events in ${listS.toFixed(1)} s; ${o.seconds} s of churn`)

    start = Date.now()
    const trace: Array<number> = []
    let rssStart: number | undefined
    let rssPeak = 0
    let rssEnd = 0
    let created = 0
    let repeated = 0
    let expired = 0
    /** Writes before this index are older than `quietMs`. */
    let quiet = 0
    let nextSample = start
    let nextTrace = start
    let nextRestart = o.restartEverySeconds
    let restarts = 0
    let nextLate410 = o.late410EverySeconds / 2
    let nextDrop = o.watchDropEverySeconds / 3
    let nextOutage = o.outageEverySeconds * 0.6
    const isCurrent = (i: number) => sim.events.get(writes.uids[i] ?? "")?.metadata.resourceVersion === writes.rvs[i]
    while (nowS() < o.seconds) {
      const t = nowS()
      const now = Date.now()
      quiet = writes.firstAtOrAfter(now - quietMs, quiet)
      for (; created < Math.floor(t * createPerS); created++) {
        const shape = shapes[created % shapes.length]
        if (shape === undefined) continue
        const e = sim.events.create(shape)
        expected.set(key(e), Math.floor(t))
        latestRv.set(e.metadata.uid, e.metadata.resourceVersion ?? "")
        writes.push(e, now)
      }
      for (; repeated < Math.floor(t * repeatPerS); repeated++) {
        // A random event whose last write is old enough; a few tries, else none this time.
        for (let tries = 0; tries < 8 && quiet > writes.head; tries++) {
          const i = writes.head + Math.floor(Math.random() * (quiet - writes.head))
          if (!isCurrent(i)) continue
          const e = sim.events.repeat(writes.uids[i] ?? "")
          expected.set(key(e), Math.floor(t))
          latestRv.set(e.metadata.uid, e.metadata.resourceVersion ?? "")
          writes.push(e, now)
          break
        }
      }
      // The oldest writes first, as the API server's --event-ttl; a write repeated since is skipped.
      for (; expired < Math.floor(t * expirePerS) && writes.head < quiet; writes.head++) {
        if (!isCurrent(writes.head)) continue
        sim.events.delete(writes.uids[writes.head] ?? "")
        deleted.add(writes.uids[writes.head] ?? "")
        expired++
      }
      quiet -= writes.compact()

      if (t >= nextRestart) {
        // The first one compacts, so that the first round of disruptions has each kind.
        const compact = ++restarts % 2 === 1
        const down = o.restartDownMs
        disrupt(
          {
            at_s: Math.round(t),
            kind: compact ? "api server restart, history compacted" : "api server restart",
            detail: `down ${down} ms`
          },
          () => sim.restart({ downMs: down, compact })
        )
        nextRestart += o.restartEverySeconds
      }
      if (t >= nextLate410) {
        // The reconnect is held back 2 s; the history it asks for is compacted meanwhile.
        disrupt({ at_s: Math.round(t), kind: "late 410" }, async () => {
          sim.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "delay", ms: 2000 } })
          sim.endWatches()
          await sleep(1000)
          sim.store.compact()
        })
        nextLate410 += o.late410EverySeconds
      }
      if (t >= nextDrop) {
        const after = 1 + Math.floor(Math.random() * 2000)
        disrupt({ at_s: Math.round(t), kind: "watch cut", detail: `after ${after} events` }, async () => {
          sim.faults.add({
            verb: "watch",
            resource: "events",
            times: 1,
            action: { type: "dropWatch", afterEvents: after }
          })
          sim.endWatches()
        })
        nextDrop += o.watchDropEverySeconds
      }
      if (t >= nextOutage) {
        disrupt({ at_s: Math.round(t), kind: "backend down", detail: `${o.outageMs} ms` }, () =>
          receiver.outage(o.outageMs)
        )
        nextOutage += o.outageEverySeconds
      }

      if (Date.now() >= nextSample) {
        supervise()
        const s = collector.sample()
        if (s !== undefined) {
          if (rssStart === undefined && t >= o.warmupSeconds) rssStart = s.rssMb
          if (rssStart !== undefined) rssPeak = Math.max(rssPeak, s.rssMb)
          rssEnd = s.rssMb
          if (Date.now() >= nextTrace) {
            trace.push(Math.round(s.rssMb))
            nextTrace += 30_000
          }
        }
        nextSample += 5_000
      }
      await sleep(5)
    }
    const churnEnd = Date.now()
    await Promise.all([chains.api, chains.backend])
    supervise()
    const peak = collector.sample()?.peakRssMb ?? 0
    const cpu = cpuBefore + (collector.sample()?.cpuS ?? 0)
    const missing = () => {
      let n = 0
      for (const k of expected.keys()) if (!receiver.uidCounts.has(k)) n++
      return n
    }
    say(`soak: churn over; waiting for ${missing()} occurrences still to arrive`)
    const deadline = Date.now() + 300_000
    while (missing() > 0 && Date.now() < deadline) {
      supervise()
      await sleep(2000)
    }
    const drainS = (Date.now() - churnEnd) / 1000
    const lost = missing()
    const lostDetail = { latest: 0, superseded: 0, by_30s: {} as Record<string, number> }
    for (const [k, madeAt] of expected) {
      if (receiver.uidCounts.has(k)) continue
      const [uid = "", rv = ""] = k.split(":")
      if (!deleted.has(uid) && latestRv.get(uid) === rv) lostDetail.latest++
      else lostDetail.superseded++
      const step = String(madeAt < 0 ? -1 : Math.floor(madeAt / 30) * 30)
      lostDetail.by_30s[step] = (lostDetail.by_30s[step] ?? 0) + 1
    }
    const duplicates = receiver.duplicates
    const duplicatesBy30s: Record<string, number> = {}
    for (const at of receiver.duplicateArrivalsMs) {
      const step = String(Math.floor((at - start) / 30_000) * 30)
      duplicatesBy30s[step] = (duplicatesBy30s[step] ?? 0) + 1
    }
    let unexpected = 0
    for (const k of receiver.uidCounts.keys()) if (!expected.has(k)) unexpected++
    const relists = lists() - listsAtStart
    say(`soak: ${lost} lost, ${duplicates} duplicates, ${unexpected} unexpected; SIGKILL and resume`)

    // The crash: killed while changes keep coming, resumed from the checkpoint.
    const kill = await killAndResume(
      {
        sim,
        receiver,
        expected,
        key,
        shapes,
        createPerS,
        launch,
        replace: (c) => {
          collector = c
        },
        current: () => collector
      },
      o
    )
    const live = sim.events.count()
    if (rssStart === undefined) throw new Error("the soak ended before its warm-up")
    return {
      live_events_at_start: o.live,
      live_events_at_end: live,
      churn_per_s: o.churnPerS,
      duration_s: o.seconds,
      warmup_s: o.warmupSeconds,
      initial_list_s: listS,
      occurrences: expected.size - kill.occurrencesAdded,
      lost,
      lost_detail: lostDetail,
      duplicates,
      duplicates_by_30s: duplicatesBy30s,
      unexpected,
      records: receiver.records,
      drain_s: drainS,
      rss_start_mb: rssStart,
      rss_peak_after_warmup_mb: rssPeak,
      rss_end_mb: rssEnd,
      rss_growth_pct: ((rssEnd - rssStart) / rssStart) * 100,
      peak_rss_mb: peak,
      rss_trace_mb: trace,
      cpu_s: cpu,
      disruptions,
      disruption_counts: disruptions.reduce<Record<string, number>>(
        (m, d) => ({ ...m, [d.kind]: (m[d.kind] ?? 0) + 1 }),
        {}
      ),
      relists,
      watch_requests: sim.requests.count({ verb: "watch", resource: "events" }),
      unexplained_exits: exits,
      kill: kill.result
    }
  } finally {
    await collector.stop()
    await receiver.close()
    await sim.close()
    rmSync(checkpoint, { force: true })
  }
}

interface KillParts {
  readonly sim: Awaited<ReturnType<typeof startSimServer>>
  readonly receiver: CountingReceiver
  readonly expected: Map<string, number>
  readonly key: (x: StoredKubeObject) => string
  readonly shapes: ReturnType<typeof eventShapes>
  readonly createPerS: number
  readonly launch: () => CollectorProcess
  readonly replace: (c: CollectorProcess) => void
  readonly current: () => CollectorProcess
}

/** SIGKILL during 3 s of creations, a new collector on the checkpoint, 3 s more, then everything delivered. */
const killAndResume = async (p: KillParts, o: SoakOptions) => {
  const before = p.expected.size
  const missing = () => {
    let n = 0
    for (const k of p.expected.keys()) if (!p.receiver.uidCounts.has(k)) n++
    return n
  }
  const lostBefore = missing()
  const duplicatesBefore = p.receiver.duplicates
  let made = 0
  const createFor = async (ms: number) => {
    const t0 = Date.now()
    let n = 0
    while (Date.now() - t0 < ms) {
      for (; n < Math.floor(((Date.now() - t0) / 1000) * p.createPerS); n++, made++) {
        const shape = p.shapes[made % p.shapes.length]
        if (shape !== undefined) p.expected.set(p.key(p.sim.events.create(shape)), -2)
      }
      await sleep(5)
    }
  }
  await createFor(3000)
  p.current().child.kill("SIGKILL")
  await p.current().exited
  const records = p.receiver.records
  const resumed = p.launch()
  p.replace(resumed)
  const spawned = Date.now()
  await createFor(3000)
  await until("a record from the resumed collector", () => p.receiver.records > records, 60_000, 20)
  const firstS = ((p.receiver.lastArrivalMs ?? Date.now()) - spawned) / 1000
  const deadline = Date.now() + 120_000
  while (missing() > lostBefore && Date.now() < deadline) await sleep(1000)
  // Anything re-sent has arrived by now; a moment for stragglers.
  await sleep(2000)
  const stopAt = Date.now()
  const code = await resumed.stop()
  return {
    occurrencesAdded: p.expected.size - before,
    result: {
      resent: p.receiver.duplicates - duplicatesBefore,
      lost: missing() - lostBefore,
      bound: Math.round(o.checkpointIntervalS * p.createPerS) + 4 * 512,
      restart_to_first_record_s: firstS,
      stop_exit_code: code,
      stop_s: (Date.now() - stopAt) / 1000
    }
  }
}

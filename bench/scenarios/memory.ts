/**
 * memory: 200 000 live events when the collector starts, then a steady churn for the run's duration: 40 %
 * creations, 20 % repeats (a new occurrence of a live event), 40 % expiries. Expiry is what the API server's
 * `--event-ttl` does to events written long enough ago; here the initial events are their oldest, so the bench
 * deletes them oldest first at the expiry rate (skipping repeated ones, whose TTL started again), each a DELETED
 * on the watch. The number of live events stays near 200 000.
 *
 * RSS is sampled every 5 s. Reported: peak RSS (VmHWM: the initial list included), RSS at the end of the
 * warm-up (counted from the end of the initial list), RSS at the end, growth between the two, and the heap.
 */
import { Resources, startSimServer } from "@k8s-event-collector/sim"
import { type CollectorProcess, lastProcError, type Launch, startCollector } from "../lib/collector.ts"
import { feed } from "../lib/load.ts"
import { eventShapes } from "./latency.ts"
import { startReceiver } from "../lib/receiver.ts"
import { sleep, until } from "../lib/stats.ts"

export interface MemoryResult {
  readonly live_events_at_start: number
  readonly live_events_at_end: number
  readonly churn_per_s: number
  readonly duration_s: number
  readonly warmup_s: number
  /** Time the server took to create the initial events (bench side). */
  readonly initial_load_s: number
  /** From the collector's spawn to its watch being open (the list of every live event exported). */
  readonly initial_list_s: number
  readonly peak_rss_mb: number
  readonly rss_after_warmup_mb: number
  readonly rss_end_mb: number
  readonly rss_growth_pct: number
  readonly records_exported: number
  /** RSS every 5 s from the end of the initial list, for a look at the trend. */
  readonly rss_trace_mb: ReadonlyArray<number>
}

/**
 * The error for a collector whose /proc entry could not be read: it says how the process ended once its exit is
 * known (the exit event can come a moment after /proc is gone), else that it had not exited, and why the read
 * failed.
 */
const gone = async (collector: CollectorProcess): Promise<Error> => {
  await Promise.race([collector.exited, sleep(2000)])
  const { exitCode, signalCode } = collector.child
  const how =
    exitCode === null && signalCode === null
      ? `its /proc entry could not be read (${lastProcError() ?? "no error"}); it had not exited\n`
      : ""
  return new Error(`the collector exited:\n${how}${collector.log}`)
}

export const measureMemory = async (o: {
  readonly live: number
  readonly churnPerS: number
  readonly seconds: number
  readonly warmupSeconds: number
  /** Another collector than ours (a peer, bench/lib/peer.ts). */
  readonly launch?: Launch
}): Promise<MemoryResult> => {
  // Of the churn: 40 % creations, 20 % repeats, 40 % expiries, so that the number of live events stays put.
  const createPerS = Math.round(o.churnPerS * 0.4)
  const repeatPerS = Math.round(o.churnPerS * 0.2)
  const expirePerS = o.churnPerS - createPerS - repeatPerS
  const sim = await startSimServer({ compaction: { maxChanges: 400_000 } })
  const shapes = eventShapes()
  const loadStart = Date.now()
  await feed(sim, o.live)
  const loadS = (Date.now() - loadStart) / 1000
  // Oldest first: the order in which the API server's TTL would delete them.
  const initial = [...sim.store.all(Resources.events)]
    .sort((a, b) => a.rv - b.rv)
    .map((s) => ({ uid: s.object.metadata.uid, rv: s.rv }))
  const receiver = await startReceiver()
  const collector = (o.launch ?? startCollector)({ simUrl: sim.url, otlpUrl: receiver.url })
  try {
    const spawned = Date.now()
    // At least 2 minutes, and a millisecond per event on a loaded machine (500 000 events: over 8 minutes).
    const listed = () => {
      // A collector that died (out of heap, say) fails the scenario at once instead of at the timeout.
      if (collector.child.exitCode !== null || collector.child.signalCode !== null)
        throw new Error(`the collector exited:\n${collector.log}`)
      return sim.requests.count({ verb: "watch", resource: "events" }) > 0
    }
    await until("the collector's initial list", listed, Math.max(120_000, o.live), 50).catch((e: unknown) => {
      throw new Error(`${String(e)}; receiver has ${receiver.records}; collector log:\n${collector.log}`)
    })
    const listS = (Date.now() - spawned) / 1000
    const start = Date.now()
    const trace: Array<number> = []
    let rssAfterWarmup: number | undefined
    let created = 0
    let repeated = 0
    let expired = 0
    let nextSample = start
    while (Date.now() - start < o.seconds * 1000) {
      const elapsedS = (Date.now() - start) / 1000
      for (; created < Math.floor(elapsedS * createPerS); created++) {
        const shape = shapes[created % shapes.length]
        if (shape !== undefined) sim.events.create(shape)
      }
      for (; repeated < Math.floor(elapsedS * repeatPerS); repeated++) {
        // Repeat a random live event among the initial ones not expired yet.
        const pick = initial[expired + Math.floor(Math.random() * (initial.length - expired))]
        if (pick !== undefined && sim.events.get(pick.uid) !== undefined) sim.events.repeat(pick.uid)
      }
      for (; expired < Math.min(initial.length, Math.floor(elapsedS * expirePerS)); expired++) {
        // A repeated event's TTL started again at the repeat: the API server would keep it.
        const e = initial[expired]
        const current = e === undefined ? undefined : sim.events.get(e.uid)
        if (e !== undefined && current !== undefined && current.metadata.resourceVersion === String(e.rv))
          sim.events.delete(e.uid)
      }
      if (Date.now() >= nextSample) {
        const s = collector.sample()
        if (s === undefined) throw await gone(collector)
        trace.push(Math.round(s.rssMb))
        if (rssAfterWarmup === undefined && elapsedS >= o.warmupSeconds) rssAfterWarmup = s.rssMb
        nextSample += 5_000
      }
      await sleep(5)
    }
    await sleep(1000)
    const end = collector.sample()
    if (end === undefined || rssAfterWarmup === undefined) throw await gone(collector)
    trace.push(Math.round(end.rssMb))
    return {
      live_events_at_start: o.live,
      live_events_at_end: sim.events.count(),
      churn_per_s: o.churnPerS,
      duration_s: o.seconds,
      warmup_s: o.warmupSeconds,
      initial_load_s: loadS,
      initial_list_s: listS,
      peak_rss_mb: end.peakRssMb,
      rss_after_warmup_mb: rssAfterWarmup,
      rss_end_mb: end.rssMb,
      rss_growth_pct: ((end.rssMb - rssAfterWarmup) / rssAfterWarmup) * 100,
      records_exported: receiver.records,
      rss_trace_mb: trace
    }
  } finally {
    await collector.stop()
    await receiver.close()
    await sim.close()
  }
}

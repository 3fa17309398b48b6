/**
 * resume: N live events (500 000; `--quick` 100 000) and `--checkpoint file:PATH`, four phases against one server:
 *
 * 1. A first collector exports them all and is stopped with SIGTERM (it flushes and saves the checkpoint).
 * 2. A second one starts on the same checkpoint, and one new event is created right after its spawn: spawn →
 *    first record at the receiver, and the records of the first run it sent again (zero expected).
 * 3. A late 410 on that second collector: its watch ends, and its reconnect is held back until the history it
 *    asks for is compacted away, while 100 events are created and 50 listed ones repeated. It lists all N events
 *    again; what it re-sends (zero expected: the list's items at or below the last resourceVersion it passed on
 *    are skipped, whatever the once-only window remembers) and how long the relist took.
 * 4. It is stopped (SIGTERM); 100 events are created and 50 repeated, the history is compacted past its
 *    checkpoint, and a third collector starts on the checkpoint: its watch is refused (410), it lists all N again,
 *    and sends only the 150 new occurrences.
 *
 * Records are counted per `log.record.uid` (event uid and resourceVersion): re-sent is a record received twice.
 */
import { join } from "node:path"
import { rmSync } from "node:fs"
import { Resources, type SimServer, startSimServer } from "@k8s-event-collector/sim"
import { type CollectorProcess, scratch, startCollector } from "../lib/collector.ts"
import { feed } from "../lib/load.ts"
import { type CountingReceiver, startReceiver } from "../lib/receiver.ts"
import { sleep, until } from "../lib/stats.ts"

/** A relist, or a restart that lists: what it re-sent and what it cost. */
interface RelistResult {
  /** Records received again (zero expected). */
  readonly resent: number
  /** Occurrences made meanwhile that did not arrive (zero expected). */
  readonly lost: number
  /** Records it sent: the new occurrences alone, when nothing is re-sent. */
  readonly records: number
  /** From the 410 (or the spawn) until every new occurrence was at the receiver (checked every 100 ms). */
  readonly relist_s: number
  /** Lists of events it started (pages not counted). */
  readonly lists: number
  /** VmHWM of the collector that relisted (start-up included for a restart). */
  readonly peak_rss_mb: number
}

export interface ResumeResult {
  readonly live_events: number
  /** Spawn of the restarted collector → first record at the receiver. */
  readonly first_export_s: number
  /** Records of the first run received again after the restart. */
  readonly resent: number
  readonly records_after_restart: number
  /** First run: spawn → every record exported. */
  readonly first_run_export_s: number
  /** SIGTERM → exit of the first run (flush and checkpoint save). */
  readonly stop_s: number
  readonly exit_code: number | null
  /** List and watch requests the restarted collector made (a resume watches without listing). */
  readonly lists_after_restart: number
  readonly watches_after_restart: number
  /** Peak RSS (VmHWM) of the first run, which listed and exported every event. */
  readonly first_run_peak_rss_mb: number
  /** Phase 3: a late 410 while it runs. */
  readonly late_410: RelistResult
  /** Phase 4: a restart on a checkpoint whose resourceVersion was compacted away. */
  readonly restart_after_compaction: RelistResult
}

/** 100 new events and 50 repeats of listed ones; their occurrences (`uid:resourceVersion`). */
const gapChanges = (sim: SimServer, tag: string): Set<string> => {
  const made = new Set<string>()
  const key = (o: { metadata: { uid: string; resourceVersion?: string } }) =>
    `${o.metadata.uid}:${o.metadata.resourceVersion ?? ""}`
  for (let i = 0; i < 100; i++) {
    made.add(
      key(
        sim.events.create({
          involvedObject: { kind: "Pod", namespace: "default", name: `${tag}-${i}` },
          reason: "Started",
          message: `created in the gap (${tag})`
        })
      )
    )
  }
  let repeated = 0
  for (const s of sim.store.all(Resources.events)) {
    if (repeated === 50) break
    if (s.object.metadata.namespace === "default" && s.object.metadata.name.startsWith(tag)) continue
    made.add(key(sim.events.repeat(s.object.metadata.uid)))
    repeated++
  }
  return made
}

const listsOf = (sim: SimServer) =>
  sim.requests.filter({ verb: "list", resource: "events" }).filter((r) => r.query["continue"] === undefined).length

/** Waits for every occurrence in `expected`; then a moment for anything re-sent behind them. */
const awaitAll = async (receiver: CountingReceiver, expected: ReadonlySet<string>, timeoutMs: number) => {
  const missing = () => [...expected].filter((k) => !receiver.uidCounts.has(k)).length
  await until("the gap's occurrences", () => missing() === 0, timeoutMs, 100).catch(() => undefined)
  const arrived = Date.now()
  await sleep(3000)
  return { lost: missing(), arrived }
}

export const measureResume = async (events: number): Promise<ResumeResult> => {
  const checkpoint = join(scratch(), `checkpoint-${Date.now()}.json`)
  const sim = await startSimServer()
  await feed(sim, events)
  const receiver = await startReceiver({ uids: true })
  const args = ["--checkpoint", `file:${checkpoint}`]
  const launch = () => startCollector({ simUrl: sim.url, otlpUrl: receiver.url, args })
  // A millisecond per event on a loaded machine, and at least 5 minutes.
  const timeoutMs = Math.max(300_000, events)
  const first = launch()
  const running: Array<CollectorProcess> = [first]
  try {
    await receiver.waitFor(events, timeoutMs)
    const firstRunS = ((receiver.lastArrivalMs ?? Date.now()) - first.spawnedAtMs) / 1000
    // Let the checkpoint catch up with the last acknowledgement as it would in a running collector.
    await sleep(1500)
    const firstPeak = first.sample()?.peakRssMb ?? 0
    const stopAt = Date.now()
    const exitCode = await first.stop()
    const stopS = (Date.now() - stopAt) / 1000
    const lists = sim.requests.count({ verb: "list", resource: "events" })
    const watches = sim.requests.count({ verb: "watch", resource: "events" })
    const duplicatesBefore = receiver.duplicates
    receiver.reset()
    const second = launch()
    running.push(second)
    sim.events.create({
      involvedObject: { kind: "Pod", namespace: "default", name: "resumed-0" },
      reason: "Started",
      message: "after the restart"
    })
    await receiver.waitFor(1, 60_000)
    const firstExportS = ((receiver.firstArrivalMs ?? Date.now()) - second.spawnedAtMs) / 1000
    // Anything re-sent would come with the first batches; give them time to arrive.
    await sleep(3000)
    const resent = receiver.duplicates - duplicatesBefore
    const recordsAfterRestart = receiver.records
    const listsAfterRestart = sim.requests.count({ verb: "list", resource: "events" }) - lists
    const watchesAfterRestart = sim.requests.count({ verb: "watch", resource: "events" }) - watches

    // 3. The late 410: the reconnect held back until its history is compacted away.
    let duplicates = receiver.duplicates
    let records = receiver.records
    let listed = listsOf(sim)
    sim.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "delay", ms: 1000 } })
    const goneAt = Date.now()
    sim.endWatches()
    const late = gapChanges(sim, "late-410")
    sim.store.compact()
    const lateDone = await awaitAll(receiver, late, timeoutMs)
    const late410: RelistResult = {
      resent: receiver.duplicates - duplicates,
      lost: lateDone.lost,
      records: receiver.records - records,
      relist_s: (lateDone.arrived - goneAt) / 1000,
      lists: listsOf(sim) - listed,
      peak_rss_mb: second.sample()?.peakRssMb ?? 0
    }

    // 4. Stopped; the history compacted past its checkpoint while it is down; a third one lists on restart.
    await second.stop()
    await sleep(1000)
    const down = gapChanges(sim, "while-down")
    sim.store.compact()
    duplicates = receiver.duplicates
    records = receiver.records
    listed = listsOf(sim)
    const third = launch()
    running.push(third)
    const thirdDone = await awaitAll(receiver, down, timeoutMs)
    const restart: RelistResult = {
      resent: receiver.duplicates - duplicates,
      lost: thirdDone.lost,
      records: receiver.records - records,
      relist_s: (thirdDone.arrived - third.spawnedAtMs) / 1000,
      lists: listsOf(sim) - listed,
      peak_rss_mb: third.sample()?.peakRssMb ?? 0
    }
    return {
      live_events: events,
      first_export_s: firstExportS,
      resent,
      records_after_restart: recordsAfterRestart,
      first_run_export_s: firstRunS,
      stop_s: stopS,
      exit_code: exitCode,
      lists_after_restart: listsAfterRestart,
      watches_after_restart: watchesAfterRestart,
      first_run_peak_rss_mb: firstPeak,
      late_410: late410,
      restart_after_compaction: restart
    }
  } finally {
    for (const c of running) await c.stop()
    await receiver.close()
    await sim.close()
    rmSync(checkpoint, { force: true })
  }
}

/**
 * resume: 100 000 live events and `--checkpoint file:PATH`. A first collector exports them all and is stopped with
 * SIGTERM (it flushes and saves the checkpoint). A second one is started on the same checkpoint, and one new event
 * is created right after the spawn, so that there is something to export. Measured: spawn → first record at the
 * receiver, and the records of the first run the second one sent again (by `log.record.uid`; zero expected).
 */
import { join } from "node:path"
import { rmSync } from "node:fs"
import { startSimServer } from "@k8s-event-collector/sim"
import { scratch, startCollector } from "../lib/collector.ts"
import { feed } from "../lib/load.ts"
import { startReceiver } from "../lib/receiver.ts"
import { sleep } from "../lib/stats.ts"

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
}

export const measureResume = async (events: number): Promise<ResumeResult> => {
  const checkpoint = join(scratch(), `checkpoint-${Date.now()}.json`)
  const sim = await startSimServer()
  await feed(sim, events)
  const receiver = await startReceiver({ uids: true })
  const args = ["--checkpoint", `file:${checkpoint}`]
  const first = startCollector({ simUrl: sim.url, otlpUrl: receiver.url, args })
  let second: ReturnType<typeof startCollector> | undefined
  try {
    await receiver.waitFor(events, 300_000)
    const firstRunS = ((receiver.lastArrivalMs ?? Date.now()) - first.spawnedAtMs) / 1000
    // Let the checkpoint catch up with the last acknowledgement as it would in a running collector.
    await sleep(1500)
    const stopAt = Date.now()
    const exitCode = await first.stop()
    const stopS = (Date.now() - stopAt) / 1000
    const lists = sim.requests.count({ verb: "list", resource: "events" })
    const watches = sim.requests.count({ verb: "watch", resource: "events" })
    const duplicatesBefore = receiver.duplicates
    receiver.reset()
    second = startCollector({ simUrl: sim.url, otlpUrl: receiver.url, args })
    sim.events.create({
      involvedObject: { kind: "Pod", namespace: "default", name: "resumed-0" },
      reason: "Started",
      message: "after the restart"
    })
    await receiver.waitFor(1, 60_000)
    const firstExportS = ((receiver.firstArrivalMs ?? Date.now()) - second.spawnedAtMs) / 1000
    // Anything re-sent would come with the first batches; give them time to arrive.
    await sleep(3000)
    return {
      live_events: events,
      first_export_s: firstExportS,
      resent: receiver.duplicates - duplicatesBefore,
      records_after_restart: receiver.records,
      first_run_export_s: firstRunS,
      stop_s: stopS,
      exit_code: exitCode,
      lists_after_restart: sim.requests.count({ verb: "list", resource: "events" }) - lists,
      watches_after_restart: sim.requests.count({ verb: "watch", resource: "events" }) - watches
    }
  } finally {
    await first.stop()
    await second?.stop()
    await receiver.close()
    await sim.close()
    rmSync(checkpoint, { force: true })
  }
}

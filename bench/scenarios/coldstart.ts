/**
 * coldstart: a collector starting (or taking over as leader) in a cluster of 1 000 pods (900 under 450
 * Deployments, 100 under CronJobs) with 5 000 events about them to list, and 20 new occurrences a second for the
 * first 10 s. Measured per enrichment design: how many records carry the owner chain (their resource names a
 * Deployment or a CronJob), spawn → first record and → last record, the collector's peak RSS, and the requests it
 * made for enrichment. Designs: the list+watch caches (the default), a GET per object with the default wait
 * (`--enrichment-watch off`), and GETs with a longer cold-start wait (30 s) at the default and at ten times the rate.
 */
import { objectReference, type OwnedPod, startSimServer } from "@k8s-event-collector/sim"
import { startCollector } from "../lib/collector.ts"
import { startReceiver } from "../lib/receiver.ts"
import { sleep } from "../lib/stats.ts"

export interface ColdStartRun {
  readonly design: string
  readonly args: ReadonlyArray<string>
  readonly records: number
  readonly with_owner: number
  readonly first_record_s: number
  readonly last_record_s: number
  readonly peak_rss_mb: number
  /** Lists and watches of pods, ReplicaSets and Jobs; GETs of single objects. */
  readonly enrichment_lists: number
  readonly enrichment_watches: number
  readonly enrichment_gets: number
}

export const DESIGNS: ReadonlyArray<{ readonly design: string; readonly args: ReadonlyArray<string> }> = [
  { design: "list+watch caches", args: [] },
  { design: "GET, 250 ms wait", args: ["--enrichment-watch", "off"] },
  { design: "GET, 30 s wait", args: ["--enrichment-watch", "off", "--enrichment-timeout", "30s"] },
  {
    design: "GET, 30 s wait, 500/s",
    args: ["--enrichment-watch", "off", "--enrichment-timeout", "30s", "--enrichment-qps", "500"]
  }
]

const PODS = { deployments: 450, cronJobs: 100 }
const LISTED = 5_000
const LIVE_RATE = 20
const LIVE_SECONDS = 10

export const measureColdStart = async (design: (typeof DESIGNS)[number]): Promise<ColdStartRun> => {
  const sim = await startSimServer()
  const pods = sim.objects.ownedPods({ ...PODS, namespace: "shop" })
  let seq = 0
  const occur = (p: OwnedPod) =>
    sim.events.create({
      namespace: "shop",
      reason: "BackOff",
      type: "Warning",
      message: `Back-off restarting failed container (${++seq})`,
      involvedObject: objectReference(p.pod)
    })
  for (let i = 0; i < LISTED; i++) occur(pods[i % pods.length] as OwnedPod)
  const receiver = await startReceiver({ owners: true })
  const collector = startCollector({
    simUrl: sim.url,
    otlpUrl: receiver.url,
    args: ["--otlp-compression", "none", ...design.args]
  })
  try {
    for (let s = 0; s < LIVE_SECONDS * 10; s++) {
      for (let i = 0; i < LIVE_RATE / 10; i++) occur(pods[(seq * 7) % pods.length] as OwnedPod)
      await sleep(100)
    }
    const total = LISTED + LIVE_RATE * LIVE_SECONDS
    await receiver.waitFor(total, 180_000)
    const peak = collector.sample()?.peakRssMb ?? NaN
    const owners = ["pods", "replicasets", "jobs"]
    const count = (verb: "list" | "watch" | "get") =>
      sim.requests.filter({ verb }).filter((r) => verb === "get" || owners.includes(r.resource ?? "")).length
    return {
      design: design.design,
      args: design.args,
      records: receiver.records,
      with_owner: receiver.recordsWithOwner,
      first_record_s: ((receiver.firstArrivalMs ?? NaN) - collector.spawnedAtMs) / 1000,
      last_record_s: ((receiver.lastArrivalMs ?? NaN) - collector.spawnedAtMs) / 1000,
      peak_rss_mb: peak,
      enrichment_lists: count("list"),
      enrichment_watches: count("watch"),
      enrichment_gets: count("get")
    }
  } finally {
    await collector.stop()
    await receiver.close()
    await sim.close()
  }
}

/**
 * Delivery guarantees, with real processes over real HTTP: the collector is a child process reading the
 * simulated API server and exporting to the OTLP receiver, while the server keeps creating and repeating
 * events. Each test prints what it measured (lost, duplicated, peak RSS, takeover time).
 */
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { OPTIONS } from "../../src/cli/options.ts"
import { Resources, type SimServer, startSimServer } from "@k8s-event-collector/sim"
import { eventually } from "../support/collector.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"
import {
  type CollectorProcess,
  EventGenerator,
  leaseArgs,
  sleep,
  spawnCollector,
  tally,
  writeKubeconfig
} from "../support/processes.ts"

let sim: SimServer
let receiver: OtlpReceiver
let generator: EventGenerator
let kubeconfig: string
let dir: string
const running = new Set<CollectorProcess>()

beforeEach(async () => {
  sim = await startSimServer({ bookmarkIntervalMs: 500 })
  receiver = await startOtlpReceiver()
  generator = new EventGenerator(sim)
  kubeconfig = writeKubeconfig(sim)
  dir = mkdtempSync(join(tmpdir(), "kec-delivery-"))
})
afterEach(async () => {
  generator.stop()
  for (const p of running) p.child.kill("SIGKILL")
  await Promise.all([...running].map((p) => p.exited))
  running.clear()
  await sim.close()
  await receiver.close()
})

const BASE = [
  "--batch-size",
  "50",
  "--batch-linger",
  "20ms",
  "--retry-initial",
  "100ms",
  "--retry-max",
  "1s",
  "--api-retry-initial",
  "100ms",
  "--api-retry-max",
  "1s",
  "--otlp-compression",
  "none",
  "--checkpoint-interval",
  "0s"
]

const start = (extra: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const p = spawnCollector(["--kubeconfig", kubeconfig, "--otlp-endpoint", receiver.url, ...BASE, ...extra], env)
  running.add(p)
  void p.exited.then(() => running.delete(p))
  return p
}

const received = () => receiver.records.map((r) => String(r.attributes["log.record.uid"]))

/** Starts a last collector, lets it catch up with everything produced, stops it with SIGTERM. */
const drainAndStop = async (args: ReadonlyArray<string>) => {
  const last = start(args)
  await eventually(() => expect(tally(generator.occurrences, received()).lost).toBe(0), 60_000, 200)
  last.child.kill("SIGTERM")
  expect(await last.exited).toBe(0)
}

const report = (name: string, figures: Record<string, unknown>) =>
  console.log(
    `[delivery] ${name}: ${Object.entries(figures)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(" ")}`
  )

describe("restarts with a file checkpoint", () => {
  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    it(`${signal} at random moments, 20 times: nothing lost${signal === "SIGTERM" ? ", nothing twice" : ""}`, async () => {
      const checkpoint = join(dir, "checkpoint")
      const args = ["--checkpoint", `file:${checkpoint}`]
      // The first run has listed and saved a checkpoint before the server gets busy: what happened before any
      // collector ran can only be listed, and a list shows each event's latest occurrence, not the ones before.
      generator.step()
      let p = start(args)
      await eventually(() => expect(existsSync(checkpoint)).toBe(true), 20_000)
      generator.start(4, 20)
      const kills = 20
      for (let i = 0; i < kills; i++) {
        p.child.kill(signal)
        const code = await p.exited
        // A SIGTERM that lands before Node has evaluated the first module of the collector ends it by the signal's
        // default action (no code of ours can run yet; on a loaded machine that can take over 300 ms). Such a
        // process read nothing and logged nothing; every one that got as far as logging must exit 0.
        const beforeAnyCode = code === null && p.output.stdout === "" && p.output.stderr === ""
        if (signal === "SIGTERM" && !beforeAnyCode) expect(code, p.output.stderr).toBe(0)
        p = start(args)
        await sleep(300 + Math.random() * 1200)
      }
      p.child.kill(signal)
      await p.exited
      generator.stop()
      await drainAndStop(args)
      const t = tally(generator.occurrences, received())
      report(`${signal} x${kills}`, t)
      expect(t.lost).toBe(0)
      expect(t.unexpected).toBe(0)
      if (signal === "SIGTERM") expect(t.duplicates).toBe(0)
      // At most what was in flight (up to --export-concurrency batches of 50), or acknowledged while a save was
      // being written, at each kill.
      else expect(t.duplicates).toBeLessThanOrEqual(kills * (OPTIONS.exportConcurrency.default + 1) * 50)
    }, 180_000)
  }
})

describe("backend outage", () => {
  it("refused for 60 s, then 503s, then back: nothing lost, nothing twice, memory bounded", async () => {
    const port = receiver.port
    generator.step()
    const p = start(["--queue-size", "1000"])
    await eventually(() => expect(receiver.records.length).toBe(1), 20_000)
    generator.start(2, 20)
    await eventually(() => expect(receiver.records.length).toBeGreaterThan(50), 20_000)
    await receiver.close({ graceful: true })
    const beforeOutage = received()
    const rssBefore = p.peakRssMb()
    // The queue fills and the watch pauses within seconds; from then on memory must stay flat, however long it lasts.
    await sleep(20_000)
    const rssEarlyInOutage = p.rssMb()
    await sleep(40_000)
    const rssLateInOutage = p.rssMb()
    receiver = await startOtlpReceiver({ port, behaviour: { status: 503, retryAfter: "1" } })
    await sleep(10_000)
    receiver.setBehaviour({})
    await sleep(5_000)
    generator.stop()
    const all = () => [...beforeOutage, ...received()]
    await eventually(() => expect(tally(generator.occurrences, all()).lost).toBe(0), 60_000, 200)
    await sleep(500)
    const peak = p.peakRssMb()
    p.child.kill("SIGTERM")
    expect(await p.exited).toBe(0)
    const t = tally(generator.occurrences, all())
    report("outage: 60 s refused, 10 s 503, recovered", {
      ...t,
      refused503: receiver.requests.filter((r) => r.status === 503).length,
      peakRssMbBeforeOutage: rssBefore?.toFixed(1),
      rssMbAt20s: rssEarlyInOutage?.toFixed(1),
      rssMbAt60s: rssLateInOutage?.toFixed(1),
      peakRssMb: peak?.toFixed(1)
    })
    expect(t.lost).toBe(0)
    expect(t.duplicates).toBe(0)
    expect(t.unexpected).toBe(0)
    expect(peak).toBeDefined()
    // Bounded: the queue holds at most --queue-size records and the watch pauses, so the second 40 s of the outage
    // add nothing (V8's heap sizing makes the first seconds' rise vary from run to run).
    expect(rssLateInOutage ?? Infinity).toBeLessThan((rssEarlyInOutage ?? 0) + 40)
    expect(peak ?? Infinity).toBeLessThan(500)
  }, 150_000)
})

describe("watch expiry while down", () => {
  it("relists on restart when the checkpoint's resourceVersion was compacted away, and sends only what was missed", async () => {
    const checkpoint = join(dir, "checkpoint")
    const args = ["--checkpoint", `file:${checkpoint}`]
    generator.step()
    const p = start(args)
    await eventually(() => expect(received().length).toBe(1), 20_000)
    for (let i = 0; i < 30; i++) generator.step()
    await eventually(() => expect(tally(generator.occurrences, received()).lost).toBe(0), 20_000)
    p.child.kill("SIGTERM")
    expect(await p.exited).toBe(0)
    const beforeRestart = received().length
    // While it is down: new events only (a relist sees each event's latest state, so repeats would merge), and
    // the server compacts its history past the checkpoint.
    const missed = new Set<string>()
    for (let i = 0; i < 40; i++) {
      const o = sim.events.create({
        namespace: "late",
        reason: "Pulled",
        type: "Normal",
        message: `pulled image ${i}`,
        involvedObject: { apiVersion: "v1", kind: "Pod", namespace: "late", name: `late-${i}`, uid: `late-${i}` }
      })
      missed.add(`${o.metadata.uid}:${o.metadata.resourceVersion}`)
    }
    sim.store.compact()
    sim.requests.clear()
    const q = start(args)
    await eventually(() => expect(received().length).toBeGreaterThanOrEqual(beforeRestart + 40), 20_000)
    await sleep(1_000)
    q.child.kill("SIGTERM")
    expect(await q.exited).toBe(0)
    const all = new Set([...generator.occurrences, ...missed])
    const t = tally(all, received())
    report("watch expired while down", { ...t, lists: sim.requests.count({ verb: "list", resource: "events" }) })
    expect(t.lost).toBe(0)
    expect(t.duplicates).toBe(0)
    expect(received().length - beforeRestart).toBe(missed.size)
    // The resumed watch was told 410 Gone, then exactly one list, then a watch again.
    const events = sim.requests.filter({ resource: "events" })
    expect(events.map((r) => r.verb).slice(0, 3)).toEqual(["watch", "list", "watch"])
  }, 60_000)
})

describe("failover between two replicas", () => {
  it("the standby takes over within the lease duration from the shared ConfigMap checkpoint; nothing lost", async () => {
    const args = [...leaseArgs("3s", "2s", "400ms"), "--checkpoint", "configmap:default/kec-checkpoint"]
    generator.step()
    const a = start(args, { POD_NAME: "replica-a" })
    await eventually(() => expect(received().length).toBe(1), 20_000)
    const b = start(args, { POD_NAME: "replica-b" })
    generator.start(2, 20)
    await sleep(3_000)
    const holder = () => {
      const lease = sim.store.get(Resources.leases, "default", "kec")?.object
      const spec = lease?.["spec"]
      return typeof spec === "object" && spec !== null && "holderIdentity" in spec ? spec.holderIdentity : undefined
    }
    expect(holder()).toMatch(/^replica-a_[0-9a-f]{8}$/)
    expect(b.output.stderr).not.toMatch(/reading core\/v1 events/)
    a.child.kill("SIGKILL")
    const killedAt = Date.now()
    const countAtKill = received().length
    await eventually(() => expect(received().length).toBeGreaterThan(countAtKill + 20), 20_000, 20)
    const takeover = (Date.now() - killedAt) / 1000
    await sleep(2_000)
    generator.stop()
    await eventually(() => expect(tally(generator.occurrences, received()).lost).toBe(0), 30_000, 200)
    b.child.kill("SIGTERM")
    expect(await b.exited).toBe(0)
    const t = tally(generator.occurrences, received())
    report("failover (SIGKILL of the leader)", { ...t, takeoverSeconds: takeover.toFixed(2), leaseDurationSeconds: 3 })
    expect(holder()).not.toMatch(/^replica-a_/)
    expect(b.output.stderr).toMatch(/became leader/)
    expect(t.lost).toBe(0)
    expect(t.unexpected).toBe(0)
    // The standby waits out the lease (3 s), measured from when it last saw it renewed, plus its retry period.
    expect(takeover).toBeLessThan(3 + 2 * 0.4 * 2.2 + 1.5)
  }, 90_000)
})

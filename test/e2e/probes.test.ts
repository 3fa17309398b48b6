/** /healthz, /readyz and /metrics of a running collector, against the simulated API server. */
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type SimServer, simKubeConfig, startSimServer } from "@k8s-event-collector/sim"
import { eventually, type RunningCollector, startCollector } from "../support/collector.ts"
import { FAST_LEASE_ARGS } from "../support/processes.ts"

let sim: SimServer
const collectors: Array<RunningCollector> = []

beforeEach(async () => {
  sim = await startSimServer({ bookmarkIntervalMs: 200 })
})
afterEach(async () => {
  await Promise.all(collectors.splice(0).map((c) => c.stop()))
  await sim.close()
})

const start = (extra: ReadonlyArray<string>) => {
  const c = startCollector(simKubeConfig(sim.url), [
    "--exporter",
    "none",
    "--listen",
    "127.0.0.1:0",
    "--api-retry-initial",
    "50ms",
    "--api-retry-max",
    "200ms",
    ...extra
  ])
  collectors.push(c)
  return c
}

const probe = async (c: RunningCollector, path: string) => {
  const base = c.probeUrl()
  if (base === undefined) throw new Error("the probe server is not listening yet")
  const res = await fetch(base + path)
  return { status: res.status, body: await res.text() }
}

describe("probes", () => {
  it("/healthz turns unhealthy while the server holds the watch open and silent, and healthy again after", async () => {
    const c = start(["--watch-timeout", "1s", "--watch-idle-timeout", "2100ms", "--stall-timeout", "2500ms"])
    await eventually(async () => expect((await probe(c, "/healthz")).status).toBe(200))
    const silent = sim.faults.add({ verb: "watch", resource: "events", action: { type: "silentWatch" } })
    sim.endWatches()
    await eventually(
      async () => {
        const r = await probe(c, "/healthz")
        expect(r.status).toBe(503)
        expect(JSON.parse(r.body)).toMatchObject({ status: "stalled", role: "leader" })
      },
      10_000,
      200
    )
    silent.clear()
    await eventually(async () => expect((await probe(c, "/healthz")).status).toBe(200), 10_000, 200)
  })

  it("/readyz is not ready while the API refuses, ready once it answers", async () => {
    const forbidden = sim.faults.add({ verb: "list", resource: "events", action: { type: "forbidden" } })
    const c = start([])
    await eventually(async () => {
      const r = await probe(c, "/readyz")
      expect(r.status).toBe(503)
      expect(JSON.parse(r.body)).toMatchObject({ apiReachable: false })
    })
    forbidden.clear()
    await eventually(async () => {
      const r = await probe(c, "/readyz")
      expect(r.status).toBe(200)
      expect(JSON.parse(r.body)).toMatchObject({ status: "ready", role: "leader" })
    })
  })

  it("/readyz follows leadership between two replicas", async () => {
    const lease = FAST_LEASE_ARGS
    process.env["POD_NAME"] = "probe-a"
    const a = start(lease)
    await eventually(async () =>
      expect(JSON.parse((await probe(a, "/readyz")).body)).toMatchObject({
        role: "leader",
        leader: expect.stringMatching(/^probe-a_/)
      })
    )
    process.env["POD_NAME"] = "probe-b"
    const b = start(lease)
    delete process.env["POD_NAME"]
    await eventually(async () => {
      const r = await probe(b, "/readyz")
      expect(r.status).toBe(200)
      expect(JSON.parse(r.body)).toMatchObject({ role: "standby", leader: expect.stringMatching(/^probe-a_/) })
    })
    await a.stop()
    collectors.splice(collectors.indexOf(a), 1)
    await eventually(
      async () =>
        expect(JSON.parse((await probe(b, "/readyz")).body)).toMatchObject({
          role: "leader",
          leader: expect.stringMatching(/^probe-b_/)
        }),
      10_000
    )
  })

  it("/metrics speaks the Prometheus text format with the collector's names", async () => {
    sim.events.bulkLoad(5)
    const c = start([])
    await eventually(async () => {
      const r = await probe(c, "/metrics")
      expect(r.status).toBe(200)
      expect(r.body).toMatch(/^k8s_event_collector_events_received_total\{api="core\/v1",type="ADDED"\} 5$/m)
      expect(r.body).toMatch(/^k8s_event_collector_records_exported_total 5$/m)
    })
    expect((await probe(c, "/nope")).status).toBe(404)
  })
})

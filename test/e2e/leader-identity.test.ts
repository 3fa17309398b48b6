/**
 * Two collectors on one host with no POD_NAME, as two systemd units on one VM or two `hostNetwork` pods on one
 * node: they share the host name, yet exactly one of them leads and every occurrence is exported once.
 */
import { hostname } from "node:os"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Resources, type SimServer, startSimServer } from "@k8s-event-collector/sim"
import { eventually } from "../support/collector.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"
import {
  type CollectorProcess,
  FAST_LEASE_ARGS,
  probeBaseUrl,
  sleep,
  spawnCollector,
  writeKubeconfig
} from "../support/processes.ts"

let sim: SimServer
let receiver: OtlpReceiver
const running: Array<CollectorProcess> = []

beforeEach(async () => {
  sim = await startSimServer({ bookmarkIntervalMs: 500 })
  receiver = await startOtlpReceiver()
})
afterEach(async () => {
  for (const p of running) p.child.kill("SIGKILL")
  await Promise.all(running.splice(0).map((p) => p.exited))
  await sim.close()
  await receiver.close()
})

const readyz = async (p: CollectorProcess): Promise<{ role: string; leader: string | null }> => {
  const base = probeBaseUrl(p)
  if (base === undefined) throw new Error("the probe server is not listening yet")
  const body: unknown = await (await fetch(`${base}/readyz`)).json()
  const role = typeof body === "object" && body !== null && "role" in body ? String(body.role) : "?"
  const leader =
    typeof body === "object" && body !== null && "leader" in body && typeof body.leader === "string"
      ? body.leader
      : null
  return { role, leader }
}

const leaseHolder = (): unknown => {
  const spec = sim.store.get(Resources.leases, "default", "kec")?.object["spec"]
  return typeof spec === "object" && spec !== null && "holderIdentity" in spec ? spec.holderIdentity : undefined
}

describe("two collectors on one host without POD_NAME", () => {
  it("each has its own identity: exactly one leads at any time, and each occurrence is exported once", async () => {
    sim.events.bulkLoad(40)
    const kubeconfig = writeKubeconfig(sim)
    const args = [
      "--kubeconfig",
      kubeconfig,
      "--otlp-endpoint",
      receiver.url,
      "--listen",
      "127.0.0.1:0",
      ...FAST_LEASE_ARGS
    ]
    // POD_NAME empty counts as unset: both fall back to the host name they share.
    const a = spawnCollector(args, { POD_NAME: "" })
    const b = spawnCollector(args, { POD_NAME: "" })
    running.push(a, b)
    await eventually(
      async () => {
        const roles = [await readyz(a), await readyz(b)]
        expect(roles.filter((r) => r.role === "leader")).toHaveLength(1)
        // The standby has read the Lease at least once (one retry period after the leader took it).
        expect(roles[0]?.leader ?? null).not.toBeNull()
        expect(roles[0]?.leader).toBe(roles[1]?.leader)
      },
      20_000,
      100
    )

    // Sampled for a few lease durations: never two leaders, never none, and both agree who it is.
    const samples: Array<string> = []
    for (const end = Date.now() + 5_000; Date.now() < end; await sleep(100)) {
      const [ra, rb] = [await readyz(a), await readyz(b)]
      samples.push(`${ra.role}/${rb.role}`)
      expect([ra.role, rb.role].filter((r) => r === "leader")).toHaveLength(1)
      expect(ra.leader).toBe(rb.leader)
      expect(ra.leader).toBe(leaseHolder())
    }
    expect(samples.length).toBeGreaterThan(10)

    const identities = [a, b].map((p) => /"identity":"([^"]+)"/.exec(p.output.stderr)?.[1])
    expect(identities[0]).toMatch(new RegExp(`^${hostname()}_[0-9a-f]{8}$`))
    expect(identities[1]).toMatch(new RegExp(`^${hostname()}_[0-9a-f]{8}$`))
    expect(identities[0]).not.toBe(identities[1])

    await eventually(() => expect(receiver.records).toHaveLength(40), 10_000)
    await sleep(1_000)
    expect(receiver.records).toHaveLength(40)
    expect(new Set(receiver.records.map((r) => r.attributes["log.record.uid"])).size).toBe(40)
  }, 60_000)
})

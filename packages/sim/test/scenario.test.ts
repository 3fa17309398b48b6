import { AppsV1Api, BatchV1Api, CoreV1Api, EventsV1Api } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { runScenario, simKubeConfig, startSimServer } from "../src/index.ts"
import { collectWatch } from "./helpers.ts"

describe("demo scenario", () => {
  it("plays the whole story through the API, with the objects the events talk about", async () => {
    const sim = await startSimServer({ bookmarkIntervalMs: 100 })
    try {
      const kc = simKubeConfig(sim.url)
      const w = await collectWatch(kc, "/api/v1/events", { resourceVersion: "0" })
      const run = runScenario(sim, { speed: 100 })
      await run.done
      expect(run.errors).toEqual([])

      const core = kc.makeApiClient(CoreV1Api)
      const list = await core.listEventForAllNamespaces()
      const reasons = new Set(list.items.map((e) => e.reason))
      for (const r of [
        "ScalingReplicaSet",
        "SuccessfulCreate",
        "Scheduled",
        "Pulling",
        "Pulled",
        "Created",
        "Started",
        "Failed",
        "BackOff",
        "OOMKilling",
        "FailedScheduling",
        "NodeNotReady",
        "NodeReady",
        "SuccessfulRescale",
        "Completed"
      ]) {
        expect(reasons, r).toContain(r)
      }

      const crash = list.items.find((e) => e.reason === "BackOff" && e.involvedObject.name?.startsWith("cart-"))
      expect(crash?.type).toBe("Warning")
      expect(crash?.count).toBe(5)
      const pullFailed = list.items.find((e) => e.reason === "Failed" && e.message?.includes("Failed to pull image"))
      expect(pullFailed?.involvedObject.fieldPath).toBe("spec.containers{payments}")

      const oom = list.items.find((e) => e.reason === "OOMKilling")
      expect(oom?.involvedObject.kind).toBe("Node")
      expect(oom?.source?.component).toBe("kernel-monitor")

      const v1 = await kc
        .makeApiClient(EventsV1Api)
        .listEventForAllNamespaces({ fieldSelector: "reason=FailedScheduling" })
      expect(v1.items).toHaveLength(1)
      const fs = v1.items[0]
      expect(typeof fs?.eventTime).toBe("string")
      expect(fs?.series?.count).toBe(4)
      expect(fs?.reportingController).toBe("default-scheduler")
      expect(fs?.deprecatedCount).toBeUndefined()

      const hpa = list.items.find((e) => e.reason === "SuccessfulRescale")
      expect(hpa?.involvedObject.kind).toBe("HorizontalPodAutoscaler")

      // Owner chains: pod → replicaset → deployment, pod → job → cronjob.
      const pod = await core.readNamespacedPod({ namespace: "shop", name: "checkout-7d9f8b6c5d-x2k4p" })
      expect(pod.metadata?.annotations?.["resource.opentelemetry.io/service.name"]).toBe("checkout-service")
      expect(pod.metadata?.labels?.["app.kubernetes.io/name"]).toBe("checkout")
      const rsRef = pod.metadata?.ownerReferences?.[0]
      expect(rsRef?.kind).toBe("ReplicaSet")
      const apps = kc.makeApiClient(AppsV1Api)
      const rs = await apps.readNamespacedReplicaSet({ namespace: "shop", name: rsRef?.name ?? "" })
      expect(rs.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "Deployment", name: "checkout" })
      const jobPod = await core.readNamespacedPod({ namespace: "shop", name: "nightly-report-29000000-x7k2p" })
      expect(jobPod.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "Job", name: "nightly-report-29000000" })
      const job = await kc
        .makeApiClient(BatchV1Api)
        .readNamespacedJob({ namespace: "shop", name: "nightly-report-29000000" })
      expect(job.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "CronJob", name: "nightly-report" })
      const node = await core.readNode({ name: "node-3" })
      expect(node.status?.conditions?.[0]?.status).toBe("True")

      // The watch saw every occurrence: repeats are MODIFIED events with a new resourceVersion.
      await w.waitFor((evs) => evs.length >= list.items.length)
      expect(w.events.filter((e) => e.type === "MODIFIED").length).toBeGreaterThanOrEqual(10)
      w.abort()
    } finally {
      await sim.close()
    }
  })

  it("keeps failures recurring in loop mode until stopped", async () => {
    const sim = await startSimServer()
    try {
      const run = runScenario(sim, { speed: 200, loop: true, loopIntervalMs: 1000 })
      await new Promise((r) => setTimeout(r, 250))
      run.stop()
      await run.done
      expect(run.executed.filter((s) => s === "loop").length).toBeGreaterThan(3)
      expect(run.errors).toEqual([])
    } finally {
      await sim.close()
    }
  })
})

/**
 * Enrichment, filters, severity rules and noise control through the whole pipeline: the real client against the
 * simulated API server, records decoded by the OTLP env.receiver.
 */
import { describe, expect, it } from "vitest"
import type { StoredKubeObject } from "@k8s-event-collector/sim"
import { eventually, useSimAndReceiver } from "../support/collector.ts"

const env = useSimAndReceiver()

const start = (extra: ReadonlyArray<string> = []) =>
  env.start(["--batch-linger", "20ms", "--otlp-compression", "none", "--api-retry-initial", "50ms", ...extra])

const podEvent = (pod: StoredKubeObject, reason: string, type = "Warning", message = `${reason} happened`) =>
  env.sim.events.create({
    namespace: pod.metadata.namespace ?? "default",
    reason,
    type,
    message,
    source: { component: "kubelet", host: "node-9" },
    involvedObject: {
      apiVersion: "v1",
      kind: "Pod",
      namespace: pod.metadata.namespace ?? "default",
      name: pod.metadata.name,
      uid: pod.metadata.uid
    }
  })

describe("enrichment through the pipeline", () => {
  it("a pod event carries its deployment, replicaset, pod uid, node and service.name; a CronJob's pod its cronjob", async () => {
    const deploy = env.sim.objects.deployment({ namespace: "shop", name: "checkout" })
    const rs = env.sim.objects.replicaSet({ namespace: "shop", name: "checkout-7d9f", owner: deploy })
    const pod = env.sim.objects.pod({
      namespace: "shop",
      name: "checkout-7d9f-abcde",
      owner: rs,
      nodeName: "node-1",
      annotations: { "resource.opentelemetry.io/service.name": "checkout-api" }
    })
    const cron = env.sim.objects.cronJob({ namespace: "batch", name: "nightly" })
    const job = env.sim.objects.job({ namespace: "batch", name: "nightly-2900", owner: cron })
    const jobPod = env.sim.objects.pod({ namespace: "batch", name: "nightly-2900-x1", owner: job, nodeName: "node-2" })
    podEvent(pod, "BackOff")
    podEvent(jobPod, "Completed", "Normal")
    start()
    await eventually(() => expect(env.receiver.records).toHaveLength(2))
    const byReason = new Map(env.receiver.records.map((r) => [r.attributes["k8s.event.reason"], r.resource]))
    expect(byReason.get("BackOff")).toMatchObject({
      "k8s.deployment.name": "checkout",
      "k8s.replicaset.name": "checkout-7d9f",
      "k8s.pod.name": "checkout-7d9f-abcde",
      "k8s.pod.uid": pod.metadata.uid,
      "k8s.node.name": "node-1",
      "service.name": "checkout-api",
      "service.namespace": "shop"
    })
    expect(byReason.get("Completed")).toMatchObject({
      "k8s.cronjob.name": "nightly",
      "k8s.job.name": "nightly-2900",
      "service.name": "nightly"
    })
  })

  it("with pods forbidden, records keep flowing without those attributes", async () => {
    env.sim.faults.add({ verb: ["get", "list"], resource: "pods", action: { type: "forbidden" } })
    const deploy = env.sim.objects.deployment({ namespace: "shop", name: "lonely" })
    const rs = env.sim.objects.replicaSet({ namespace: "shop", name: "lonely-5f", owner: deploy })
    const pod = env.sim.objects.pod({ namespace: "shop", name: "lonely-5f-x", owner: rs, nodeName: "node-1" })
    podEvent(pod, "BackOff")
    const c = start()
    await eventually(() => expect(env.receiver.records).toHaveLength(1))
    const resource = env.receiver.records[0]?.resource ?? {}
    // What the event itself says stays; what only the pod knows (its node, its owners) is missing.
    expect(resource["k8s.pod.name"]).toBe("lonely-5f-x")
    expect(resource["k8s.node.name"]).toBe("node-9")
    expect(resource["k8s.replicaset.name"]).toBeUndefined()
    expect(resource["k8s.deployment.name"]).toBeUndefined()
    expect(c.logs.filter((l) => /not allowed to get pods/.test(l.message))).toHaveLength(1)
    expect(c.logs.filter((l) => /not allowed to list pods/.test(l.message))).toHaveLength(1)
  })
})

describe("filters and severity rules through the pipeline", () => {
  it("pushes what it can into the fieldSelector the server receives, and applies the rest itself", async () => {
    const pod = env.sim.objects.pod({ namespace: "prod-eu", name: "web-1" })
    const other = env.sim.objects.pod({ namespace: "dev", name: "web-2" })
    podEvent(pod, "BackOff")
    podEvent(pod, "Pulled", "Normal")
    podEvent(other, "BackOff")
    podEvent(pod, "OOMKilling")
    const c = start([
      "--include",
      "namespace=prod-*,reason=/^(BackOff|OOM)/",
      "--exclude",
      "reason=Pulled",
      "--enrichment",
      "off"
    ])
    await eventually(() => expect(env.receiver.records).toHaveLength(2))
    const selectors = new Set(env.sim.requests.filter({ resource: "events" }).map((r) => r.query["fieldSelector"]))
    expect(selectors).toEqual(new Set(["reason!=Pulled"]))
    expect(env.receiver.records.map((r) => r.attributes["k8s.event.reason"]).sort()).toEqual(["BackOff", "OOMKilling"])
    // Severity: Warning is WARN, OOMKilling is raised to ERROR by the default rules.
    const severity = new Map(env.receiver.records.map((r) => [r.attributes["k8s.event.reason"], r.severityNumber]))
    expect(severity.get("BackOff")).toBe(13)
    expect(severity.get("OOMKilling")).toBe(17)
    expect(c.logs.some((l) => /fieldSelector reason!=Pulled/.test(l.message))).toBe(true)
  })
})

describe("noise control", () => {
  it("500 identical BackOff occurrences in one window: N records and one summary whose count makes 500", async () => {
    const pod = env.sim.objects.pod({ namespace: "shop", name: "crashy" })
    const first = podEvent(pod, "BackOff", "Warning", "Back-off restarting failed container")
    start(["--throttle", "10/2s", "--enrichment", "off"])
    await eventually(() => expect(env.receiver.records).toHaveLength(1))
    for (let i = 0; i < 499; i++) env.sim.events.repeat(first.metadata.uid)
    await eventually(
      () =>
        expect(env.receiver.records.some((r) => r.attributes["k8s.event.suppressed_count"] !== undefined)).toBe(true),
      10_000
    )
    const plain = env.receiver.records.filter((r) => r.attributes["k8s.event.suppressed_count"] === undefined)
    const summaries = env.receiver.records.filter((r) => r.attributes["k8s.event.suppressed_count"] !== undefined)
    expect(plain).toHaveLength(10)
    expect(summaries).toHaveLength(1)
    expect(plain.length + Number(summaries[0]?.attributes["k8s.event.suppressed_count"])).toBe(500)
    expect(summaries[0]?.resource["k8s.pod.name"]).toBe("crashy")
    expect(String(summaries[0]?.body)).toMatch(/^490 more occurrences of BackOff held back/)
    expect(new Set(env.receiver.records.map((r) => r.attributes["log.record.uid"])).size).toBe(11)
  })
})

/** After a scripted run against the simulated API server, /metrics says what happened, metric by metric. */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { eventually, useSimAndReceiver } from "../support/collector.ts"
import { samples } from "../support/prometheusText.ts"

const env = useSimAndReceiver()

describe("/metrics after a scripted run", () => {
  it("counts what was received, exported, filtered, dropped, looked up, restarted and committed", async () => {
    const deploy = env.sim.objects.deployment({ namespace: "shop", name: "web" })
    const rs = env.sim.objects.replicaSet({ namespace: "shop", name: "web-6d", owner: deploy })
    const pod = env.sim.objects.pod({ namespace: "shop", name: "web-6d-a", owner: rs, nodeName: "node-1" })
    const involvedObject = {
      apiVersion: "v1",
      kind: "Pod",
      namespace: "shop",
      name: pod.metadata.name,
      uid: pod.metadata.uid
    }
    const event = (reason: string, extra: Record<string, unknown> = {}) =>
      env.sim.events.create({ namespace: "shop", reason, type: "Warning", message: reason, involvedObject, ...extra })
    for (let i = 0; i < 3; i++) event("BackOff")
    event("Pulled")
    event("Broken", { lastTimestamp: "yesterday" })
    const dir = mkdtempSync(join(tmpdir(), "kec-metrics-"))
    const c = env.start([
      "--listen",
      "127.0.0.1:0",
      "--batch-linger",
      "20ms",
      "--otlp-compression",
      "none",
      "--exclude",
      "reason=/^Pulled$/",
      "--checkpoint",
      `file:${join(dir, "cp")}`,
      "--checkpoint-interval",
      "0s",
      "--retry-initial",
      "50ms"
    ])
    await eventually(() => expect(env.receiver.records).toHaveLength(3))
    // The backend rejects the next batch; then the watch is ended once by the server.
    env.receiver.setBehaviour({ status: 400, times: 1 })
    event("OOMKilling")
    await eventually(() => expect(env.receiver.requests.filter((r) => r.status === 400)).toHaveLength(1))
    env.sim.endWatches()
    event("Evicted")
    await eventually(() => expect(env.receiver.records).toHaveLength(4))

    let m = new Map<string, number>()
    await eventually(async () => {
      const res = await fetch(`${c.probeUrl() ?? ""}/metrics`)
      m = samples(await res.text())
      expect(m.get('k8s_event_collector_checkpoint_commits_total{result="success"}')).toBeGreaterThan(0)
      expect(m.get('k8s_event_collector_watch_restarts_total{cause="timeout"}')).toBe(1)
    })
    const v = (series: string) => m.get(`k8s_event_collector_${series}`)
    expect(v(`events_received_total{api="core/v1",type="ADDED"}`)).toBe(6)
    expect(v("decode_failures_total")).toBe(1)
    expect(v(`records_filtered_total{rule="exclude[0]"}`)).toBe(1)
    expect(v("records_exported_total")).toBe(4)
    expect(v(`records_dropped_total{reason="rejected_by_backend"}`)).toBe(1)
    expect(v(`export_batches_total{outcome="rejected"}`)).toBe(1)
    expect(v(`export_batches_total{outcome="success"}`)).toBeGreaterThanOrEqual(2)
    // The histogram times the attempts that succeeded.
    expect(v("export_duration_seconds_count")).toBeGreaterThanOrEqual(2)
    expect(v("queue_depth")).toBe(0)
    expect(v(`relists_total{cause="start"}`)).toBe(1)
    // Five events went on to enrichment (Pulled was filtered out first): their pod and its ReplicaSet were in the
    // list+watch caches, so no GET was sent.
    expect(v(`enrichment_lookups_total{kind="Pod",result="hit"}`)).toBe(5)
    expect(v(`enrichment_lookups_total{kind="ReplicaSet",result="hit"}`)).toBe(5)
    expect(v(`enrichment_lookups_total{kind="Pod",result="miss"}`)).toBeUndefined()
    expect(v(`enrichment_requests_total{kind="Pod",outcome="found"}`)).toBeUndefined()
    expect(v(`enrichment_cached_objects{kind="Pod"}`)).toBe(1)
    expect(v(`enrichment_cached_objects{kind="ReplicaSet"}`)).toBe(1)
    expect(v(`enrichment_cached_objects{kind="Job"}`)).toBe(0)
    expect(v("last_event_timestamp_seconds")).toBeGreaterThan(Date.now() / 1000 - 60)
    expect(v("leader")).toBe(1)
    expect(v("checkpoint_age_seconds")).toBeLessThan(60)
  })

  it("counts the records a partial success rejected as dropped (rejected_by_backend), the rest as exported", async () => {
    const involvedObject = { apiVersion: "v1", kind: "Pod", namespace: "shop", name: "web-1", uid: "pod-web-1" }
    for (let i = 0; i < 4; i++) {
      env.sim.events.create({ namespace: "shop", reason: `R${i}`, type: "Warning", message: `m${i}`, involvedObject })
    }
    env.receiver.setBehaviour({ partialSuccess: { rejectedLogRecords: 3, errorMessage: "too old" }, times: 1 })
    const c = env.start(["--listen", "127.0.0.1:0", "--batch-linger", "200ms", "--enrichment", "off"])
    // The four listed events go in one request, answered with a partial success.
    await eventually(() => expect(env.receiver.requests.filter((r) => r.status === 200)).toHaveLength(1))
    expect(env.receiver.requests[0]?.records).toBe(4)
    let m = new Map<string, number>()
    await eventually(async () => {
      m = samples(await (await fetch(`${c.probeUrl() ?? ""}/metrics`)).text())
      expect(m.get(`k8s_event_collector_records_dropped_total{reason="rejected_by_backend"}`)).toBe(3)
    })
    expect(m.get("k8s_event_collector_records_exported_total")).toBe(1)
    expect(
      c.logs.filter((l) => l.level === "ERROR" && /rejected_by_backend: partial success: too old/.test(l.message))
    ).toHaveLength(1)
  })
})

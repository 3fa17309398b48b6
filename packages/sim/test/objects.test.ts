import {
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions
} from "@kubernetes/client-node"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type SimServer, simKubeConfig, startSimServer } from "../src/index.ts"
import { apiError, collectWatch } from "./helpers.ts"

let sim: SimServer
let kc: KubeConfig

beforeEach(async () => {
  sim = await startSimServer()
  kc = simKubeConfig(sim.url)
})

afterEach(async () => {
  await sim.close()
})

describe("Leases", () => {
  it("GET / POST / PUT with 409 Conflict on a stale resourceVersion", async () => {
    const api = kc.makeApiClient(CoordinationV1Api)
    const missing = await apiError(api.readNamespacedLease({ namespace: "ops", name: "collector" }))
    expect(missing.code).toBe(404)
    expect(missing.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'leases.coordination.k8s.io "collector" not found',
      reason: "NotFound",
      details: { name: "collector", group: "coordination.k8s.io", kind: "leases" },
      code: 404
    })

    const created = await api.createNamespacedLease({
      namespace: "ops",
      body: { metadata: { name: "collector" }, spec: { holderIdentity: "pod-a", leaseDurationSeconds: 15 } }
    })
    expect(created.metadata?.uid).toBeTruthy()
    const dup = await apiError(
      api.createNamespacedLease({ namespace: "ops", body: { metadata: { name: "collector" } } })
    )
    expect(dup.code).toBe(409)
    expect(dup.body).toMatchObject({ reason: "AlreadyExists" })

    const read = await api.readNamespacedLease({ namespace: "ops", name: "collector" })
    expect(read.spec?.holderIdentity).toBe("pod-a")
    const renewed = await api.replaceNamespacedLease({
      namespace: "ops",
      name: "collector",
      body: { ...read, spec: { ...read.spec, holderIdentity: "pod-a", leaseDurationSeconds: 15 } }
    })
    expect(Number(renewed.metadata?.resourceVersion)).toBeGreaterThan(Number(read.metadata?.resourceVersion))

    // Another replica still holds the old resourceVersion: it must lose.
    const stale = await apiError(
      api.replaceNamespacedLease({
        namespace: "ops",
        name: "collector",
        body: { ...read, spec: { holderIdentity: "pod-b" } }
      })
    )
    expect(stale.code).toBe(409)
    expect(stale.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message:
        'Operation cannot be fulfilled on leases.coordination.k8s.io "collector": the object has been modified; please apply your changes to the latest version and try again',
      reason: "Conflict",
      details: { name: "collector", group: "coordination.k8s.io", kind: "leases" },
      code: 409
    })
    expect((await api.readNamespacedLease({ namespace: "ops", name: "collector" })).spec?.holderIdentity).toBe("pod-a")
  })

  it("keeps MicroTime strings as sent (client-node types them as Date)", async () => {
    sim.objects.lease({ namespace: "ops", name: "l", holderIdentity: "me" })
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: "ops", name: "l" })
    expect(typeof lease.spec?.renewTime).toBe("string")
  })
})

describe("ConfigMaps", () => {
  it("create, replace with optimistic concurrency, patch, watch", async () => {
    const api = kc.makeApiClient(CoreV1Api)
    const w = await collectWatch(kc, "/api/v1/namespaces/ops/configmaps", {
      resourceVersion: String(sim.store.resourceVersion)
    })
    const cm = await api.createNamespacedConfigMap({
      namespace: "ops",
      body: { metadata: { name: "checkpoint" }, data: { rv: "1" } }
    })
    const v2 = await api.replaceNamespacedConfigMap({
      namespace: "ops",
      name: "checkpoint",
      body: { ...cm, data: { rv: "2" } }
    })
    expect(v2.data).toEqual({ rv: "2" })
    const stale = await apiError(
      api.replaceNamespacedConfigMap({ namespace: "ops", name: "checkpoint", body: { ...cm, data: { rv: "3" } } })
    )
    expect(stale.code).toBe(409)
    expect(stale.body).toMatchObject({ reason: "Conflict", details: { kind: "configmaps", name: "checkpoint" } })
    // Unconditional update: no resourceVersion in the body.
    const { resourceVersion: _rv, ...meta } = v2.metadata ?? {}
    const v3 = await api.replaceNamespacedConfigMap({
      namespace: "ops",
      name: "checkpoint",
      body: { ...v2, metadata: meta, data: { rv: "3" } }
    })
    expect(v3.data).toEqual({ rv: "3" })
    // client-node's default patch type is JSON patch; merge patch via the Content-Type header.
    const p1 = await api.patchNamespacedConfigMap({
      namespace: "ops",
      name: "checkpoint",
      body: [{ op: "replace", path: "/data/rv", value: "4" }]
    })
    expect(p1.data).toEqual({ rv: "4" })
    const p2 = await api.patchNamespacedConfigMap(
      { namespace: "ops", name: "checkpoint", body: { data: { extra: "x" } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch)
    )
    expect(p2.data).toEqual({ rv: "4", extra: "x" })
    const conflict = await apiError(
      api.patchNamespacedConfigMap(
        {
          namespace: "ops",
          name: "checkpoint",
          body: { metadata: { resourceVersion: cm.metadata?.resourceVersion }, data: { rv: "5" } }
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch)
      )
    )
    expect(conflict.code).toBe(409)
    await w.waitFor((evs) => evs.length === 5)
    expect(w.events.map((e) => e.type)).toEqual(["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "MODIFIED"])
    w.abort()
  })

  it("refuses writes to read-only resources with 405", async () => {
    const err = await apiError(
      kc.makeApiClient(CoreV1Api).createNamespacedPod({ namespace: "a", body: { metadata: { name: "p" } } })
    )
    expect(err.code).toBe(405)
  })
})

describe("workload objects", () => {
  it("serves Pods, ReplicaSets, Deployments, Jobs, CronJobs and Nodes with owner references", async () => {
    const o = sim.objects
    const dep = o.deployment({ namespace: "shop", name: "web" })
    const rs = o.replicaSet({ namespace: "shop", name: "web-5d8c6749f5", owner: dep })
    o.pod({
      namespace: "shop",
      name: "web-5d8c6749f5-abcde",
      owner: rs,
      nodeName: "node-1",
      annotations: { "resource.opentelemetry.io/service.name": "web-svc" }
    })
    const cj = o.cronJob({ namespace: "shop", name: "report" })
    const job = o.job({ namespace: "shop", name: "report-28000000", owner: cj })
    o.pod({ namespace: "shop", name: "report-28000000-xyz12", owner: job })
    o.node("node-1")
    o.statefulSet({ namespace: "shop", name: "db" })
    o.daemonSet({ namespace: "shop", name: "agent" })

    const core = kc.makeApiClient(CoreV1Api)
    const apps = kc.makeApiClient(AppsV1Api)
    const batch = kc.makeApiClient(BatchV1Api)
    const pod = await core.readNamespacedPod({ namespace: "shop", name: "web-5d8c6749f5-abcde" })
    expect(pod.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: "ReplicaSet",
      name: "web-5d8c6749f5",
      uid: rs.metadata.uid,
      controller: true
    })
    expect(pod.metadata?.labels?.["app.kubernetes.io/name"]).toBe("web")
    expect(pod.metadata?.annotations?.["resource.opentelemetry.io/service.name"]).toBe("web-svc")
    const rsRead = await apps.readNamespacedReplicaSet({ namespace: "shop", name: "web-5d8c6749f5" })
    expect(rsRead.metadata?.ownerReferences?.[0]).toMatchObject({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "web"
    })
    expect((await apps.readNamespacedDeployment({ namespace: "shop", name: "web" })).metadata?.uid).toBe(
      dep.metadata.uid
    )
    const jobRead = await batch.readNamespacedJob({ namespace: "shop", name: "report-28000000" })
    expect(jobRead.metadata?.ownerReferences?.[0]).toMatchObject({
      apiVersion: "batch/v1",
      kind: "CronJob",
      name: "report"
    })
    expect((await batch.readNamespacedCronJob({ namespace: "shop", name: "report" })).kind).toBe("CronJob")
    expect((await core.readNode({ name: "node-1" })).kind).toBe("Node")
    expect((await apps.readNamespacedStatefulSet({ namespace: "shop", name: "db" })).kind).toBe("StatefulSet")
    expect((await apps.readNamespacedDaemonSet({ namespace: "shop", name: "agent" })).kind).toBe("DaemonSet")
    const missing = await apiError(apps.readNamespacedDeployment({ namespace: "shop", name: "nope" }))
    expect(missing.body).toMatchObject({ message: 'deployments.apps "nope" not found', reason: "NotFound", code: 404 })
    // All objects share one resourceVersion sequence.
    const rvs = [dep, rs, cj, job].map((x) => Number(x.metadata.resourceVersion))
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b))
  })
})

describe("ownedPods", () => {
  it("builds Deployment → ReplicaSet → pods and CronJob → Job → pod, each link a controller owner reference", async () => {
    const owned = sim.objects.ownedPods({ deployments: 2, cronJobs: 1, namespace: "shop" })
    expect(owned.map((o) => [o.pod.metadata.name, o.owner, o.top, o.service])).toEqual([
      ["web-0-7d9f8b-0", "web-0-7d9f8b", "web-0", "svc-0"],
      ["web-0-7d9f8b-1", "web-0-7d9f8b", "web-0", "svc-0"],
      ["web-1-7d9f8b-0", "web-1-7d9f8b", "web-1", "svc-1"],
      ["web-1-7d9f8b-1", "web-1-7d9f8b", "web-1", "svc-1"],
      ["backup-0-2917-x", "backup-0-2917", "backup-0", "backup-0"]
    ])
    const apps = kc.makeApiClient(AppsV1Api)
    const batch = kc.makeApiClient(BatchV1Api)
    const core = kc.makeApiClient(CoreV1Api)
    const controllerOf = (refs: ReadonlyArray<{ kind: string; name: string; controller?: boolean }> | undefined) =>
      refs?.filter((r) => r.controller === true).map((r) => `${r.kind}/${r.name}`)
    const pod = await core.readNamespacedPod({ namespace: "shop", name: "web-1-7d9f8b-0" })
    expect(controllerOf(pod.metadata?.ownerReferences)).toEqual(["ReplicaSet/web-1-7d9f8b"])
    expect(pod.metadata?.annotations?.["resource.opentelemetry.io/service.name"]).toBe("svc-1")
    const rs = await apps.readNamespacedReplicaSet({ namespace: "shop", name: "web-1-7d9f8b" })
    expect(controllerOf(rs.metadata?.ownerReferences)).toEqual(["Deployment/web-1"])
    const jobPod = await core.readNamespacedPod({ namespace: "shop", name: "backup-0-2917-x" })
    expect(controllerOf(jobPod.metadata?.ownerReferences)).toEqual(["Job/backup-0-2917"])
    const job = await batch.readNamespacedJob({ namespace: "shop", name: "backup-0-2917" })
    expect(controllerOf(job.metadata?.ownerReferences)).toEqual(["CronJob/backup-0"])
  })
})

/**
 * The collector as deploy/ runs it, against a real kube-apiserver with RBAC: deploy/'s ServiceAccount, roles and
 * configuration (enrichment, ConfigMap checkpoint, Lease) draw no 403 and enrich records from real Pods,
 * ReplicaSets, Deployments, Jobs and CronJobs; a role without `watch` is reported in words and recovered from once
 * fixed; `--namespaces a,b` works with only a Role in each, its records without k8s.cluster.uid (none of those
 * Roles covers the kube-system namespace) and a warning that says so once.
 */
import { readFileSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parse } from "yaml"
import { eventually } from "../support/collector.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"
import { attribute, auditEntries, type RealCollector, runCollector } from "./support/collectorRun.ts"
import {
  type ControlPlane,
  deployObject,
  field,
  isKubeObject,
  objectPath,
  startControlPlane,
  writeDeployConfig
} from "./support/controlPlane.ts"
import { coreEvent } from "./support/eventWriter.ts"
import { createDeploymentChain, ownedBy, POD_SPEC } from "./support/workloads.ts"

let cp: ControlPlane
let receiver: OtlpReceiver
let saKubeconfig: string
let saUser: string
/** deploy/'s collector configuration (config.yaml of its ConfigMap), as a file. */
let deployConfig: string
const collectors: Array<RealCollector> = []

beforeAll(async () => {
  cp = await startControlPlane()
  receiver = await startOtlpReceiver()
  saKubeconfig = await cp.serviceAccountKubeconfig(cp.deployNamespace, cp.deployServiceAccount)
  saUser = `system:serviceaccount:${cp.deployNamespace}:${cp.deployServiceAccount}`
  deployConfig = writeDeployConfig(cp.dir)
})

afterAll(async () => {
  for (const c of collectors.splice(0)) await c.stop()
  await receiver?.close()
  await cp?.stop()
})

const start = async (
  kubeconfig: string,
  to: OtlpReceiver,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {}
) => {
  const c = await runCollector(kubeconfig, to, args, env)
  collectors.push(c)
  return c
}

/** A Deployment → ReplicaSet → Pod chain and a CronJob → Job → Pod chain, created through the API as the controllers would. */
const createWorkloads = async (ns: string) => {
  await createDeploymentChain(cp.admin, ns, "checkout")
  const jobTemplate = { spec: { template: { spec: { ...POD_SPEC, restartPolicy: "Never" } } } }
  const cronJob = await cp.admin.create({
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: "report", namespace: ns },
    spec: { schedule: "0 3 * * *", jobTemplate }
  })
  const job = await cp.admin.create({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "report-29172000", namespace: ns, ownerReferences: ownedBy(cronJob) },
    spec: {
      ...jobTemplate.spec,
      manualSelector: true,
      selector: { matchLabels: { job: "report-29172000" } },
      template: { metadata: { labels: { job: "report-29172000" } }, spec: { ...POD_SPEC, restartPolicy: "Never" } }
    }
  })
  await cp.admin.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "report-29172000-q8v2n", namespace: ns, ownerReferences: ownedBy(job) },
    spec: { ...POD_SPEC, restartPolicy: "Never" }
  })
  // A pod that names its service, as the OpenTelemetry Operator's annotation does.
  await cp.admin.create({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "payments-0",
      namespace: ns,
      annotations: { "resource.opentelemetry.io/service.name": "payments" }
    },
    spec: POD_SPEC
  })
}

const recordsAbout = (pod: string) => receiver.records.filter((r) => attribute(r, "k8s.pod.name") === pod)

describe("deploy/'s ServiceAccount, roles and configuration", () => {
  it("enriches from real workloads, keeps its checkpoint and Lease, and is never refused (no 403)", async () => {
    const ns = "shop"
    await cp.admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
    await createWorkloads(ns)
    const collector = await start(saKubeconfig, receiver, ["--config", deployConfig, "--enrichment-timeout", "5s"], {
      POD_NAME: "k8s-event-collector-0"
    })
    for (const pod of ["checkout-7d9f8b6c5d-x2k4p", "report-29172000-q8v2n", "payments-0"]) {
      await cp.admin.create(coreEvent(ns, `${pod}.backoff`, pod))
    }
    await eventually(
      () => {
        for (const pod of ["checkout-7d9f8b6c5d-x2k4p", "report-29172000-q8v2n", "payments-0"]) {
          expect(recordsAbout(pod), pod).toHaveLength(1)
        }
      },
      60_000,
      250
    )

    // What the README promises for records of pod events.
    expect(recordsAbout("checkout-7d9f8b6c5d-x2k4p")[0]?.resource).toMatchObject({
      "k8s.namespace.name": ns,
      "k8s.replicaset.name": "checkout-7d9f8b6c5d",
      "k8s.deployment.name": "checkout",
      "service.name": "checkout"
    })
    expect(recordsAbout("report-29172000-q8v2n")[0]?.resource).toMatchObject({
      "k8s.job.name": "report-29172000",
      "k8s.cronjob.name": "report",
      "service.name": "report"
    })
    expect(recordsAbout("payments-0")[0]?.resource).toMatchObject({ "service.name": "payments" })

    // The Lease names this replica; the checkpoint ConfigMap was written.
    const config: unknown = parse(readFileSync(deployConfig, "utf8"))
    const lease = field(config, "lease").split("/")
    const checkpoint = field(config, "checkpoint")
      .replace(/^configmap:/, "")
      .split("/")
    await eventually(
      async () => {
        const held = await cp.admin.ok("GET", `/apis/coordination.k8s.io/v1/namespaces/${lease[0]}/leases/${lease[1]}`)
        // The pod's name, and a suffix of this process's own (two processes of one name never both lead).
        expect(field(held, "spec", "holderIdentity")).toMatch(/^k8s-event-collector-0_[0-9a-f]{8}$/)
        const saved = await cp.admin.ok("GET", `/api/v1/namespaces/${checkpoint[0]}/configmaps/${checkpoint[1]}`)
        expect(isKubeObject(saved["data"]) || isKubeObject(saved["binaryData"])).toBe(true)
      },
      30_000,
      500
    )
    await collector.stop()
    expect(collector.child.exitCode).toBe(0)

    const calls = auditEntries(cp.auditLog, saUser)
    expect(calls.filter((c) => c.code === 403)).toEqual([])
    const did = new Set(calls.map((c) => `${c.verb} ${c.resource}`))
    for (const call of ["list events", "watch events", "update leases"]) expect(did, call).toContain(call)
  })

  it("with watch removed from its ClusterRole: says which verb, resource and namespace, and recovers once fixed", async () => {
    const ns = "watch-denied"
    await cp.admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
    const role = await cp.admin.ok("GET", objectPath(deployObject("ClusterRole", "k8s-event-collector")))
    const rules = Array.isArray(role["rules"]) ? role["rules"] : []
    const withoutWatch = rules.map((rule: unknown) =>
      isKubeObject(rule) && Array.isArray(rule["verbs"])
        ? { ...rule, verbs: rule["verbs"].filter((v: unknown) => v !== "watch") }
        : rule
    )
    await cp.admin.ok("PUT", objectPath(role), { ...role, rules: withoutWatch })
    const allowed = () =>
      cp.admin
        .ok("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: saUser,
            groups: ["system:serviceaccounts"],
            resourceAttributes: { verb: "watch", resource: "events", namespace: ns }
          }
        })
        .then((review) => isKubeObject(review["status"]) && review["status"]["allowed"] === true)
    await eventually(async () => expect(await allowed()).toBe(false), 10_000, 200)

    const own = await startOtlpReceiver()
    try {
      const collector = await start(saKubeconfig, own, ["--namespaces", ns, "--api-retry-max", "2s"])
      await eventually(
        () => {
          expect(collector.output.stderr).toMatch(
            /not allowed to watch events \(core\/v1\) in namespace watch-denied \(HTTP 403\)/
          )
          expect(collector.output.stderr).toMatch(/resources: \[\\"events\\"\], verbs: \[\\"list\\", \\"watch\\"\]/)
        },
        30_000,
        250
      )

      const latest = await cp.admin.ok("GET", objectPath(role))
      await cp.admin.ok("PUT", objectPath(role), { ...latest, rules })
      await eventually(async () => expect(await allowed()).toBe(true), 10_000, 200)
      await cp.admin.create(coreEvent(ns, "after-the-fix"))
      await eventually(
        () => {
          expect(own.records.map((r) => attribute(r, "k8s.event.name"))).toContain("after-the-fix")
          expect(collector.output.stderr).toMatch(/watch events \(core\/v1\) in namespace watch-denied works again/)
        },
        60_000,
        250
      )
    } finally {
      await own.close()
    }
  })

  it("--namespaces a,b, only a Role in each: both watched, one 403 (kube-system), nothing from elsewhere", async () => {
    const namespaces = ["team-a", "team-b", "team-c"]
    for (const name of namespaces) await cp.admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } })
    await cp.admin.create({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "events-reader", namespace: "team-a" }
    })
    // deploy/'s ClusterRole rules, as a Role in each watched namespace only.
    const clusterRole = deployObject("ClusterRole", "k8s-event-collector")
    for (const ns of ["team-a", "team-b"]) {
      await cp.admin.create({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "events-reader", namespace: ns },
        rules: clusterRole["rules"]
      })
      await cp.admin.create({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "events-reader", namespace: ns },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "events-reader" },
        subjects: [{ kind: "ServiceAccount", name: "events-reader", namespace: "team-a" }]
      })
    }
    const own = await startOtlpReceiver()
    try {
      const kubeconfig = await cp.serviceAccountKubeconfig("team-a", "events-reader")
      const collector = await start(kubeconfig, own, ["--namespaces", "team-a,team-b"])
      for (const ns of namespaces) await cp.admin.create(coreEvent(ns, `in-${ns}`))
      await eventually(
        () => {
          expect(own.records.map((r) => attribute(r, "k8s.event.name")).sort()).toEqual(["in-team-a", "in-team-b"])
        },
        30_000,
        250
      )
      await collector.stop()
      // The one call no Role of a watched namespace covers: the kube-system namespace, a cluster-scoped object,
      // whose uid is k8s.cluster.uid. Refused once, said once with the rule that grants it, and the records go
      // out without it.
      expect(
        auditEntries(cp.auditLog, "system:serviceaccount:team-a:events-reader")
          .filter((c) => c.code === 403)
          .map((c) => `${c.verb} ${c.requestURI}`)
      ).toEqual(["get /api/v1/namespaces/kube-system"])
      expect(collector.output.stderr.match(/records carry no k8s\.cluster\.uid/g)).toHaveLength(1)
      expect(collector.output.stderr).toMatch(/could not get namespace kube-system .*: not allowed \(HTTP 403\)/)
      expect(collector.output.stderr).toMatch(/resourceNames: \[\\"kube-system\\"\], verbs: \[\\"get\\"\]/)
      expect(collector.output.stderr).toMatch(/The API server said: namespaces \\"kube-system\\" is forbidden/)
      expect(own.records.filter((r) => r.resource["k8s.cluster.uid"] !== undefined)).toEqual([])
    } finally {
      await own.close()
    }
  })
})

/**
 * The Helm chart, proven with the real helm and the real kube-apiserver: `helm lint --strict`; values.schema.json
 * refusing bad values by name; deploy/ equal to the default rendering; the checksum that rolls the pods; a matrix
 * of renderings applied server-side and accepted, pods meeting the restricted Pod Security Standard; and the
 * collector run as the rendered Deployment's pods would run it: credentials and TLS from Secrets, events read and
 * enriched, the Lease and checkpoint under the release's names, not one 403, a standby taking over; with
 * `rbac.scope: namespaces`, only the listed namespaces read and nothing refused.
 */
import { mkdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parse } from "yaml"
import { eventually } from "../support/collector.ts"
import { CLIENT_AUTH, issueCertificate, makeCa } from "../support/certificates.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"
import {
  CHART_DIR,
  DEPLOY_FILE,
  deployManifest,
  helm,
  nameOf,
  render,
  single,
  template,
  type Values
} from "./support/chart.ts"
import { attribute, auditEntries } from "./support/collectorRun.ts"
import {
  type ControlPlane,
  field,
  isKubeObject,
  type KubeObject,
  objectPath,
  startControlPlane
} from "./support/controlPlane.ts"
import { coreEvent } from "./support/eventWriter.ts"
import { monitoringCrds } from "./support/monitoringCrds.ts"
import { type Pod, runPod } from "./support/podRun.ts"
import { createDeploymentChain } from "./support/workloads.ts"

let cp: ControlPlane
/** An OTLP endpoint behind TLS with a private CA that requires a client certificate. */
let tlsReceiver: OtlpReceiver
let receiver: OtlpReceiver
let tlsDir: string
const pods: Array<Pod> = []

beforeAll(async () => {
  cp = await startControlPlane()
  tlsDir = join(cp.dir, "otlp-tls")
  mkdirSync(tlsDir)
  makeCa(tlsDir, "/CN=otlp CA")
  issueCertificate(tlsDir, "server", "/CN=otlp", "subjectAltName=IP:127.0.0.1\n")
  issueCertificate(tlsDir, "client", "/CN=k8s-event-collector", CLIENT_AUTH)
  const pem = (name: string) => readFileSync(join(tlsDir, name), "utf8")
  tlsReceiver = await startOtlpReceiver({ tls: { key: pem("server.key"), cert: pem("server.crt"), ca: pem("ca.crt") } })
  receiver = await startOtlpReceiver()
  for (const crd of monitoringCrds()) await cp.admin.create(crd)
  await eventually(
    async () => expect((await cp.admin.request("GET", "/apis/monitoring.coreos.com/v1")).status).toBe(200),
    30_000,
    200
  )
})

afterAll(async () => {
  for (const pod of pods.splice(0)) await pod.collector.stop()
  await tlsReceiver?.close()
  await receiver?.close()
  await cp?.stop()
})

/** A Namespace that enforces the restricted Pod Security Standard and warns of any breach. */
const restrictedNamespace = (name: string) =>
  cp.admin.apply({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      labels: { "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted" }
    }
  })

/** A Namespace for the workloads the events are about (their pods meet no standard). */
const plainNamespace = (name: string) => cp.admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } })

/** Every object of a rendering applied server-side, as `helm install` or `kubectl apply --server-side` would. */
const applyAll = async (objects: ReadonlyArray<KubeObject>): Promise<ReadonlyArray<string>> => {
  const warnings: Array<string> = []
  for (const object of objects) warnings.push(...(await cp.admin.apply(object)).warnings)
  return warnings
}

const secret = (namespace: string, name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace },
  stringData: data
})

describe("helm lint and values.schema.json", () => {
  const everything: Values = {
    serviceMonitor: { enabled: true },
    prometheusRule: { enabled: true },
    dashboards: { enabled: true },
    networkPolicy: { enabled: true },
    otlp: { headersSecret: { name: "h" }, basicAuth: { secretName: "b" }, tls: { secretName: "t" } }
  }

  it("helm lint --strict passes with the defaults and with every optional part on", () => {
    const defaults = helm(["lint", "--strict", CHART_DIR])
    expect(defaults.status, defaults.stdout + defaults.stderr).toBe(0)
    const dir = join(cp.dir, "lint")
    mkdirSync(dir, { recursive: true })
    const all = helm(["lint", "--strict", CHART_DIR, "--set-json", `otlp=${JSON.stringify(everything["otlp"])}`])
    expect(all.status, all.stdout + all.stderr).toBe(0)
  })

  // Each bad value, and the words helm's refusal must contain: the value's path and why.
  const BAD_VALUES: ReadonlyArray<readonly [string, Values, RegExp]> = [
    ["a negative replica count", { replicaCount: -1 }, /replicaCount.*minimum/s],
    ["a replica count that is text", { replicaCount: "two" }, /replicaCount.*(integer|number)/s],
    ["an unknown rbac.scope", { rbac: { scope: "everything" } }, /scope.*(cluster|enum|must be one of)/s],
    ["rbac.scope namespaces without namespaces", { rbac: { scope: "namespaces" } }, /namespaces.*minItems|at least 1/s],
    ["a namespace name that is not one", { rbac: { scope: "namespaces", namespaces: ["Team_A"] } }, /namespaces/],
    ["a misspelt value", { replicaCont: 2 }, /replicaCont/],
    ["a misspelt collector option", { config: { batchSzie: 100 } }, /batchSzie/],
    ["a collector option of the wrong type", { config: { batchSize: "many" } }, /batchSize.*integer/s],
    ["an option the chart sets itself", { config: { otlpEndpoint: "http://elsewhere:4318" } }, /otlpEndpoint/],
    ["an unknown OTLP protocol", { otlp: { protocol: "grpc" } }, /protocol/],
    ["an endpoint that is no URL", { otlp: { endpoint: "otel-collector:4318" } }, /endpoint/],
    ["an unknown pull policy", { image: { pullPolicy: "Sometimes" } }, /pullPolicy/],
    ["a digest that is not sha256", { image: { digest: "latest" } }, /digest/]
  ]

  it.each(BAD_VALUES)("refuses %s, naming the value", (_, values, message) => {
    const result = template("bad", "bad", values)
    expect(result.status).not.toBe(0)
    expect(result.stderr).toMatch(/values don't meet the specifications of the schema/)
    expect(result.stderr).toMatch(message)
  })
})

describe("renderings", () => {
  it("deploy/ is the chart rendered with its default values (npm run chart:deploy writes it)", () => {
    expect(readFileSync(DEPLOY_FILE, "utf8")).toBe(deployManifest())
  })

  const checksum = (values: Values) =>
    field(
      single(render("events", "events", values), "Deployment"),
      ...["spec", "template", "metadata", "annotations", "checksum/config"]
    )

  it("a changed config value changes the pod template's checksum annotation; a changed pod label does not", () => {
    const base = checksum({})
    expect(checksum({ config: { logLevel: "debug" } })).not.toEqual(base)
    expect(checksum({ otlp: { endpoint: "http://other:4318" } })).not.toEqual(base)
    expect(checksum({ podLabels: { team: "platform" } })).toEqual(base)
  })

  it("two releases in one namespace share no object, Lease or checkpoint ConfigMap", () => {
    const configOf = (objects: ReadonlyArray<KubeObject>) =>
      readConfig(single(objects, "ConfigMap", `${nameOf(single(objects, "Deployment"))}-config`))
    const [one, two] = [render("one", "shared"), render("two", "shared")]
    const keys = (objects: ReadonlyArray<KubeObject>) => objects.map((o) => `${String(o["kind"])}/${nameOf(o)}`)
    expect(keys(one).filter((k) => keys(two).includes(k))).toEqual([])
    expect(configOf(one)["lease"]).toBe("shared/one-k8s-event-collector")
    expect(configOf(two)["lease"]).toBe("shared/two-k8s-event-collector")
    expect(configOf(one)["checkpoint"]).not.toEqual(configOf(two)["checkpoint"])
  })

  const MATRIX: ReadonlyArray<{
    readonly name: string
    readonly releases: ReadonlyArray<string>
    readonly namespace: string
    readonly values: Values
    readonly alsoCreate?: ReadonlyArray<string>
  }> = [
    { name: "the defaults", releases: ["events"], namespace: "m-defaults", values: {} },
    {
      name: "rbac.scope namespaces",
      releases: ["events"],
      namespace: "m-scoped",
      values: { rbac: { scope: "namespaces", namespaces: ["m-team-a", "m-team-b"] } },
      alsoCreate: ["m-team-a", "m-team-b"]
    },
    { name: "one replica", releases: ["events"], namespace: "m-single", values: { replicaCount: 1 } },
    {
      name: "ServiceMonitor, PrometheusRule, dashboards and NetworkPolicy",
      releases: ["events"],
      namespace: "m-monitoring",
      values: {
        serviceMonitor: { enabled: true, additionalLabels: { release: "kube-prometheus-stack" } },
        prometheusRule: { enabled: true, alertLabels: { team: "platform" } },
        dashboards: { enabled: true, annotations: { grafana_folder: "Kubernetes" } },
        networkPolicy: { enabled: true, apiServer: { cidrs: ["10.0.0.1/32"] } }
      }
    },
    {
      name: "credentials and TLS from Secrets",
      releases: ["events"],
      namespace: "m-secrets",
      values: {
        otlp: {
          endpoint: "https://otlp.example.com",
          headersSecret: { name: "otlp-headers" },
          basicAuth: { secretName: "otlp-basic" },
          tls: { secretName: "otlp-tls", certKey: "tls.crt", keyKey: "tls.key" }
        }
      }
    },
    { name: "two releases in one namespace", releases: ["one", "two"], namespace: "m-shared", values: {} }
  ]

  it.each(MATRIX)("$name: every object applied server-side, accepted, with no Pod Security warning", async (m) => {
    for (const ns of [m.namespace, ...(m.alsoCreate ?? [])]) await restrictedNamespace(ns)
    for (const release of m.releases) {
      const objects = render(release, m.namespace, m.values)
      expect(await applyAll(objects)).toEqual([])
      for (const object of objects) {
        const stored = await getObject(objectPath(object))
        expect(field(stored, "metadata", "uid")).toMatch(/^[0-9a-f-]{36}$/)
      }
    }
  })

  it("a pod template that breaks the restricted standard is warned about (the check above can fail)", async () => {
    await restrictedNamespace("m-loose")
    const objects = render("loose", "m-loose", { securityContext: { allowPrivilegeEscalation: true } })
    const warnings = await applyAll(objects)
    expect(warnings.join("\n")).toMatch(/allowPrivilegeEscalation/)
  })
})

/** The collector's configuration, from the chart's ConfigMap. */
const readConfig = (configMap: KubeObject): KubeObject => {
  const config: unknown = parse(field(configMap, "data", "config.yaml"))
  if (!isKubeObject(config)) throw new Error(`config.yaml is not a mapping: ${JSON.stringify(config)}`)
  return config
}

const startPod = async (objects: ReadonlyArray<KubeObject>, name: string): Promise<Pod> => {
  const pod = await runPod(cp, objects, name)
  pods.push(pod)
  return pod
}

const leads = async (pod: Pod) => (await pod.collector.metric("k8s_event_collector_leader")) === 1

const getObject = (path: string) => cp.admin.ok("GET", path)

describe("the collector as the chart runs it", () => {
  it("two replicas with credentials and TLS from Secrets: enriched records, the release's Lease and checkpoint, no 403, a standby that takes over", async () => {
    const [ns, release, fullname] = ["run", "events", "events-k8s-event-collector"]
    await restrictedNamespace(ns)
    const pem = (name: string) => readFileSync(join(tlsDir, name), "utf8")
    await cp.admin.create(secret(ns, "otlp-headers", { headers: "x-scope-orgid=team-a" }))
    await cp.admin.create(secret(ns, "otlp-basic", { username: "Aladdin", password: "open sesame" }))
    await cp.admin.create(
      secret(ns, "otlp-tls", { "ca.crt": pem("ca.crt"), "tls.crt": pem("client.crt"), "tls.key": pem("client.key") })
    )
    const objects = render(release, ns, {
      otlp: {
        endpoint: tlsReceiver.url,
        headersSecret: { name: "otlp-headers" },
        basicAuth: { secretName: "otlp-basic" },
        tls: { secretName: "otlp-tls", caKey: "ca.crt", certKey: "tls.crt", keyKey: "tls.key" }
      },
      // Shorter than the defaults (15s, 10s, 2s), so that the takeover fits the test.
      config: {
        clusterName: "real",
        batchLinger: "50ms",
        leaseDuration: "6s",
        leaseRenewDeadline: "4s",
        leaseRetryPeriod: "1s"
      }
    })
    expect(await applyAll(objects)).toEqual([])
    await plainNamespace("shop")
    const workloadPod = await createDeploymentChain(cp.admin, "shop", "checkout")

    const a = await startPod(objects, `${fullname}-5c7d8-aaaaa`)
    await eventually(async () => expect(await leads(a)).toBe(true), 30_000, 200)
    const b = await startPod(objects, `${fullname}-5c7d8-bbbbb`)
    await cp.admin.create(coreEvent("shop", "checkout.backoff", workloadPod))
    await eventually(
      () => expect(tlsReceiver.records.map((r) => attribute(r, "k8s.event.name"))).toContain("checkout.backoff"),
      60_000,
      250
    )
    expect(await leads(b)).toBe(false)
    const record = tlsReceiver.records.find((r) => attribute(r, "k8s.event.name") === "checkout.backoff")
    expect(record?.resource).toMatchObject({
      "k8s.cluster.name": "real",
      "k8s.namespace.name": "shop",
      "k8s.pod.name": workloadPod,
      "k8s.replicaset.name": "checkout-7d9f8b6c5d",
      "k8s.deployment.name": "checkout",
      "service.name": "checkout"
    })
    for (const request of tlsReceiver.requests) {
      expect(request.headers["authorization"]).toBe("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
      expect(request.headers["x-scope-orgid"]).toBe("team-a")
    }

    // The Lease and the checkpoint under the release's names, in its namespace.
    await eventually(
      async () => {
        const lease = await getObject(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${fullname}`)
        expect(field(lease, "spec", "holderIdentity")).toMatch(new RegExp(`^${fullname}-5c7d8-aaaaa_[0-9a-f]{8}$`))
        const checkpoint = await getObject(`/api/v1/namespaces/${ns}/configmaps/${fullname}-checkpoint`)
        expect(checkpoint["data"] ?? checkpoint["binaryData"]).toBeDefined()
      },
      30_000,
      500
    )

    // The leader killed: the standby takes over and goes on from the checkpoint.
    await a.collector.stop("SIGKILL")
    await eventually(async () => expect(await leads(b)).toBe(true), 20_000, 200)
    await cp.admin.create(coreEvent("shop", "checkout.after-takeover", workloadPod))
    await eventually(
      () => expect(tlsReceiver.records.map((r) => attribute(r, "k8s.event.name"))).toContain("checkout.after-takeover"),
      60_000,
      250
    )
    await b.collector.stop()
    expect(b.collector.child.exitCode).toBe(0)

    const calls = auditEntries(cp.auditLog, `system:serviceaccount:${ns}:${fullname}`)
    expect(calls.filter((c) => c.code === 403)).toEqual([])
    const did = new Set(calls.map((c) => `${c.verb} ${c.resource}`))
    for (const call of ["list events", "watch events", "update leases", "update configmaps", "watch pods"]) {
      expect(did, call).toContain(call)
    }
  })

  it("rbac.scope namespaces: only the listed namespaces are read, and nothing is refused", async () => {
    const [ns, release, fullname] = ["run-scoped", "scoped", "scoped-k8s-event-collector"]
    const namespaces = ["team-a", "team-b", "team-c"]
    await restrictedNamespace(ns)
    for (const name of namespaces) await plainNamespace(name)
    const objects = render(release, ns, {
      replicaCount: 1,
      rbac: { scope: "namespaces", namespaces: ["team-a", "team-b"] },
      otlp: { endpoint: receiver.url },
      config: { batchLinger: "50ms" }
    })
    // The only ClusterRole grants the get of one object, the kube-system namespace (k8s.cluster.uid is its uid),
    // to this release's ServiceAccount alone.
    const clusterRoles = objects.filter((o) => o["kind"] === "ClusterRole")
    expect(clusterRoles.map((o) => o["rules"])).toEqual([
      [{ apiGroups: [""], resources: ["namespaces"], resourceNames: ["kube-system"], verbs: ["get"] }]
    ])
    const clusterRoleBindings = objects.filter((o) => o["kind"] === "ClusterRoleBinding")
    expect(clusterRoleBindings.map((o) => [o["roleRef"], o["subjects"]])).toEqual([
      [
        { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `${fullname}-cluster-uid` },
        [{ kind: "ServiceAccount", name: fullname, namespace: ns }]
      ]
    ])
    expect(await applyAll(objects)).toEqual([])
    const pods = await Promise.all(namespaces.map((name) => createDeploymentChain(cp.admin, name, `app-${name}`)))
    const pod = await startPod(objects, `${fullname}-6f9c7-ccccc`)
    for (const [i, name] of namespaces.entries()) await cp.admin.create(coreEvent(name, `in-${name}`, pods[i]))
    await eventually(
      () =>
        expect(receiver.records.map((r) => attribute(r, "k8s.event.name")).sort()).toEqual(["in-team-a", "in-team-b"]),
      60_000,
      250
    )
    // Enriched from the namespaced Roles alone.
    const record = receiver.records.find((r) => attribute(r, "k8s.event.name") === "in-team-a")
    expect(record?.resource).toMatchObject({ "k8s.deployment.name": "app-team-a", "service.name": "app-team-a" })
    await pod.collector.stop()
    expect(pod.collector.child.exitCode).toBe(0)

    const calls = auditEntries(cp.auditLog, `system:serviceaccount:${ns}:${fullname}`)
    expect(calls.filter((c) => c.code === 403)).toEqual([])
    expect(calls.length).toBeGreaterThan(0)
    // Every read was of a listed namespace (or of its own checkpoint): nothing cluster-wide, nothing of team-c,
    // but for the one get of the kube-system namespace itself, whose uid is k8s.cluster.uid.
    const namespaceReads = calls.filter((c) => c.resource === "namespaces")
    expect(namespaceReads.map((c) => `${c.verb} ${c.requestURI}`)).toEqual(["get /api/v1/namespaces/kube-system"])
    const read = new Set(
      calls.filter((c) => c.resource !== "configmaps" && c.resource !== "namespaces").map((c) => c.namespace)
    )
    expect([...read].sort()).toEqual(["team-a", "team-b"])
    expect(calls.filter((c) => c.resource === "leases")).toEqual([])
  })
})

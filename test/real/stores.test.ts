/**
 * Past the Collector, against real stores: the collector watches a real kube-apiserver and exports to the real
 * Collector running otel-collector.yaml as it ships, with the README's VictoriaLogs example
 * (examples/otel-collector-victorialogs.yaml) in place of Loki, the warnings pipeline's exporter pointed at a second
 * VictoriaLogs tenant, and the traces' exporter pointed at Jaeger. What the stores hold is read back through their
 * own query APIs (LogsQL, Jaeger's API v3) and checked against what the API server stored (its audit log): every
 * occurrence once, with its resource, severity and body; routing; the count connector's counter; a failing span
 * leading to its pod's events; nothing lost while the store or the Collector is down.
 */
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { EventApi } from "../../src/domain/KubeEvent.ts"
import {
  expectedSeverityNumber,
  expectedSeverityText,
  expectRecordOf,
  type RecordCase
} from "../fixtures/expectations.ts"
import { at, loadOpenShiftEvents, nonEmpty, utcNanos } from "../fixtures/support.ts"
import { REPO_ROOT, runCli } from "../support/cli.ts"
import { eventually } from "../support/collector.ts"
import { sleep } from "../support/processes.ts"
import { auditLines, type RealCollector, repeated, startCollector, storedOccurrences } from "./support/collectorRun.ts"
import { type ControlPlane, field, isKubeObject, type KubeObject, startControlPlane } from "./support/controlPlane.ts"
import { coreEvent, EventWriter, now } from "./support/eventWriter.ts"
import { type OtelCollector, severityLabel, startOtelCollector } from "./support/otelCollector.ts"
import {
  DEFAULT_TENANT,
  type Jaeger,
  type LogEntry,
  quoted,
  startJaeger,
  startVictoriaLogs,
  type Tenant,
  type VictoriaLogs
} from "./support/stores.ts"
import { createDeploymentChain } from "./support/workloads.ts"

/** The README's snippet: the test runs this file, so the snippet is what is tested. */
const VICTORIALOGS_EXAMPLE = join(REPO_ROOT, "examples", "otel-collector-victorialogs.yaml")
const CLUSTER = "real-stores"
/** Where the warnings pipeline (WARN and above) writes: a tenant of its own in the same VictoriaLogs. */
const WARNINGS_TENANT: Tenant = { accountId: 1, projectId: 0 }
const SHOP = "shop"

let cp: ControlPlane
let logs: VictoriaLogs
let traces: Jaeger
let otelcol: OtelCollector
let collector: RealCollector
/** Audit lines before the collector started: what the stores must hold begins after them. */
let startLine: number
/** The pods of the shop's Deployments, by Deployment. */
const pods = new Map<string, string>()

// ---- what the API server stored ----

interface StoredEvent {
  /** `<uid>:<resourceVersion>`, as `log.record.uid` names the occurrence. */
  readonly id: string
  readonly api: EventApi
  /** The Event as the server stored it at this occurrence. */
  readonly object: KubeObject
}

/** Each occurrence the server stored since the collector started, with the Event as stored at that write. */
const storedEvents = (): ReadonlyArray<StoredEvent> => {
  const objects = new Map<string, KubeObject>()
  for (const line of readFileSync(cp.auditLog, "utf8").split("\n")) {
    if (line === "") continue
    const entry: unknown = JSON.parse(line)
    const object = isKubeObject(entry) ? entry["responseObject"] : undefined
    if (!isKubeObject(object) || object["kind"] !== "Event") continue
    const uid = at(object, "metadata", "uid")
    const rv = at(object, "metadata", "resourceVersion")
    if (typeof uid === "string" && typeof rv === "string") objects.set(`${uid}:${rv}`, object)
  }
  return storedOccurrences(cp.auditLog, startLine).map(({ id }) => {
    const object = objects.get(id)
    if (object === undefined) throw new Error(`no stored object for ${id}`)
    return { id, api: object["apiVersion"] === "v1" ? "core/v1" : "events.k8s.io/v1", object }
  })
}

/** The object an Event is about, in either API's spelling. */
const regarding = ({ api, object }: StoredEvent) => ({
  kind: nonEmpty(at(object, api === "core/v1" ? "involvedObject" : "regarding", "kind")),
  name: nonEmpty(at(object, api === "core/v1" ? "involvedObject" : "regarding", "name")),
  namespace: nonEmpty(at(object, api === "core/v1" ? "involvedObject" : "regarding", "namespace"))
})

/** The Deployment an Event's object belongs to, by the chains this test created (createDeploymentChain). */
const deploymentOf = (event: StoredEvent): string | undefined => {
  const { kind, name } = regarding(event)
  if (kind === "Deployment") return name
  return kind === "Pod" ? [...pods].find(([, pod]) => pod === name)?.[0] : undefined
}

/** The fields VictoriaLogs must hold for an occurrence (absent where undefined), from the stored Event alone. */
const expectedFields = (event: StoredEvent): Readonly<Record<string, string | undefined>> => {
  const { api, object } = event
  const core = api === "core/v1"
  const { kind, name, namespace } = regarding(event)
  const count = at(object, "series", "count") ?? at(object, core ? "count" : "deprecatedCount")
  const severity = expectedSeverityNumber(object, "defaults", api)
  return {
    "log.record.uid": event.id,
    "k8s.event.uid": field(object, "metadata", "uid"),
    "k8s.event.name": field(object, "metadata", "name"),
    "k8s.event.reason": nonEmpty(at(object, "reason")),
    "k8s.event.count": typeof count === "number" ? String(count) : undefined,
    // The body is the log line.
    _msg: nonEmpty(at(object, core ? "message" : "note")),
    severity_text: expectedSeverityText(object, "defaults", api),
    severity_number: severity === undefined ? undefined : String(severity),
    event_name: "k8s.event",
    "k8s.cluster.name": CLUSTER,
    "k8s.namespace.name": kind === "Node" ? undefined : namespace,
    "k8s.object.kind": kind,
    "k8s.object.name": name,
    "k8s.pod.name": kind === "Pod" ? name : undefined,
    "k8s.deployment.name": deploymentOf(event)
  }
}

/** DESIGN.md §3: the record is dated by the occurrence (the series' last, the last, the event's, the first time). */
const occurrenceTime = ({ api, object }: StoredEvent): bigint => {
  const core = api === "core/v1"
  const times = [
    at(object, "series", "lastObservedTime"),
    at(object, core ? "lastTimestamp" : "deprecatedLastTimestamp"),
    at(object, "eventTime"),
    at(object, core ? "firstTimestamp" : "deprecatedFirstTimestamp"),
    at(object, "metadata", "creationTimestamp")
  ]
  const chosen = times.map(nonEmpty).find((t) => t !== undefined)
  if (chosen === undefined) throw new Error(`no time in ${JSON.stringify(object)}`)
  return utcNanos(chosen)
}

/** The VictoriaLogs stream the README's example makes of an occurrence: cluster, namespace, kind. */
const expectedStream = (fields: Readonly<Record<string, string | undefined>>): string =>
  `{${["k8s.cluster.name", "k8s.namespace.name", "k8s.object.kind"]
    .flatMap((key) => (fields[key] === undefined ? [] : [`${key}=${quoted(fields[key] ?? "")}`]))
    .join(",")}}`

const uidsOf = (entries: ReadonlyArray<LogEntry>): ReadonlyArray<string> =>
  entries.map((e) => e["log.record.uid"] ?? "")

const sorted = (items: Iterable<string>): ReadonlyArray<string> => [...items].sort()

/** Every entry of a tenant, by LogsQL `*`. */
const everything = (tenant: Tenant = DEFAULT_TENANT) => logs.query("*", tenant)

/** Waits until VictoriaLogs holds an entry for every occurrence the server stored (as far as `filter` keeps). */
const awaitStored = async (filter: (e: StoredEvent) => boolean = () => true, timeoutMs = 60_000) =>
  eventually(
    async () => {
      const held = new Set(uidsOf(await everything()))
      expect(storedEvents().filter((e) => filter(e) && !held.has(e.id))).toEqual([])
    },
    timeoutMs,
    500
  )

// ---- the scenario: workloads and their events, written through the API as kubelets and controllers would ----

const microNow = (): string => new Date().toISOString().replace(/Z$/, "000Z")

const podEvent = (name: string, pod: string, reason: string, type: string, message: string): KubeObject => ({
  ...coreEvent(SHOP, name, pod),
  reason,
  type,
  message,
  source: { component: "kubelet", host: "node-1" },
  reportingComponent: "kubelet",
  reportingInstance: "node-1"
})

/** A core/v1 Event repeated: its count raised, as the kubelet's event recorder does. */
const repeatCore = (name: string, count: number) =>
  cp.admin.ok(
    "PATCH",
    `/api/v1/namespaces/${SHOP}/events/${name}`,
    { count, lastTimestamp: now() },
    "application/merge-patch+json"
  )

const writeShopEvents = async (): Promise<void> => {
  const cart = pods.get("cart") ?? ""
  await cp.admin.create(
    podEvent("cart.backoff", cart, "BackOff", "Warning", `Back-off restarting failed container cart in pod ${cart}`)
  )
  await repeatCore("cart.backoff", 2)
  await repeatCore("cart.backoff", 3)
  await cp.admin.create(
    podEvent("cart.failedmount", cart, "FailedMount", "Warning", 'MountVolume.SetUp failed for volume "config"')
  )
  // Through events.k8s.io/v1, as the kubelet's prober writes it, then repeated as a series.
  await cp.admin.create({
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: "cart.unhealthy", namespace: SHOP },
    regarding: { apiVersion: "v1", kind: "Pod", namespace: SHOP, name: cart },
    eventTime: microNow(),
    reportingController: "kubelet",
    reportingInstance: "node-1",
    action: "Probing",
    reason: "Unhealthy",
    note: "Readiness probe failed: HTTP probe failed with statuscode: 503",
    type: "Warning"
  })
  await cp.admin.ok(
    "PATCH",
    `/apis/events.k8s.io/v1/namespaces/${SHOP}/events/cart.unhealthy`,
    { series: { count: 2, lastObservedTime: microNow() } },
    "application/merge-patch+json"
  )
  await cp.admin.create({
    ...coreEvent(SHOP, "cart.scaled", "cart"),
    involvedObject: { apiVersion: "apps/v1", kind: "Deployment", namespace: SHOP, name: "cart" },
    reason: "ScalingReplicaSet",
    type: "Normal",
    message: "Scaled up replica set cart-7d9f8b6c5d from 0 to 1",
    source: { component: "deployment-controller" }
  })
  // A cluster-scoped object: no namespace on the record (the Event itself lives in `default`).
  await cp.admin.create({
    ...coreEvent("default", "node-1.notready", "node-1"),
    involvedObject: { apiVersion: "v1", kind: "Node", name: "node-1" },
    reason: "NodeNotReady",
    type: "Normal",
    message: "Node node-1 status is now: NodeNotReady",
    source: { component: "node-controller" }
  })
}

// ---- the stack ----

beforeAll(async () => {
  cp = await startControlPlane()
  ;[logs, traces] = await Promise.all([startVictoriaLogs(), startJaeger()])
  // Only endpoints change: the example's exporter and Tempo's move to the stores on loopback; the warnings
  // pipeline, which ships with a debug exporter, gets an OTLP exporter to its own tenant.
  otelcol = await startOtelCollector({
    configs: [VICTORIALOGS_EXAMPLE],
    exportTo: {
      exporters: {
        "otlp_http/victorialogs": { endpoint: `${logs.url}/insert/opentelemetry` },
        "otlp_http/warnings": {
          endpoint: `${logs.url}/insert/opentelemetry`,
          headers: {
            AccountID: String(WARNINGS_TENANT.accountId),
            ProjectID: String(WARNINGS_TENANT.projectId),
            "VL-Stream-Fields": "k8s.cluster.name,k8s.namespace.name,k8s.object.kind"
          }
        },
        "otlp_grpc/tempo": { endpoint: traces.otlpGrpcEndpoint }
      },
      pipelines: { "logs/warnings": ["otlp_http/warnings"] }
    }
  })
  for (const ns of [SHOP, "writes"])
    await cp.admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
  for (const app of ["cart", "checkout"]) pods.set(app, await createDeploymentChain(cp.admin, SHOP, app))
  startLine = auditLines(cp.auditLog)
  const kubeconfig = await cp.serviceAccountKubeconfig(cp.deployNamespace, cp.deployServiceAccount)
  collector = await startCollector(
    [
      "--source",
      "kube",
      "--kubeconfig",
      kubeconfig,
      "--otlp-endpoint",
      otelcol.otlpHttpEndpoint,
      "--cluster-name",
      CLUSTER,
      "--batch-linger",
      "50ms",
      "--retry-initial",
      "100ms",
      "--retry-max",
      "1s"
    ],
    {}
  )
  // The collector has listed before the rest is written: a repeat made before its list would show there only as
  // the Event's latest count, not as each occurrence the server stored.
  await cp.admin.create(podEvent("checkout.pulled", pods.get("checkout") ?? "", "Pulled", "Normal", "Image pulled"))
  await awaitStored()
  await writeShopEvents()
  const writer = new EventWriter(cp.admin, "writes")
  for (let i = 0; i < 24; i++) await writer.step()
  await awaitStored()
})

afterAll(async () => {
  await collector?.stop()
  await otelcol?.close()
  await logs?.close()
  await traces?.close()
  await cp?.stop()
})

describe("the README's VictoriaLogs example behind the shipped otel-collector.yaml", () => {
  it("holds every occurrence the API server stored once, with its resource, severity, body and time", async () => {
    const stored = storedEvents()
    const entries = await everything()
    expect(repeated(uidsOf(entries))).toEqual([])
    expect(sorted(uidsOf(entries))).toEqual(sorted(stored.map((e) => e.id)))
    const byId = new Map(entries.map((e) => [e["log.record.uid"] ?? "", e]))
    for (const event of stored) {
      const entry = byId.get(event.id) ?? {}
      const fields = expectedFields(event)
      for (const [key, value] of Object.entries(fields)) expect(entry[key], `${event.id} ${key}`).toBe(value)
      expect(utcNanos(entry["_time"] ?? ""), `${event.id} _time`).toBe(occurrenceTime(event))
      // The stream is made of the example's VL-Stream-Fields only: no uid or resourceVersion in it.
      expect(entry["_stream"], event.id).toBe(expectedStream(fields))
    }
    console.log(
      `[stores] ${entries.length} entries in ${new Set(entries.map((e) => e["_stream"])).size} streams ` +
        `for ${stored.length} stored occurrences`
    )
  })

  // Each query's expected answer is picked from the stored Events, not from what VictoriaLogs returned.
  const FINDS: ReadonlyArray<{ readonly query: () => string; readonly expected: (e: StoredEvent) => boolean }> = [
    {
      query: () => `"k8s.pod.name":=${quoted(pods.get("cart") ?? "")}`,
      expected: (e) => regarding(e).kind === "Pod" && regarding(e).name === pods.get("cart")
    },
    { query: () => `"k8s.deployment.name":="cart"`, expected: (e) => deploymentOf(e) === "cart" },
    { query: () => `"k8s.namespace.name":=${quoted(SHOP)}`, expected: (e) => regarding(e).namespace === SHOP },
    { query: () => `_stream:{k8s.namespace.name="writes"}`, expected: (e) => regarding(e).namespace === "writes" },
    // The README's examples.
    {
      query: () => `_stream:{k8s.namespace.name="shop"} severity_number:>=13`,
      expected: (e) =>
        regarding(e).namespace === SHOP && (expectedSeverityNumber(e.object, "defaults", e.api) ?? 0) >= 13
    },
    {
      query: () => `"k8s.deployment.name":="cart" "k8s.event.reason":="BackOff" _time:1h`,
      expected: (e) => deploymentOf(e) === "cart" && at(e.object, "reason") === "BackOff"
    },
    { query: () => `"k8s.object.kind":="Node"`, expected: (e) => regarding(e).kind === "Node" },
    { query: () => `"k8s.event.reason":="BackOff"`, expected: (e) => at(e.object, "reason") === "BackOff" },
    {
      query: () => `severity_text:="Warning"`,
      expected: (e) => expectedSeverityText(e.object, "defaults", e.api) === "Warning"
    },
    {
      query: () => `severity_number:>=17`,
      expected: (e) => (expectedSeverityNumber(e.object, "defaults", e.api) ?? 0) >= 17
    },
    {
      query: () => `"Back-off restarting"`,
      expected: (e) => nonEmpty(at(e.object, "message"))?.startsWith("Back-off restarting") === true
    }
  ]

  it("finds them by pod, Deployment, namespace, stream, kind, reason, severity and words of the body", async () => {
    const stored = storedEvents()
    for (const { query, expected } of FINDS) {
      const want = stored.filter(expected).map((e) => e.id)
      expect(want.length, query()).toBeGreaterThan(0)
      expect(sorted(uidsOf(await logs.query(query()))), query()).toEqual(sorted(want))
    }
  })

  it("routes WARN and above also to the warnings pipeline (its own tenant), and nothing else there", async () => {
    const stored = storedEvents()
    const warnings = stored.filter((e) => (expectedSeverityNumber(e.object, "defaults", e.api) ?? 0) >= 13)
    expect(warnings.length).toBeGreaterThan(0)
    expect(warnings.length).toBeLessThan(stored.length)
    await eventually(
      async () => expect(sorted(uidsOf(await everything(WARNINGS_TENANT)))).toEqual(sorted(warnings.map((e) => e.id))),
      30_000,
      500
    )
    // Every record still reaches the default tenant (checked above); a third tenant has none.
    expect(await everything({ accountId: 2, projectId: 0 })).toEqual([])
  })
})

describe("events as metrics", () => {
  it("k8s_events_total counts the stored occurrences by namespace, kind, reason and severity", async () => {
    const key = (labels: Readonly<Record<string, string | undefined>>) =>
      ["k8s_namespace_name", "k8s_object_kind", "k8s_event_reason", "severity"].map((l) => labels[l] ?? "").join("|")
    const expected = new Map<string, number>()
    for (const event of storedEvents()) {
      const { kind, namespace } = regarding(event)
      const k = key({
        k8s_namespace_name: kind === "Node" ? "" : namespace,
        k8s_object_kind: kind,
        k8s_event_reason: nonEmpty(at(event.object, "reason")),
        severity: severityLabel(expectedSeverityNumber(event.object, "defaults", event.api))
      })
      expected.set(k, (expected.get(k) ?? 0) + 1)
    }
    await eventually(
      async () => {
        const series = await otelcol.eventsCounter()
        expect(new Map(series.map((s) => [key(s.labels), s.value]))).toEqual(expected)
        // Bounded labels only: no pod, object or event name ever becomes one.
        for (const s of series) {
          expect(Object.keys(s.labels).sort()).toEqual([
            "k8s_event_reason",
            "k8s_namespace_name",
            "k8s_object_kind",
            "severity"
          ])
        }
      },
      30_000,
      500
    )
    const byReason = new Map<string, number>()
    for (const [k, n] of expected) byReason.set(k.split("|")[2] ?? "", (byReason.get(k.split("|")[2] ?? "") ?? 0) + n)
    console.log(`[stores] k8s_events_total by reason: ${JSON.stringify(Object.fromEntries(byReason))}`)
  })
})

describe("a failing span leads to the events of its pod and of its Deployment", () => {
  /** A request to checkout that calls cart, which fails: spans with the pods' k8s.* attributes, as instrumented. */
  const sendFailingTrace = async () => {
    const url = `${otelcol.otlpHttpEndpoint}/v1/traces`
    const providerOf = (app: string) =>
      new BasicTracerProvider({
        resource: resourceFromAttributes({
          "service.name": app,
          "k8s.cluster.name": CLUSTER,
          "k8s.namespace.name": SHOP,
          "k8s.pod.name": pods.get(app) ?? "",
          "k8s.deployment.name": app
        }),
        spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url }))]
      })
    const checkout = providerOf("checkout")
    const cart = providerOf("cart")
    const request = checkout.getTracer("shop").startSpan("GET /api/checkout", { kind: SpanKind.SERVER })
    const call = cart
      .getTracer("shop")
      .startSpan("GET /api/cart", { kind: SpanKind.SERVER }, trace.setSpan(context.active(), request))
    call.setStatus({ code: SpanStatusCode.ERROR, message: "cart is not serving" })
    call.end()
    request.setStatus({ code: SpanStatusCode.ERROR, message: "a downstream service failed" })
    request.end()
    await Promise.all([checkout.shutdown(), cart.shutdown()])
  }

  it("from Jaeger's API to VictoriaLogs: the pod's failure events stored around the span's time", async () => {
    const sent = new Date()
    await sendFailingTrace()
    const minutes = (n: number) => n * 60_000
    let failed: Awaited<ReturnType<Jaeger["spans"]>>[number] | undefined
    await eventually(
      async () => {
        const spans = await traces.spans("cart", new Date(sent.getTime() - minutes(5)), new Date())
        failed = spans.find((s) => s.resource.get("service.name") === "cart" && s.status === "STATUS_CODE_ERROR")
        expect(failed, JSON.stringify(spans)).toBeDefined()
      },
      30_000,
      500
    )
    if (failed === undefined) throw new Error("no failed span")
    const namespace = failed.resource.get("k8s.namespace.name") ?? ""
    const pod = failed.resource.get("k8s.pod.name") ?? ""
    const deployment = failed.resource.get("k8s.deployment.name") ?? ""
    expect([namespace, pod, deployment]).toEqual([SHOP, pods.get("cart"), "cart"])

    // What Grafana's trace-to-logs link asks: the pod's (and the Deployment's) events around the span's start.
    const spanMs = Number(BigInt(failed.startTimeUnixNano) / 1_000_000n)
    const iso = (ms: number) => new Date(ms).toISOString()
    const around = `_time:[${iso(spanMs - minutes(15))}, ${iso(spanMs + minutes(5))}]`
    const ofPod = await logs.query(
      `${around} "k8s.namespace.name":=${quoted(namespace)} "k8s.pod.name":=${quoted(pod)}`
    )
    const ofDeployment = await logs.query(
      `${around} "k8s.namespace.name":=${quoted(namespace)} "k8s.deployment.name":=${quoted(deployment)}`
    )

    const stored = storedEvents()
    const aboutPod = stored.filter((e) => regarding(e).kind === "Pod" && regarding(e).name === pod)
    const failures = aboutPod.filter((e) => at(e.object, "type") === "Warning")
    expect(failures.length).toBeGreaterThanOrEqual(3)
    expect(sorted(uidsOf(ofPod))).toEqual(sorted(aboutPod.map((e) => e.id)))
    expect(uidsOf(ofPod)).toEqual(expect.arrayContaining(failures.map((e) => e.id)))
    expect(sorted(uidsOf(ofDeployment))).toEqual(
      sorted(stored.filter((e) => deploymentOf(e) === "cart").map((e) => e.id))
    )
    const reasons = sorted(new Set(failures.map((e) => String(at(e.object, "reason")))))
    console.log(
      `[stores] span ${failed.name} (${failed.traceId}): ${ofPod.length} events of ${pod}, ` +
        `${ofDeployment.length} of Deployment ${deployment}; failures: ${reasons.join(", ")}`
    )
  })
})

describe("a store or the Collector down for 30 s", () => {
  it("loses nothing: VictoriaLogs down (the Collector restarted meanwhile), then the Collector down", async () => {
    const ns = "outage"
    await cp.admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
    const inOutage = (e: StoredEvent) => at(e.object, "metadata", "namespace") === ns
    const writer = new EventWriter(cp.admin, ns)
    writer.start(100)
    try {
      await eventually(
        async () => expect((await logs.query(`"k8s.namespace.name":="outage"`)).length).toBeGreaterThan(10),
        30_000,
        500
      )

      // The store goes away; the Collector keeps what it accepted in its persistent queue, on disk, and is
      // restarted while the store is still away.
      await logs.stop()
      await sleep(10_000)
      await otelcol.restart()
      await sleep(20_000)
      await logs.start()
      await sleep(5_000)

      // The Collector goes away; the collector keeps its records and retries.
      await otelcol.stop()
      await sleep(30_000)
      await otelcol.restart()
      await sleep(5_000)
    } finally {
      await writer.stop()
    }
    await awaitStored(inOutage, 120_000).catch(() => {})
    const expected = storedEvents()
      .filter(inOutage)
      .map((e) => e.id)
    const got = uidsOf(await logs.query(`"k8s.namespace.name":="outage"`))
    const held = new Set(got)
    const lost = expected.filter((id) => !held.has(id))
    const duplicates = repeated(got)
    console.log(
      `[stores] outage: ${expected.length} occurrences stored, ${got.length} entries, lost ${lost.length}, ` +
        `duplicates ${duplicates.length}; refused by the Collector: ` +
        `${await otelcol.counter("otelcol_receiver_refused_log_records")}`
    )
    if (lost.length > 0) console.log(`[stores] Collector output:\n${otelcol.output().slice(-4000)}`)
    expect(lost).toEqual([])
    expect(new Set(got)).toEqual(new Set(expected))
  }, 300_000)
})

describe("the 277 real OpenShift events, years old, replayed from a dump", () => {
  const FIXTURES_CLUSTER = "real-fixtures"

  /**
   * The entry as the OTLP record it was made of: record attributes (`k8s.event.*`, `log.record.uid`) apart from
   * resource ones (every other `k8s.*` and `service.*` field), the count a number again (LogsQL returns text).
   */
  const asRecord = (raw: unknown, entry: LogEntry): RecordCase => {
    const recordKey = (key: string) => key.startsWith("k8s.event.") || key === "log.record.uid"
    const fields = Object.entries(entry)
    const severity = Number(entry["severity_number"] ?? "0")
    return {
      raw,
      attrs: new Map(
        fields.filter(([k]) => recordKey(k)).map(([k, v]) => [k, k === "k8s.event.count" ? Number(v) : v] as const)
      ),
      resource: new Map(fields.filter(([k]) => !recordKey(k) && /^(k8s|service)\./.test(k))),
      record: {
        timeUnixNano: utcNanos(entry["_time"] ?? "").toString(),
        observedTimeUnixNano: "",
        // VictoriaLogs stores an unset severity as 0 and names it itself; the record had neither.
        ...(severity === 0 ? {} : { severityNumber: severity, severityText: entry["severity_text"] }),
        ...(entry["_msg"] === undefined ? {} : { body: { stringValue: entry["_msg"] } }),
        ...(entry["event_name"] === undefined ? {} : { eventName: entry["event_name"] }),
        attributes: [],
        droppedAttributesCount: 0
      }
    }
  }

  it("are each in VictoriaLogs once and equal to the event: the retention the README names keeps them", async () => {
    const fixtures = loadOpenShiftEvents()
    const dump = join(cp.dir, "openshift-events.json")
    writeFileSync(dump, JSON.stringify(fixtures.map((f) => f.raw)))
    const run = await runCli([
      "--source",
      `file:${dump}`,
      "--otlp-endpoint",
      otelcol.otlpHttpEndpoint,
      "--cluster-name",
      FIXTURES_CLUSTER
    ])
    expect(run.code, run.stderr).toBe(0)
    const query = `"k8s.cluster.name":=${quoted(FIXTURES_CLUSTER)}`
    await eventually(async () => expect(await logs.query(query)).toHaveLength(fixtures.length), 60_000, 500)
    const entries = await logs.query(query)
    expect(repeated(uidsOf(entries))).toEqual([])
    const byId = new Map(entries.map((e) => [e["log.record.uid"] ?? "", e]))
    for (const { source, raw } of fixtures) {
      const id = `${String(at(raw, "metadata", "uid"))}:${String(at(raw, "metadata", "resourceVersion"))}`
      const entry = byId.get(id)
      expect(entry, `${source}: no entry ${id}`).toBeDefined()
      if (entry !== undefined)
        expectRecordOf(asRecord(raw, entry), { cluster: FIXTURES_CLUSTER, severityRules: "defaults" })
    }
    const years = entries.map((e) => (e["_time"] ?? "").slice(0, 4))
    console.log(`[stores] ${entries.length} OpenShift events dated ${sorted(new Set(years)).join(", ")}`)
  })
})

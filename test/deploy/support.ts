/**
 * Shared by the deployment-file tests: reading the repository's YAML/JSON, walking parsed documents without
 * trusting their shape, the names Loki gives OTLP attributes, and records made by the real translator.
 */
import { existsSync, readFileSync, statSync } from "node:fs"
import type { HrTime } from "@opentelemetry/api"
import { Either } from "effect"
import { parse, parseAllDocuments } from "yaml"
import { loadConfig, type Loaded } from "../../src/cli/load.ts"
import type { KubeEvent, ObjectRef } from "../../src/domain/KubeEvent.ts"
import { parseTimestamp, type Timestamp } from "../../src/domain/Timestamp.ts"
import { consoleLines } from "../../src/sink/console.ts"
import { ResourceCache } from "../../src/translate/resource.ts"
import { toLogRecord } from "../../src/translate/toLogRecord.ts"
import { at, isObject } from "../fixtures/support.ts"

// ---- files ----

const ROOT = new URL("../../", import.meta.url)

const exists = (relative: string): boolean => existsSync(new URL(relative, ROOT))
export const isFile = (relative: string): boolean => exists(relative) && statSync(new URL(relative, ROOT)).isFile()
export const isDirectory = (relative: string): boolean =>
  exists(relative) && statSync(new URL(relative, ROOT)).isDirectory()
export const readText = (relative: string): string => readFileSync(new URL(relative, ROOT), "utf8")

/** One YAML document; a syntax error throws with its position. */
export const readYaml = (relative: string): unknown => parse(readText(relative), { prettyErrors: true })

/** Every document of a multi-document YAML file; a syntax error in any of them throws. */
const readYamlDocuments = (relative: string): ReadonlyArray<unknown> =>
  parseAllDocuments(readText(relative)).map((doc, i) => {
    const error = doc.errors[0]
    if (error !== undefined) throw new Error(`${relative} document ${i + 1}: ${error.message}`)
    return doc.toJS()
  })

export const readJson = (relative: string): unknown => JSON.parse(readText(relative))

/** deploy/: the Namespace, and the Helm chart rendered with its default values (`npm run chart:deploy`). */
export const DEPLOY_FILES = ["deploy/namespace.yaml", "deploy/k8s-event-collector.yaml"] as const

export interface Manifest {
  readonly file: string
  readonly object: Obj
}

/** Every object of deploy/, in the order `kubectl apply -f` sends them. */
export const deployManifests = (): ReadonlyArray<Manifest> =>
  DEPLOY_FILES.flatMap((file) =>
    readYamlDocuments(file)
      .filter((d) => d !== null)
      .map((d) => ({ file, object: obj(d, file) }))
  )

/** The one object of deploy/ of this kind; throws when there are none or several. */
export const deployObject = (kind: string): Obj => {
  const found = deployManifests().filter((m) => m.object["kind"] === kind)
  if (found.length !== 1) throw new Error(`deploy/ holds ${found.length} ${kind} objects, not one`)
  const [m] = found
  if (m === undefined) throw new Error(kind)
  return m.object
}

// ---- walking parsed documents ----

export type Obj = Readonly<Record<string, unknown>>

/** The fixtures' object check and path lookup, under this module's names. */
export { at }
export const isObj = isObject

export const obj = (u: unknown, what: string): Obj => {
  if (!isObj(u)) throw new Error(`${what}: expected a mapping, got ${JSON.stringify(u)}`)
  return u
}

export const arr = (u: unknown): ReadonlyArray<unknown> => (Array.isArray(u) ? u : [])

export const strings = (u: unknown): ReadonlyArray<string> => arr(u).filter((x): x is string => typeof x === "string")

export const str = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)

export const text = (u: unknown, what: string): string => {
  if (typeof u !== "string") throw new Error(`${what}: expected a string, got ${JSON.stringify(u)}`)
  return u
}

/** Every value in a parsed tree that is an object with the given key, depth first. */
export const collect = (u: unknown, key: string): ReadonlyArray<Obj> => {
  const out: Array<Obj> = []
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk)
    else if (isObj(v)) {
      if (key in v) out.push(v)
      Object.values(v).forEach(walk)
    }
  }
  walk(u)
  return out
}

/** `host:port` of a URL or of a bare `host:port`. */
export const hostPort = (address: string): { host: string; port: number } => {
  const url = new URL(address.includes("://") ? address : `tcp://${address}`)
  return { host: url.hostname, port: Number(url.port) }
}

// ---- the collector's own configuration loader ----

/** Runs the collector's configuration loader on a command line, with files served from `files`. */
export const loadCommandLine = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>,
  files: Readonly<Record<string, string>> = {}
): Loaded => {
  const loaded = loadConfig({
    argv,
    env,
    readText: (path) => {
      const content = files[path]
      if (content === undefined) throw new Error(`ENOENT: no such file, open '${path}'`)
      return content
    }
  })
  if (Either.isLeft(loaded)) throw new Error(`the collector rejects ${JSON.stringify(argv)}:\n${loaded.left.message}`)
  return loaded.right
}

// ---- Loki's view of an OTLP record ----

/**
 * How Loki's OTLP ingestion names an attribute (it builds label names the way Prometheus does, with
 * otlptranslator's LabelNamer): every character outside [a-zA-Z0-9_] becomes `_`; a leading digit gets `key_`.
 * `k8s.event.reason` → `k8s_event_reason`.
 */
export const lokiName = (attribute: string): string => {
  const name = attribute.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[0-9]/.test(name) ? `key_${name}` : name
}

/**
 * The resource attributes Loki turns into index labels when its `otlp_config` is left at the default
 * (pkg/loghttp/push/otlp_config.go, `DefaultOTLPResourceAttributesAsIndexLabels`); every other resource, scope
 * and record attribute becomes structured metadata. grafana/loki.yaml keeps the default.
 */
export const LOKI_DEFAULT_INDEX_ATTRIBUTES: ReadonlySet<string> = new Set([
  "service.name",
  "service.namespace",
  "service.instance.id",
  "deployment.environment",
  "cloud.region",
  "cloud.availability_zone",
  "k8s.cluster.name",
  "k8s.namespace.name",
  "k8s.pod.name",
  "k8s.container.name",
  "container.name",
  "k8s.replicaset.name",
  "k8s.deployment.name",
  "k8s.statefulset.name",
  "k8s.daemonset.name",
  "k8s.cronjob.name",
  "k8s.job.name"
])

/** Fields Loki stores for every OTLP record besides its attributes, and the ones it derives. */
const LOKI_RECORD_FIELDS = {
  severityText: "severity_text",
  severityNumber: "severity_number",
  scopeName: "scope_name",
  observedTimestamp: "observed_timestamp",
  /** Derived from severity_number (9 → info, 13 → warn). */
  detectedLevel: "detected_level",
  /** The index label Loki always sets: `service.name`, else `unknown_service`. */
  serviceName: "service_name"
} as const

// ---- records from the real translator ----

const ts = (value: string): Timestamp => {
  const t = parseTimestamp(value)
  if (t === undefined) throw new Error(`bad timestamp ${value}`)
  return t
}

const OBSERVED: HrTime = [1_750_000_000, 0]

const event = (
  id: string,
  type: string,
  reason: string,
  regarding: ObjectRef,
  extra: Partial<KubeEvent> = {}
): KubeEvent => ({
  api: "core/v1",
  name: `${regarding.name ?? "x"}.${id}`,
  namespace: regarding.namespace,
  uid: `00000000-0000-4000-8000-${id.padStart(12, "0")}`,
  resourceVersion: "4711",
  creationTimestamp: ts("2025-06-15T08:00:00Z"),
  regarding,
  reason,
  message: `${reason} happened`,
  type,
  action: "Testing",
  count: 3,
  firstTimestamp: ts("2025-06-15T08:00:00Z"),
  lastTimestamp: ts("2025-06-15T08:05:00Z"),
  reportingController: "kubelet",
  reportingInstance: "node-1",
  sourceComponent: "kubelet",
  sourceHost: "node-1",
  ...extra
})

const ref = (kind: string, name: string, namespace: string | undefined, extra: Partial<ObjectRef> = {}): ObjectRef => ({
  apiVersion: kind === "Pod" || kind === "Node" ? "v1" : kind === "Job" || kind === "CronJob" ? "batch/v1" : "apps/v1",
  kind,
  name,
  namespace,
  uid: `uid-${kind.toLowerCase()}-${name}`,
  resourceVersion: "99",
  ...extra
})

/** A Warning about a pod's container: the case the trace-to-logs link and most dashboard panels are about. */
export const POD_WARNING: KubeEvent = event(
  "1",
  "Warning",
  "BackOff",
  ref("Pod", "checkout-7d9f8b6c5d-x2k4p", "shop", {
    fieldPath: "spec.containers{checkout}"
  })
)
export const POD_NORMAL: KubeEvent = event("2", "Normal", "Pulled", ref("Pod", "checkout-7d9f8b6c5d-x2k4p", "shop"))

/** One event per kind that has attributes of its own, so that the union covers every name the translator emits. */
const FIXTURE_EVENTS: ReadonlyArray<KubeEvent> = [
  POD_WARNING,
  POD_NORMAL,
  event("3", "Normal", "ScalingReplicaSet", ref("Deployment", "checkout", "shop")),
  event("4", "Normal", "SuccessfulCreate", ref("ReplicaSet", "checkout-7d9f8b6c5d", "shop")),
  event("5", "Normal", "SuccessfulCreate", ref("StatefulSet", "db", "shop")),
  event("6", "Normal", "SuccessfulCreate", ref("DaemonSet", "agent", "kube-system")),
  event("7", "Warning", "BackoffLimitExceeded", ref("Job", "report-29172", "batch")),
  event("8", "Normal", "SawCompletedJob", ref("CronJob", "report", "batch")),
  event("9", "Warning", "NodeNotReady", ref("Node", "node-2", undefined), { sourceHost: undefined }),
  event("10", "Normal", "Created", ref("Namespace", "shop", undefined))
]

/** What an OTLP backend receives for one record: the collector's own OTLP/JSON serialization (console exporter). */
export interface WireRecord {
  readonly resourceAttributes: ReadonlyArray<string>
  readonly recordAttributes: ReadonlyArray<string>
  readonly resource: Readonly<Record<string, string>>
  readonly scopeName: string | undefined
  readonly severityNumber: number | undefined
  readonly severityText: string | undefined
  readonly body: string | undefined
}

const attributeKeys = (u: unknown): ReadonlyArray<string> =>
  arr(u).flatMap((kv) => (typeof at(kv, "key") === "string" ? [text(at(kv, "key"), "key")] : []))

export const wireRecord = (e: KubeEvent, clusterName = "demo"): WireRecord => {
  const record = toLogRecord(e, {
    resources: new ResourceCache({ "k8s.cluster.name": clusterName }),
    observedAt: OBSERVED
  })
  const lines = consoleLines([record]).trim().split("\n")
  if (lines.length !== 1 || lines[0] === undefined) throw new Error(`expected one OTLP/JSON line, got ${lines.length}`)
  const request: unknown = JSON.parse(lines[0])
  const resourceLogs = arr(at(request, "resourceLogs"))[0]
  const scopeLogs = arr(at(resourceLogs, "scopeLogs"))[0]
  const logRecord = arr(at(scopeLogs, "logRecords"))[0]
  const resourceAttrs = at(resourceLogs, "resource", "attributes")
  const resource: Record<string, string> = {}
  for (const kv of arr(resourceAttrs)) {
    const key = str(at(kv, "key"))
    const value = str(at(kv, "value", "stringValue"))
    if (key !== undefined && value !== undefined) resource[key] = value
  }
  const severityNumber = at(logRecord, "severityNumber")
  return {
    resourceAttributes: attributeKeys(resourceAttrs),
    recordAttributes: attributeKeys(at(logRecord, "attributes")),
    resource,
    scopeName: str(at(scopeLogs, "scope", "name")),
    severityNumber: typeof severityNumber === "number" ? severityNumber : undefined,
    severityText: str(at(logRecord, "severityText")),
    body: str(at(logRecord, "body", "stringValue"))
  }
}

/** The names the translator's records have once in Loki: index labels, and everything a query can filter on. */
export interface LokiNames {
  /** Usable in a stream selector `{...}`. */
  readonly indexLabels: ReadonlySet<string>
  /** Usable after a `|` and in `by (...)`: index labels, structured metadata and derived fields. */
  readonly all: ReadonlySet<string>
  /** The instrumentation scope name of every record (`scope_name` in Loki). */
  readonly scopeName: string
}

export const lokiNames = (events: ReadonlyArray<KubeEvent> = FIXTURE_EVENTS): LokiNames => {
  const index = new Set<string>([LOKI_RECORD_FIELDS.serviceName])
  const all = new Set<string>([LOKI_RECORD_FIELDS.serviceName, LOKI_RECORD_FIELDS.observedTimestamp])
  const scopes = new Set<string>()
  for (const e of events) {
    const r = wireRecord(e)
    for (const a of r.resourceAttributes) {
      all.add(lokiName(a))
      if (LOKI_DEFAULT_INDEX_ATTRIBUTES.has(a)) index.add(lokiName(a))
    }
    for (const a of r.recordAttributes) all.add(lokiName(a))
    if (r.severityText !== undefined) all.add(LOKI_RECORD_FIELDS.severityText)
    if (r.severityNumber !== undefined) {
      all.add(LOKI_RECORD_FIELDS.severityNumber)
      all.add(LOKI_RECORD_FIELDS.detectedLevel)
    }
    if (r.scopeName !== undefined) {
      scopes.add(r.scopeName)
      all.add(LOKI_RECORD_FIELDS.scopeName)
    }
  }
  const [scopeName, ...others] = [...scopes]
  if (scopeName === undefined || others.length > 0)
    throw new Error(`expected one scope name, got ${[...scopes].join(", ")}`)
  return { indexLabels: index, all, scopeName }
}

// ---- LogQL and PromQL, as far as the tests need them ----

export interface LogQlNames {
  /** Label names in stream selectors `{name="..."}`. */
  readonly selectors: ReadonlyArray<string>
  /** Label names in label filters `| name="..."`, `| name >= 13`. */
  readonly filters: ReadonlyArray<string>
  /** Label names in `by (...)` / `without (...)`. */
  readonly groupings: ReadonlyArray<string>
  /** `| name <op> "value"` pairs, values unquoted. */
  readonly filterValues: ReadonlyArray<{ readonly name: string; readonly op: string; readonly value: string }>
}

const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|==|>=|<=|=|>|<)/g

/** The label names a LogQL expression uses (enough of LogQL for the dashboard's and the alert rules' queries). */
export const logQlNames = (expr: string): LogQlNames => {
  const filterValues: Array<{ name: string; op: string; value: string }> = []
  for (const m of expr.matchAll(
    /\|\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|==|>=|<=|=|>|<)\s*("(?:[^"\\]|\\.)*"|[0-9.]+)/g
  )) {
    const [, name, op, raw] = m
    if (name !== undefined && op !== undefined && raw !== undefined) {
      filterValues.push({ name, op, value: raw.startsWith('"') ? raw.slice(1, -1) : raw })
    }
  }
  // Blank out string literals so that their contents cannot look like syntax.
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/`[^`]*`/g, '""')
  const selectors: Array<string> = []
  for (const m of bare.matchAll(/\{([^{}]*)\}/g)) {
    for (const n of (m[1] ?? "").matchAll(MATCHER)) if (n[1] !== undefined) selectors.push(n[1])
  }
  const withoutSelectors = bare.replace(/\{[^{}]*\}/g, "{}")
  const filters: Array<string> = []
  for (const m of withoutSelectors.matchAll(/\|\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|==|>=|<=|=|>|<)/g)) {
    if (m[1] !== undefined) filters.push(m[1])
  }
  const groupings: Array<string> = []
  for (const m of withoutSelectors.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const n of (m[1] ?? "").split(",")) if (n.trim() !== "") groupings.push(n.trim())
  }
  return { selectors, filters, groupings, filterValues }
}

/** The k8s-event-collector metric names a PromQL expression uses, with histogram series suffixes removed. */
export const promMetricNames = (expr: string, histograms: ReadonlySet<string>): ReadonlyArray<string> =>
  [...expr.matchAll(/\bk8s_event_collector_[a-z0-9_]+/g)].map(([name]) => {
    const base = name.replace(/_(bucket|sum|count)$/, "")
    return histograms.has(base) ? base : name
  })

// ---- fixtures for Loki's view of whole records (test/deploy/loki.ts) ----

/** An Event as the fixtures above are made: `id` makes its uid; `extra` replaces any field. */
export const makeEvent = event

/** An involved-object reference as the fixtures above are made. */
export const objectRef = ref

/**
 * The events the OpenTelemetry Collector counts (its `count` connector, served by its prometheus exporter on
 * :8889), as Prometheus sees them: the counter and its labels. The dashboard's rate panels and
 * grafana/prometheus-rules.yaml read it.
 */
export const EVENTS_COUNTER = {
  name: "k8s_events_total",
  labels: ["k8s_namespace_name", "k8s_object_kind", "k8s_event_reason", "severity"],
  port: 8889
} as const

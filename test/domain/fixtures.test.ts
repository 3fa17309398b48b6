/**
 * Every real event in shared/fixtures/openshift-events decodes, translates and serializes, and the record it
 * gives agrees with the raw JSON. The expected values are computed here from the raw objects, following
 * DESIGN.md §3, never by calling the code under test.
 */
import { describe, expect, it } from "vitest"
import type { HrTime } from "@opentelemetry/api"
import { ResourceCache } from "../../src/translate/resource.ts"
import { toLogRecord } from "../../src/translate/toLogRecord.ts"
import { consoleLines } from "../../src/sink/console.ts"
import {
  at,
  attrMap,
  loadOpenShiftEvents,
  mustDecode,
  nonEmpty,
  onlyRecord,
  parseLines,
  utcNanos,
  type OtlpLogRecord
} from "../fixtures/support.ts"

const OBSERVED_AT: HrTime = [1_750_000_000, 123_456_789]
const OBSERVED_NANOS = "1750000000123456789"
const CLUSTER = "fixture-cluster"

/** Kinds that are not namespaced, whatever namespace a reporter wrote into the reference. */
const CLUSTER_SCOPED = new Set([
  "Node",
  "PersistentVolume",
  "StorageClass",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "APIService",
  "CertificateSigningRequest",
  "ClusterOperator",
  "ClusterVersion",
  "MachineConfigPool",
  "MachineConfig"
])
const WORKLOAD_KINDS = new Set(["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"])
const CONTAINER = /^spec\.(?:containers|initContainers|ephemeralContainers)\{([^}]+)\}/

const RECORD_KEYS = new Set([
  "k8s.event.reason",
  "k8s.event.action",
  "k8s.event.name",
  "k8s.event.uid",
  "k8s.event.count",
  "k8s.event.reporting_controller",
  "k8s.event.reporting_instance",
  "k8s.event.source.component",
  "k8s.event.source.host",
  "k8s.event.start_time",
  "log.record.uid"
])

interface Case {
  readonly name: string
  readonly raw: unknown
  readonly record: OtlpLogRecord
  readonly attrs: ReadonlyMap<string, string | number | boolean>
  readonly resource: ReadonlyMap<string, string | number | boolean>
}

const fixtures = loadOpenShiftEvents()
const resources = new ResourceCache({ "k8s.cluster.name": CLUSTER })

const cases: ReadonlyArray<Case> = fixtures.map(({ source, raw }) => {
  const event = mustDecode(raw)
  const lines = parseLines(consoleLines([toLogRecord(event, { resources, observedAt: OBSERVED_AT })]))
  expect(lines).toHaveLength(1)
  const [line] = lines
  if (line === undefined) throw new Error("no line")
  const { resource, record } = onlyRecord(line)
  return { name: `${String(at(raw, "metadata", "uid"))} (${source})`, raw, record, attrs: attrMap(record.attributes), resource: attrMap(resource) }
})

/** The first of the given raw fields that is a string. */
const firstString = (raw: unknown, paths: ReadonlyArray<ReadonlyArray<string>>): string | undefined => {
  for (const p of paths) {
    const v = nonEmpty(at(raw, ...p))
    if (v !== undefined) return v
  }
  return undefined
}

const expectOptional = (map: ReadonlyMap<string, unknown>, key: string, expected: unknown) => {
  if (expected === undefined) expect(map.get(key), `${key} should be absent`).toBeUndefined()
  else expect(map.get(key), key).toBe(expected)
}

describe("the OpenShift fixtures", () => {
  it("hold 277 events, in four files, with distinct uids, all decoded and translated", () => {
    expect(fixtures).toHaveLength(277)
    expect(cases).toHaveLength(277)
    expect(new Set(fixtures.map((f) => f.source.split("#")[0])).size).toBe(4)
    expect(new Set(cases.map((c) => at(c.raw, "metadata", "uid"))).size).toBe(277)
  })

  it("decode as core/v1 events", () => {
    for (const { raw, source } of fixtures) expect(mustDecode(raw).api, source).toBe("core/v1")
  })
})

describe("record timestamp: series.lastObservedTime → lastTimestamp → eventTime → firstTimestamp → creationTimestamp", () => {
  it.each(cases)("$name", ({ raw, record }) => {
    const chosen = firstString(raw, [
      ["series", "lastObservedTime"],
      ["lastTimestamp"],
      ["eventTime"],
      ["firstTimestamp"],
      ["metadata", "creationTimestamp"]
    ])
    expect(chosen).toBeDefined()
    if (chosen === undefined) return
    expect(record.timeUnixNano).toBe(utcNanos(chosen).toString())
    expect(record.observedTimeUnixNano).toBe(OBSERVED_NANOS)
  })

  it("keeps the microseconds of MicroTime fields (eventTime, series.lastObservedTime)", () => {
    const micro = cases.filter((c) => /\.\d{6}Z$/.test(String(at(c.raw, "series", "lastObservedTime") ?? at(c.raw, "lastTimestamp") ?? at(c.raw, "eventTime"))))
    expect(micro.length).toBeGreaterThanOrEqual(9)
    for (const c of micro) {
      expect(c.record.timeUnixNano.endsWith("000000000"), c.name).toBe(false)
    }
  })
})

describe("severity, body and event name", () => {
  it.each(cases)("$name", ({ raw, record }) => {
    const type = nonEmpty(at(raw, "type"))
    const number = type === "Normal" ? 9 : type === "Warning" ? 13 : undefined
    expect(record.severityNumber).toBe(number)
    expect(record.severityText).toBe(type)
    const message = nonEmpty(at(raw, "message"))
    if (message === undefined) expect(record.body?.stringValue).toBeUndefined()
    else expect(record.body).toEqual({ stringValue: message })
    expect(record.eventName).toBe("k8s.event")
  })
})

describe("record attributes", () => {
  it.each(cases)("$name", ({ raw, attrs }) => {
    const uid = at(raw, "metadata", "uid")
    const rv = at(raw, "metadata", "resourceVersion")
    expect(typeof uid).toBe("string")
    expect(attrs.get("k8s.event.uid")).toBe(uid)
    expect(attrs.get("log.record.uid")).toBe(`${String(uid)}:${String(rv)}`)
    expect(attrs.get("k8s.event.name")).toBe(at(raw, "metadata", "name"))
    expectOptional(attrs, "k8s.event.reason", nonEmpty(at(raw, "reason")))
    expectOptional(attrs, "k8s.event.action", nonEmpty(at(raw, "action")))
    const seriesCount = at(raw, "series", "count")
    const count = at(raw, "count")
    expectOptional(attrs, "k8s.event.count", typeof seriesCount === "number" ? seriesCount : typeof count === "number" ? count : undefined)
    expectOptional(attrs, "k8s.event.reporting_controller", nonEmpty(at(raw, "reportingComponent")))
    expectOptional(attrs, "k8s.event.reporting_instance", nonEmpty(at(raw, "reportingInstance")))
    expectOptional(attrs, "k8s.event.source.component", nonEmpty(at(raw, "source", "component")))
    expectOptional(attrs, "k8s.event.source.host", nonEmpty(at(raw, "source", "host")))
    expectOptional(attrs, "k8s.event.start_time", firstString(raw, [["firstTimestamp"], ["eventTime"], ["metadata", "creationTimestamp"]]))
    for (const key of attrs.keys()) expect(RECORD_KEYS.has(key), `unexpected attribute ${key}`).toBe(true)
  })
})

describe("resource attributes", () => {
  it.each(cases)("$name", ({ raw, resource }) => {
    const obj = (field: string) => nonEmpty(at(raw, "involvedObject", field))
    const kind = obj("kind")
    const name = obj("name")
    expect(resource.get("k8s.cluster.name")).toBe(CLUSTER)
    expectOptional(resource, "k8s.object.kind", kind)
    expectOptional(resource, "k8s.object.name", name)
    expectOptional(resource, "k8s.object.uid", obj("uid"))
    expectOptional(resource, "k8s.object.api_version", obj("apiVersion"))
    expectOptional(resource, "k8s.object.fieldpath", obj("fieldPath"))
    expectOptional(resource, "k8s.object.resource_version", obj("resourceVersion"))
    const fieldPath = obj("fieldPath")
    expectOptional(resource, "k8s.container.name", fieldPath === undefined ? undefined : CONTAINER.exec(fieldPath)?.[1])
    expectOptional(resource, "k8s.pod.name", kind === "Pod" ? name : undefined)
    expectOptional(resource, "k8s.pod.uid", kind === "Pod" ? obj("uid") : undefined)
    expectOptional(resource, "k8s.node.name", kind === "Node" && name !== undefined ? name : nonEmpty(at(raw, "source", "host")))
    // No enrichment here: service.name comes from the involved workload only, never from a pod.
    // Kinds are matched without regard to case: the fixtures hold a `deployment` as well as `Deployment`s.
    const service = kind !== undefined && [...WORKLOAD_KINDS].some((k) => k.toLowerCase() === kind.toLowerCase()) ? name : undefined
    expectOptional(resource, "service.name", service)
    if (kind === "Pod") expect(resource.get("service.name")).not.toBe(name)
  })
})

describe("k8s.namespace.name: the involved object's namespace, its name for a Namespace, absent when cluster-scoped", () => {
  it.each(cases)("$name", ({ raw, resource }) => {
    const kind = nonEmpty(at(raw, "involvedObject", "kind"))
    const expected = kind === "Namespace"
      ? nonEmpty(at(raw, "involvedObject", "name"))
      : kind !== undefined && CLUSTER_SCOPED.has(kind)
        ? undefined
        : nonEmpty(at(raw, "involvedObject", "namespace"))
    expectOptional(resource, "k8s.namespace.name", expected)
    if (resource.has("service.name")) expectOptional(resource, "service.namespace", expected)
  })
})

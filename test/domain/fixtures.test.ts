/**
 * Every real event in shared/fixtures/openshift-events decodes, translates and serializes, and the record it
 * gives agrees with the raw JSON. The expected values are computed here from the raw objects, following
 * DESIGN.md §3, never by calling the code under test.
 */
import { describe, expect, it } from "vitest"
import type { HrTime } from "@opentelemetry/api"
import { ResourceCache } from "../../src/translate/resource.ts"
import {
  at,
  expectOptional,
  expectRecordAttributes,
  expectRecordTime,
  expectSeverityAndBody,
  loadOpenShiftEvents,
  mustDecode,
  nonEmpty,
  translateFixture,
  type TranslatedCase
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

const fixtures = loadOpenShiftEvents()
const resources = new ResourceCache({ "k8s.cluster.name": CLUSTER })

const cases: ReadonlyArray<TranslatedCase> = fixtures.map(({ source, raw }) =>
  translateFixture(`${String(at(raw, "metadata", "uid"))} (${source})`, raw, { resources, observedAt: OBSERVED_AT }))

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
  it.each(cases)("$name", (c) => expectRecordTime(c, "core/v1", OBSERVED_NANOS))

  it("keeps the microseconds of MicroTime fields (eventTime, series.lastObservedTime)", () => {
    const micro = cases.filter((c) => /\.\d{6}Z$/.test(String(at(c.raw, "series", "lastObservedTime") ?? at(c.raw, "lastTimestamp") ?? at(c.raw, "eventTime"))))
    expect(micro.length).toBeGreaterThanOrEqual(9)
    for (const c of micro) {
      expect(c.record.timeUnixNano.endsWith("000000000"), c.name).toBe(false)
    }
  })
})

describe("severity, body and event name", () => {
  it.each(cases)("$name", (c) => expectSeverityAndBody(c, "core/v1"))
})

describe("record attributes", () => {
  it.each(cases)("$name", (c) => expectRecordAttributes(c, "core/v1"))
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

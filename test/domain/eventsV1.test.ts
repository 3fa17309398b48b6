/**
 * The events.k8s.io/v1 path, with expectations of its own: every event of test/fixtures/events-v1.json decodes,
 * translates and serializes, and the record agrees with the raw JSON read under the events.k8s.io/v1 field names.
 * The expected values are derived here from the raw objects, following the Kubernetes API reference for
 * events.k8s.io/v1 (`note` is the message, `regarding` the involved object, `deprecatedSource`,
 * `deprecatedFirstTimestamp`, `deprecatedLastTimestamp` and `deprecatedCount` the core/v1 fields kept for
 * compatibility, `series` the repeats) and DESIGN.md §3, never from the code under test or the golden files.
 */
import { describe, expect, it } from "vitest"
import type { HrTime } from "@opentelemetry/api"
import { ResourceCache } from "../../src/translate/resource.ts"
import { expectRecordAttributes, expectRecordTime, expectSeverityAndBody } from "../fixtures/expectations.ts"
import { at, loadEventsV1, mustDecode, nonEmpty, translateFixture, type TranslatedCase } from "../fixtures/support.ts"

const OBSERVED_AT: HrTime = [1_760_000_000, 42]
const OBSERVED_NANOS = "1760000000000000042"
const CLUSTER = "v1-cluster"

/** Kinds with their own semantic-convention attributes `k8s.<kind>.name` and `k8s.<kind>.uid`. */
const KIND_ATTRIBUTES = new Map([
  ["Pod", "pod"],
  ["Node", "node"],
  ["Deployment", "deployment"],
  ["ReplicaSet", "replicaset"],
  ["StatefulSet", "statefulset"],
  ["DaemonSet", "daemonset"],
  ["Job", "job"],
  ["CronJob", "cronjob"]
])
/** Workloads name a service (the semantic conventions' k8s-attributes guidance); a pod on its own does not. */
const WORKLOADS = new Set(["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"])
const CLUSTER_SCOPED = new Set(["Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding"])
const CONTAINER = /^spec\.(?:containers|initContainers|ephemeralContainers)\{([^}]+)\}/

const fixtures = loadEventsV1()
const resources = new ResourceCache({ "k8s.cluster.name": CLUSTER })

const cases: ReadonlyArray<TranslatedCase> = fixtures.map(({ source, raw }) =>
  translateFixture(`${String(at(raw, "metadata", "name"))} (${source})`, raw, { resources, observedAt: OBSERVED_AT })
)

const regarding = (raw: unknown, field: string) => nonEmpty(at(raw, "regarding", field))

describe("the events.k8s.io/v1 fixtures", () => {
  it("hold six events with distinct uids, all read as events.k8s.io/v1 (v1beta1 included)", () => {
    expect(cases).toHaveLength(6)
    expect(new Set(cases.map((c) => at(c.raw, "metadata", "uid"))).size).toBe(6)
    for (const { raw, source } of fixtures) {
      expect(String(at(raw, "apiVersion")), source).toMatch(/^events\.k8s\.io\/v1(beta1)?$/)
      expect(mustDecode(raw).api, source).toBe("events.k8s.io/v1")
    }
  })
})

describe("record timestamp: series.lastObservedTime → deprecatedLastTimestamp → eventTime → deprecatedFirstTimestamp → creationTimestamp", () => {
  it.each(cases)("$name", (c) => expectRecordTime(c, "events.k8s.io/v1", OBSERVED_NANOS))

  it("reads the times written by hand in the fixtures as these instants", () => {
    const seconds = (...utc: [number, number, number, number, number, number]) => Date.UTC(...utc) / 1000
    const time = (uidEnd: string) =>
      cases.find((c) => String(at(c.raw, "metadata", "uid")).endsWith(uidEnd))?.record.timeUnixNano
    // series.lastObservedTime 2024-05-14T08:13:45.987654Z, a MicroTime: the microseconds are kept.
    expect(time("d01")).toBe(`${seconds(2024, 4, 14, 8, 13, 45)}987654000`)
    // deprecatedLastTimestamp 2024-05-14T08:41:37Z wins over deprecatedFirstTimestamp.
    expect(time("d02")).toBe(`${seconds(2024, 4, 14, 8, 41, 37)}000000000`)
    // eventTime 2024-05-14T08:45:00.000001Z: one microsecond after the second.
    expect(time("d03")).toBe(`${seconds(2024, 4, 14, 8, 45, 0)}000001000`)
    // eventTime 2024-05-14T11:15:30.5+02:00 is 09:15:30.5 UTC.
    expect(time("d06")).toBe(`${seconds(2024, 4, 14, 9, 15, 30)}500000000`)
  })
})

describe("severity, body and event name", () => {
  it.each(cases)("$name", (c) => expectSeverityAndBody(c, "events.k8s.io/v1"))
})

describe("record attributes", () => {
  it.each(cases)("$name", (c) => expectRecordAttributes(c, "events.k8s.io/v1"))

  it("carries the largest int32 count as it is", () => {
    const huge = cases.find((c) => at(c.raw, "deprecatedCount") === 2_147_483_647)
    expect(huge?.attrs.get("k8s.event.count")).toBe(2_147_483_647)
  })
})

describe("resource attributes, from regarding", () => {
  it.each(cases)("$name", ({ raw, resource }) => {
    const kind = regarding(raw, "kind")
    const name = regarding(raw, "name")
    const expected = new Map<string, string>([["k8s.cluster.name", CLUSTER]])
    const put = (key: string, value: string | undefined) => value !== undefined && expected.set(key, value)
    put(
      "k8s.namespace.name",
      kind === "Namespace"
        ? name
        : kind !== undefined && CLUSTER_SCOPED.has(kind)
          ? undefined
          : regarding(raw, "namespace")
    )
    put("k8s.object.kind", kind)
    put("k8s.object.name", name)
    put("k8s.object.uid", regarding(raw, "uid"))
    put("k8s.object.api_version", regarding(raw, "apiVersion"))
    put("k8s.object.fieldpath", regarding(raw, "fieldPath"))
    put("k8s.object.resource_version", regarding(raw, "resourceVersion"))
    const fieldPath = regarding(raw, "fieldPath")
    put("k8s.container.name", fieldPath === undefined ? undefined : CONTAINER.exec(fieldPath)?.[1])
    const own = kind === undefined ? undefined : KIND_ATTRIBUTES.get(kind)
    if (own !== undefined) {
      put(`k8s.${own}.name`, name)
      put(`k8s.${own}.uid`, regarding(raw, "uid"))
    }
    // The node an event happened on: the Node itself, else the host that reported it.
    if (kind !== "Node") put("k8s.node.name", nonEmpty(at(raw, "deprecatedSource", "host")))
    if (kind !== undefined && WORKLOADS.has(kind)) {
      put("service.name", name)
      put("service.namespace", expected.get("k8s.namespace.name"))
    }
    expect(Object.fromEntries(resource)).toEqual(Object.fromEntries(expected))
  })
})

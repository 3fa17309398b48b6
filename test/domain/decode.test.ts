import { describe, expect, it } from "vitest"
import { Either } from "effect"
import {
  apiOf,
  decodeKubeEvent,
  describeObject,
  EventDecodeError,
  occurrenceId,
  type EventApi,
  type KubeEvent
} from "../../src/domain/KubeEvent.ts"
import { compareTimestamps, parseTimestamp, toHrTime } from "../../src/domain/Timestamp.ts"
import { at, isObject, loadEventsV1, mustDecode } from "../fixtures/support.ts"

const withoutApi = (e: KubeEvent): Omit<KubeEvent, "api"> => {
  const { api: _api, ...rest } = e
  return rest
}

const decodeError = (u: unknown, readFrom?: EventApi): EventDecodeError => {
  const decoded = decodeKubeEvent(u, readFrom)
  if (Either.isRight(decoded)) throw new Error(`expected a decode error, got ${JSON.stringify(decoded.right)}`)
  return decoded.left
}

// ---- events.k8s.io/v1 and core/v1 give the same canonical event ----

/** The same Event in both APIs, written out by hand with every field the collector reads. */
const CORE_V1_FULL = {
  apiVersion: "v1",
  kind: "Event",
  metadata: {
    name: "web-5c9f8d7b6-abcde.17cf00aa00bb00cc",
    namespace: "shop",
    uid: "11111111-2222-4333-8444-555555555555",
    resourceVersion: "4242",
    creationTimestamp: "2024-05-14T07:00:00Z"
  },
  involvedObject: {
    apiVersion: "v1",
    kind: "Pod",
    namespace: "shop",
    name: "web-5c9f8d7b6-abcde",
    uid: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    resourceVersion: "4100",
    fieldPath: "spec.initContainers{migrate}"
  },
  related: { kind: "Node", name: "worker-1", apiVersion: "v1" },
  reason: "Pulled",
  message: 'Successfully pulled image "registry.example/migrate:1.2" in 1.2s',
  type: "Normal",
  action: "Pulling",
  count: 3,
  firstTimestamp: "2024-05-14T07:00:00Z",
  lastTimestamp: "2024-05-14T07:05:00Z",
  eventTime: "2024-05-14T07:00:00.000100Z",
  series: { count: 5, lastObservedTime: "2024-05-14T07:06:00.654321Z" },
  source: { component: "kubelet", host: "worker-1" },
  reportingComponent: "kubelet",
  reportingInstance: "worker-1"
}

const EVENTS_V1_FULL = {
  apiVersion: "events.k8s.io/v1",
  kind: "Event",
  metadata: CORE_V1_FULL.metadata,
  regarding: CORE_V1_FULL.involvedObject,
  related: CORE_V1_FULL.related,
  reason: "Pulled",
  note: CORE_V1_FULL.message,
  type: "Normal",
  action: "Pulling",
  deprecatedCount: 3,
  deprecatedFirstTimestamp: "2024-05-14T07:00:00Z",
  deprecatedLastTimestamp: "2024-05-14T07:05:00Z",
  eventTime: "2024-05-14T07:00:00.000100Z",
  series: { count: 5, lastObservedTime: "2024-05-14T07:06:00.654321Z" },
  deprecatedSource: { component: "kubelet", host: "worker-1" },
  reportingController: "kubelet",
  reportingInstance: "worker-1"
}

/** The core/v1 form of an events.k8s.io/v1 object, field by field as the API server converts it. */
const toCoreV1 = (v1: unknown): Record<string, unknown> => {
  if (!isObject(v1)) throw new Error("not an object")
  const out: Record<string, unknown> = {
    apiVersion: "v1",
    kind: "Event",
    metadata: v1["metadata"],
    involvedObject: v1["regarding"] ?? {}
  }
  const rename: ReadonlyArray<readonly [string, string]> = [
    ["related", "related"],
    ["reason", "reason"],
    ["note", "message"],
    ["type", "type"],
    ["action", "action"],
    ["deprecatedCount", "count"],
    ["deprecatedFirstTimestamp", "firstTimestamp"],
    ["deprecatedLastTimestamp", "lastTimestamp"],
    ["eventTime", "eventTime"],
    ["series", "series"],
    ["deprecatedSource", "source"],
    ["reportingController", "reportingComponent"],
    ["reportingInstance", "reportingInstance"]
  ]
  for (const [from, to] of rename) if (from in v1) out[to] = v1[from]
  return out
}

describe("events.k8s.io/v1 and core/v1 decode to the same canonical event", () => {
  it("a hand-written pair with every field", () => {
    const core = mustDecode(CORE_V1_FULL)
    const v1 = mustDecode(EVENTS_V1_FULL)
    expect(core.api).toBe("core/v1")
    expect(v1.api).toBe("events.k8s.io/v1")
    expect(withoutApi(v1)).toEqual(withoutApi(core))
    expect(v1).toMatchObject({
      name: "web-5c9f8d7b6-abcde.17cf00aa00bb00cc",
      namespace: "shop",
      uid: "11111111-2222-4333-8444-555555555555",
      resourceVersion: "4242",
      message: CORE_V1_FULL.message,
      reason: "Pulled",
      type: "Normal",
      action: "Pulling",
      count: 5, // series.count wins over deprecatedCount
      reportingController: "kubelet",
      reportingInstance: "worker-1",
      sourceComponent: "kubelet",
      sourceHost: "worker-1",
      regarding: { kind: "Pod", name: "web-5c9f8d7b6-abcde", fieldPath: "spec.initContainers{migrate}" },
      related: { kind: "Node", name: "worker-1", apiVersion: "v1" }
    })
    expect(v1.seriesLastObservedTime?.iso).toBe("2024-05-14T07:06:00.654321Z")
    expect(v1.firstTimestamp?.iso).toBe("2024-05-14T07:00:00Z")
    expect(v1.lastTimestamp?.iso).toBe("2024-05-14T07:05:00Z")
    expect(v1.eventTime?.nanos).toBe(100_000)
  })

  it("count falls back to the deprecated count when there is no series", () => {
    const { series: _s, ...coreNoSeries } = CORE_V1_FULL
    const { series: _t, ...v1NoSeries } = EVENTS_V1_FULL
    expect(mustDecode(coreNoSeries).count).toBe(3)
    expect(mustDecode(v1NoSeries).count).toBe(3)
    expect(mustDecode({ ...v1NoSeries, series: { count: null } }).count).toBe(3)
    expect(mustDecode({ ...v1NoSeries, series: { count: 0 } }).count).toBe(0)
  })

  it.each(loadEventsV1())("test/fixtures/$source", ({ raw }) => {
    const v1 = mustDecode(raw)
    const core = mustDecode(toCoreV1(raw))
    expect(v1.api).toBe("events.k8s.io/v1")
    expect(core.api).toBe("core/v1")
    expect(withoutApi(v1)).toEqual(withoutApi(core))
    expect(v1.message).toBe(at(raw, "note") ?? undefined)
    expect(v1.regarding.name).toBe(at(raw, "regarding", "name"))
  })
})

// ---- null, "" and missing all become undefined ----

const MINIMAL = {
  metadata: { name: "n.1", namespace: "ns", uid: "u-1", resourceVersion: "1" },
  involvedObject: {}
}

describe("absent, null and empty fields become undefined", () => {
  const optionalStrings = ["reason", "message", "type", "action", "reportingComponent", "reportingInstance"] as const
  const optionalTimes = ["firstTimestamp", "lastTimestamp", "eventTime"] as const
  const refFields = ["apiVersion", "kind", "namespace", "name", "uid", "resourceVersion", "fieldPath"] as const

  const variants: ReadonlyArray<readonly [string, unknown]> = [
    ["missing", MINIMAL],
    [
      "null",
      {
        ...MINIMAL,
        metadata: { ...MINIMAL.metadata, namespace: null, creationTimestamp: null },
        involvedObject: Object.fromEntries(refFields.map((f) => [f, null])),
        related: null,
        series: null,
        source: null,
        count: null,
        ...Object.fromEntries([...optionalStrings, ...optionalTimes].map((f) => [f, null]))
      }
    ],
    [
      "empty",
      {
        ...MINIMAL,
        metadata: { ...MINIMAL.metadata, namespace: "" },
        involvedObject: Object.fromEntries(refFields.map((f) => [f, ""])),
        series: {},
        source: { component: "", host: "" },
        ...Object.fromEntries(optionalStrings.map((f) => [f, ""]))
      }
    ]
  ]

  it.each(variants)("%s", (_label, raw) => {
    const e = mustDecode(raw)
    expect(e.api).toBe("core/v1")
    expect(e.name).toBe("n.1")
    expect(e.uid).toBe("u-1")
    expect(e.resourceVersion).toBe("1")
    for (const k of [
      "reason",
      "message",
      "type",
      "action",
      "count",
      "firstTimestamp",
      "lastTimestamp",
      "eventTime",
      "seriesLastObservedTime",
      "creationTimestamp",
      "reportingController",
      "reportingInstance",
      "sourceComponent",
      "sourceHost",
      "related"
    ] as const) {
      expect(e[k], k).toBeUndefined()
    }
    expect(e.namespace === undefined || e.namespace === "ns").toBe(true)
    for (const f of refFields) expect(e.regarding[f], `regarding.${f}`).toBeUndefined()
  })

  it("an empty metadata.namespace is undefined", () => {
    expect(mustDecode({ ...MINIMAL, metadata: { ...MINIMAL.metadata, namespace: "" } }).namespace).toBeUndefined()
    expect(mustDecode({ ...MINIMAL, metadata: { ...MINIMAL.metadata, namespace: null } }).namespace).toBeUndefined()
  })

  it("events.k8s.io/v1: a null or missing regarding is an empty reference", () => {
    const base = { apiVersion: "events.k8s.io/v1", metadata: MINIMAL.metadata }
    for (const raw of [
      base,
      { ...base, regarding: null },
      { ...base, regarding: {}, note: "", deprecatedSource: {} }
    ]) {
      const e = mustDecode(raw)
      expect(e.api).toBe("events.k8s.io/v1")
      expect(e.regarding).toEqual({})
      expect(e.message).toBeUndefined()
      expect(e.sourceComponent).toBeUndefined()
    }
  })

  it("ignores fields it does not know", () => {
    const e = mustDecode({
      ...MINIMAL,
      reason: "R",
      newField: { nested: [1, 2] },
      involvedObject: { kind: "Pod", extra: 1 }
    })
    expect(e.reason).toBe("R")
    expect(e.regarding).toEqual({ kind: "Pod" })
  })

  it("occurrenceId is uid:resourceVersion", () => {
    expect(occurrenceId(mustDecode(MINIMAL))).toBe("u-1:1")
  })
})

// ---- undecodable objects ----

describe("undecodable objects give an EventDecodeError naming the object and the path", () => {
  const meta = MINIMAL.metadata
  const cases: ReadonlyArray<{
    readonly label: string
    readonly input: unknown
    readonly readFrom?: EventApi
    readonly name: string
    readonly path?: string
  }> = [
    {
      label: "missing metadata.uid",
      input: { ...MINIMAL, metadata: { name: "n.1", namespace: "ns", resourceVersion: "1" } },
      name: "ns/n.1",
      path: "metadata.uid"
    },
    {
      label: "missing metadata.resourceVersion",
      input: { ...MINIMAL, metadata: { name: "n.1", namespace: "ns", uid: "u" } },
      name: "ns/n.1",
      path: "metadata.resourceVersion"
    },
    {
      label: "metadata.uid a number",
      input: { ...MINIMAL, metadata: { ...meta, uid: 7 } },
      name: "ns/n.1",
      path: "metadata.uid"
    },
    {
      label: "missing metadata.name, named by uid",
      input: { ...MINIMAL, metadata: { uid: "u-9", resourceVersion: "1" } },
      name: "uid u-9",
      path: "metadata.name"
    },
    { label: "metadata not an object", input: { ...MINIMAL, metadata: "n.1" }, name: "(unnamed)", path: "metadata" },
    { label: "metadata missing", input: { involvedObject: {} }, name: "(unnamed)", path: "metadata" },
    { label: "core/v1 without involvedObject", input: { metadata: meta }, name: "ns/n.1", path: "involvedObject" },
    {
      label: "non-RFC 3339 lastTimestamp",
      input: { ...MINIMAL, lastTimestamp: "yesterday" },
      name: "ns/n.1",
      path: "lastTimestamp"
    },
    {
      label: "date-only firstTimestamp",
      input: { ...MINIMAL, firstTimestamp: "2024-05-14" },
      name: "ns/n.1",
      path: "firstTimestamp"
    },
    {
      label: "epoch number as eventTime",
      input: { ...MINIMAL, eventTime: 1715670000 },
      name: "ns/n.1",
      path: "eventTime"
    },
    {
      label: "non-RFC 3339 creationTimestamp",
      input: { ...MINIMAL, metadata: { ...meta, creationTimestamp: "Tue May 14 2024" } },
      name: "ns/n.1",
      path: "metadata.creationTimestamp"
    },
    {
      label: "non-RFC 3339 series.lastObservedTime (v1)",
      input: { apiVersion: "events.k8s.io/v1", metadata: meta, series: { count: 2, lastObservedTime: "now" } },
      name: "ns/n.1",
      path: "series.lastObservedTime"
    },
    { label: "count as a string", input: { ...MINIMAL, count: "5" }, name: "ns/n.1", path: "count" },
    { label: "count infinite", input: { ...MINIMAL, count: Infinity }, name: "ns/n.1", path: "count" },
    { label: "reason a number", input: { ...MINIMAL, reason: 42 }, name: "ns/n.1", path: "reason" },
    {
      label: "regarding a string (v1)",
      input: { apiVersion: "events.k8s.io/v1", metadata: meta, regarding: "Pod/x" },
      name: "ns/n.1",
      path: "regarding"
    },
    { label: "a string", input: "an event", name: "(unnamed)" },
    { label: "null", input: null, name: "(unnamed)" },
    { label: "undefined", input: undefined, name: "(unnamed)" },
    { label: "an array", input: [MINIMAL], name: "(unnamed)" },
    { label: "a number", input: 42, name: "(unnamed)" },
    { label: "a string read from events.k8s.io/v1", input: "x", readFrom: "events.k8s.io/v1", name: "(unnamed)" }
  ]

  it.each(cases)("$label", ({ input, readFrom, name, path }) => {
    const error = decodeError(input, readFrom)
    expect(error).toBeInstanceOf(EventDecodeError)
    expect(error._tag).toBe("EventDecodeError")
    expect(error.name).toBe(name)
    expect(error.issues.length).toBeGreaterThan(0)
    expect(error.message.startsWith(`event ${name} could not be decoded: `)).toBe(true)
    if (path !== undefined) {
      expect(
        error.issues.some((i) => i.startsWith(`${path}: `)),
        error.issues.join(" | ")
      ).toBe(true)
      expect(error.message).toContain(`${path}: `)
    }
  })

  it("reports every problem, not only the first", () => {
    const error = decodeError({ metadata: { name: "n", namespace: "ns" }, count: "x" })
    const text = error.issues.join("\n")
    for (const p of ["metadata.uid", "metadata.resourceVersion", "involvedObject", "count"])
      expect(text).toContain(`${p}: `)
  })

  it("the name of the object, whatever else is wrong", () => {
    expect(describeObject({ metadata: { name: "a", namespace: "b" } })).toBe("b/a")
    expect(describeObject({ metadata: { name: "a" } })).toBe("a")
    expect(describeObject({ metadata: { name: "a", namespace: 3 } })).toBe("a")
    expect(describeObject({ metadata: { uid: "u" } })).toBe("uid u")
    expect(describeObject({ metadata: [] })).toBe("(unnamed)")
    expect(describeObject("x")).toBe("(unnamed)")
  })
})

// ---- which API an object is in ----

describe("apiOf: apiVersion, then the API read from, then field names", () => {
  const cases: ReadonlyArray<readonly [string, unknown, EventApi | undefined, EventApi]> = [
    ["apiVersion events.k8s.io/v1", { apiVersion: "events.k8s.io/v1" }, undefined, "events.k8s.io/v1"],
    ["apiVersion events.k8s.io/v1beta1", { apiVersion: "events.k8s.io/v1beta1" }, undefined, "events.k8s.io/v1"],
    ["apiVersion v1", { apiVersion: "v1" }, undefined, "core/v1"],
    [
      "apiVersion beats readFrom (v1 read from events)",
      { apiVersion: "v1", regarding: {} },
      "events.k8s.io/v1",
      "core/v1"
    ],
    [
      "apiVersion beats readFrom (events read from core)",
      { apiVersion: "events.k8s.io/v1" },
      "core/v1",
      "events.k8s.io/v1"
    ],
    ["readFrom events, no apiVersion", { involvedObject: {} }, "events.k8s.io/v1", "events.k8s.io/v1"],
    ["readFrom core beats field names", { regarding: {}, note: "x" }, "core/v1", "core/v1"],
    ["unknown apiVersion falls through to readFrom", { apiVersion: "v2" }, "events.k8s.io/v1", "events.k8s.io/v1"],
    ["field regarding", { regarding: {} }, undefined, "events.k8s.io/v1"],
    ["field note", { note: "x" }, undefined, "events.k8s.io/v1"],
    ["field reportingController", { reportingController: "c" }, undefined, "events.k8s.io/v1"],
    ["core fields only", { involvedObject: {}, message: "m", reportingComponent: "c" }, undefined, "core/v1"],
    ["empty object", {}, undefined, "core/v1"],
    ["not an object", "x", undefined, "core/v1"],
    ["not an object, readFrom events", null, "events.k8s.io/v1", "events.k8s.io/v1"],
    ["an array with a regarding field inside", [{ regarding: {} }], undefined, "core/v1"]
  ]
  it.each(cases)("%s", (_label, u, readFrom, expected) => {
    expect(apiOf(u, readFrom)).toBe(expected)
  })

  it("decodeKubeEvent decodes with the API apiOf picks", () => {
    const v1Shape = { metadata: MINIMAL.metadata, regarding: { kind: "Pod", name: "p" }, note: "hello" }
    expect(mustDecode(v1Shape)).toMatchObject({
      api: "events.k8s.io/v1",
      message: "hello",
      regarding: { kind: "Pod", name: "p" }
    })
    // Read from the core API, the same object has no involvedObject and is not a core/v1 event.
    expect(decodeError(v1Shape, "core/v1").issues.join("\n")).toContain("involvedObject")
    expect(mustDecode(MINIMAL, "events.k8s.io/v1").api).toBe("events.k8s.io/v1")
  })
})

// ---- RFC 3339 timestamps ----

describe("parseTimestamp", () => {
  const base = 1715673600 // 2024-05-14T08:00:00Z
  const valid: ReadonlyArray<readonly [string, number, number]> = [
    ["2024-05-14T08:00:00Z", base, 0],
    ["2024-05-14T08:00:00z", base, 0],
    ["2024-05-14t08:00:00Z", base, 0],
    ["2024-05-14T10:00:00+02:00", base, 0],
    ["2024-05-14T03:30:00-04:30", base, 0],
    ["2024-05-14T08:00:00+00:00", base, 0],
    ["2024-05-14T08:00:00-00:00", base, 0],
    ["2024-05-14T00:00:00-08:00", base, 0],
    ["2024-05-14T08:00:00.1Z", base, 100_000_000],
    ["2024-05-14T08:00:00.12Z", base, 120_000_000],
    ["2024-05-14T08:00:00.123Z", base, 123_000_000],
    ["2024-05-14T08:00:00.1234Z", base, 123_400_000],
    ["2024-05-14T08:00:00.12345Z", base, 123_450_000],
    ["2024-05-14T08:00:00.123456Z", base, 123_456_000],
    ["2024-05-14T08:00:00.1234567Z", base, 123_456_700],
    ["2024-05-14T08:00:00.12345678Z", base, 123_456_780],
    ["2024-05-14T08:00:00.123456789Z", base, 123_456_789],
    ["2024-05-14T08:00:00.000001Z", base, 1_000],
    ["2024-05-14T08:00:00.000000001Z", base, 1],
    ["2024-05-14T08:00:00.000000000Z", base, 0],
    ["2024-05-14T10:00:00.999999999+02:00", base, 999_999_999],
    ["1970-01-01T00:00:00Z", 0, 0],
    ["1969-12-31T23:59:59.5Z", -1, 500_000_000],
    ["2000-02-29T00:00:00Z", 951782400, 0],
    ["9999-12-31T23:59:59Z", 253402300799, 0],
    ["0001-01-01T00:00:00Z", -62135596800, 0]
  ]
  it.each(valid)("%s", (text, seconds, nanos) => {
    expect(parseTimestamp(text)).toEqual({ seconds, nanos, iso: text })
  })

  const invalid: ReadonlyArray<string> = [
    "",
    "yesterday",
    "2024-05-14",
    "08:00:00Z",
    "2024-05-14T08:00:00",
    "2024-05-14T08:00Z",
    "2024-05-14T08:00:00.Z",
    "2024-05-14T08:00:00.1234567890Z",
    "2024-05-14T08:00:00+0200",
    "2024-05-14T08:00:00+02",
    "2024-05-14T08:00:00 Z",
    " 2024-05-14T08:00:00Z",
    "2024-05-14T08:00:00Z ",
    "2024-5-14T08:00:00Z",
    "24-05-14T08:00:00Z",
    "1715673600",
    "2024-05-14T08:00:00UTC",
    "2024-05-14T08:00:00,5Z",
    "2024-13-01T00:00:00Z",
    "2024-00-10T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2024-05-32T00:00:00Z",
    "2024-05-14T25:00:00Z",
    "2024-05-14T08:60:00Z",
    "2024-05-14T08:00:61Z",
    "2024-05-14T08:00:00+25:00",
    "2024-13-45T99:99:99Z"
  ]
  it.each(invalid)("rejects %j", (text) => {
    expect(parseTimestamp(text)).toBeUndefined()
  })

  it("toHrTime and compareTimestamps", () => {
    const a = parseTimestamp("2024-05-14T08:00:00.000000001Z")
    const b = parseTimestamp("2024-05-14T10:00:00.000000002+02:00")
    const c = parseTimestamp("2024-05-14T08:00:01Z")
    if (a === undefined || b === undefined || c === undefined) throw new Error("unparsed")
    expect(toHrTime(a)).toEqual([base, 1])
    expect(compareTimestamps(a, b)).toBeLessThan(0)
    expect(compareTimestamps(b, a)).toBeGreaterThan(0)
    expect(compareTimestamps(a, a)).toBe(0)
    expect(compareTimestamps(b, c)).toBeLessThan(0)
  })
})

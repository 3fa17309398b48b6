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
  expectNamespace,
  expectRecordAttributes,
  expectResourceAttributes,
  expectSeverityAndBody,
  expectTimestamp
} from "../fixtures/expectations.ts"
import {
  at,
  attrMap,
  loadOpenShiftEvents,
  mustDecode,
  onlyRecord,
  parseLines,
  type OtlpLogRecord
} from "../fixtures/support.ts"

const OBSERVED_AT: HrTime = [1_750_000_000, 123_456_789]
const OBSERVED_NANOS = "1750000000123456789"
const CLUSTER = "fixture-cluster"

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
    expectTimestamp(raw, record)
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
  it.each(cases)("$name", ({ raw, record }) => expectSeverityAndBody(raw, record))
})

describe("record attributes", () => {
  it.each(cases)("$name", ({ raw, attrs }) => expectRecordAttributes(raw, attrs))
})

describe("resource attributes", () => {
  it.each(cases)("$name", ({ raw, resource }) => expectResourceAttributes(raw, resource, CLUSTER))
})

describe("k8s.namespace.name: the involved object's namespace, its name for a Namespace, absent when cluster-scoped", () => {
  it.each(cases)("$name", ({ raw, resource }) => expectNamespace(raw, resource))
})

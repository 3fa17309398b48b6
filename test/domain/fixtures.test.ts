/**
 * Every real event in shared/fixtures/openshift-events decodes, translates and serializes, and the record it
 * gives agrees with the raw JSON. The expected values are computed here from the raw objects, following
 * DESIGN.md §3, never by calling the code under test.
 */
import { describe, expect, it } from "vitest"
import type { HrTime } from "@opentelemetry/api"
import { ResourceCache } from "../../src/translate/resource.ts"
import {
  expectNamespace,
  expectRecordAttributes,
  expectRecordTime,
  expectResourceAttributes,
  expectSeverityAndBody
} from "../fixtures/expectations.ts"
import { at, loadOpenShiftEvents, mustDecode, translateFixture, type TranslatedCase } from "../fixtures/support.ts"

const OBSERVED_AT: HrTime = [1_750_000_000, 123_456_789]
const OBSERVED_NANOS = "1750000000123456789"
const CLUSTER = "fixture-cluster"

const fixtures = loadOpenShiftEvents()
const resources = new ResourceCache({ "k8s.cluster.name": CLUSTER })

const cases: ReadonlyArray<TranslatedCase> = fixtures.map(({ source, raw }) =>
  translateFixture(`${String(at(raw, "metadata", "uid"))} (${source})`, raw, { resources, observedAt: OBSERVED_AT })
)

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
    const micro = cases.filter((c) =>
      /\.\d{6}Z$/.test(
        String(at(c.raw, "series", "lastObservedTime") ?? at(c.raw, "lastTimestamp") ?? at(c.raw, "eventTime"))
      )
    )
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
  it.each(cases)("$name", (c) => expectResourceAttributes(c, "core/v1", CLUSTER))
})

describe("k8s.namespace.name: the involved object's namespace, its name for a Namespace, absent when cluster-scoped", () => {
  it.each(cases)("$name", (c) => expectNamespace(c, "core/v1"))
})

/**
 * The collector's own OTLP protobuf encoder against the exporter's (`@opentelemetry/otlp-transformer`'s
 * `ProtobufLogsSerializer`): for the same records, both bodies decode (protobufjs with the OTLP .proto files in
 * test/support/otlp) to the same `ExportLogsServiceRequest`. Records: every fixture event as the translator
 * makes it, and generated ones (any UTF-16 text, lone surrogates included; every AnyValue type; timestamps from 0
 * to the end of fixed64's range; resources and scopes shared between records in any order).
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import type { HrTime } from "@opentelemetry/api"
import type { AnyValue } from "@opentelemetry/api-logs"
import { ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer"
import { resourceFromAttributes } from "@opentelemetry/resources"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { encodeLogsRequest } from "../../src/sink/otlpProtobuf.ts"
import { ResourceCache } from "../../src/translate/resource.ts"
import { toLogRecord } from "../../src/translate/toLogRecord.ts"
import { loadEventsV1, loadOpenShiftEvents, mustDecode } from "../fixtures/support.ts"
import { decodeProtobuf } from "../support/otlp-receiver.ts"

const theirs = (records: ReadonlyArray<ReadableLogRecord>): Uint8Array => {
  const body = ProtobufLogsSerializer.serializeRequest([...records])
  if (body === undefined) throw new Error("the exporter's serializer gave no body")
  return body
}

const expectSameMessage = (records: ReadonlyArray<ReadableLogRecord>) => {
  const ours = decodeProtobuf(encodeLogsRequest(records))
  expect(ours).toEqual(decodeProtobuf(theirs(records)))
  return ours
}

describe("encodeLogsRequest on the fixtures", () => {
  const events = [
    ...loadOpenShiftEvents().map((f) => mustDecode(f.raw)),
    ...loadEventsV1().map((f) => mustDecode(f.raw, "events.k8s.io/v1"))
  ]
  const records = (resources: ResourceCache) =>
    events.map((e, i) =>
      toLogRecord(
        e,
        { resources, observedAt: [1_764_547_200 + i, (i * 7_919) % 1e9] },
        // Every third one as a summary record is made: enriched resource, attributes of its own, its own body.
        i % 3 === 0
          ? {
              resource: { "k8s.deployment.name": `app-${i % 5}` },
              attributes: { "k8s.event.suppressed_count": i, "k8s.event.suppressed_window_seconds": i / 8 },
              body: `${i} more occurrences held back`
            }
          : {}
      )
    )

  it("gives the exporter's message for every fixture event, in batches of 512 and one at a time", () => {
    const all = records(new ResourceCache({ "k8s.cluster.name": "fixtures", "service.name": "events" }))
    expect(all.length).toBeGreaterThan(100)
    let decoded = 0
    for (let i = 0; i < all.length; i += 512) {
      const message = expectSameMessage(all.slice(i, i + 512))
      for (const r of message.resourceLogs ?? []) {
        for (const s of r.scopeLogs ?? []) decoded += s.logRecords?.length ?? 0
      }
    }
    expect(decoded).toBe(all.length)
    for (const r of all) expectSameMessage([r])
  })

  it("writes each resource once per batch, whatever the order of its records", () => {
    const all = records(new ResourceCache({}))
    const message = expectSameMessage([...all, ...all.toReversed()])
    const resources = (message.resourceLogs ?? []).map((r) => JSON.stringify(r.resource))
    expect(new Set(resources).size).toBe(resources.length)
    expect(resources.length).toBe(new Set(all.map((r) => r.resource)).size)
  })
})

/** Any UTF-16 text: each code unit from the whole range, so lone and swapped surrogates too. */
const anyText = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
  fc.string({ unit: "grapheme", maxLength: 60 }),
  fc.string({ maxLength: 200 }),
  // Around the lengths where a string's length prefix grows (one byte to 127, two to 16 383).
  fc
    .constantFrom(42, 43, 127, 128, 5461, 5462, 16_384)
    .chain((n) =>
      fc.constantFrom("a".repeat(n), "é".repeat(n), "\ud83d\ude00".repeat(n >> 1), `${"b".repeat(n - 1)}\ud800`)
    )
)

const anyNumber = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 + 1 }),
  fc.maxSafeInteger(),
  fc.constantFrom(0, -0, 2 ** 53, 2 ** 62, -(2 ** 63), 2 ** 63, 2 ** 64, Number.MAX_VALUE, Infinity, -Infinity, NaN),
  fc.double()
)

const anyValue: fc.Arbitrary<AnyValue> = fc.letrec<{ value: AnyValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    anyText,
    anyNumber,
    fc.boolean(),
    fc.constantFrom(null, undefined),
    fc.uint8Array({ maxLength: 20 }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(anyText, tie("value"), { maxKeys: 4 })
  )
})).value

const attributesOf = <A>(value: fc.Arbitrary<A>) => fc.dictionary(anyText, value, { maxKeys: 8 })

/** Seconds and nanoseconds, from the epoch to the last nanosecond fixed64 holds. */
const anyTime: fc.Arbitrary<HrTime> = fc.tuple(
  fc.oneof(fc.constantFrom(0, 1_764_547_200, 18_446_744_073), fc.integer({ min: 0, max: 18_446_744_072 })),
  fc.oneof(fc.constantFrom(0, 999_999_999), fc.integer({ min: 0, max: 999_999_999 }))
)

const hex = (bytes: number) =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString("hex"))

const anyBatch = fc
  .record({
    resources: fc.array(
      fc.record({
        attributes: attributesOf(fc.oneof(anyText, anyNumber, fc.boolean(), fc.array(anyText, { maxLength: 3 }))),
        schemaUrl: fc.option(anyText, { nil: undefined })
      }),
      { minLength: 1, maxLength: 4 }
    ),
    scopes: fc.array(
      fc.record(
        {
          name: anyText,
          version: anyText,
          schemaUrl: anyText,
          attributes: attributesOf(anyValue),
          droppedAttributesCount: fc.nat()
        },
        { requiredKeys: ["name"] }
      ),
      { minLength: 1, maxLength: 3 }
    )
  })
  .chain(({ resources, scopes }) => {
    const made = resources.map((r) =>
      resourceFromAttributes(r.attributes, r.schemaUrl === undefined ? {} : { schemaUrl: r.schemaUrl })
    )
    const record = fc.record(
      {
        resource: fc.constantFrom(...made),
        instrumentationScope: fc.constantFrom(...scopes),
        hrTime: anyTime,
        hrTimeObserved: anyTime,
        attributes: attributesOf(anyValue),
        droppedAttributesCount: fc.oneof(fc.constant(0), fc.nat(), fc.integer({ min: 0, max: 0xffff_ffff })),
        severityNumber: fc.integer({ min: 0, max: 24 }),
        severityText: anyText,
        body: anyValue,
        eventName: anyText,
        spanContext: fc.record({ traceId: hex(16), spanId: hex(8), traceFlags: fc.integer({ min: 0, max: 255 }) })
      },
      {
        requiredKeys: ["resource", "instrumentationScope", "hrTime", "hrTimeObserved", "attributes"]
      }
    )
    return fc.array(record, { maxLength: 30 })
  })
  .map((records) =>
    // A record without a dropped count has 0, as the SDK's records always carry one.
    records.map((r): ReadableLogRecord => ({ droppedAttributesCount: 0, ...r }))
  )

describe("encodeLogsRequest on generated records", () => {
  it("gives the exporter's message for any records", () => {
    fc.assert(
      fc.property(anyBatch, (records) => {
        expectSameMessage(records)
      }),
      { numRuns: 300 }
    )
  })

  it("writes a lone surrogate as U+FFFD, EF BF BD (WHATWG Encoding: UTF-8 encode), as the exporter does", () => {
    const resource = resourceFromAttributes({})
    const record: ReadableLogRecord = {
      resource,
      instrumentationScope: { name: "s" },
      hrTime: [0, 0],
      hrTimeObserved: [0, 0],
      attributes: {},
      droppedAttributesCount: 0,
      body: "a\ud800b\udfffc"
    }
    const replaced = Buffer.from([0x61, 0xef, 0xbf, 0xbd, 0x62, 0xef, 0xbf, 0xbd, 0x63])
    for (const body of [encodeLogsRequest([record]), theirs([record])]) {
      expect(Buffer.from(body).includes(replaced)).toBe(true)
    }
    const message = expectSameMessage([record])
    expect(message.resourceLogs?.[0]?.scopeLogs?.[0]?.logRecords?.[0]?.body).toEqual({
      value: "stringValue",
      stringValue: "a\ufffdb\ufffdc"
    })
  })

  it("hands out bytes that the next batch does not overwrite", () => {
    const resource = resourceFromAttributes({ a: "1" })
    const make = (body: string): ReadableLogRecord => ({
      resource,
      instrumentationScope: { name: "s" },
      hrTime: [1, 2],
      hrTimeObserved: [3, 4],
      attributes: { k: body },
      droppedAttributesCount: 0,
      body
    })
    const first = encodeLogsRequest([make("first")])
    const copy = Buffer.from(first)
    encodeLogsRequest([make("second, longer"), make("x".repeat(100_000))])
    expect(Buffer.from(first)).toEqual(copy)
  })
})

/**
 * The bench receiver's protobuf walk, on requests encoded by the OTLP exporter's own serializer
 * (`@opentelemetry/otlp-transformer`): the records it counts and the occurrence each reports
 * (`k8s.event.uid` and `k8s.event.count`, written by ours and by the Collector's k8s_events receiver alike).
 */
import { SeverityNumber } from "@opentelemetry/api-logs"
import { ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer"
import { resourceFromAttributes } from "@opentelemetry/resources"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { describe, expect, it } from "vitest"
import { walkLogsRequest } from "../../bench/lib/otlpWalk.ts"

const record = (resource: string, attributes: ReadableLogRecord["attributes"]): ReadableLogRecord => ({
  resource: resourceFromAttributes({ "k8s.object.name": resource }),
  instrumentationScope: { name: "test" },
  hrTime: [1_700_000_000, 250_000_000],
  hrTimeObserved: [1_700_000_001, 0],
  severityNumber: SeverityNumber.WARN,
  severityText: "Warning",
  body: "Back-off restarting failed container",
  attributes,
  droppedAttributesCount: 0
})

const encode = (records: ReadonlyArray<ReadableLogRecord>): Uint8Array => {
  const body = ProtobufLogsSerializer.serializeRequest([...records])
  if (body === undefined) throw new Error("the serializer returned nothing")
  return body
}

describe("walkLogsRequest occurrences", () => {
  it("reads each record's event uid and count, across resources, with other attributes around them", () => {
    const body = encode([
      record("a", { "k8s.event.reason": "BackOff", "k8s.event.uid": "uid-1", "k8s.event.count": 1 }),
      record("a", { "k8s.event.count": 2, "k8s.event.uid": "uid-1", "log.record.uid": "r-2" }),
      record("b", { "k8s.event.uid": "uid-ü", "k8s.event.count": 2 ** 31 - 1 })
    ])
    const walked = walkLogsRequest(body, { occurrences: true, uids: true, times: true })
    expect(walked.records).toBe(3)
    expect(walked.occurrences).toEqual([
      { eventUid: "uid-1", count: 1 },
      { eventUid: "uid-1", count: 2 },
      { eventUid: "uid-ü", count: 2 ** 31 - 1 }
    ])
    expect(walked.uids).toEqual(["r-2"])
    expect(walked.timesMs.map(Math.round)).toEqual([1_700_000_000_250, 1_700_000_000_250, 1_700_000_000_250])
  })

  it("gives count 0 to a record without k8s.event.count (the Collector's receiver omits a zero count)", () => {
    const walked = walkLogsRequest(encode([record("a", { "k8s.event.uid": "uid-1" })]), { occurrences: true })
    expect(walked.occurrences).toEqual([{ eventUid: "uid-1", count: 0 }])
  })

  it("reads nothing it was not asked for, and skips records without an event uid", () => {
    const body = encode([record("a", { "k8s.event.count": 3 }), record("a", { "k8s.event.uid": "uid-1" })])
    expect(walkLogsRequest(body).occurrences).toEqual([])
    expect(walkLogsRequest(body, { occurrences: true }).occurrences).toEqual([{ eventUid: "uid-1", count: 0 }])
  })
})

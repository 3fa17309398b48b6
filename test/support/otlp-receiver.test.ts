/**
 * Proves the receiver decodes what the real OTLP/HTTP log exporters (0.223)
 * send, and documents how those exporters react to its programmed answers.
 *
 * What a test author needs to know about the exporters (otlp-exporter-base,
 * retrying-transport.js and http-transport-utils.js):
 * - `url` is used as given: pass `receiver.logsUrl`, not the base URL.
 * - Retried: HTTP 429, 502, 503, 504, and the network errors ECONNREFUSED,
 *   ECONNRESET, EPIPE, ETIMEDOUT, EAI_AGAIN, ENOTFOUND, ENETUNREACH,
 *   EHOSTUNREACH, and an attempt that timed out. Anything else, 500 included,
 *   fails the export at once (error is an OTLPExporterError with `code`).
 * - At most 5 retries (6 requests). Without Retry-After the waits are
 *   1000 ms × 1.5^n with ±20 % jitter, capped at 5000 ms: ≈1, 1.5, 2.25,
 *   3.4, 5 s.
 * - Retry-After is honoured and replaces the backoff: integer seconds or an
 *   HTTP date; "0" retries at once (and makes Node warn about a -1 ms timer).
 * - `timeoutMillis` (default 10000, or OTEL_EXPORTER_OTLP_LOGS_TIMEOUT /
 *   OTEL_EXPORTER_OTLP_TIMEOUT) is a deadline for the whole export() call: a
 *   retry whose wait would end past it is not made, the export fails right
 *   away. Each attempt also gets the remaining time as a socket idle timeout,
 *   so a backend slower than that fails the attempt ("Request timed out").
 *   With the defaults, a backend answering 503 (or refusing connections)
 *   throughout gets exactly 5 requests and the export fails after 6.5-9.75 s
 *   (the 5th wait, ≥4 s, always crosses the deadline).
 * - A failure after retries carries no HTTP code, only the message
 *   "Export failed with retryable status" (or the network error).
 * - partial_success is only logged (diag.warn); the export result is SUCCESS.
 * - At most `concurrencyLimit` (default 30) exports in flight; beyond that
 *   export() fails at once with "Concurrent export limit reached".
 * - The http agent keeps connections alive; receiver.close() drops them so a
 *   restarted receiver on the same port gets fresh connections.
 */
import { diag, DiagLogLevel } from "@opentelemetry/api"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { OTLPLogExporter as JsonLogExporter } from "@opentelemetry/exporter-logs-otlp-http"
import { OTLPLogExporter as ProtoLogExporter } from "@opentelemetry/exporter-logs-otlp-proto"
import { resourceFromAttributes } from "@opentelemetry/resources"
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { afterEach, describe, expect, it } from "vitest"
import { startOtlpReceiver, type OtlpReceiver } from "./otlp-receiver.ts"

type ExporterConfig = NonNullable<ConstructorParameters<typeof ProtoLogExporter>[0]>
type ExportResult = Parameters<Parameters<LogRecordExporter["export"]>[1]>[0]
// CompressionAlgorithm.GZIP and ExportResultCode live in otlp-exporter-base and
// core, which are not direct dependencies of this project.
const GZIP = "gzip" as NonNullable<ExporterConfig["compression"]>
const SUCCESS = 0
const FAILED = 1
// A past HTTP date: the exporter retries at once, without the warning "0" causes.
const RETRY_NOW = new Date(0).toUTCString()

const encodings = [
  { name: "protobuf", Exporter: ProtoLogExporter, contentType: "application/x-protobuf" },
  { name: "JSON", Exporter: JsonLogExporter, contentType: "application/json" }
] as const

const resource = resourceFromAttributes({ "service.name": "k8s-event-collector", "k8s.cluster.name": "kind" })
const scope = { name: "k8s-event-collector", version: "0.1.0" }
const bytes = Uint8Array.from([0, 1, 254, 255])

const warning: ReadableLogRecord = {
  resource,
  instrumentationScope: scope,
  hrTime: [1_700_000_000, 123_456_789],
  hrTimeObserved: [1_700_000_001, 987_654_321],
  severityNumber: SeverityNumber.WARN,
  severityText: "Warning",
  body: "Back-off restarting failed container",
  eventName: "k8s.event",
  attributes: {
    "k8s.event.reason": "BackOff",
    "k8s.event.count": 7,
    zero: 0,
    negative: -42,
    huge: 2 ** 60,
    ratio: 0.25,
    flag: false,
    list: ["a", 1, true],
    nested: { kind: "Pod", labels: { app: "web" } },
    raw: bytes,
    nothing: null
  },
  droppedAttributesCount: 0,
  spanContext: { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1 }
}
const structured: ReadableLogRecord = {
  resource,
  instrumentationScope: scope,
  hrTime: [1_700_000_002, 0],
  hrTimeObserved: [1_700_000_002, 5],
  severityNumber: SeverityNumber.INFO,
  severityText: "Normal",
  body: { reason: "Scheduled", count: 3, ratio: 1.5 },
  eventName: "k8s.event",
  attributes: { "k8s.event.reason": "Scheduled" },
  droppedAttributesCount: 0
}
const bare: ReadableLogRecord = {
  resource,
  instrumentationScope: scope,
  hrTime: [1, 2],
  hrTimeObserved: [3, 4],
  attributes: {},
  droppedAttributesCount: 0
}

function exportLogs(exporter: LogRecordExporter, logs: ReadableLogRecord[] = [bare]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(logs, resolve))
}

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const step of cleanup.reverse()) await step()
  cleanup = []
})

async function receiver(options?: Parameters<typeof startOtlpReceiver>[0]): Promise<OtlpReceiver> {
  const started = await startOtlpReceiver(options)
  cleanup.push(() => started.close())
  return started
}

function protoExporter(config: ExporterConfig): LogRecordExporter {
  const exporter = new ProtoLogExporter(config)
  cleanup.push(() => exporter.shutdown())
  return exporter
}

describe.each(encodings)("$name exporter", ({ Exporter, contentType }) => {
  it.each([
    { compression: "none", encoding: "" },
    { compression: "gzip", encoding: "gzip" }
  ])("round-trips every field (compression $compression)", async ({ compression, encoding }) => {
    const otlp = await receiver()
    const exporter = new Exporter({ url: otlp.logsUrl, ...(compression === "gzip" ? { compression: GZIP } : {}) })
    cleanup.push(() => exporter.shutdown())

    expect(await exportLogs(exporter, [warning, structured, bare])).toEqual({ code: SUCCESS })

    expect(otlp.requests).toMatchObject([
      {
        method: "POST",
        path: "/v1/logs",
        contentType,
        contentEncoding: encoding,
        status: 200,
        records: 3,
        error: undefined
      }
    ])
    const [a, b, c] = otlp.records
    const common = {
      resource: { "service.name": "k8s-event-collector", "k8s.cluster.name": "kind" },
      scope: { name: "k8s-event-collector", version: "0.1.0", attributes: {} },
      droppedAttributesCount: 0
    }
    expect(a).toEqual({
      ...common,
      timeUnixNano: 1_700_000_000_123_456_789n,
      observedTimeUnixNano: 1_700_000_001_987_654_321n,
      severityNumber: 13,
      severityText: "Warning",
      body: "Back-off restarting failed container",
      eventName: "k8s.event",
      attributes: {
        "k8s.event.reason": "BackOff",
        "k8s.event.count": 7,
        zero: 0,
        negative: -42,
        huge: 2n ** 60n,
        ratio: 0.25,
        flag: false,
        list: ["a", 1, true],
        nested: { kind: "Pod", labels: { app: "web" } },
        raw: Buffer.from(bytes),
        nothing: null
      },
      flags: 1,
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      kinds: {
        body: "string",
        attributes: {
          "k8s.event.reason": "string",
          "k8s.event.count": "int",
          zero: "int",
          negative: "int",
          huge: "int",
          ratio: "double",
          flag: "bool",
          list: "array",
          nested: "kvlist",
          raw: "bytes",
          nothing: "empty"
        }
      }
    })
    expect(b).toEqual({
      ...common,
      timeUnixNano: 1_700_000_002_000_000_000n,
      observedTimeUnixNano: 1_700_000_002_000_000_005n,
      severityNumber: 9,
      severityText: "Normal",
      body: { reason: "Scheduled", count: 3, ratio: 1.5 },
      eventName: "k8s.event",
      attributes: { "k8s.event.reason": "Scheduled" },
      flags: 0,
      traceId: "",
      spanId: "",
      kinds: { body: "kvlist", attributes: { "k8s.event.reason": "string" } }
    })
    expect(c).toEqual({
      ...common,
      timeUnixNano: 1_000_000_002n,
      observedTimeUnixNano: 3_000_000_004n,
      severityNumber: 0,
      severityText: "",
      body: null,
      eventName: "",
      attributes: {},
      flags: 0,
      traceId: "",
      spanId: "",
      kinds: { body: "empty", attributes: {} }
    })
  })

  it("gets partial_success back in its own encoding, and still reports success", async () => {
    const otlp = await receiver({ behaviour: { partialSuccess: { rejectedLogRecords: 2, errorMessage: "too old" } } })
    const warnings: string[] = []
    const log = (...args: unknown[]): void => void warnings.push(args.map(String).join(" "))
    diag.setLogger({ error: log, warn: log, info: log, debug: log, verbose: log }, DiagLogLevel.WARN)
    cleanup.push(async () => diag.disable())
    const exporter = new Exporter({ url: otlp.logsUrl })
    cleanup.push(() => exporter.shutdown())

    expect(await exportLogs(exporter)).toEqual({ code: SUCCESS })
    expect(otlp.records).toHaveLength(1)
    expect(warnings.join("\n")).toMatch(/Partial Success.*"rejectedLogRecords":"?2"?,"errorMessage":"too old"/)
  })
})

describe("answers programmed with setBehaviour (protobuf exporter)", () => {
  it("400 fails the export at once, and its records are not kept", async () => {
    const otlp = await receiver({ behaviour: { status: 400 } })
    const result = await exportLogs(protoExporter({ url: otlp.logsUrl }))

    expect(result.code).toBe(FAILED)
    expect(result.error).toMatchObject({ code: 400 })
    expect(otlp.requests.map((r) => [r.status, r.records])).toEqual([[400, 1]])
    expect(otlp.records).toEqual([])
  })

  it("500 is not retried either", async () => {
    const otlp = await receiver({ behaviour: { status: 500 } })

    expect((await exportLogs(protoExporter({ url: otlp.logsUrl }))).code).toBe(FAILED)
    expect(otlp.requests.map((r) => r.status)).toEqual([500])
  })

  it("503 forever: 6 requests (5 retries) then a failed export", async () => {
    const otlp = await receiver({ behaviour: { status: 503, retryAfter: RETRY_NOW } })
    const result = await exportLogs(protoExporter({ url: otlp.logsUrl }))

    expect(result.code).toBe(FAILED)
    expect(result.error?.message).toBe("Export failed with retryable status")
    expect(otlp.requests.map((r) => r.status)).toEqual([503, 503, 503, 503, 503, 503])
    expect(otlp.records).toEqual([])
  })

  it("503 for the next 2 requests: the third attempt is accepted, records kept once", async () => {
    const otlp = await receiver()
    otlp.setBehaviour({ status: 503, retryAfter: RETRY_NOW, times: 2 })

    expect((await exportLogs(protoExporter({ url: otlp.logsUrl }), [warning])).code).toBe(SUCCESS)
    expect(otlp.requests.map((r) => [r.status, r.records])).toEqual([
      [503, 1],
      [503, 1],
      [200, 1]
    ])
    expect(otlp.records.map((r) => r.severityText)).toEqual(["Warning"])
  })

  it("honours Retry-After in seconds", async () => {
    const otlp = await receiver({ behaviour: { status: 429, retryAfter: "1", times: 1 } })
    const started = performance.now()

    expect((await exportLogs(protoExporter({ url: otlp.logsUrl }))).code).toBe(SUCCESS)
    expect(performance.now() - started).toBeGreaterThanOrEqual(990)
    expect(otlp.requests.map((r) => r.status)).toEqual([429, 200])
  })

  it("does not retry when the backoff would cross timeoutMillis", async () => {
    const otlp = await receiver({ behaviour: { status: 503 } })
    const started = performance.now()

    expect((await exportLogs(protoExporter({ url: otlp.logsUrl, timeoutMillis: 500 }))).code).toBe(FAILED)
    expect(performance.now() - started).toBeLessThan(500)
    expect(otlp.requests).toHaveLength(1)
  })

  it("a backend slower than timeoutMillis fails the export; the late answer still keeps the records", async () => {
    const otlp = await receiver({ behaviour: { delayMs: 1_000 } })
    const started = performance.now()
    const result = await exportLogs(protoExporter({ url: otlp.logsUrl, timeoutMillis: 300 }))

    expect(result.code).toBe(FAILED)
    expect(result.error?.message).toBe("Request timed out")
    expect(performance.now() - started).toBeLessThan(900)
    expect(await otlp.waitForRecords(1, 2_000)).toHaveLength(1)
  })

  it("an outage (connection refused) is retried until the receiver is back on the same port", async () => {
    const first = await receiver()
    const exporter = protoExporter({ url: first.logsUrl, timeoutMillis: 5_000 })
    expect((await exportLogs(exporter)).code).toBe(SUCCESS)
    await first.close()

    const exported = exportLogs(exporter, [warning])
    await new Promise((resolve) => setTimeout(resolve, 300))
    const second = await receiver({ port: first.port })

    expect((await exported).code).toBe(SUCCESS)
    expect((await second.waitForRecords(1)).map((r) => r.severityText)).toEqual(["Warning"])
  })
})

describe("receiver", () => {
  it("refuses what is not an OTLP logs request, without keeping anything", async () => {
    const otlp = await receiver()
    const post = (path: string, type: string, body: string): Promise<number> =>
      fetch(`${otlp.url}${path}`, { method: "POST", headers: { "content-type": type }, body }).then((r) => r.status)

    expect(await post("/v1/traces", "application/json", "{}")).toBe(404)
    expect(await post("/v1/logs", "text/plain", "hello")).toBe(415)
    expect(await post("/v1/logs", "application/json", "{not json")).toBe(400)
    expect(await post("/v1/logs", "application/x-protobuf", "\u00ff\u00ff\u00ff")).toBe(400)
    expect(otlp.records).toEqual([])
    expect(otlp.requests.map((r) => r.status)).toEqual([404, 415, 400, 400])
  })

  it("reads OTLP/JSON int64 written as numbers, and hex ids", async () => {
    const otlp = await receiver()
    const request = {
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: 1_700_000_000_000,
                  severityNumber: 17,
                  traceId: "5b8efff798038103d269b633813fc60c",
                  attributes: [
                    { key: "n", value: { intValue: 5 } },
                    { key: "s", value: { intValue: "-6" } }
                  ]
                }
              ]
            }
          ]
        }
      ]
    }
    const response = await fetch(otlp.logsUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request)
    })

    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({})
    expect(otlp.records[0]).toMatchObject({
      timeUnixNano: 1_700_000_000_000n,
      severityNumber: 17,
      traceId: "5b8efff798038103d269b633813fc60c",
      attributes: { n: 5, s: -6 }
    })
  })

  it("waitForRecords rejects with what it saw when too few records arrive", async () => {
    const otlp = await receiver()
    await expect(otlp.waitForRecords(1, 50)).rejects.toThrow(/got 0 \(answers: none\)/)
  })
})

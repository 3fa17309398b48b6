/**
 * The CLI replays a dump to a real OTLP/HTTP receiver, over both protocols; the receiver decodes the bytes the
 * real exporters sent and each record is checked against the event it came from.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cleanEnv, FIXTURES, runCli } from "../support/cli.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"
import { expectedSeverityText } from "../fixtures/expectations.ts"

const AWS = join(FIXTURES, "openshift-mgc-aws.json")
interface RawEvent {
  readonly metadata: { readonly uid: string; readonly resourceVersion: string; readonly name: string }
  readonly message?: string
  readonly reason?: string
  readonly type?: string
}
const rawEvents: ReadonlyArray<RawEvent> = JSON.parse(readFileSync(AWS, "utf8"))

let receiver: OtlpReceiver
beforeEach(async () => {
  receiver = await startOtlpReceiver()
})
afterEach(async () => {
  await receiver.close()
})

const exportArgs = (protocol: string, extra: ReadonlyArray<string> = []) => [
  "--source",
  `file:${AWS}`,
  "--otlp-endpoint",
  receiver.url,
  "--otlp-protocol",
  protocol,
  "--retry-initial",
  "100ms",
  "--batch-size",
  "50",
  ...extra
]

const uidsOf = () => receiver.records.map((r) => r.attributes["log.record.uid"])

describe("--source file with the OTLP exporter", () => {
  for (const protocol of ["http/protobuf", "http/json"]) {
    it(`delivers every event once, record by record (${protocol})`, async () => {
      const result = await runCli(exportArgs(protocol))
      expect(result.stderr).not.toMatch(/"logLevel":"ERROR"/)
      expect(result.code).toBe(0)
      expect(receiver.records).toHaveLength(rawEvents.length)
      expect(new Set(uidsOf()).size).toBe(rawEvents.length)
      const byUid = new Map(receiver.records.map((r) => [r.attributes["log.record.uid"], r]))
      for (const e of rawEvents) {
        const r = byUid.get(`${e.metadata.uid}:${e.metadata.resourceVersion}`)
        expect(r, e.metadata.name).toBeDefined()
        expect(r?.eventName).toBe("k8s.event")
        expect(r?.attributes["k8s.event.name"]).toBe(e.metadata.name)
        expect(r?.body ?? undefined).toBe(e.message || undefined)
        expect(r?.attributes["k8s.event.reason"]).toBe(e.reason || undefined)
        expect(r?.severityText).toBe(expectedSeverityText(e, "defaults") ?? "")
      }
      const contentTypes = new Set(receiver.requests.map((q) => q.contentType))
      expect([...contentTypes]).toEqual([protocol === "http/json" ? "application/json" : "application/x-protobuf"])
      expect(receiver.requests.every((q) => q.contentEncoding === "gzip")).toBe(true)
      // 188 records in batches of at most 50.
      expect(receiver.requests.length).toBeGreaterThanOrEqual(4)
    })
  }

  it("sends uncompressed when asked and honours OTEL_EXPORTER_OTLP_ENDPOINT and headers", async () => {
    const result = await runCli(["--source", `file:${AWS}`, "--otlp-compression", "none"], {
      env: cleanEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_HEADERS: "x-tenant=team%20a" })
    })
    expect(result.code).toBe(0)
    expect(receiver.records).toHaveLength(rawEvents.length)
    expect(receiver.requests.every((q) => q.path === "/v1/logs" && q.contentEncoding !== "gzip")).toBe(true)
    expect(receiver.requests[0]?.headers["x-tenant"]).toBe("team a")
  })

  it("keeps --export-concurrency requests in flight to a slow backend, each answered once, none refused on our side", async () => {
    receiver.setBehaviour({ delayMs: 300 })
    const result = await runCli(exportArgs("http/protobuf", ["--batch-size", "10", "--export-concurrency", "4"]))
    expect(result.code).toBe(0)
    expect(receiver.peakInFlight).toBe(4)
    expect(result.stderr).not.toMatch(/will retry|Concurrent export limit/)
    // 188 records in batches of 10: 19 requests, none of them a retry.
    expect(receiver.requests).toHaveLength(19)
    expect(new Set(uidsOf()).size).toBe(rawEvents.length)
    expect(receiver.records).toHaveLength(rawEvents.length)
  })

  it("retries through 503 with Retry-After and delivers every record exactly once", async () => {
    receiver.setBehaviour({ status: 503, retryAfter: "1", times: 3 })
    const result = await runCli(exportArgs("http/protobuf"))
    expect(result.code).toBe(0)
    expect(receiver.requests.filter((q) => q.status === 503)).toHaveLength(3)
    expect(receiver.records).toHaveLength(rawEvents.length)
    expect(new Set(uidsOf()).size).toBe(rawEvents.length)
  })

  it("retries through 503 without Retry-After until delivered, exactly once", async () => {
    // One export at a time: with several in flight the refusals would be shared between batches.
    receiver.setBehaviour({ status: 503, times: 7 })
    const result = await runCli(exportArgs("http/json", ["--otlp-timeout", "3s", "--export-concurrency", "1"]), {
      timeoutMs: 90_000
    })
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/will retry/)
    expect(receiver.records).toHaveLength(rawEvents.length)
    expect(new Set(uidsOf()).size).toBe(rawEvents.length)
  }, 90_000)

  it("reports a 400 rejection and exits non-zero; nothing is dropped silently", async () => {
    receiver.setBehaviour({ status: 400 })
    const result = await runCli(exportArgs("http/protobuf"))
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/188 records could not be delivered \(188 rejected_by_backend\)/)
    expect(result.stderr).toMatch(/HTTP 400/)
    expect(receiver.records).toHaveLength(0)
  })

  it("gives up after --retry-give-up when the backend never comes back, and says so", async () => {
    receiver.setBehaviour({ status: 503 })
    const result = await runCli(exportArgs("http/protobuf", ["--otlp-timeout", "1s", "--retry-give-up", "2s"]))
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/retries_exhausted/)
  })
})

describe("--source file with bad input", () => {
  const dir = mkdtempSync(join(tmpdir(), "kec-"))
  const write = (name: string, text: string) => {
    const path = join(dir, name)
    writeFileSync(path, text)
    return path
  }

  it("names the file, line and column of invalid JSON, exits 2 and sends nothing", async () => {
    const path = write("bad.json", '{\n  "items": [\n    {"metadata": }\n  ]\n}\n')
    const result = await runCli(["--source", `file:${path}`, "--otlp-endpoint", receiver.url])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(path)
    expect(result.stderr).toMatch(/invalid JSON at line 3 column \d+/)
    expect(receiver.requests).toHaveLength(0)
  })

  it("explains a JSON document of the wrong shape", async () => {
    const path = write("shape.json", '{"hello": "world"}')
    const result = await runCli(["--source", `file:${path}`, "--otlp-endpoint", receiver.url])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/expected an EventList .*found an object with keys hello/)
    expect(receiver.requests).toHaveLength(0)
  })

  it("skips an undecodable event, names it, and delivers the rest", async () => {
    const good = rawEvents.slice(0, 3)
    const path = write(
      "mixed.json",
      JSON.stringify({ items: [good[0], { metadata: { name: "broken-one", namespace: "ns1" } }, good[1], good[2]] })
    )
    const result = await runCli(["--source", `file:${path}`, "--otlp-endpoint", receiver.url])
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/event ns1\/broken-one could not be decoded: metadata\.uid/)
    expect(result.stderr).toMatch(/"skipped_undecodable":1/)
    expect(receiver.records).toHaveLength(3)
  })

  it("reads a compact EventList that starts with a UTF-8 byte order mark, every event of it", async () => {
    const path = write("bom.json", `\uFEFF${JSON.stringify({ apiVersion: "v1", kind: "EventList", items: rawEvents })}`)
    const result = await runCli(["--source", `file:${path}`, "--otlp-endpoint", receiver.url])
    expect(result.code).toBe(0)
    expect(result.stderr).not.toMatch(/could not be decoded/)
    expect(new Set(uidsOf())).toEqual(new Set(rawEvents.map((e) => `${e.metadata.uid}:${e.metadata.resourceVersion}`)))
  })

  it("delivers a file of one Event on its own with all its fields", async () => {
    const [event] = rawEvents
    const path = write("one.json", JSON.stringify(event))
    const result = await runCli(["--source", `file:${path}`, "--otlp-endpoint", receiver.url])
    expect(result.code).toBe(0)
    expect(receiver.records).toHaveLength(1)
    expect(receiver.records[0]?.attributes["k8s.event.reason"]).toBe(event?.reason)
  })

  it("refuses a dump with no Event in it, says what it holds instead, exits 2 and sends nothing", async () => {
    const configMaps = write(
      "configmaps.json",
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: ["a", "b", "c"].map((name) => ({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name, namespace: "x", uid: name, resourceVersion: "1" },
          data: {}
        }))
      })
    )
    const junk = write("junk.json", '[1, "x", {"y": 2}]')
    for (const [path, found] of [
      [configMaps, "found 3 objects: 3 ConfigMap"],
      [junk, "found 3 objects: 1 number, 1 string, 1 object without a kind"]
    ]) {
      const result = await runCli(["--source", `file:${path}`, "--otlp-endpoint", receiver.url])
      expect(result.code, path).toBe(2)
      expect(result.stderr).toContain(`${path}: no Event in the file: ${found}`)
      expect(result.stderr).not.toMatch(/exported/)
    }
    expect(receiver.requests).toHaveLength(0)
  })

  it("reports a missing file with its path", async () => {
    const result = await runCli(["--source", `file:${join(dir, "nope.json")}`])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/nope\.json: cannot read the file/)
  })
})

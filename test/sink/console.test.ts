/**
 * The console exporter's output, from real OpenShift events: the `text` format keeps one line per record whatever
 * the message holds, colours severities only when asked to (a terminal), and `json` is one OTLP/JSON request per line.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { colourFor } from "../../src/observability/terminal.ts"
import { consoleLayer, textLines } from "../../src/sink/console.ts"
import { LogExporter } from "../../src/sink/LogExporter.ts"
import { ResourceCache } from "../../src/translate/resource.ts"
import { toLogRecord } from "../../src/translate/toLogRecord.ts"
import { at, loadOpenShiftEvents, mustDecode, onlyRecord, parseLines } from "../fixtures/support.ts"

const fixtures = loadOpenShiftEvents()
const fixture = (source: string) => {
  const found = fixtures.find((f) => f.source === source)
  if (found === undefined) throw new Error(`no fixture ${source}`)
  return found.raw
}
const resources = new ResourceCache({})
const recordOf = (raw: unknown, severity?: { number: SeverityNumber; text: string }) =>
  toLogRecord(
    mustDecode(raw),
    { resources, observedAt: [1_750_000_000, 0] },
    severity === undefined ? {} : { severity }
  )

// A Normal event whose message spans two lines, and a Warning whose message ends in a line break.
const CONFIG_MAP_UPDATED = fixture("openshift-mgc-aws.json#48")
const PROBE_ERROR = fixture("openshift-mgc-aws.json#58")

describe("textLines", () => {
  it("writes one line per record, line breaks in the message written as \\n", () => {
    const text = textLines([recordOf(CONFIG_MAP_UPDATED), recordOf(PROBE_ERROR)])
    expect(text.endsWith("\n")).toBe(true)
    expect(text.slice(0, -1).split("\n")).toEqual([
      "2021-08-03T09:19:06.000Z Normal  openshift-apiserver-operator/Deployment/openshift-apiserver-operator " +
        "ConfigMapUpdated: Updated ConfigMap/revision-status-1 -n openshift-apiserver:\\ncause by changes in data.status",
      "2021-08-03T09:29:06.000Z Warning openshift-apiserver/Pod/apiserver-5647477f76-2zz4k ProbeError: Readiness probe " +
        'error: Get "https://10.128.0.69:8443/healthz": net/http: request canceled while waiting for connection ' +
        "(Client.Timeout exceeded while awaiting headers)\\nbody: \\n"
    ])
  })

  it("keeps every fixture event on one line, and a message's carriage returns and escape sequences out of the terminal", () => {
    const records = fixtures.map((f) => recordOf(f.raw))
    const multiLine = fixtures.filter((f) => /[\r\n]/.test(String(at(f.raw, "message"))))
    expect(multiLine.length).toBeGreaterThan(2)
    expect(textLines(records).slice(0, -1).split("\n")).toHaveLength(records.length)
    const hostile = { ...(CONFIG_MAP_UPDATED as object), message: "red\u001b[31m\r\nover\u2028written" }
    expect(textLines([recordOf(hostile)])).toMatch(/ConfigMapUpdated: red\\u001b\[31m\\r\\nover\\u2028written\n$/)
  })

  it("colours WARN yellow and ERROR red when asked to, INFO never", () => {
    const warning = textLines([recordOf(PROBE_ERROR)], true)
    expect(warning).toContain(" \u001b[33mWarning\u001b[39m openshift-apiserver/Pod/")
    const error = textLines([recordOf(PROBE_ERROR, { number: SeverityNumber.ERROR, text: "ERROR" })], true)
    expect(error).toContain(" \u001b[31mERROR\u001b[39m   openshift-apiserver/Pod/")
    expect(textLines([recordOf(CONFIG_MAP_UPDATED)], true)).not.toContain("\u001b")
    expect(textLines([recordOf(PROBE_ERROR)])).not.toContain("\u001b")
  })
})

describe("colourFor", () => {
  it("colours a terminal unless NO_COLOR is set to something, and never what is not a terminal", () => {
    expect(colourFor({ isTTY: true }, {})).toBe(true)
    expect(colourFor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false)
    // no-color.org: set and not empty.
    expect(colourFor({ isTTY: true }, { NO_COLOR: "" })).toBe(true)
    expect(colourFor({ isTTY: false }, {})).toBe(false)
    expect(colourFor({}, {})).toBe(false)
  })
})

describe("consoleLayer", () => {
  const exportWith = (format: "json" | "text", colour: boolean) =>
    Effect.gen(function* () {
      const written: Array<string> = []
      const exporter = yield* Effect.provide(
        LogExporter,
        consoleLayer(format, (t) => written.push(t), colour)
      )
      yield* exporter.export([recordOf(CONFIG_MAP_UPDATED), recordOf(PROBE_ERROR)])
      return written.join("")
    })

  it.effect("json: one OTLP/JSON request per record and line, the message intact", () =>
    Effect.gen(function* () {
      const lines = parseLines(yield* exportWith("json", true))
      expect(lines).toHaveLength(2)
      const bodies = lines.map((l) => onlyRecord(l).record.body)
      expect(bodies).toEqual([
        { stringValue: at(CONFIG_MAP_UPDATED, "message") },
        { stringValue: at(PROBE_ERROR, "message") }
      ])
    })
  )

  it.effect("text: readable lines, coloured only when the layer is told stdout is a terminal", () =>
    Effect.gen(function* () {
      const plain = yield* exportWith("text", false)
      expect(plain.split("\n")).toHaveLength(3)
      expect(plain).not.toContain("\u001b")
      expect(yield* exportWith("text", true)).toContain("\u001b[33mWarning\u001b[39m")
    })
  )
})

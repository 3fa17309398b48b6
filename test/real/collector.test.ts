/**
 * The project against a real OpenTelemetry Collector built from the Go modules in test/real/otelcol, running
 * `otel-collector.yaml` as it ships with an overlay that puts `file` exporters where Loki and Tempo would be (see
 * support/otelCollector.ts). Each record the Collector wrote, and the event counter it serves for Prometheus, is
 * checked against the real Events they came from, with expectations computed from the raw JSON
 * (test/fixtures/expectations.ts), not by the code under test.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { startSimServer, type SimServer } from "@k8s-event-collector/sim"
import { expectedSeverityNumber, expectRecordOf } from "../fixtures/expectations.ts"
import {
  at,
  attrMap,
  loadOpenShiftEvents,
  nonEmpty,
  type OtlpLogRecord,
  type OtlpLogsRequest
} from "../fixtures/support.ts"
import { REPO_ROOT, runCli } from "../support/cli.ts"
import { eventually } from "../support/collector.ts"
import {
  type CollectorProcess,
  EventGenerator,
  sleep,
  spawnCollector,
  tally,
  writeKubeconfig
} from "../support/processes.ts"
import { goBinary } from "./support/goBinaries.ts"
import {
  exportedLines,
  type OtelCollector,
  severityLabel,
  SHIPPED_CONFIG,
  startOtelCollector
} from "./support/otelCollector.ts"

const CLUSTER = "real-otelcol"
const VICTORIALOGS_EXAMPLE = join(REPO_ROOT, "examples", "otel-collector-victorialogs.yaml")

interface ExportedRecord {
  readonly record: OtlpLogRecord
  readonly attrs: ReadonlyMap<string, string | number | boolean>
  readonly resource: ReadonlyMap<string, string | number | boolean>
}

/** What the `file` exporter of the traces pipeline writes, as far as the tests read it. */
interface ExportedSpans {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource: { readonly attributes: OtlpLogRecord["attributes"] }
    readonly scopeSpans: ReadonlyArray<{
      readonly spans: ReadonlyArray<{ readonly name: string; readonly status?: { readonly code?: number } }>
    }>
  }>
}

/** Every log record a `file` exporter wrote, with its resource. */
const exportedRecords = (path: string): ReadonlyArray<ExportedRecord> =>
  exportedLines<OtlpLogsRequest>(path).flatMap((request) =>
    request.resourceLogs.flatMap((rl) =>
      rl.scopeLogs.flatMap((sl) =>
        sl.logRecords.map((record) => ({
          record,
          attrs: attrMap(record.attributes),
          resource: attrMap(rl.resource.attributes)
        }))
      )
    )
  )

/** An Event's occurrence as `log.record.uid` names it (DESIGN.md §3): its uid and resourceVersion. */
const occurrenceOf = (raw: unknown): string =>
  `${String(at(raw, "metadata", "uid"))}:${String(at(raw, "metadata", "resourceVersion"))}`

const occurrenceIds = (records: ReadonlyArray<ExportedRecord>): ReadonlyArray<string> =>
  records.map((r) => String(r.attrs.get("log.record.uid")))

describe("otel-collector.yaml", () => {
  // The README's VictoriaLogs example is given to the Collector after the shipped file.
  const CASES: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
    ["as it ships", [SHIPPED_CONFIG]],
    ["with examples/otel-collector-victorialogs.yaml", [SHIPPED_CONFIG, VICTORIALOGS_EXAMPLE]]
  ]
  for (const [what, files] of CASES) {
    it(`passes \`otelcol validate\` ${what}`, () => {
      // The file_storage extension requires its folder to exist, as the Compose volume makes it. The folder is
      // made in a private mount namespace (a tmpfs over /var/lib that only this command sees), so the file is
      // validated unchanged and nothing is written to the machine's /var/lib.
      const script =
        'mount -t tmpfs tmpfs /var/lib && mkdir -p /var/lib/otelcol/file_storage && exec "$0" validate "$@"'
      const output = execFileSync(
        "unshare",
        [
          "--mount",
          "--map-root-user",
          "sh",
          "-c",
          script,
          goBinary("otelcol"),
          ...files.flatMap((file) => ["--config", file])
        ],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }
      )
      expect(output).not.toMatch(/error/i)
    })
  }
})

describe("the real Collector running otel-collector.yaml", () => {
  let otelcol: OtelCollector
  let dir: string
  beforeEach(async () => {
    otelcol = await startOtelCollector()
    dir = mkdtempSync(join(tmpdir(), "kec-real-otelcol-"))
  })
  afterEach(async () => {
    await otelcol.close()
    rmSync(dir, { recursive: true, force: true })
  })

  describe("the collector → the real Collector", () => {
    const fixtures = loadOpenShiftEvents()

    for (const protocol of ["http/protobuf", "http/json"]) {
      it(`over ${protocol}: every OpenShift event is one record equal to the event; the Warnings also reach the warnings pipeline`, async () => {
        const dump = join(dir, "events.json")
        writeFileSync(dump, JSON.stringify(fixtures.map((f) => f.raw)))
        const before = BigInt(Date.now()) * 1_000_000n
        const run = await runCli([
          "--source",
          `file:${dump}`,
          "--otlp-endpoint",
          otelcol.otlpHttpEndpoint,
          "--otlp-protocol",
          protocol,
          "--cluster-name",
          CLUSTER,
          // Many small exports, several in flight at once: the event counter must add them all, in any order.
          "--batch-size",
          "10"
        ])
        expect(run.code, run.stderr).toBe(0)
        // The Collector's own count: it accepted every record and refused none.
        expect(await otelcol.counter("otelcol_receiver_accepted_log_records")).toBe(fixtures.length)
        expect(await otelcol.counter("otelcol_receiver_refused_log_records")).toBe(0)
        const after = BigInt(Date.now()) * 1_000_000n
        await eventually(() => expect(exportedRecords(otelcol.files.logs)).toHaveLength(fixtures.length), 20_000, 100)

        const records = exportedRecords(otelcol.files.logs)
        const byOccurrence = new Map(records.map((r) => [String(r.attrs.get("log.record.uid")), r]))
        expect(byOccurrence.size).toBe(fixtures.length)
        for (const { source, raw } of fixtures) {
          const occurrence = occurrenceOf(raw)
          const got = byOccurrence.get(occurrence)
          expect(got, `${source}: no record ${occurrence}`).toBeDefined()
          if (got === undefined) continue
          expectRecordOf({ raw, ...got }, { cluster: CLUSTER, severityRules: "defaults" })
          // A count is an OTLP int (what Loki and the Collector's processors compare as a number), not a double.
          const count = got.record.attributes.find((kv) => kv.key === "k8s.event.count")
          if (count !== undefined) expect(Object.keys(count.value), `${source}: k8s.event.count`).toEqual(["intValue"])
          const observed = BigInt(got.record.observedTimeUnixNano)
          expect(observed >= before && observed <= after, `${source}: observed ${observed}`).toBe(true)
        }

        // The routing table sends severity_number >= WARN there: the Warnings, and what a default rule raised.
        const warnings = fixtures.filter((f) => (expectedSeverityNumber(f.raw, "defaults") ?? 0) >= 13)
        const raisedNormal = warnings.filter((f) => nonEmpty(at(f.raw, "type")) === "Normal").length
        expect(warnings.length).toBeGreaterThan(0)
        await eventually(
          () => expect(exportedRecords(otelcol.files.warnings)).toHaveLength(warnings.length),
          10_000,
          100
        )
        expect([...occurrenceIds(exportedRecords(otelcol.files.warnings))].sort()).toEqual(
          warnings.map((f) => occurrenceOf(f.raw)).sort()
        )

        // The count connector's counter: the records by namespace and kind (checked against the events above),
        // reason and the severity the raw event implies, each series with those four labels and no other.
        const counted = new Map<string, number>()
        for (const { raw } of fixtures) {
          const resource = byOccurrence.get(occurrenceOf(raw))?.resource
          const key = [
            String(resource?.get("k8s.namespace.name") ?? ""),
            String(resource?.get("k8s.object.kind") ?? ""),
            nonEmpty(at(raw, "reason")) ?? "",
            severityLabel(expectedSeverityNumber(raw, "defaults"))
          ].join("|")
          counted.set(key, (counted.get(key) ?? 0) + 1)
        }
        const labels = ["k8s_namespace_name", "k8s_object_kind", "k8s_event_reason", "severity"]
        await eventually(
          async () => {
            const series = await otelcol.eventsCounter()
            expect(new Map(series.map((s) => [labels.map((l) => s.labels[l] ?? "").join("|"), s.value]))).toEqual(
              counted
            )
            for (const s of series) expect(Object.keys(s.labels).sort()).toEqual([...labels].sort())
          },
          10_000,
          200
        )
        console.log(
          `[otelcol] ${protocol}: ${records.length} records, ${warnings.length} of them also on the warnings ` +
            `pipeline (${raisedNormal} of type Normal, raised to ERROR by a default rule); ${counted.size} series ` +
            `of k8s_events_total`
        )
      })
    }
  })

  describe("text beyond ASCII over http/protobuf", () => {
    // Protobuf strings must be UTF-8. The Collector does not check (open-telemetry/opentelemetry-collector#11449),
    // a backend behind it may: each lone surrogate must arrive as one U+FFFD, not as the three bytes of a surrogate.
    it("is accepted, UTF-8 as written; a lone surrogate arrives as U+FFFD", async () => {
      const [first] = loadOpenShiftEvents()
      if (first === undefined) throw new Error("no fixtures")
      const texts = ["é, 日本語, 😀 and a tab\t", "lone \ud800 high, lone \udfff low, swapped \udc00\ud800 end"]
      const raws = texts.map((message, i) => ({
        ...Object(first.raw),
        message,
        metadata: { ...Object(at(first.raw, "metadata")), uid: `surrogates-${i}`, resourceVersion: "1" }
      }))
      const dump = join(dir, "events.json")
      writeFileSync(dump, JSON.stringify(raws))
      const run = await runCli(["--source", `file:${dump}`, "--otlp-endpoint", otelcol.otlpHttpEndpoint])
      expect(run.code, run.stderr).toBe(0)
      expect(await otelcol.counter("otelcol_receiver_accepted_log_records")).toBe(texts.length)
      expect(await otelcol.counter("otelcol_receiver_refused_log_records")).toBe(0)
      await eventually(() => expect(exportedRecords(otelcol.files.logs)).toHaveLength(texts.length), 20_000, 100)
      const bodies = exportedRecords(otelcol.files.logs).map((r) => r.record.body)
      // WHATWG Encoding, UTF-8 encode: each lone surrogate is U+FFFD.
      expect(bodies).toEqual(
        expect.arrayContaining([
          { stringValue: texts[0] },
          { stringValue: "lone \ufffd high, lone \ufffd low, swapped \ufffd\ufffd end" }
        ])
      )
    })
  })

  describe("the real Collector stopped for 30 s mid-run", () => {
    let sim: SimServer
    let generator: EventGenerator
    let collector: CollectorProcess | undefined
    beforeEach(async () => {
      sim = await startSimServer({ bookmarkIntervalMs: 500 })
      generator = new EventGenerator(sim)
    })
    afterEach(async () => {
      generator.stop()
      collector?.child.kill("SIGKILL")
      await collector?.exited
      await sim.close()
    })

    it("loses nothing: every occurrence the server stored is in the file once the Collector is back", async () => {
      collector = spawnCollector([
        "--kubeconfig",
        writeKubeconfig(sim),
        "--otlp-endpoint",
        otelcol.otlpHttpEndpoint,
        "--cluster-name",
        CLUSTER,
        "--batch-size",
        "50",
        "--batch-linger",
        "20ms",
        "--retry-initial",
        "100ms",
        "--retry-max",
        "1s"
      ])
      const received = () => occurrenceIds(exportedRecords(otelcol.files.logs))
      // The collector has listed before the server gets busy: repeats made before the list would show in it only as
      // the event's latest count (what the server keeps), not as the occurrences the generator counted.
      generator.step()
      await eventually(() => expect(received()).toHaveLength(1), 20_000, 100)
      generator.start(2, 100)
      await eventually(() => expect(received().length).toBeGreaterThan(50), 30_000, 200)
      await otelcol.stop()
      const stoppedAt = received().length
      await sleep(30_000)
      await otelcol.restart()
      await sleep(5_000)
      generator.stop()
      // Waits for the last records, then reports what is missing rather than only that something is.
      await eventually(() => expect(tally(generator.occurrences, received()).lost).toBe(0), 60_000, 200).catch(() => {})
      const t = tally(generator.occurrences, received())
      if (t.lost > 0) {
        const got = new Set(received())
        const produced = [...generator.occurrences]
        const missing = produced.flatMap((o, i) => (got.has(o) ? [] : [`#${i} ${o}`]))
        console.log(`[otelcol] missing of ${produced.length}: ${missing.join(", ")}`)
        console.log(`[otelcol] collector stderr:\n${collector.output.stderr.slice(-4000)}`)
        console.log(`[otelcol] otelcol output:\n${otelcol.output().slice(-4000)}`)
      }
      console.log(
        `[otelcol] stopped 30 s: produced=${t.expected} received=${t.received} lost=${t.lost} ` +
          `duplicates=${t.duplicates} unexpected=${t.unexpected} (in the file when stopped: ${stoppedAt})`
      )
      expect(t.lost).toBe(0)
      expect(t.unexpected).toBe(0)
      expect(t.received).toBeGreaterThan(stoppedAt)
      collector.child.kill("SIGTERM")
      expect(await collector.exited).toBe(0)
    }, 180_000)
  })

  describe("the demo's traces", () => {
    it("reach the Collector's trace pipeline, cart's and payments' failing, from pods the event records name", async () => {
      const demo = spawnCollector(["demo", "--otlp-endpoint", otelcol.otlpHttpEndpoint, "--cluster-name", CLUSTER])
      try {
        const spansOf = () =>
          exportedLines<ExportedSpans>(otelcol.files.traces).flatMap((request) =>
            request.resourceSpans.flatMap((rs) => {
              const resource = attrMap(rs.resource.attributes)
              return rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ resource, span })))
            })
          )
        // README: cart fails while it crash-loops, payments while its image cannot be pulled (status code 2: ERROR).
        const failing = (service: string) =>
          spansOf().filter((s) => s.resource.get("service.name") === service && s.span.status?.code === 2)
        const podOf = (resource: ReadonlyMap<string, unknown>) =>
          `${String(resource.get("k8s.namespace.name"))}/${String(resource.get("k8s.pod.name"))}`
        await eventually(
          () => {
            expect(failing("cart").length).toBeGreaterThan(0)
            expect(failing("payments").length).toBeGreaterThan(0)
            // A failing span leads to the events of the pod that served it: the same namespace and pod name.
            const podsWithEvents = new Set(exportedRecords(otelcol.files.logs).map((r) => podOf(r.resource)))
            for (const { resource } of [...failing("cart"), ...failing("payments")]) {
              expect(podsWithEvents, podOf(resource)).toContain(podOf(resource))
            }
          },
          60_000,
          200
        )
        console.log(`[otelcol] demo: ${spansOf().length} spans in the trace pipeline`)
      } finally {
        demo.child.kill("SIGTERM")
        await demo.exited
      }
    }, 120_000)
  })
})

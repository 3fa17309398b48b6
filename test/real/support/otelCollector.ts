/**
 * The real OpenTelemetry Collector (`goBinary("otelcol")`) running the project's `otel-collector.yaml` as it ships,
 * with a last `--config` overlay written per test (and, between the two, any file a test names, such as an example
 * the README gives). The Collector merges the files in order: maps are merged key by key, and a list or a scalar of
 * a later file replaces the earlier one. So the overlay moves every listener to a free loopback port, points
 * `file_storage` at a temporary folder, and puts the exporters where the data should go: by default `file`
 * exporters in place of the Loki, warnings and Tempo ones; or, for real stores, the endpoints of the shipped
 * exporters moved to them. The rest of the shipped file (receiver, memory_limiter, routing table, the count
 * connector and its pipelines) runs unchanged.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { stringify } from "yaml"
import { REPO_ROOT } from "../../support/cli.ts"
import { samples } from "../../support/prometheusText.ts"
import { goBinary } from "./goBinaries.ts"
import { freePort, stopProcess, track } from "./children.ts"

export const SHIPPED_CONFIG = join(REPO_ROOT, "otel-collector.yaml")

/** What the `file` exporters write: one OTLP/JSON export request per line. */
interface OtelCollectorFiles {
  /** The `logs/loki` pipeline: every record. */
  readonly logs: string
  /** The `logs/warnings` pipeline: what the routing connector sends there. */
  readonly warnings: string
  /** The `traces` pipeline. */
  readonly traces: string
}

/**
 * Where the overlay sends the pipelines' data: exporters it adds or changes (merged into those of the earlier files
 * key by key, so `{ "otlp_grpc/tempo": { endpoint } }` moves only the endpoint) and the exporter list it gives each
 * pipeline it names.
 */
interface ExportTargets {
  readonly exporters: Readonly<Record<string, unknown>>
  readonly pipelines: Readonly<Record<string, ReadonlyArray<string>>>
}

export interface OtelCollectorOptions {
  /** Files merged after otel-collector.yaml and before the overlay, as a user adds one to the shipped file. */
  readonly configs?: ReadonlyArray<string>
  /** Where the pipelines export; the `file` exporters of `files` unless given. */
  readonly exportTo?: ExportTargets
}

/** One series of a counter in Prometheus text: its labels and its value. */
interface CounterSeries {
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface OtelCollector {
  /** The OTLP/HTTP receiver, e.g. `http://127.0.0.1:40123`. */
  readonly otlpHttpEndpoint: string
  /** What the `file` exporters write, when the pipelines export to them (the default). */
  readonly files: OtelCollectorFiles
  /** A counter of the Collector's own metrics summed over its series, e.g. `otelcol_receiver_refused_log_records`. */
  readonly counter: (name: string) => Promise<number>
  /** The series of `k8s_events_total`, the event counter the `prometheus` exporter serves (shipped on :8889). */
  readonly eventsCounter: () => Promise<ReadonlyArray<CounterSeries>>
  /** What the Collector printed, over all its runs. */
  readonly output: () => string
  /** SIGTERM, and waits until it has exited (SIGKILL after 10 s). */
  readonly stop: () => Promise<void>
  /** Starts it again on the same ports and files; resolves once its health check answers. */
  readonly restart: () => Promise<void>
  /** Stops it and removes its folder. */
  readonly close: () => Promise<void>
}

interface Ports {
  readonly otlpGrpc: number
  readonly otlpHttp: number
  readonly health: number
  readonly metrics: number
  /** The `prometheus` exporter's, for the event counter. */
  readonly events: number
}

const loopback = (port: number) => `127.0.0.1:${port}`

/** `file` exporters in place of Loki, the warnings' debug exporter and Tempo. */
const fileTargets = (files: OtelCollectorFiles): ExportTargets => {
  const fileExporter = (path: string) => ({ path, append: true, flush_interval: "100ms" })
  return {
    exporters: {
      "file/loki": fileExporter(files.logs),
      "file/warnings": fileExporter(files.warnings),
      "file/tempo": fileExporter(files.traces)
    },
    pipelines: { "logs/loki": ["file/loki"], "logs/warnings": ["file/warnings"], traces: ["file/tempo"] }
  }
}

/** The overlay: listeners on loopback ports, the queue's folder, and the exporters of `targets`. */
const overlay = (ports: Ports, dir: string, targets: ExportTargets): string => {
  const storage = join(dir, "file_storage")
  return stringify({
    extensions: {
      health_check: { endpoint: loopback(ports.health) },
      file_storage: { directory: storage, compaction: { directory: storage } }
    },
    receivers: {
      otlp: {
        protocols: { grpc: { endpoint: loopback(ports.otlpGrpc) }, http: { endpoint: loopback(ports.otlpHttp) } }
      }
    },
    exporters: { ...targets.exporters, prometheus: { endpoint: loopback(ports.events) } },
    service: {
      pipelines: Object.fromEntries(
        Object.entries(targets.pipelines).map(([id, exporters]) => [id, { exporters: [...exporters] }])
      ),
      telemetry: {
        metrics: { readers: [{ pull: { exporter: { prometheus: { host: "127.0.0.1", port: ports.metrics } } } }] }
      }
    }
  })
}

/** Polls the health_check extension until it answers 200, or fails with what the Collector printed. */
const awaitHealthy = async (port: number, child: ChildProcess, output: () => string): Promise<void> => {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`otelcol exited with ${child.exitCode}:\n${output()}`)
    const status = await fetch(`http://${loopback(port)}/`).then(
      (r) => r.status,
      () => 0
    )
    if (status === 200) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`otelcol was not healthy within 60 s:\n${output()}`)
}

/** The sum over its series of a counter in Prometheus text (`name` or `name_total`, any labels). */
const sumOf = (text: string, name: string): number =>
  text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name}_total{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0)

/**
 * The `severity` label otel-collector.yaml's count pipeline should give a record of this severity number: the
 * OpenTelemetry log data model's ranges (1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL),
 * and the count connector's default for a record without one.
 */
export const severityLabel = (severityNumber: number | undefined): string =>
  severityNumber === undefined || severityNumber < 1
    ? "UNSPECIFIED"
    : (["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"][Math.min(5, Math.floor((severityNumber - 1) / 4))] ?? "")

/** `name{a="x",b="y"}` → `{ a: "x", b: "y" }`, the values unescaped. */
const labelsOf = (series: string): Record<string, string> =>
  Object.fromEntries(
    [...series.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, name, value]) => [
      name ?? "",
      (value ?? "").replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))
    ])
  )

/** Starts the Collector with otel-collector.yaml, the given files and the overlay; resolves once all pipelines run. */
export const startOtelCollector = async (options: OtelCollectorOptions = {}): Promise<OtelCollector> => {
  const dir = mkdtempSync(join(tmpdir(), "kec-otelcol-"))
  mkdirSync(join(dir, "file_storage"))
  const files: OtelCollectorFiles = {
    logs: join(dir, "logs.jsonl"),
    warnings: join(dir, "warnings.jsonl"),
    traces: join(dir, "traces.jsonl")
  }
  const ports: Ports = {
    otlpGrpc: await freePort(),
    otlpHttp: await freePort(),
    health: await freePort(),
    metrics: await freePort(),
    events: await freePort()
  }
  const overlayFile = join(dir, "overlay.yaml")
  writeFileSync(overlayFile, overlay(ports, dir, options.exportTo ?? fileTargets(files)))
  const configs = [SHIPPED_CONFIG, ...(options.configs ?? []), overlayFile].flatMap((file) => ["--config", file])
  let printed = ""
  const output = () => printed
  let child: ChildProcess | undefined

  const start = async () => {
    const started = spawn(goBinary("otelcol"), configs, {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"]
    })
    track(started)
    started.stdout.setEncoding("utf8").on("data", (d: string) => (printed += d))
    started.stderr.setEncoding("utf8").on("data", (d: string) => (printed += d))
    child = started
    await awaitHealthy(ports.health, started, output)
  }
  const stop = async () => {
    if (child !== undefined) await stopProcess(child)
  }

  await start()
  return {
    otlpHttpEndpoint: `http://${loopback(ports.otlpHttp)}`,
    files,
    counter: async (name) => sumOf(await (await fetch(`http://${loopback(ports.metrics)}/metrics`)).text(), name),
    eventsCounter: async () => {
      const text = await (await fetch(`http://${loopback(ports.events)}/metrics`)).text()
      return [...samples(text)]
        .filter(([series]) => series.startsWith("k8s_events_total{") || series === "k8s_events_total")
        .map(([series, value]) => ({ labels: labelsOf(series), value }))
    },
    output,
    stop,
    restart: async () => {
      await stop()
      await start()
    },
    close: async () => {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * The complete JSON lines a `file` exporter has written so far, each parsed (a line still being written is left
 * for the next read); none when it has written nothing yet.
 */
export const exportedLines = <Line>(path: string): ReadonlyArray<Line> =>
  existsSync(path)
    ? readFileSync(path, "utf8")
        .split("\n")
        .slice(0, -1)
        .map((line): Line => JSON.parse(line))
    : []

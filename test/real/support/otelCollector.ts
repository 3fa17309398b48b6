/**
 * The real OpenTelemetry Collector (`goBinary("otelcol")`) running the project's `otel-collector.yaml` as it ships,
 * with a second `--config` overlay written per test. The Collector merges the files in order: maps are merged key
 * by key, and a list or a scalar of a later file replaces the earlier one. So the overlay moves every listener to a
 * free loopback port, points `file_storage` at a temporary folder, adds `file` exporters and replaces the
 * exporter lists of the Loki, warnings and Tempo pipelines with them; the rest of the shipped file (receiver,
 * memory_limiter, routing table, pipelines) runs unchanged.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { stringify } from "yaml"
import { REPO_ROOT } from "../../support/cli.ts"
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

export interface OtelCollector {
  /** The OTLP/HTTP receiver, e.g. `http://127.0.0.1:40123`. */
  readonly otlpHttpEndpoint: string
  readonly files: OtelCollectorFiles
  /** A counter of the Collector's own metrics summed over its series, e.g. `otelcol_receiver_refused_log_records`. */
  readonly counter: (name: string) => Promise<number>
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
}

const loopback = (port: number) => `127.0.0.1:${port}`

/** The overlay: listeners on loopback ports, the queue's folder, and `file` exporters in place of Loki and Tempo. */
const overlay = (ports: Ports, dir: string, files: OtelCollectorFiles): string => {
  const storage = join(dir, "file_storage")
  const fileExporter = (path: string) => ({ path, append: true, flush_interval: "100ms" })
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
    exporters: {
      "file/loki": fileExporter(files.logs),
      "file/warnings": fileExporter(files.warnings),
      "file/tempo": fileExporter(files.traces)
    },
    service: {
      pipelines: {
        "logs/loki": { exporters: ["file/loki"] },
        "logs/warnings": { exporters: ["file/warnings"] },
        traces: { exporters: ["file/tempo"] }
      },
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

/** Starts the Collector with `otel-collector.yaml` and the overlay; resolves once every pipeline runs. */
export const startOtelCollector = async (): Promise<OtelCollector> => {
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
    metrics: await freePort()
  }
  const overlayFile = join(dir, "overlay.yaml")
  writeFileSync(overlayFile, overlay(ports, dir, files))
  let printed = ""
  const output = () => printed
  let child: ChildProcess | undefined

  const start = async () => {
    const started = spawn(goBinary("otelcol"), ["--config", SHIPPED_CONFIG, "--config", overlayFile], {
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

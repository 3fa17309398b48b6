/**
 * The stores behind the real Collector in stores.test.ts, built by `goBinaries.ts` from test/real/victorialogs and
 * test/real/jaeger: VictoriaLogs for logs (OTLP/HTTP in, LogsQL out) and Jaeger v2 for traces (OTLP/gRPC in, the
 * query service's HTTP API out). Each listens on free loopback ports and keeps its data in a temporary folder, and
 * can be stopped and started again on the same ports and data, as a store that goes away and comes back.
 */
import type { ChildProcess } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { stringify } from "yaml"
import { freePort, startTracked, stopProcess } from "./children.ts"
import { goBinary } from "./goBinaries.ts"

const loopback = (port: number) => `127.0.0.1:${port}`

interface Service {
  /** What the process printed over all its runs. */
  readonly output: () => string
  /** SIGTERM, and waits until it has exited. */
  readonly stop: () => Promise<void>
  /** Starts it again with the same arguments; resolves once its health check answers. */
  readonly start: () => Promise<void>
  /** Stops it and removes its folder. */
  readonly close: () => Promise<void>
}

/** A process of `binary` with `args`, restartable, healthy once `healthUrl` answers 200. */
const service = async (
  binary: string,
  args: ReadonlyArray<string>,
  dir: string,
  healthUrl: string
): Promise<Service> => {
  const log = join(dir, `${binary}.log`)
  const output = () => readFileSync(log, "utf8")
  let child: ChildProcess | undefined
  const start = async () => {
    const started = startTracked(goBinary(binary), args, log)
    child = started
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (started.exitCode !== null) throw new Error(`${binary} exited with ${started.exitCode}:\n${output()}`)
      const status = await fetch(healthUrl).then(
        (r) => r.status,
        () => 0
      )
      if (status === 200) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`${binary} was not healthy within 60 s:\n${output()}`)
  }
  const stop = async () => {
    if (child !== undefined) await stopProcess(child)
  }
  await start()
  return {
    output,
    stop,
    start,
    close: async () => {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

// ---- VictoriaLogs ----

/** A VictoriaLogs tenant, as the `AccountID` and `ProjectID` headers name it; 0:0 unless a request says otherwise. */
export interface Tenant {
  readonly accountId: number
  readonly projectId: number
}

export const DEFAULT_TENANT: Tenant = { accountId: 0, projectId: 0 }

/** A stored log entry as LogsQL returns it: every field a string (`_msg`, `_time`, `_stream`, the attributes). */
export type LogEntry = Readonly<Record<string, string>>

export interface VictoriaLogs extends Service {
  /** `http://127.0.0.1:<port>`: the base of the OTLP endpoint (`/insert/opentelemetry`) and of LogsQL. */
  readonly url: string
  /** Every entry of `tenant` that the LogsQL query matches (`/select/logsql/query`, no limit). */
  readonly query: (logsql: string, tenant?: Tenant) => Promise<ReadonlyArray<LogEntry>>
}

/**
 * VictoriaLogs with a retention of 100 years: it accepts and then silently drops records older than
 * `-retentionPeriod` (7 days by default), and an Event's record is dated when the event happened (the fixtures are
 * years old).
 */
export const startVictoriaLogs = async (): Promise<VictoriaLogs> => {
  const dir = mkdtempSync(join(tmpdir(), "kec-victorialogs-"))
  const url = `http://${loopback(await freePort())}`
  const args = [
    `-storageDataPath=${join(dir, "data")}`,
    `-httpListenAddr=${url.slice("http://".length)}`,
    "-retentionPeriod=100y"
  ]
  const running = await service("victoria-logs", args, dir, `${url}/health`)
  const query = async (logsql: string, tenant: Tenant = DEFAULT_TENANT): Promise<ReadonlyArray<LogEntry>> => {
    const response = await fetch(`${url}/select/logsql/query`, {
      method: "POST",
      headers: { AccountID: String(tenant.accountId), ProjectID: String(tenant.projectId) },
      body: new URLSearchParams({ query: logsql })
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`LogsQL ${logsql}: HTTP ${response.status} ${text}`)
    return text
      .split("\n")
      .filter((line) => line !== "")
      .map((line): LogEntry => JSON.parse(line))
  }
  return { ...running, url, query }
}

/** A LogsQL string literal: the text in double quotes, `"` and `\` escaped. */
export const quoted = (text: string): string => JSON.stringify(text)

// ---- Jaeger ----

/** A span as the query service's API v3 returns it (OTLP/JSON), with its resource's attributes. */
interface StoredSpan {
  readonly resource: ReadonlyMap<string, string>
  readonly name: string
  readonly traceId: string
  readonly startTimeUnixNano: string
  /** `STATUS_CODE_ERROR`, `STATUS_CODE_OK`, or undefined when unset. */
  readonly status: string | undefined
}

export interface Jaeger extends Service {
  /** The OTLP/gRPC receiver, `127.0.0.1:<port>`, as the Collector's `otlp_grpc` exporter names an endpoint. */
  readonly otlpGrpcEndpoint: string
  /** The spans of the traces of `service` that started between the two instants (`GET /api/v3/traces`). */
  readonly spans: (service: string, from: Date, to: Date) => Promise<ReadonlyArray<StoredSpan>>
}

interface OtlpJsonAttribute {
  readonly key: string
  readonly value: { readonly stringValue?: string }
}

interface OtlpJsonTraces {
  readonly result?: {
    readonly resourceSpans?: ReadonlyArray<{
      readonly resource?: { readonly attributes?: ReadonlyArray<OtlpJsonAttribute> }
      readonly scopeSpans?: ReadonlyArray<{
        readonly spans?: ReadonlyArray<{
          readonly name: string
          readonly traceId: string
          readonly startTimeUnixNano: string
          readonly status?: { readonly code?: string | number }
        }>
      }>
    }>
  }
}

/** The protobuf enum by name, whether the gateway wrote its name or its number. */
const STATUS_NAMES: ReadonlyArray<string> = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]

/**
 * Jaeger v2 with its own configuration (a Collector configuration, as `cmd/jaeger` takes): OTLP/gRPC in, memory
 * storage, the query service on a free port, a health check, and no listener on a fixed port (its built-in
 * all-in-one configuration takes 4317, 16686, 8888 and more).
 */
export const startJaeger = async (): Promise<Jaeger> => {
  const dir = mkdtempSync(join(tmpdir(), "kec-jaeger-"))
  const [otlp, queryHttp, queryGrpc, health] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const config = join(dir, "config.yaml")
  writeFileSync(
    config,
    stringify({
      extensions: {
        jaeger_storage: { backends: { traces: { memory: { max_traces: 100_000 } } } },
        jaeger_query: {
          storage: { traces: "traces" },
          http: { endpoint: loopback(queryHttp) },
          grpc: { endpoint: loopback(queryGrpc) }
        },
        healthcheckv2: { use_v2: true, http: { endpoint: loopback(health) } }
      },
      receivers: { otlp: { protocols: { grpc: { endpoint: loopback(otlp) } } } },
      exporters: { jaeger_storage_exporter: { trace_storage: "traces" } },
      service: {
        extensions: ["jaeger_storage", "jaeger_query", "healthcheckv2"],
        pipelines: { traces: { receivers: ["otlp"], exporters: ["jaeger_storage_exporter"] } },
        telemetry: { metrics: { level: "none" } }
      }
    })
  )
  const running = await service("jaeger", ["--config", config], dir, `http://${loopback(health)}/status`)
  const spans = async (serviceName: string, from: Date, to: Date): Promise<ReadonlyArray<StoredSpan>> => {
    const params = new URLSearchParams({
      "query.service_name": serviceName,
      "query.start_time_min": from.toISOString(),
      "query.start_time_max": to.toISOString(),
      // Required: how many traces to return at most.
      "query.num_traces": "100"
    })
    const response = await fetch(`http://${loopback(queryHttp)}/api/v3/traces?${params}`)
    // No trace at all is a 404 with an error body.
    if (response.status === 404) return []
    const text = await response.text()
    if (!response.ok) throw new Error(`GET /api/v3/traces: HTTP ${response.status} ${text}`)
    const body = JSON.parse(text) as OtlpJsonTraces
    return (body.result?.resourceSpans ?? []).flatMap((rs) => {
      const resource = new Map(
        (rs.resource?.attributes ?? []).flatMap((a) =>
          a.value.stringValue === undefined ? [] : [[a.key, a.value.stringValue] as const]
        )
      )
      return (rs.scopeSpans ?? []).flatMap((ss) =>
        (ss.spans ?? []).map((span) => {
          const code = span.status?.code
          return {
            resource,
            name: span.name,
            traceId: span.traceId,
            startTimeUnixNano: span.startTimeUnixNano,
            status: typeof code === "number" ? STATUS_NAMES[code] : code
          }
        })
      )
    })
  }
  return { ...running, otlpGrpcEndpoint: loopback(otlp), spans }
}

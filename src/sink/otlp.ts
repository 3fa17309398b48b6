import { Effect, Layer, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { ExportResultCode } from "@opentelemetry/core"
import { CompressionAlgorithm, OTLPExporterError } from "@opentelemetry/otlp-exporter-base"
import { OTLPLogExporter as ProtoExporter } from "@opentelemetry/exporter-logs-otlp-proto"
import { OTLPLogExporter as JsonExporter } from "@opentelemetry/exporter-logs-otlp-http"
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { ExportFailed, LogExporter } from "./LogExporter.ts"
import { redactUrl } from "../observability/redact.ts"

export type OtlpProtocol = "http/protobuf" | "http/json"

/** The TLS files could not be read: start-up stops with the path and the reason. */
export class ExporterSetupError extends Schema.TaggedError<ExporterSetupError>()("ExporterSetupError", {
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

export interface OtlpTlsFiles {
  readonly ca: string | undefined
  readonly cert: string | undefined
  readonly key: string | undefined
}

export interface OtlpSettings {
  /** The full logs URL, `.../v1/logs`. */
  readonly endpoint: string
  readonly protocol: OtlpProtocol
  readonly headers: Readonly<Record<string, string>>
  readonly compression: "gzip" | "none"
  readonly timeoutMs: number
  /** Exports the sink may have in flight at once (`--export-concurrency`). */
  readonly concurrency: number
  /** PEM contents (not paths) of the CA and the client certificate and key. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string }
}

/** Reads the TLS files named by the options, failing with the option and path of any that cannot be read. */
export const readTlsFiles = (files: OtlpTlsFiles) =>
  Effect.gen(function*() {
    const read = (option: string, path: string | undefined) =>
      path === undefined
        ? Effect.succeed(undefined)
        : Effect.tryPromise({
          try: () => readFile(path, "utf8"),
          catch: (e) => new ExporterSetupError({ detail: `${option} ${path}: cannot read it: ${e instanceof Error ? e.message : String(e)}` })
        })
    const [ca, cert, key] = yield* Effect.all([
      read("--otlp-certificate", files.ca),
      read("--otlp-client-certificate", files.cert),
      read("--otlp-client-key", files.key)
    ], { concurrency: "unbounded" })
    if ((cert === undefined) !== (key === undefined)) {
      return yield* new ExporterSetupError({ detail: "--otlp-client-certificate and --otlp-client-key go together: give both or neither" })
    }
    return {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key })
    }
  })

/**
 * Status codes the OTLP/HTTP spec calls retryable. The exporter already retries them for up to its timeout,
 * honouring `Retry-After`; what reaches us after that is an outage, retried again by the sink.
 */
const RETRYABLE_STATUS = new Set([408, 429, 502, 503, 504])

export const classifyExportError = (error: unknown): ExportFailed => {
  if (error instanceof OTLPExporterError && error.code !== undefined) {
    const detail = error.data !== undefined && error.data !== "" ? `${error.message}: ${error.data.slice(0, 500)}` : error.message
    const retryable = RETRYABLE_STATUS.has(error.code) || error.code >= 500
    return new ExportFailed({ reason: detail || "export failed", retryable, status: error.code })
  }
  const reason = error instanceof Error ? error.message : String(error)
  return new ExportFailed({ reason: reason || "export failed", retryable: true })
}

/** Wraps an SDK `LogRecordExporter`: its result callback is the acknowledgement. */
export const fromSdkExporter = (name: string, exporter: LogRecordExporter) => ({
  name,
  export: (batch: ReadonlyArray<ReadableLogRecord>) =>
    Effect.async<void, ExportFailed>((resume) => {
      exporter.export([...batch], (result) => {
        resume(
          result.code === ExportResultCode.SUCCESS
            ? Effect.void
            : Effect.fail(classifyExportError(result.error ?? new Error("export failed")))
        )
      })
    }),
  shutdown: Effect.promise(() => exporter.shutdown()).pipe(Effect.timeout("5 seconds"), Effect.ignore)
})

export const makeOtlpExporter = (settings: OtlpSettings): LogRecordExporter => {
  const config = {
    url: settings.endpoint,
    headers: { ...settings.headers },
    timeoutMillis: settings.timeoutMs,
    compression: settings.compression === "gzip" ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
    // The exporter fails an export beyond its limit at once: it must allow every export the sink has in flight.
    concurrencyLimit: settings.concurrency,
    ...(settings.tls === undefined || Object.keys(settings.tls).length === 0 ? {} : { httpAgentOptions: { ...settings.tls, keepAlive: true } })
  }
  return settings.protocol === "http/json" ? new JsonExporter(config) : new ProtoExporter(config)
}

export const otlpLayer = (settings: OtlpSettings) =>
  Layer.scoped(
    LogExporter,
    Effect.acquireRelease(
      Effect.sync(() =>
        fromSdkExporter(`otlp ${settings.protocol} ${redactUrl(settings.endpoint)}`, makeOtlpExporter(settings))
      ),
      (e) => e.shutdown
    )
  )

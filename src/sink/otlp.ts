import { Effect, Layer } from "effect"
import { ExportResultCode } from "@opentelemetry/core"
import { CompressionAlgorithm, OTLPExporterError } from "@opentelemetry/otlp-exporter-base"
import { OTLPLogExporter as ProtoExporter } from "@opentelemetry/exporter-logs-otlp-proto"
import { OTLPLogExporter as JsonExporter } from "@opentelemetry/exporter-logs-otlp-http"
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { ExportFailed, LogExporter } from "./LogExporter.ts"

export type OtlpProtocol = "http/protobuf" | "http/json"

export interface OtlpSettings {
  /** The full logs URL, `.../v1/logs`. */
  readonly endpoint: string
  readonly protocol: OtlpProtocol
  readonly headers: Readonly<Record<string, string>>
  readonly compression: "gzip" | "none"
  readonly timeoutMs: number
}

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
    // One export is in flight at a time (the sink waits for each ack), so the limit never applies.
    concurrencyLimit: 2
  }
  return settings.protocol === "http/json" ? new JsonExporter(config) : new ProtoExporter(config)
}

export const otlpLayer = (settings: OtlpSettings) =>
  Layer.scoped(
    LogExporter,
    Effect.acquireRelease(
      Effect.sync(() => fromSdkExporter(`otlp ${settings.protocol} ${settings.endpoint}`, makeOtlpExporter(settings))),
      (e) => e.shutdown
    )
  )

import { Effect, Layer } from "effect"
import { JsonLogsSerializer } from "@opentelemetry/otlp-transformer"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { allAccepted, LogExporter } from "./LogExporter.ts"

const decoder = new TextDecoder()

/**
 * One line per record: an OTLP/JSON `ExportLogsServiceRequest` holding that record, so each line is complete
 * (resource included) and can be piped to `jq` or posted to any OTLP/HTTP endpoint as it is.
 */
export const consoleLines = (batch: ReadonlyArray<ReadableLogRecord>): string => {
  let out = ""
  for (const record of batch) {
    const bytes = JsonLogsSerializer.serializeRequest([record])
    if (bytes !== undefined) out += decoder.decode(bytes) + "\n"
  }
  return out
}

const attr = (r: ReadableLogRecord, key: string): string | undefined => {
  const v = r.attributes[key] ?? r.resource.attributes[key]
  return typeof v === "string" || typeof v === "number" ? String(v) : undefined
}

/** One line a person reads: time, severity, namespace/kind/name, reason, message, count. */
export const textLines = (batch: ReadonlyArray<ReadableLogRecord>): string => {
  let out = ""
  for (const r of batch) {
    const when = new Date(r.hrTime[0] * 1000 + Math.floor(r.hrTime[1] / 1e6)).toISOString()
    const object = [attr(r, "k8s.namespace.name"), attr(r, "k8s.object.kind"), attr(r, "k8s.object.name")]
      .filter((p) => p !== undefined).join("/")
    const count = attr(r, "k8s.event.count")
    const body = typeof r.body === "string" ? r.body : ""
    out += `${when} ${(r.severityText ?? "-").padEnd(7)} ${object} ${attr(r, "k8s.event.reason") ?? "-"}: ${body}${count !== undefined && count !== "1" ? ` (x${count})` : ""}\n`
  }
  return out
}

export type ConsoleFormat = "json" | "text"

export const consoleLayer = (format: ConsoleFormat = "json", write: (text: string) => void = (text) => process.stdout.write(text)) =>
  Layer.succeed(LogExporter, {
    name: "console",
    export: (batch) =>
      Effect.sync(() => write(format === "text" ? textLines(batch) : consoleLines(batch))).pipe(Effect.as(allAccepted)),
    shutdown: Effect.void
  })

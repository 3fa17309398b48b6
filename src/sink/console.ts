import { Effect, Layer } from "effect"
import { JsonLogsSerializer } from "@opentelemetry/otlp-transformer"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { RecordAttr as A, Resource as R } from "../domain/attributes.ts"
import { colourFor, oneLine, paintBySeverity } from "../observability/terminal.ts"
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

/**
 * One line a person reads for each record: time, severity, namespace/kind/name, reason, message, count. Line
 * breaks in any part are written as `\n`; with `colour` (a terminal) the severity is coloured by its level.
 */
export const textLines = (batch: ReadonlyArray<ReadableLogRecord>, colour = false): string => {
  let out = ""
  for (const r of batch) {
    const when = new Date(r.hrTime[0] * 1000 + Math.floor(r.hrTime[1] / 1e6)).toISOString()
    const severity = oneLine(r.severityText ?? "-")
    const shown = colour ? paintBySeverity(severity, r.severityNumber) : severity
    const object = [attr(r, R.namespaceName), attr(r, R.objectKind), attr(r, R.objectName)]
      .filter((p) => p !== undefined)
      .join("/")
    const count = attr(r, A.count)
    const times = count !== undefined && count !== "1" ? ` (x${count})` : ""
    const body = typeof r.body === "string" ? r.body : ""
    const reason = attr(r, A.reason) ?? "-"
    const gap = " ".repeat(Math.max(1, 8 - severity.length))
    out += `${when} ${shown}${gap}${oneLine(`${object} ${reason}: ${body}${times}`)}\n`
  }
  return out
}

export type ConsoleFormat = "json" | "text"

/** Records on stdout; `text` lines are coloured when stdout is a terminal and `NO_COLOR` is not set. */
export const consoleLayer = (
  format: ConsoleFormat = "json",
  write: (text: string) => void = (text) => process.stdout.write(text),
  colour: boolean = colourFor(process.stdout)
) =>
  Layer.succeed(LogExporter, {
    name: "console",
    export: (batch) =>
      Effect.sync(() => write(format === "text" ? textLines(batch, colour) : consoleLines(batch))).pipe(
        Effect.as(allAccepted)
      ),
    shutdown: Effect.void
  })

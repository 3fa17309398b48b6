import { Effect, Layer } from "effect"
import { JsonLogsSerializer } from "@opentelemetry/otlp-transformer"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { LogExporter } from "./LogExporter.ts"

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

export const consoleLayer = (write: (text: string) => void = (text) => process.stdout.write(text)) =>
  Layer.succeed(LogExporter, {
    name: "console",
    export: (batch) => Effect.sync(() => write(consoleLines(batch))),
    shutdown: Effect.void
  })

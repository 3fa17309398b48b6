import { Context, Effect, Layer, Schema } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"

/** An export that did not succeed. `retryable: false` means the backend rejected the data itself. */
export class ExportFailed extends Schema.TaggedError<ExportFailed>()("ExportFailed", {
  reason: Schema.String,
  retryable: Schema.Boolean,
  status: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return this.status === undefined ? this.reason : `HTTP ${this.status}: ${this.reason}`
  }
}

/** Sends one batch of records; success is the backend's acknowledgement. */
export interface LogExporterShape {
  readonly name: string
  readonly export: (batch: ReadonlyArray<ReadableLogRecord>) => Effect.Effect<void, ExportFailed>
  readonly shutdown: Effect.Effect<void>
}

export class LogExporter extends Context.Tag("LogExporter")<LogExporter, LogExporterShape>() {
  /** Accepts and forgets everything (`--exporter none`): for measuring the pipeline alone. */
  static readonly none = Layer.succeed(LogExporter, {
    name: "none",
    export: () => Effect.void,
    shutdown: Effect.void
  })
}

import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"

/**
 * An export that did not succeed. `retryable: false` means the backend rejected the data itself; `retryAfter` is
 * the backend's `Retry-After`, the least wait before the next attempt.
 */
export class ExportFailed extends Schema.TaggedError<ExportFailed>()("ExportFailed", {
  reason: Schema.String,
  retryable: Schema.Boolean,
  status: Schema.optional(Schema.Number),
  retryAfter: Schema.optional(Schema.Duration)
}) {
  override get message(): string {
    const after = this.retryAfter === undefined ? "" : ` (Retry-After ${Duration.format(this.retryAfter)})`
    return this.status === undefined ? this.reason : `HTTP ${this.status}${after}: ${this.reason}`
  }
}

/**
 * The backend's acknowledgement of a batch. With OTLP partial success it took the request but rejected
 * `rejected` of its records, saying why in `rejectionMessage`.
 */
export interface Accepted {
  readonly rejected: number
  readonly rejectionMessage: Option.Option<string>
}

export const allAccepted: Accepted = { rejected: 0, rejectionMessage: Option.none() }

/** Sends one batch of records; success is the backend's acknowledgement. */
export interface LogExporterShape {
  readonly name: string
  readonly export: (batch: ReadonlyArray<ReadableLogRecord>) => Effect.Effect<Accepted, ExportFailed>
  readonly shutdown: Effect.Effect<void>
}

export class LogExporter extends Context.Tag("LogExporter")<LogExporter, LogExporterShape>() {
  /** Accepts and forgets everything (`--exporter none`): for measuring the pipeline alone. */
  static readonly layerNoop = Layer.succeed(LogExporter, {
    name: "none",
    export: () => Effect.succeed(allAccepted),
    shutdown: Effect.void
  })
}

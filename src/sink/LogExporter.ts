import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"

/**
 * What kind of failure an export met, classified once, where the exporter reads what happened: no answer
 * (`Transport`: the connection failed or was cut; `Timeout`: nothing within the exporter's timeout), or the HTTP
 * status the backend refused with: `RequestTimeout` (408), `TooManyRequests` (429), `ServerError` (any 5xx),
 * `Rejected` (any other 4xx: the backend refused the data itself), `StatusCode` (any other status).
 */
const ExportFailureReason = Schema.Literal(
  "Transport",
  "Timeout",
  "RequestTimeout",
  "TooManyRequests",
  "ServerError",
  "Rejected",
  "StatusCode"
)
export type ExportFailureReason = typeof ExportFailureReason.Type

/**
 * An export that did not succeed: its `reason`, the HTTP `status` when there was an answer, `description` (what
 * the backend said, or what happened), `retryAfter` (the backend's `Retry-After`, the least wait before the next
 * attempt) and `cause` (the network error, when there is one).
 */
export class ExportFailed extends Schema.TaggedError<ExportFailed>()("ExportFailed", {
  reason: ExportFailureReason,
  status: Schema.optional(Schema.Number),
  description: Schema.String,
  retryAfter: Schema.optional(Schema.Duration),
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    const after = this.retryAfter === undefined ? "" : ` (Retry-After ${Duration.format(this.retryAfter)})`
    return this.status === undefined ? this.description : `HTTP ${this.status}${after}: ${this.description}`
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

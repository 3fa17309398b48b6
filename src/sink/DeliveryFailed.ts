import { Schema } from "effect"
import type { SinkStats } from "./RecordSink.ts"

/**
 * Some records were not delivered; the run must not look successful. A failure of the run (exit code 1,
 * `src/app/exitCodes.ts`), also when it ends a stop: then it stands beside the interruption (`whenStopped`).
 */
export class DeliveryFailed extends Schema.TaggedError<DeliveryFailed>()("DeliveryFailed", {
  dropped: Schema.Record({ key: Schema.String, value: Schema.Number }),
  lastError: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const total = Object.values(this.dropped).reduce((a, b) => a + b, 0)
    const reasons = Object.entries(this.dropped)
      .map(([r, n]) => `${n} ${r}`)
      .join(", ")
    const last = this.lastError ? `; last error: ${this.lastError}` : ""
    return `${total} records could not be delivered (${reasons})${last}`
  }

  static fromStats(stats: SinkStats): DeliveryFailed {
    return new DeliveryFailed({ dropped: stats.dropped, ...(stats.lastError ? { lastError: stats.lastError } : {}) })
  }
}

import { RecordAttr as A } from "../domain/attributes.ts"
import type { Summary } from "../rules/throttle.ts"
import type { RecordParts } from "./toLogRecord.ts"

/**
 * What makes the record standing for the occurrences noise control held back different from the event's own
 * record: the count and window as attributes, a record uid of its own, and a body that says what it sums up.
 */
export const summaryParts = (s: Summary): RecordParts => {
  const e = s.event
  return {
    attributes: {
      [A.suppressedCount]: s.suppressed,
      [A.suppressedWindowStart]: new Date(s.windowStartMs).toISOString(),
      [A.suppressedWindowSeconds]: s.windowMs / 1000,
      [A.recordUid]: `${e.uid}:${e.resourceVersion}:suppressed:${s.windowStartMs}`
    },
    body:
      `${s.suppressed} more occurrences of ${e.reason ?? "this event"} held back between ` +
      `${new Date(s.firstSuppressedMs).toISOString()} and ${new Date(s.lastSuppressedMs).toISOString()} ` +
      `(noise control: ${s.passed} sent in the window); last message: ${e.message ?? ""}`
  }
}

import type { KubeEvent } from "./KubeEvent.ts"
import type { Timestamp } from "./Timestamp.ts"

/**
 * When the occurrence a record stands for happened: the newest observation first. A repeat raises
 * `series.lastObservedTime` (new-style events) or `lastTimestamp` (old-style), so those win; `eventTime` and
 * `firstTimestamp` are the first occurrence; the object's creation is the last resort.
 */
export const occurrenceTime = (e: KubeEvent): Timestamp | undefined =>
  e.seriesLastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.creationTimestamp

/** When the event (the series of occurrences) started. */
export const startTime = (e: KubeEvent): Timestamp | undefined => e.firstTimestamp ?? e.eventTime ?? e.creationTimestamp

/** `occurrenceTime` in whole milliseconds since the epoch, as the checkpoint and the age filter count it. */
export const occurrenceMs = (e: KubeEvent): number | undefined => {
  const t = occurrenceTime(e)
  return t === undefined ? undefined : t.seconds * 1000 + Math.floor(t.nanos / 1e6)
}

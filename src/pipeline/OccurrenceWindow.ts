import { compareTimestamps, type Timestamp } from "../domain/Timestamp.ts"
import { BoundedMap } from "../domain/BoundedMap.ts"
import type { KubeEvent } from "../domain/KubeEvent.ts"
import { occurrenceTime } from "../domain/eventTimes.ts"

interface Seen {
  /** Empty for an occurrence known from the checkpoint, which keeps no resourceVersion. */
  readonly resourceVersion: string
  readonly count: number | undefined
  readonly time: Timestamp | undefined
}

/**
 * Remembers the latest occurrence emitted per event uid, so a relist, a replayed watch or a MODIFIED that only
 * touched metadata emits nothing, while a repeat (count or observation time raised) is a new occurrence.
 * Bounded: the least recently emitted uids go first once `capacity` is reached.
 */
export class OccurrenceWindow {
  readonly #seen: BoundedMap<string, Seen>

  constructor(capacity: number) {
    this.#seen = new BoundedMap(capacity)
  }

  get size(): number {
    return this.#seen.size
  }

  /** Whether `e` is an occurrence not emitted before. */
  isNew(e: KubeEvent): boolean {
    const seen = this.#seen.get(e.uid)
    if (seen === undefined) return true
    if (seen.resourceVersion === e.resourceVersion) return false
    // An event without a count is its first occurrence: a new-style event gets `series.count: 2` when it repeats.
    const count = e.count ?? 1
    const seenCount = seen.count ?? 1
    if (count !== seenCount) return count > seenCount
    const time = occurrenceTime(e)
    if (time !== undefined && seen.time !== undefined) return compareTimestamps(time, seen.time) > 0
    // Neither a count nor a time tells: a new resourceVersion is all there is to go on.
    return time === undefined
  }

  remember(e: KubeEvent): void {
    this.#seen.set(e.uid, { resourceVersion: e.resourceVersion, count: e.count, time: occurrenceTime(e) })
  }

  /** Remembers an occurrence exported by an earlier run (from the checkpoint). */
  seed(uid: string, count: number, timeMs: number): void {
    const seconds = Math.floor(timeMs / 1000)
    const time = { seconds, nanos: (timeMs - seconds * 1000) * 1_000_000, iso: new Date(timeMs).toISOString() }
    this.#seen.set(uid, { resourceVersion: "", count, time })
  }

  /** Emits-once check and record in one step. */
  admit(e: KubeEvent): boolean {
    if (!this.isNew(e)) return false
    this.remember(e)
    return true
  }
}

import type { KubeEvent } from "../domain/KubeEvent.ts"
import { occurrenceTime } from "../domain/eventTimes.ts"
import { UidIndex } from "./UidIndex.ts"

/**
 * A resourceVersion as a number when it is a decimal of at most 15 digits (exact in a double; kube-apiserver's
 * are etcd revisions), otherwise `NaN`: such a version is kept as text beside the columns.
 */
const numericVersion = (rv: string): number => (/^[1-9]\d{0,14}$/.test(rv) ? Number(rv) : NaN)

/**
 * Remembers the latest occurrence emitted per event uid, so a relist, a replayed watch or a MODIFIED that only
 * touched metadata emits nothing, while a repeat (count or observation time raised) is a new occurrence.
 * Bounded: the least recently emitted uids go first once `capacity` is reached.
 *
 * What it keeps of an occurrence is its uid, count, time and resourceVersion, no object and no string: a
 * `UidIndex` from uid to a slot (which also keeps the eviction order), and one typed-array column per field. The
 * window holds up to 100 000 uids while events stream through, so an object per entry (with its time and version
 * texts), or even a `Map` of uid strings, would be most of the collector's long-lived heap.
 */
export class OccurrenceWindow {
  readonly #index: UidIndex
  readonly #count: Float64Array
  /** Seconds of the occurrence time; `NaN` when the event has none. */
  readonly #seconds: Float64Array
  readonly #nanos: Uint32Array
  /** `numericVersion` of the resourceVersion; `NaN` when unknown (from the checkpoint) or kept in `#textVersions`. */
  readonly #versions: Float64Array
  /** The resourceVersions that are not short decimals (an aggregated API server), by slot. */
  readonly #textVersions = new Map<number, string>()

  /** The columns are made at their full length once, as the index's arrays are: pages are taken as written. */
  constructor(capacity: number) {
    this.#index = new UidIndex(capacity)
    const slots = Math.max(0, Math.floor(capacity))
    this.#count = new Float64Array(slots)
    this.#seconds = new Float64Array(slots)
    this.#nanos = new Uint32Array(slots)
    this.#versions = new Float64Array(slots)
  }

  get size(): number {
    return this.#index.size
  }

  /** Whether `e` is an occurrence not emitted before. */
  isNew(e: KubeEvent): boolean {
    const slot = this.#index.get(e.uid)
    if (slot === undefined) return true
    if (this.#sameVersion(slot, e.resourceVersion)) return false
    // An event without a count is its first occurrence: a new-style event gets `series.count: 2` when it repeats.
    const count = e.count ?? 1
    const seenCount = this.#count[slot] ?? 1
    if (count !== seenCount) return count > seenCount
    const time = occurrenceTime(e)
    const seenSeconds = this.#seconds[slot] ?? NaN
    if (time !== undefined && !Number.isNaN(seenSeconds)) {
      return time.seconds !== seenSeconds ? time.seconds > seenSeconds : time.nanos > (this.#nanos[slot] ?? 0)
    }
    // Neither a count nor a time tells: a new resourceVersion is all there is to go on.
    return time === undefined
  }

  remember(e: KubeEvent): void {
    const time = occurrenceTime(e)
    const slot = this.#slotFor(e.uid)
    this.#put(slot, e.count ?? 1, time?.seconds ?? NaN, time?.nanos ?? 0)
    const version = numericVersion(e.resourceVersion)
    this.#versions[slot] = version
    if (Number.isNaN(version)) this.#textVersions.set(slot, e.resourceVersion)
  }

  /** Remembers an occurrence exported by an earlier run (from the checkpoint), whose resourceVersion is unknown. */
  seed(uid: string, count: number, timeMs: number): void {
    const seconds = Math.floor(timeMs / 1000)
    const slot = this.#slotFor(uid)
    // The checkpoint keeps whole milliseconds: the time is taken as the last nanosecond of that millisecond, so the
    // same occurrence listed again with its microseconds (an eventTime) is not new, a later millisecond is.
    const nanos = Math.round(timeMs - seconds * 1000) * 1_000_000 + 999_999
    this.#put(slot, count, seconds, nanos)
    this.#versions[slot] = NaN
  }

  /** Emits-once check and record in one step. */
  admit(e: KubeEvent): boolean {
    if (!this.isNew(e)) return false
    this.remember(e)
    return true
  }

  #sameVersion(slot: number, rv: string): boolean {
    const seen = this.#versions[slot] ?? NaN
    return Number.isNaN(seen) ? this.#textVersions.get(slot) === rv : seen === numericVersion(rv)
  }

  #put(slot: number, count: number, seconds: number, nanos: number): void {
    this.#count[slot] = count
    this.#seconds[slot] = seconds
    this.#nanos[slot] = nanos
    this.#textVersions.delete(slot)
  }

  /** The uid's slot, now the newest: its own, a new one, or the oldest uid's once the window is full. */
  #slotFor(uid: string): number {
    const { slot } = this.#index.set(uid)
    // A window of capacity 0 remembers nothing: a write to slot -1 of a typed array is dropped.
    return slot
  }
}

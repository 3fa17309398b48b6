/**
 * Which of a list's items to pass on: those above the watermark (the last resourceVersion passed on), and of a
 * list that started over (a failure half-way, an expired continue token), not those an earlier attempt passed on.
 *
 * The API server lists in key order (namespace/name), so an attempt saw every item up to the last key it read, as
 * of its snapshot. An item there whose resourceVersion is at or below the highest that attempt passed on has not
 * changed since: it was passed on then, or was at or below the watermark. The once-only window would leave such an
 * item out too, but only while it still holds its uid: with more live events than the window holds, a list that
 * started over would send its first pages again.
 */
import { isRecord } from "../domain/isRecord.ts"
import { compareResourceVersions, resourceVersionOf } from "../kube/resourceVersion.ts"

/** What one attempt of a list read: the last key, and the highest resourceVersion it passed on. */
interface Attempt {
  lastKey: string | undefined
  highest: string | undefined
}

/** The key the API server lists in: `namespace/name`. */
const keyOf = (object: unknown): string | undefined => {
  const meta = isRecord(object) ? object["metadata"] : undefined
  if (!isRecord(meta) || typeof meta["name"] !== "string") return undefined
  return `${typeof meta["namespace"] === "string" ? meta["namespace"] : ""}/${meta["name"]}`
}

/** `a <= b`, for resourceVersions that can be ordered; `false` when they cannot. */
const atOrBelow = (a: string, b: string): boolean => (compareResourceVersions(a, b) ?? 1) <= 0

export class ListProgress {
  /** The earlier attempts of the list in progress. */
  #earlier: Array<Attempt> = []
  /** The attempt in progress; `undefined` between lists. */
  #current: Attempt | undefined

  /** A list starts: over again when one was in progress (it did not get to its end). */
  listing(): void {
    const current = this.#current
    if (current === undefined) this.#earlier = []
    else if (current.lastKey !== undefined && current.highest !== undefined) this.#earlier.push(current)
    this.#current = { lastKey: undefined, highest: undefined }
  }

  /** The list got to its end. */
  listed(): void {
    this.#current = undefined
    this.#earlier = []
  }

  /** The page's items to pass on, above `watermark` and not passed on by an earlier attempt; noted as read. */
  page(items: ReadonlyArray<unknown>, watermark: string | undefined): ReadonlyArray<unknown> {
    const current = (this.#current ??= { lastKey: undefined, highest: undefined })
    const passed: Array<unknown> = []
    for (const object of items) {
      const rv = resourceVersionOf(object)
      const key = keyOf(object)
      if (key !== undefined) current.lastKey = key
      if (rv !== undefined && watermark !== undefined && atOrBelow(rv, watermark)) continue
      if (rv !== undefined && key !== undefined && this.#passedEarlier(key, rv)) continue
      passed.push(object)
      if (rv !== undefined && (current.highest === undefined || !atOrBelow(rv, current.highest))) current.highest = rv
    }
    return passed
  }

  #passedEarlier(key: string, rv: string): boolean {
    for (const a of this.#earlier) {
      if (a.lastKey !== undefined && a.highest !== undefined && key <= a.lastKey && atOrBelow(rv, a.highest))
        return true
    }
    return false
  }
}

/**
 * Noise control: at most `limit` occurrences per key in a window that opens at the key's first occurrence;
 * the rest are suppressed and, when the window closes, described by one `Summary`. A pure state machine:
 * the caller passes the time to every call and asks `due` when `nextDueMs` says a window ends.
 *
 * Memory is bounded by `maxKeys` open windows, plus the summaries of windows that closed since the last
 * `due` (a window that rolls over or is evicted inside `admit` keeps its summary until then). Windows are kept in a
 * Map in the order they opened, which (time never going back) is the order they end, so the oldest is always the
 * first entry.
 */
import type { KubeEvent } from "../domain/KubeEvent.ts"

export const THROTTLE_KEY_FIELDS = ["namespace", "kind", "name", "reason", "type", "message"] as const
export type ThrottleKeyField = (typeof THROTTLE_KEY_FIELDS)[number]
export const DEFAULT_THROTTLE_KEY: ReadonlyArray<ThrottleKeyField> = ["namespace", "kind", "name", "reason"]

export interface ThrottleSettings {
  /** Occurrences let through per key and window, at least 1. */
  readonly limit: number
  readonly windowMs: number
  readonly key?: ReadonlyArray<ThrottleKeyField>
  /** Most windows open at once; a new key beyond it closes the oldest window early. */
  readonly maxKeys: number
}

export interface Summary {
  /** The key's values joined by `/`, in the order of the `key` setting (an absent value is empty). */
  readonly key: string
  /** The last suppressed occurrence, to copy resource attributes from. */
  readonly event: KubeEvent
  readonly suppressed: number
  readonly passed: number
  readonly firstSuppressedMs: number
  readonly lastSuppressedMs: number
  readonly windowStartMs: number
  /** The configured window; a window closed early (evicted, flushed) covered less. */
  readonly windowMs: number
  /** Why the window closed: it ran its length, it made room for a new key, or the throttle was flushed. */
  readonly closed: "ended" | "evicted" | "flushed"
}

interface Window {
  /** The map key: the key's values joined by NUL, which no Kubernetes name or reason contains. */
  readonly id: string
  readonly startMs: number
  passed: number
  suppressed: number
  firstSuppressedMs: number
  lastSuppressedMs: number
  last: KubeEvent | undefined
}

const valueOf = (e: KubeEvent, field: ThrottleKeyField): string => {
  switch (field) {
    case "namespace":
      return e.regarding.namespace ?? e.namespace ?? ""
    case "kind":
      return e.regarding.kind ?? ""
    case "name":
      return e.regarding.name ?? ""
    case "reason":
      return e.reason ?? ""
    case "type":
      return e.type ?? ""
    case "message":
      return e.message ?? ""
  }
}

export class Throttle {
  readonly limit: number
  readonly windowMs: number
  readonly key: ReadonlyArray<ThrottleKeyField>
  readonly maxKeys: number
  private readonly open = new Map<string, Window>()
  /** Windows closed with suppressed occurrences whose summary was not yet handed out. */
  private closedWindows: Array<Summary> = []
  private latestMs = Number.NEGATIVE_INFINITY

  constructor(settings: ThrottleSettings) {
    if (!(Number.isInteger(settings.limit) && settings.limit >= 1))
      throw new RangeError(`limit must be a whole number ≥ 1, got ${settings.limit}`)
    if (!(settings.windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${settings.windowMs}`)
    if (!(Number.isInteger(settings.maxKeys) && settings.maxKeys >= 1))
      throw new RangeError(`maxKeys must be a whole number ≥ 1, got ${settings.maxKeys}`)
    this.limit = settings.limit
    this.windowMs = settings.windowMs
    this.key = settings.key !== undefined && settings.key.length > 0 ? settings.key : DEFAULT_THROTTLE_KEY
    this.maxKeys = settings.maxKeys
  }

  /** Open windows. */
  get size(): number {
    return this.open.size
  }

  /** The key an event is counted under, as a Summary shows it. */
  keyOf(e: KubeEvent): string {
    return this.key.map((f) => valueOf(e, f)).join("/")
  }

  private idOf(e: KubeEvent): string {
    const fields = this.key
    let id = valueOf(e, fields[0] ?? "namespace")
    for (let i = 1; i < fields.length; i++) id += "\u0000" + valueOf(e, fields[i] ?? "namespace")
    return id
  }

  admit(e: KubeEvent, nowMs: number): "pass" | "suppress" {
    // A clock that steps back must not reopen closed windows nor break the oldest-first order.
    const now = Math.max(nowMs, this.latestMs)
    this.latestMs = now
    // `/` may occur in a message, so the map key separates values with NUL instead.
    const id = this.idOf(e)
    let w = this.open.get(id)
    if (w !== undefined && now >= w.startMs + this.windowMs) {
      this.open.delete(id)
      this.close(w, "ended")
      w = undefined
    }
    if (w === undefined) {
      if (this.open.size >= this.maxKeys) {
        const oldest = this.open.values().next()
        if (oldest.done !== true) {
          this.open.delete(oldest.value.id)
          this.close(oldest.value, oldest.value.startMs + this.windowMs <= now ? "ended" : "evicted")
        }
      }
      w = { id, startMs: now, passed: 0, suppressed: 0, firstSuppressedMs: 0, lastSuppressedMs: 0, last: undefined }
      this.open.set(id, w)
    }
    if (w.passed < this.limit) {
      w.passed++
      return "pass"
    }
    if (w.suppressed === 0) w.firstSuppressedMs = now
    w.suppressed++
    w.lastSuppressedMs = now
    w.last = e
    return "suppress"
  }

  /** Summaries of the windows that have ended by `nowMs` (and of those closed early), forgotten once returned. */
  due(nowMs: number): Array<Summary> {
    const now = Math.max(nowMs, this.latestMs)
    this.latestMs = now
    for (const [id, w] of this.open) {
      if (w.startMs + this.windowMs > now) break
      this.open.delete(id)
      this.close(w, "ended")
    }
    return this.takeClosed()
  }

  /** Summaries of every window, closed or not, for shutdown; the throttle is empty afterwards. */
  flush(): Array<Summary> {
    for (const w of this.open.values()) this.close(w, "flushed")
    this.open.clear()
    return this.takeClosed()
  }

  /**
   * When `due` next has something to do: the end of the oldest window (which may pass with nothing
   * suppressed, only to be forgotten), or the latest time seen if a summary is already waiting.
   */
  nextDueMs(): number | undefined {
    if (this.closedWindows.length > 0) return this.latestMs
    const oldest = this.open.values().next()
    return oldest.done === true ? undefined : oldest.value.startMs + this.windowMs
  }

  private close(w: Window, closed: Summary["closed"]): void {
    if (w.suppressed === 0 || w.last === undefined) return
    this.closedWindows.push({
      key: w.id.replaceAll("\u0000", "/"),
      event: w.last,
      suppressed: w.suppressed,
      passed: w.passed,
      firstSuppressedMs: w.firstSuppressedMs,
      lastSuppressedMs: w.lastSuppressedMs,
      windowStartMs: w.startMs,
      windowMs: this.windowMs,
      closed
    })
  }

  private takeClosed(): Array<Summary> {
    const out = this.closedWindows
    this.closedWindows = []
    return out
  }
}

/**
 * A bounded map whose entries expire: least recently used out when full, expired entries dropped when read.
 * Synchronous on purpose: a cache hit on the enrichment path is one `Map` lookup, not an Effect.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { readonly value: V; readonly expiresAt: number }>()
  readonly #capacity: number

  constructor(capacity: number) {
    this.#capacity = Math.max(1, Math.floor(capacity))
  }

  get size(): number {
    return this.#entries.size
  }

  /** The value if present and not expired at `now` (ms); marks it as recently used. */
  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    this.#entries.delete(key)
    if (entry.expiresAt <= now) return undefined
    // Re-inserting moves the key to the end of the Map's insertion order: the eviction order is the use order.
    this.#entries.set(key, entry)
    return entry.value
  }

  set(key: string, value: V, expiresAt: number): void {
    this.#entries.delete(key)
    if (this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, { value, expiresAt })
  }

  delete(key: string): void {
    this.#entries.delete(key)
  }
}

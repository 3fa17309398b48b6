import { BoundedMap } from "../domain/BoundedMap.ts"

/**
 * A bounded map whose entries expire: least recently used out when full, expired entries dropped when read.
 * Synchronous on purpose: a cache hit on the enrichment path is one `Map` lookup, not an Effect.
 */
export class TtlCache<V> {
  readonly #entries: BoundedMap<string, { readonly value: V; readonly expiresAt: number }>

  constructor(capacity: number) {
    this.#entries = new BoundedMap(Math.max(1, capacity))
  }

  get size(): number {
    return this.#entries.size
  }

  /** The value if present and not expired at `now` (ms); marks it as recently used. */
  get(key: string, now: number): V | undefined {
    const entry = this.#entries.use(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt > now) return entry.value
    this.#entries.delete(key)
    return undefined
  }

  set(key: string, value: V, expiresAt: number): void {
    this.#entries.set(key, { value, expiresAt })
  }

  clear(): void {
    this.#entries.clear()
  }

  delete(key: string): void {
    this.#entries.delete(key)
  }
}

/**
 * A `Map` of at most `capacity` entries that drops the oldest first. Setting a key (and `use`) re-inserts it,
 * which moves it to the end of the Map's insertion order: the eviction order is the order of last setting or use.
 * Synchronous on purpose: a hit is one `Map` lookup, not an Effect.
 */
export class BoundedMap<K, V> {
  readonly #entries = new Map<K, V>()
  readonly #capacity: number

  constructor(capacity: number) {
    this.#capacity = Math.max(0, Math.floor(capacity))
  }

  get size(): number {
    return this.#entries.size
  }

  /** The value, leaving the eviction order as it is. */
  get(key: K): V | undefined {
    return this.#entries.get(key)
  }

  /** The value, marked as the most recently used. */
  use(key: K): V | undefined {
    const value = this.#entries.get(key)
    if (value !== undefined) this.set(key, value)
    return value
  }

  /** Sets `key` as the newest entry; the oldest go once there are more than `capacity`. */
  set(key: K, value: V): void {
    this.#entries.delete(key)
    this.#entries.set(key, value)
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#capacity) break
      this.#entries.delete(oldest)
    }
  }

  delete(key: K): void {
    this.#entries.delete(key)
  }

  /** The values, oldest first. */
  values(): IterableIterator<V> {
    return this.#entries.values()
  }
}

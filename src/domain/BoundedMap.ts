/**
 * A `Map` of at most `capacity` entries that drops the oldest first. Setting a key (and `use`) re-inserts it,
 * which moves it to the end of the Map's insertion order: the eviction order is the order of last setting or use.
 * Synchronous on purpose: a hit is one `Map` lookup, not an Effect.
 *
 * The oldest key is read from one iterator kept across calls: everything before it has been evicted, deleted or
 * re-inserted further on, and a Map iterator skips what is deleted ahead of it and reaches what is added behind.
 * A new iterator per eviction would start at the table's first slot and step over every deleted slot before the
 * first live one, thousands per call in a full map.
 */
export class BoundedMap<K, V> {
  readonly #entries = new Map<K, V>()
  readonly #capacity: number
  #oldest: Iterator<K> = this.#entries.keys()

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
    while (this.#entries.size > this.#capacity) this.#entries.delete(this.#nextOldest())
  }

  /** The oldest key; the map holds at least one. */
  #nextOldest(): K {
    let next = this.#oldest.next()
    if (next.done === true) {
      // An iterator that reached the end stays done, even once keys are added.
      this.#oldest = this.#entries.keys()
      next = this.#oldest.next()
    }
    return next.value
  }

  /** Empties it; the iterator starts again on the emptied table. */
  clear(): void {
    this.#entries.clear()
    this.#oldest = this.#entries.keys()
  }

  delete(key: K): void {
    this.#entries.delete(key)
  }

  /** The values, oldest first. */
  values(): IterableIterator<V> {
    return this.#entries.values()
  }
}

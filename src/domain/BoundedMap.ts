/**
 * A `Map` of at most `capacity` entries that drops the oldest first. Setting a key (and `use`) re-inserts it,
 * which moves it to the end of the Map's insertion order: the eviction order is the order of last setting or use.
 * Synchronous on purpose: a hit is one `Map` lookup, not an Effect.
 *
 * The oldest key is read from one iterator kept across calls: everything before it has been evicted, deleted or
 * re-inserted further on, and a Map iterator skips what is deleted ahead of it and reaches what is added behind.
 * A new iterator per eviction would start at the table's first slot and step over every deleted slot before the
 * first live one, thousands per call in a full map. It is let go of after as many sets without an eviction as
 * the map holds: V8 moves an iterator to the table its Map was rebuilt into only when the iterator is read, so one
 * kept unread keeps every table the Map has been rebuilt into since (about 60 bytes a set: 15 MB in a run of
 * 500 000 events, through the enrichment cache, which never fills).
 */
export class BoundedMap<K, V> {
  readonly #entries = new Map<K, V>()
  readonly #capacity: number
  /** `undefined` until an eviction needs it, and again after a while without one. */
  #oldest: Iterator<K> | undefined
  #setsSinceEviction = 0

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
    if (this.#entries.size <= this.#capacity) {
      // The tables the Map may have been rebuilt into meanwhile are let go of with the iterator; a new one steps
      // over at most a table's deleted slots, once per as many sets.
      if (++this.#setsSinceEviction > this.#entries.size) this.#oldest = undefined
      return
    }
    this.#setsSinceEviction = 0
    while (this.#entries.size > this.#capacity) this.#entries.delete(this.#nextOldest())
  }

  /** The oldest key; the map holds at least one. */
  #nextOldest(): K {
    let next = this.#oldest?.next()
    if (next === undefined || next.done === true) {
      // None yet, or let go of; or one that reached the end, which stays done even once keys are added.
      this.#oldest = this.#entries.keys()
      next = this.#oldest.next()
    }
    return next.value
  }

  /** Empties it; the next eviction starts a new iterator. */
  clear(): void {
    this.#entries.clear()
    this.#oldest = undefined
  }

  delete(key: K): void {
    this.#entries.delete(key)
  }

  /** The values, oldest first. */
  values(): IterableIterator<V> {
    return this.#entries.values()
  }
}

/**
 * The versioned object store behind the simulated API server: what etcd is to kube-apiserver.
 *
 * - one global, monotonically increasing resourceVersion shared by every resource type;
 * - a change log (ADDED / MODIFIED / DELETED, each with the previous state) from which watches
 *   replay and from which any resourceVersion inside the compaction window can be reconstructed
 *   (consistent paged lists, `resourceVersionMatch=Exact`);
 * - compaction: on demand and/or by size and age, after which older resourceVersions are "too old";
 * - per-resource TTL (events are deleted an hour after their last write, `--event-ttl`).
 *
 * Objects are stored as given and must not be mutated afterwards: every write stores a new object.
 */
import { randomUUID } from "node:crypto"
import { type ResourceType, apiVersionOf, resourceId } from "./resources.ts"
import { type Status, alreadyExists, badRequest, conflict, notFound } from "./status.ts"

export interface OwnerReference {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly uid: string
  readonly controller?: boolean
  readonly blockOwnerDeletion?: boolean
}

export interface ObjectMeta {
  readonly name?: string
  readonly generateName?: string
  readonly namespace?: string
  readonly uid?: string
  readonly resourceVersion?: string
  readonly creationTimestamp?: string
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
  readonly ownerReferences?: ReadonlyArray<OwnerReference>
  readonly [key: string]: unknown
}

/** Any Kubernetes object, as JSON. */
export interface KubeObject {
  readonly apiVersion?: string
  readonly kind?: string
  readonly metadata?: ObjectMeta
  readonly [key: string]: unknown
}

export interface StoredMeta extends ObjectMeta {
  readonly name: string
  readonly uid: string
  readonly resourceVersion: string
  readonly creationTimestamp: string
}

export interface StoredKubeObject extends KubeObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: StoredMeta
}

/** One version of one object, with its serializations cached (a list page is a join of cached strings). */
export class StoredObject {
  readonly resource: ResourceType
  readonly key: string
  readonly rv: number
  readonly object: StoredKubeObject
  /** Milliseconds since the epoch of the write that produced this version. */
  readonly writtenAt: number
  #views: Map<string, string> | undefined

  constructor(resource: ResourceType, key: string, rv: number, object: StoredKubeObject, writtenAt: number) {
    this.resource = resource
    this.key = key
    this.rv = rv
    this.object = object
    this.writtenAt = writtenAt
  }

  get namespace(): string | undefined {
    return this.object.metadata.namespace
  }

  get name(): string {
    return this.object.metadata.name
  }

  /** JSON text of this version rendered through `view` (memoized per view name). */
  serialized(view: string, render: (o: StoredKubeObject) => unknown): string {
    let views = this.#views
    if (views === undefined) {
      views = new Map()
      this.#views = views
    }
    let text = views.get(view)
    if (text === undefined) {
      text = JSON.stringify(render(this.object))
      views.set(view, text)
    }
    return text
  }
}

export type ChangeType = "ADDED" | "MODIFIED" | "DELETED"

export interface StoreChange {
  readonly rv: number
  readonly type: ChangeType
  readonly resource: ResourceType
  readonly key: string
  /** The new state; for DELETED the last state, carrying the deletion's resourceVersion (as etcd watches do). */
  readonly object: StoredObject
  /** The state before this change (undefined for ADDED). */
  readonly prev: StoredObject | undefined
  readonly at: number
}

/** A write the store refused, with the Status the API server answers with. */
export class StoreError extends Error {
  readonly status: Status
  constructor(status: Status) {
    super(status.message)
    this.name = "StoreError"
    this.status = status
  }
}

export interface CompactionPolicy {
  /** Keep at most this many changes in the log (older ones are compacted away). */
  readonly maxChanges?: number
  /** Keep changes at most this old (etcd's default is 5 minutes). */
  readonly maxAgeMs?: number
}

export interface ListQuery {
  readonly namespace?: string
  /** Read the state as of this resourceVersion (must be inside the compaction window); default: the latest. */
  readonly atRv?: number
  /** Inclusive start key (from a continue token). */
  readonly startKey?: string
  readonly limit?: number
  readonly filter?: (o: StoredObject) => boolean
}

export interface ListResult {
  readonly rv: number
  readonly items: ReadonlyArray<StoredObject>
  /** Start key of the next page, when there may be more. */
  readonly nextKey?: string
  /** Objects after this page, when known exactly (no filter, latest state). */
  readonly remaining?: number
}

export interface WriteOptions {
  /** Keep `metadata.uid` from the input instead of generating one. */
  readonly keepUid?: boolean
  /** Keep `metadata.creationTimestamp` from the input. */
  readonly keepCreationTimestamp?: boolean
}

export interface StoreOptions {
  readonly compaction?: CompactionPolicy
  /** Wall clock used for timestamps and TTLs (tests may pin it). */
  readonly now?: () => number
}

export const objectKey = (resource: ResourceType, namespace: string | undefined, name: string): string =>
  resource.namespaced ? `${namespace ?? ""}/${name}` : name

/** First index i with sorted[i] >= key. */
const lowerBound = (sorted: ReadonlyArray<string>, key: string): number => {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const v = sorted[mid]
    if (v !== undefined && v < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

const mergeSorted = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): string[] => {
  const out = new Array<string>(a.length + b.length)
  let i = 0
  let j = 0
  let k = 0
  while (i < a.length && j < b.length) {
    const x = a[i] as string
    const y = b[j] as string
    if (x <= y) {
      out[k++] = x
      i++
    } else {
      out[k++] = y
      j++
    }
  }
  while (i < a.length) out[k++] = a[i++] as string
  while (j < b.length) out[k++] = b[j++] as string
  return out
}

/** The objects of one resource type, with a lazily maintained key order (etcd returns ranges in key order). */
class Keyspace {
  readonly byKey = new Map<string, StoredObject>()
  #sorted: string[] = []
  readonly #pendingAdds = new Set<string>()
  readonly #pendingDeletes = new Set<string>()

  put(o: StoredObject): void {
    if (!this.byKey.has(o.key)) {
      if (this.#pendingDeletes.has(o.key)) this.#pendingDeletes.delete(o.key)
      else this.#pendingAdds.add(o.key)
    }
    this.byKey.set(o.key, o)
  }

  remove(key: string): void {
    if (!this.byKey.delete(key)) return
    if (this.#pendingAdds.has(key)) this.#pendingAdds.delete(key)
    else this.#pendingDeletes.add(key)
  }

  sortedKeys(): ReadonlyArray<string> {
    if (this.#pendingDeletes.size > 0) {
      const dels = this.#pendingDeletes
      if (dels.size <= 8) {
        for (const k of dels) {
          const i = lowerBound(this.#sorted, k)
          if (this.#sorted[i] === k) this.#sorted.splice(i, 1)
        }
      } else {
        this.#sorted = this.#sorted.filter((k) => !dels.has(k))
      }
      dels.clear()
    }
    if (this.#pendingAdds.size > 0) {
      const adds = this.#pendingAdds
      if (adds.size <= 8) {
        for (const k of adds) this.#sorted.splice(lowerBound(this.#sorted, k), 0, k)
      } else {
        this.#sorted = mergeSorted(this.#sorted, [...adds].sort())
      }
      adds.clear()
    }
    return this.#sorted
  }
}

interface Expiry {
  readonly at: number
  readonly resource: ResourceType
  readonly key: string
  readonly rv: number
}

/** Binary min-heap on `at`. */
class ExpiryHeap {
  readonly #h: Expiry[] = []
  get size(): number {
    return this.#h.length
  }
  peek(): Expiry | undefined {
    return this.#h[0]
  }
  push(e: Expiry): void {
    const h = this.#h
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = h[p] as Expiry
      if (parent.at <= e.at) break
      h[i] = parent
      i = p
    }
    h[i] = e
  }
  pop(): Expiry | undefined {
    const h = this.#h
    const top = h[0]
    const last = h.pop()
    if (top === undefined || last === undefined || h.length === 0) return top
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      let mv = last
      const lv = h[l]
      const rv = h[r]
      if (lv !== undefined && lv.at < mv.at) {
        m = l
        mv = lv
      }
      if (rv !== undefined && rv.at < mv.at) {
        m = r
        mv = rv
      }
      if (m === i) break
      h[i] = mv
      i = m
    }
    h[i] = last
    return top
  }
  clear(): void {
    this.#h.length = 0
  }
}

const isoSeconds = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z")

const randomSuffix = (): string => {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789"
  let s = ""
  for (let i = 0; i < 5; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)] ?? "x"
  return s
}

export class VersionedStore {
  #rv = 0
  #compactedRv = 0
  readonly #keyspaces = new Map<string, Keyspace>()
  #log: StoreChange[] = []
  #logHead = 0
  #policy: CompactionPolicy
  readonly #subscribers = new Set<(c: StoreChange) => void>()
  readonly #ttls = new Map<string, number>()
  readonly #expiries = new ExpiryHeap()
  #expiryTimer: NodeJS.Timeout | undefined
  #expiryTimerAt = Number.POSITIVE_INFINITY
  #closed = false
  readonly now: () => number

  constructor(options: StoreOptions = {}) {
    this.#policy = options.compaction ?? {}
    this.now = options.now ?? Date.now
  }

  /** The latest resourceVersion (etcd's current revision). */
  get resourceVersion(): number {
    return this.#rv
  }

  /** Changes at or below this resourceVersion are gone; watching or reading from older RVs is "too old". */
  get compactedResourceVersion(): number {
    this.#enforcePolicy()
    return this.#compactedRv
  }

  /** Number of changes currently held in the log. */
  get logSize(): number {
    return this.#log.length - this.#logHead
  }

  setCompactionPolicy(policy: CompactionPolicy): void {
    this.#policy = policy
    this.#enforcePolicy()
  }

  /** Drops every change at or below `rv` (default: all of them, like `etcdctl compact $(current)`). */
  compact(rv: number = this.#rv): void {
    const target = Math.min(rv, this.#rv)
    while (this.#logHead < this.#log.length) {
      const c = this.#log[this.#logHead]
      if (c === undefined || c.rv > target) break
      this.#logHead++
    }
    if (target > this.#compactedRv) this.#compactedRv = target
    this.#shrinkLog()
  }

  /** Deletes objects of `resource` this long after their last write (events: `--event-ttl`). */
  setTtl(resource: ResourceType, ttlMs: number | undefined): void {
    if (ttlMs === undefined) this.#ttls.delete(resourceId(resource))
    else this.#ttls.set(resourceId(resource), ttlMs)
  }

  subscribe(listener: (c: StoreChange) => void): () => void {
    this.#subscribers.add(listener)
    return () => {
      this.#subscribers.delete(listener)
    }
  }

  get(resource: ResourceType, namespace: string | undefined, name: string): StoredObject | undefined {
    return this.#keyspace(resource).byKey.get(objectKey(resource, namespace, name))
  }

  count(resource: ResourceType): number {
    return this.#keyspace(resource).byKey.size
  }

  /** Every current object of `resource` (unordered). */
  all(resource: ResourceType): IterableIterator<StoredObject> {
    return this.#keyspace(resource).byKey.values()
  }

  create(resource: ResourceType, input: KubeObject, options: WriteOptions = {}): StoredObject {
    const meta = input.metadata ?? {}
    let name = meta.name ?? ""
    if (name === "" && meta.generateName !== undefined && meta.generateName !== "") {
      const ks = this.#keyspace(resource)
      do name = `${meta.generateName}${randomSuffix()}`
      while (ks.byKey.has(objectKey(resource, meta.namespace ?? "default", name)))
    }
    if (name === "") {
      throw new StoreError(badRequest("name or generateName is required"))
    }
    const namespace = resource.namespaced ? (meta.namespace ?? "default") : undefined
    const key = objectKey(resource, namespace, name)
    const ks = this.#keyspace(resource)
    if (ks.byKey.has(key)) throw new StoreError(alreadyExists(resource.plural, resource.group, name))
    const now = this.now()
    const rv = ++this.#rv
    const { namespace: _ns, resourceVersion: _rv, ...restMeta } = meta
    const metadata: StoredMeta = {
      ...restMeta,
      name,
      ...(namespace === undefined ? {} : { namespace }),
      uid: options.keepUid === true && meta.uid !== undefined && meta.uid !== "" ? meta.uid : randomUUID(),
      resourceVersion: String(rv),
      creationTimestamp:
        options.keepCreationTimestamp === true && meta.creationTimestamp !== undefined
          ? meta.creationTimestamp
          : isoSeconds(now)
    }
    const object: StoredKubeObject = { ...input, apiVersion: apiVersionOf(resource), kind: resource.kind, metadata }
    const stored = new StoredObject(resource, key, rv, object, now)
    ks.put(stored)
    this.#append({ rv, type: "ADDED", resource, key, object: stored, prev: undefined, at: now })
    return stored
  }

  /**
   * Replaces an object. When `input.metadata.resourceVersion` is set and is not the current one the write is
   * refused with 409 Conflict (optimistic concurrency); an empty one means an unconditional update.
   * uid and creationTimestamp are kept from the stored object.
   */
  update(resource: ResourceType, input: KubeObject): StoredObject {
    const meta = input.metadata ?? {}
    const name = meta.name ?? ""
    const namespace = resource.namespaced ? (meta.namespace ?? "default") : undefined
    const key = objectKey(resource, namespace, name)
    const ks = this.#keyspace(resource)
    const prev = ks.byKey.get(key)
    if (prev === undefined) throw new StoreError(notFound(resource.plural, resource.group, name))
    if (
      meta.resourceVersion !== undefined &&
      meta.resourceVersion !== "" &&
      meta.resourceVersion !== prev.object.metadata.resourceVersion
    ) {
      throw new StoreError(conflict(resource.plural, resource.group, name))
    }
    if (meta.uid !== undefined && meta.uid !== "" && meta.uid !== prev.object.metadata.uid) {
      throw new StoreError(conflict(resource.plural, resource.group, name))
    }
    const now = this.now()
    const rv = ++this.#rv
    const metadata: StoredMeta = {
      ...meta,
      name,
      ...(namespace === undefined ? {} : { namespace }),
      uid: prev.object.metadata.uid,
      resourceVersion: String(rv),
      creationTimestamp: prev.object.metadata.creationTimestamp
    }
    const object: StoredKubeObject = { ...input, apiVersion: apiVersionOf(resource), kind: resource.kind, metadata }
    const stored = new StoredObject(resource, key, rv, object, now)
    ks.put(stored)
    this.#append({ rv, type: "MODIFIED", resource, key, object: stored, prev, at: now })
    return stored
  }

  /** Applies `mutate` to the current object and stores the result (no conflict check). */
  modify(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    mutate: (o: StoredKubeObject) => KubeObject
  ): StoredObject {
    const current = this.get(resource, namespace, name)
    if (current === undefined) throw new StoreError(notFound(resource.plural, resource.group, name))
    const next = mutate(current.object)
    const { resourceVersion: _rv, ...meta } = next.metadata ?? {}
    return this.update(resource, {
      ...next,
      metadata: { ...meta, name, ...(namespace === undefined ? {} : { namespace }) }
    })
  }

  /** Deletes an object; returns its last state carrying the deletion's resourceVersion. */
  delete(
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    precondition?: { readonly resourceVersion?: string; readonly uid?: string }
  ): StoredObject {
    const key = objectKey(resource, resource.namespaced ? (namespace ?? "default") : undefined, name)
    const ks = this.#keyspace(resource)
    const prev = ks.byKey.get(key)
    if (prev === undefined) throw new StoreError(notFound(resource.plural, resource.group, name))
    if (
      (precondition?.resourceVersion !== undefined &&
        precondition.resourceVersion !== prev.object.metadata.resourceVersion) ||
      (precondition?.uid !== undefined && precondition.uid !== prev.object.metadata.uid)
    ) {
      throw new StoreError(conflict(resource.plural, resource.group, name))
    }
    const now = this.now()
    const rv = ++this.#rv
    const object: StoredKubeObject = {
      ...prev.object,
      metadata: { ...prev.object.metadata, resourceVersion: String(rv) }
    }
    const tombstone = new StoredObject(resource, key, rv, object, now)
    ks.remove(key)
    this.#append({ rv, type: "DELETED", resource, key, object: tombstone, prev, at: now })
    return tombstone
  }

  /**
   * Changes after `rv` (exclusive), oldest first, or "expired" when some of them were compacted away.
   * `rv` greater than the current one yields nothing (the caller waits for changes).
   */
  changesAfter(rv: number): ReadonlyArray<StoreChange> | "expired" {
    this.#enforcePolicy()
    if (rv < this.#compactedRv) return "expired"
    const start = this.#logIndexAfter(rv)
    return this.#log.slice(start)
  }

  /**
   * One page of `resource` in key order, as of `atRv` (default latest). Throws no errors: the caller checks
   * `atRv` against `compactedResourceVersion` / `resourceVersion` first.
   */
  list(resource: ResourceType, q: ListQuery = {}): ListResult {
    const ks = this.#keyspace(resource)
    const sorted = ks.sortedKeys()
    const prefix = resource.namespaced && q.namespace !== undefined ? `${q.namespace}/` : ""
    const from = q.startKey !== undefined && q.startKey > prefix ? q.startKey : prefix
    const lo = lowerBound(sorted, from)
    // "/" + 1 === "0": the first key after every key of this namespace.
    const hi = prefix === "" ? sorted.length : lowerBound(sorted, `${q.namespace}0`)
    const limit = q.limit !== undefined && q.limit > 0 ? q.limit : Number.POSITIVE_INFINITY
    const filter = q.filter
    const atRv = q.atRv ?? this.#rv
    const items: StoredObject[] = []

    if (atRv >= this.#rv) {
      for (let i = lo; i < hi; i++) {
        const key = sorted[i] as string
        const o = ks.byKey.get(key)
        if (o === undefined || (filter !== undefined && !filter(o))) continue
        items.push(o)
        if (items.length >= limit) {
          if (i + 1 < hi) {
            return {
              rv: this.#rv,
              items,
              nextKey: `${key}\u0000`,
              ...(filter === undefined ? { remaining: hi - i - 1 } : {})
            }
          }
          break
        }
      }
      return { rv: this.#rv, items }
    }

    // Reconstruct the state at atRv: the first change of each key after atRv holds the key's state at atRv.
    const rid = resourceId(resource)
    const overlay = new Map<string, StoredObject | undefined>()
    for (let i = this.#logIndexAfter(atRv); i < this.#log.length; i++) {
      const c = this.#log[i] as StoreChange
      if (resourceId(c.resource) === rid && !overlay.has(c.key)) overlay.set(c.key, c.prev)
    }
    const inRange = (k: string) => k >= from && (prefix === "" || k.startsWith(prefix))
    const extra = [...overlay.keys()].filter((k) => !ks.byKey.has(k) && inRange(k)).sort()
    let i = lo
    let j = 0
    while (i < hi || j < extra.length) {
      const a = i < hi ? (sorted[i] as string) : undefined
      const b = j < extra.length ? (extra[j] as string) : undefined
      let key: string
      if (b === undefined || (a !== undefined && a < b)) {
        key = a as string
        i++
      } else {
        key = b
        j++
      }
      const o = overlay.has(key) ? overlay.get(key) : ks.byKey.get(key)
      if (o === undefined || (filter !== undefined && !filter(o))) continue
      items.push(o)
      if (items.length >= limit) {
        if (i < hi || j < extra.length) return { rv: atRv, items, nextKey: `${key}\u0000` }
        break
      }
    }
    return { rv: atRv, items }
  }

  /** Stops the TTL timer and forgets subscribers. */
  close(): void {
    this.#closed = true
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer)
    this.#expiryTimer = undefined
    this.#expiries.clear()
    this.#subscribers.clear()
  }

  #keyspace(resource: ResourceType): Keyspace {
    const id = resourceId(resource)
    let ks = this.#keyspaces.get(id)
    if (ks === undefined) {
      ks = new Keyspace()
      this.#keyspaces.set(id, ks)
    }
    return ks
  }

  /** Index of the first log entry with rv > `rv`. */
  #logIndexAfter(rv: number): number {
    let lo = this.#logHead
    let hi = this.#log.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.#log[mid] as StoreChange).rv <= rv) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  #append(c: StoreChange): void {
    this.#log.push(c)
    this.#enforcePolicy()
    if (c.type !== "DELETED") this.#scheduleExpiry(c)
    for (const s of this.#subscribers) {
      try {
        s(c)
      } catch (err) {
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }

  #enforcePolicy(): void {
    const { maxChanges, maxAgeMs } = this.#policy
    let target = -1
    if (maxChanges !== undefined && this.#log.length - this.#logHead > maxChanges) {
      const drop = this.#log.length - this.#logHead - maxChanges
      target = (this.#log[this.#logHead + drop - 1] as StoreChange).rv
    }
    if (maxAgeMs !== undefined) {
      const cutoff = this.now() - maxAgeMs
      let i = this.#logHead
      while (i < this.#log.length && (this.#log[i] as StoreChange).at < cutoff) i++
      if (i > this.#logHead) target = Math.max(target, (this.#log[i - 1] as StoreChange).rv)
    }
    if (target >= 0) this.compact(target)
  }

  #shrinkLog(): void {
    if (this.#logHead > 4096 && this.#logHead * 2 > this.#log.length) {
      this.#log = this.#log.slice(this.#logHead)
      this.#logHead = 0
    }
  }

  #scheduleExpiry(c: StoreChange): void {
    const ttl = this.#ttls.get(resourceId(c.resource))
    if (ttl === undefined || this.#closed) return
    this.#expiries.push({ at: c.at + ttl, resource: c.resource, key: c.key, rv: c.rv })
    this.#armExpiryTimer()
  }

  #armExpiryTimer(): void {
    const next = this.#expiries.peek()
    if (next === undefined || this.#closed) return
    if (this.#expiryTimer !== undefined && this.#expiryTimerAt <= next.at) return
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer)
    this.#expiryTimerAt = next.at
    this.#expiryTimer = setTimeout(() => this.#expire(), Math.max(0, next.at - this.now()))
    this.#expiryTimer.unref()
  }

  #expire(): void {
    this.#expiryTimer = undefined
    this.#expiryTimerAt = Number.POSITIVE_INFINITY
    const now = this.now()
    for (let e = this.#expiries.peek(); e !== undefined && e.at <= now; e = this.#expiries.peek()) {
      this.#expiries.pop()
      const current = this.#keyspace(e.resource).byKey.get(e.key)
      // A later write re-armed the TTL with its own entry.
      if (current === undefined || current.rv !== e.rv) continue
      this.delete(e.resource, current.namespace, current.name)
    }
    this.#armExpiryTimer()
  }
}

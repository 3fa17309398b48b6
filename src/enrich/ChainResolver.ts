/**
 * The synchronous half of the enricher: the cache of objects read, and the walk from an event to its
 * enrichment through that cache. A walk either completes from what is known or names the objects it still
 * needs; the Enricher fetches those and walks again. Nothing here waits, so a chunk whose objects are all
 * cached is enriched in one plain loop.
 */
import type { KubeEvent } from "../domain/KubeEvent.ts"
import { LOOKUP_RESULTS, type LookupResult } from "./EnrichmentMetrics.ts"
import type { ObjectKey } from "./OwnerLookup.ts"
import { TtlCache } from "./TtlCache.ts"
import {
  controllerWorkload,
  type DeriveSettings,
  deriveEnrichment,
  EMPTY_ENRICHMENT,
  type Enrichment,
  sameObject,
  type Workload,
  WORKLOAD_LIST,
  workloadOf,
  type WorkloadObject
} from "./workloads.ts"

/** An object as last read, with the enrichment last derived from it (valid while its controller entry is the same). */
export interface FoundEntry {
  readonly tag: "found"
  readonly object: WorkloadObject
  readonly fetchedAt: number
  /** Read again because the cached answer did not fit an event; not read again for that reason before expiry. */
  readonly rechecked: boolean
  memo: { readonly controllerEntry: Entry | undefined; readonly enrichment: Enrichment } | undefined
}
interface NotFoundEntry {
  readonly tag: "not_found"
  readonly fetchedAt: number
  readonly rechecked: boolean
}
export type Entry = FoundEntry | NotFoundEntry | { readonly tag: "forbidden" } | { readonly tag: "error" }

export const FORBIDDEN: Entry = { tag: "forbidden" }
const FAILED: Entry = { tag: "error" }

/**
 * A 404 may be a pod that is about to be created again under the same name (StatefulSet pods are): after this
 * long, an event about that name reads it once more rather than trusting the 404 until it expires.
 */
const RECHECK_NOT_FOUND_AFTER_MS = 1000
/** A pod not yet scheduled has no node; its node is about to be known, so its entry lives this long at most. */
const UNSCHEDULED_POD_TTL_MS = 5000
/**
 * A failed read is not repeated for this long (at most the cache TTL): an unreachable API must not stall every
 * chunk.
 */
const ERROR_TTL_MS = 5000

export interface Need {
  readonly key: string
  readonly object: ObjectKey
  /** Read even though the cache has an entry, which did not fit the event. */
  readonly recheck: boolean
}

const RESULT_COUNT = LOOKUP_RESULTS.length
const resultIndex = (r: LookupResult) => LOOKUP_RESULTS.indexOf(r)
const HIT = resultIndex("hit")
const MISS = resultIndex("miss")
const NOT_FOUND = resultIndex("not_found")
const DENIED = resultIndex("forbidden")
const ERROR = resultIndex("error")
const TIMEOUT = resultIndex("timeout")

/** One chunk's walk: its clock, what it read itself, what it still needs, and its lookup counts. */
export class Pass {
  now: number
  /** Final walks count what is still unknown as a timeout instead of asking for it. */
  final = false
  /** The answers this chunk waited for, by key (only once a lookup went to the API). */
  local: Map<string, Entry> | undefined = undefined
  readonly needs = new Map<string, Need>()
  /** Lookups by workload index × result index. */
  readonly counts = new Float64Array(WORKLOAD_LIST.length * RESULT_COUNT)

  constructor(now: number) {
    this.now = now
  }

  need(key: string, object: ObjectKey, recheck: boolean): void {
    if (!this.needs.has(key)) this.needs.set(key, { key, object, recheck })
  }

  /** Calls `f` for each (kind, result) counted, with the count. */
  forEachCount(f: (kind: string, result: LookupResult, n: number) => void): void {
    for (let i = 0; i < this.counts.length; i++) {
      const n = this.counts[i] ?? 0
      const w = WORKLOAD_LIST[Math.floor(i / RESULT_COUNT)]
      const r = LOOKUP_RESULTS[i % RESULT_COUNT]
      if (n > 0 && w !== undefined && r !== undefined) f(w.kind, r, n)
    }
  }
}

export interface ResolverSettings extends DeriveSettings {
  readonly cacheSize: number
  readonly cacheTtlMs: number
}

const keyOf = (w: Workload, namespace: string, name: string): string => `${w.resource}/${namespace}/${name}`

/**
 * Objects kept current by list+watch (`OwnerCaches`), and those deleted a moment before `now` (ms): asked first,
 * before the cache of GET answers.
 */
export interface WatchedObjects {
  readonly get: (
    w: Workload,
    namespace: string,
    name: string,
    uid: string | undefined,
    now: number
  ) => FoundEntry | undefined
}

export class ChainResolver {
  readonly #settings: ResolverSettings
  readonly #watched: WatchedObjects | undefined
  readonly #cache: TtlCache<Entry>
  /** `resource/namespace` → until when GETs there are known to be forbidden. */
  readonly #forbidden = new Map<string, number>()

  constructor(settings: ResolverSettings, watched?: WatchedObjects) {
    this.#settings = settings
    this.#watched = watched
    this.#cache = new TtlCache(settings.cacheSize)
  }

  /** Objects and answers cached from GETs (the list+watch caches not included: they are the cluster's state). */
  get cached(): number {
    return this.#cache.size
  }

  /** Drops what GETs cached: it is read again when needed. */
  dropCached(): void {
    this.#cache.clear()
  }

  /**
   * The enrichment of `e`, or `undefined` when the pass is not final and objects are missing (added to
   * `pass.needs`).
   */
  resolve(e: KubeEvent, pass: Pass): Enrichment | undefined {
    const ref = e.regarding
    const w = workloadOf(ref.kind, ref.apiVersion)
    const namespace = ref.namespace ?? e.namespace
    if (w === undefined || ref.name === undefined || namespace === undefined) return EMPTY_ENRICHMENT
    const key = keyOf(w, namespace, ref.name)
    const entry = this.#look(key, w, namespace, ref.name, ref.uid, pass)
    if (entry === undefined && !pass.final) return undefined

    const found = entry?.tag === "found" && sameObject(entry.object, ref.uid) ? entry : undefined
    const controllerRef = found?.object.controller
    const controller = found === undefined ? undefined : controllerWorkload(found.object)
    let controllerKey: string | undefined
    let controllerEntry: Entry | undefined
    if (controller?.parent !== undefined && controllerRef !== undefined) {
      controllerKey = keyOf(controller, namespace, controllerRef.name)
      controllerEntry = this.#look(controllerKey, controller, namespace, controllerRef.name, controllerRef.uid, pass)
      if (controllerEntry === undefined && !pass.final) return undefined
    }

    this.#count(pass, w, key, entry, ref.uid)
    if (controller !== undefined && controllerKey !== undefined)
      this.#count(pass, controller, controllerKey, controllerEntry, controllerRef?.uid)
    if (found === undefined) return EMPTY_ENRICHMENT
    const memo = found.memo
    if (memo !== undefined && memo.controllerEntry === controllerEntry) return memo.enrichment
    const controllerObject =
      controllerEntry?.tag === "found" && sameObject(controllerEntry.object, controllerRef?.uid)
        ? controllerEntry.object
        : undefined
    const enrichment = deriveEnrichment(w, found.object, controller, controllerObject, this.#settings)
    found.memo = { controllerEntry, enrichment }
    return enrichment
  }

  #look(
    key: string,
    w: Workload,
    namespace: string,
    name: string,
    uid: string | undefined,
    pass: Pass
  ): Entry | undefined {
    // Not watched, not there (newer than the cache, or gone too long ago), or another object now has the name: a
    // GET says.
    const watched = this.#watched?.get(w, namespace, name, uid, pass.now)
    if (watched !== undefined && sameObject(watched.object, uid)) return watched
    const local = pass.local?.get(key)
    if (local !== undefined) return local
    const cached = this.#cache.get(key, pass.now)
    if (cached !== undefined) {
      if (!pass.final && this.#wantsRecheck(cached, uid, pass.now)) {
        pass.need(key, { workload: w, namespace, name }, true)
        return undefined
      }
      return cached
    }
    if (this.isForbidden(w, namespace, pass.now)) return FORBIDDEN
    if (!pass.final) pass.need(key, { workload: w, namespace, name }, false)
    return undefined
  }

  /** A cached answer that does not fit: another object now has the name, or a 404 that may be out of date. */
  #wantsRecheck(entry: Entry, uid: string | undefined, now: number): boolean {
    if (entry.tag === "found") return !entry.rechecked && !sameObject(entry.object, uid)
    if (entry.tag === "not_found") return !entry.rechecked && now - entry.fetchedAt >= RECHECK_NOT_FOUND_AFTER_MS
    return false
  }

  #count(pass: Pass, w: Workload, key: string, entry: Entry | undefined, uid: string | undefined): void {
    let result: number
    if (entry === undefined) result = TIMEOUT
    else if (entry.tag === "found")
      result = !sameObject(entry.object, uid) ? NOT_FOUND : pass.local?.get(key) === entry ? MISS : HIT
    else if (entry.tag === "not_found") result = NOT_FOUND
    else if (entry.tag === "forbidden") result = DENIED
    else result = ERROR
    const i = w.index * RESULT_COUNT + result
    pass.counts[i] = (pass.counts[i] ?? 0) + 1
  }

  isForbidden(w: Workload, namespace: string, now: number): boolean {
    const scope = `${w.resource}/${namespace}`
    const until = this.#forbidden.get(scope)
    if (until === undefined) return false
    if (until > now) return true
    this.#forbidden.delete(scope)
    return false
  }

  storeFound(need: Need, object: WorkloadObject, now: number): Entry {
    const entry: FoundEntry = { tag: "found", object, fetchedAt: now, rechecked: need.recheck, memo: undefined }
    const unscheduled = need.object.workload.kind === "Pod" && object.nodeName === undefined
    const ttl = unscheduled ? Math.min(this.#settings.cacheTtlMs, UNSCHEDULED_POD_TTL_MS) : this.#settings.cacheTtlMs
    this.#cache.set(need.key, entry, now + ttl)
    return entry
  }

  storeNotFound(need: Need, now: number): Entry {
    const entry: NotFoundEntry = { tag: "not_found", fetchedAt: now, rechecked: need.recheck }
    this.#cache.set(need.key, entry, now + this.#settings.cacheTtlMs)
    return entry
  }

  /** GETs of that resource in that namespace are not tried again before the cache TTL. */
  storeForbidden(need: Need, now: number): Entry {
    this.#forbidden.set(`${need.object.workload.resource}/${need.object.namespace}`, now + this.#settings.cacheTtlMs)
    return FORBIDDEN
  }

  /** A failed read is remembered briefly (replacing an answer that was being checked again: it did not fit). */
  storeError(need: Need, now: number): Entry {
    this.#cache.set(need.key, FAILED, now + Math.min(this.#settings.cacheTtlMs, ERROR_TTL_MS))
    return FAILED
  }
}

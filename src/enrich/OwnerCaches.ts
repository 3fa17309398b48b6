/**
 * List+watch caches of the kinds every owner chain goes through (pods, ReplicaSets, Jobs), kept the way the
 * Collector's k8sattributes processor keeps them: each collection is followed by `listWatch` (listed in pages,
 * then watched from the list's resourceVersion, listed again on 410, failures retried with backoff), and only the
 * few fields enrichment uses are held per object. ReplicaSets and Jobs are asked for as metadata only
 * (`PartialObjectMetadata`: owner references, labels, annotations); pods in full, for `spec.nodeName`, decoded to
 * the same few fields.
 *
 * A deleted object is kept for `DELETED_GRACE` (the latest `keepDeleted` deletions), as k8sattributes keeps a
 * deleted pod: the events about a pod often come just after it is gone (the kubelet's Killing, the taint
 * manager's TaintManagerEviction, the last BackOff of a pod being replaced). Deleted is what a watch says is
 * deleted, and what a new list (after a 410) no longer has, from that list on.
 *
 * A collection that may be listed but not watched (HTTP 403 on the watch) is listed again every `relistEvery`
 * while the watch is refused; the watch is tried again meanwhile like every failed one, so that it resumes as soon
 * as it is allowed.
 *
 * `ready` completes once every collection has been listed (or refused with 401, 403 or 404, or after
 * `WARM_UP_LIMIT`), so that the first events released find their objects. Failures are said once.
 */
import { Clock, Deferred, Duration, Effect, Exit, FiberId, type Scope, Stream } from "effect"
import type { KubeApiError } from "../kube/KubeApiError.ts"
import type { Collection, KubeApiShape } from "../kube/KubeApi.ts"
import { listWatch, type ListWatchOptions, type Observation } from "../kube/listWatch.ts"
import { MalformedLine, type WatchLine } from "../kube/watchStream.ts"
import type { FoundEntry } from "./ChainResolver.ts"
import { decodeNamedObject, type NamedObject } from "./OwnerLookup.ts"
import { collectionPath, sameObject, WATCHED_WORKLOADS, type Workload } from "./workloads.ts"
import { ReportOnce } from "../observability/reportOnce.ts"
import { rbacRule } from "../domain/apiCalls.ts"
import { BoundedMap } from "../domain/BoundedMap.ts"

export interface ListWatchSettings extends ListWatchOptions {
  /** Namespaces to cache (one list+watch each per kind); empty: all namespaces, one cluster-wide list+watch. */
  readonly namespaces: ReadonlyArray<string>
}

/** The most the first events wait for the caches to be listed; then they go out with per-object GETs. */
export const WARM_UP_LIMIT = Duration.seconds(30)

/**
 * How long a deleted object is kept for the events about it that come after it is gone: the Collector's
 * k8sattributes processor keeps a deleted pod as long (its `podDeleteGracePeriod`).
 */
export const DELETED_GRACE = Duration.minutes(2)

/** However short `relistEvery` is, a collection whose watch is refused is not listed more often than this. */
const MIN_RELIST_INTERVAL = Duration.seconds(1)

/** What the caches keep besides the objects that exist, and how they make up for a watch that is refused. */
export interface OwnerCacheOptions {
  /** The most deleted objects kept (each for `DELETED_GRACE`): the latest deletions. */
  readonly keepDeleted: number
  /** While the watch of a collection is refused (HTTP 403), it is listed again this often (1 s at least). */
  readonly relistEvery: Duration.Duration
}

const METADATA_ONLY = {
  list: "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
  watch: "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
}

/** Only pods are asked for whole (their node is in `spec`); owners' metadata says all enrichment uses. */
const metadataOnly = (w: Workload) => w.kind !== "Pod"

const entryOf = (o: NamedObject): FoundEntry => ({
  tag: "found",
  object: o.object,
  fetchedAt: 0,
  rechecked: false,
  memo: undefined
})

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`

/** What a list or a watch could not use, said once when it is complete: the count and the first. */
class Skipped {
  #count = 0
  #first = ""

  add(detail: string): void {
    if (this.#count++ === 0) this.#first = detail
  }

  report(where: string): Effect.Effect<void> {
    return this.#count === 0
      ? Effect.void
      : Effect.logWarning(
          `enrichment: ${where} had ${this.#count} entries that are not objects, skipped; the first: ${this.#first}`
        )
  }
}

/** Failures that will not go away by themselves: the first events do not wait for that collection. */
const refused = (e: KubeApiError) => e.reason === "Unauthorized" || e.reason === "Forbidden" || e.reason === "NotFound"

/** A watch refused by RBAC: the list may well be allowed, and is the only way to learn what changed. */
const watchRefused = (o: Observation) =>
  o._tag === "Failed" && o.error.verb === "watch" && o.error.reason === "Forbidden"

const failureText = (e: KubeApiError, c: CachedCollection): string => {
  const w = c.workload
  const what = `${e.verb} ${w.resource} ${c.where} for enrichment`
  if (e.reason === "Forbidden") {
    const binding =
      c.namespace === undefined ? "a ClusterRole and ClusterRoleBinding" : `a Role and RoleBinding in ${c.namespace}`
    const meanwhile =
      e.verb === "watch"
        ? `Until then they are listed again every ${Duration.format(c.relistEvery)} and what is newer is read with ` +
          "a GET. "
        : "Until then each object is read with a GET. "
    return (
      `not allowed to ${what} (HTTP 403): give the collector ` +
      `${rbacRule({ group: w.group, resource: w.resource, verbs: ["list", "watch"] })} in ${binding}. ` +
      meanwhile +
      `The API server said: ${e.explanation}`
    )
  }
  return `could not ${what}: ${e.message}; retrying, and reading each object with a GET meanwhile`
}

interface Deleted {
  readonly entry: FoundEntry
  /** Until when (ms) it is kept. */
  readonly until: number
}

/**
 * Objects deleted less than `DELETED_GRACE` ago, by `resource/namespace/name` (a later deletion under the same
 * name replaces an earlier one): at most `capacity`, the oldest deletion out first; one past its time is dropped
 * when asked for.
 */
class RecentlyDeleted {
  readonly #entries: BoundedMap<string, Deleted>
  readonly #graceMs = Duration.toMillis(DELETED_GRACE)

  constructor(capacity: number) {
    this.#entries = new BoundedMap(capacity)
  }

  add(key: string, entry: FoundEntry, now: number): void {
    this.#entries.set(key, { entry, until: now + this.#graceMs })
  }

  /** The object deleted under `key` less than `DELETED_GRACE` before `now`, when it is the one `uid` names. */
  get(key: string, uid: string | undefined, now: number): FoundEntry | undefined {
    const deleted = this.#entries.get(key)
    if (deleted === undefined) return undefined
    if (deleted.until <= now) {
      this.#entries.delete(key)
      return undefined
    }
    return sameObject(deleted.entry.object, uid) ? deleted.entry : undefined
  }
}

/** One cached collection, a kind in one namespace or in all of them, kept by what list+watch observes of it. */
class CachedCollection {
  readonly workload: Workload
  readonly namespace: string | undefined
  readonly collection: Collection
  readonly relistEvery: Duration.Duration
  /** `namespace/name` → the object as last listed or watched. */
  objects = new Map<string, FoundEntry>()
  listed = false
  readonly warm = Deferred.unsafeMake<void>(FiberId.none)
  /** The objects of the list being read: they replace `objects` once it is complete. */
  #listing = new Map<string, FoundEntry>()
  /** What the current watch could not use. */
  #skippedByWatch = new Skipped()
  readonly #deleted: RecentlyDeleted
  /** Failures of lists and of watches, said once each until a list, or a watch, works again. */
  readonly #listReports = new ReportOnce()
  readonly #watchReports = new ReportOnce()
  readonly #listsAgain: Effect.Effect<void>
  readonly #watchesAgain: Effect.Effect<void>

  constructor(
    workload: Workload,
    namespace: string | undefined,
    metadataOnly: boolean,
    deleted: RecentlyDeleted,
    relistEvery: Duration.Duration
  ) {
    this.workload = workload
    this.namespace = namespace
    this.collection = {
      path: collectionPath(workload, namespace),
      fieldSelector: undefined,
      ...(metadataOnly ? { accept: METADATA_ONLY } : {})
    }
    this.relistEvery = Duration.max(relistEvery, MIN_RELIST_INTERVAL)
    this.#deleted = deleted
    this.#listsAgain = this.#listReports.succeeded(
      Effect.logInfo(`enrichment: ${workload.resource} ${this.where} are cached again`)
    )
    this.#watchesAgain = this.#watchReports.succeeded(
      Effect.logInfo(`enrichment: ${workload.resource} ${this.where} are watched again`)
    )
  }

  get where(): string {
    return this.namespace === undefined ? "in all namespaces" : `in namespace ${this.namespace}`
  }

  /** Where a deleted object of this collection is kept. */
  #deletedKey(key: string): string {
    return `${this.workload.resource}/${key}`
  }

  /** The object `namespace/name` if it exists, else the one deleted under that name if `uid` names it. */
  get(key: string, uid: string | undefined, now: number): FoundEntry | undefined {
    const existing = this.objects.get(key)
    if (existing !== undefined && sameObject(existing.object, uid)) return existing
    return this.#deleted.get(this.#deletedKey(key), uid, now) ?? existing
  }

  /** Applies what list+watch observed at `now` (ms); `changed` is told when the objects changed. */
  observe(o: Observation, now: number, changed: () => void): Effect.Effect<void> {
    switch (o._tag) {
      case "Listing":
        this.#listing = new Map()
        return Effect.void
      case "Page":
        return this.#addPage(o.items)
      case "Listed":
        this.#replaceWithList(now)
        this.listed = true
        Deferred.unsafeDone(this.warm, Exit.void)
        changed()
        return this.#listsAgain
      case "Watched":
        if (this.#apply(o.lines, now)) changed()
        return this.#watchesAgain
      case "WatchEnded":
        return Effect.zipRight(this.#watchDone(), o.cause === "expired" ? Effect.void : this.#watchesAgain)
      case "Failed":
        return Effect.zipRight(this.#watchDone(), this.#failed(o.error))
    }
  }

  /** A complete list replaces the objects: those it lacks, or has under another uid, were deleted meanwhile. */
  #replaceWithList(now: number): void {
    for (const [key, entry] of this.objects) {
      const listed = this.#listing.get(key)
      if (listed === undefined || !sameObject(listed.object, entry.object.uid)) {
        this.#deleted.add(this.#deletedKey(key), entry, now)
      }
    }
    this.objects = this.#listing
    this.#listing = new Map()
  }

  #addPage(items: ReadonlyArray<unknown>): Effect.Effect<void> {
    const skipped = new Skipped()
    for (const item of items) {
      const o = decodeNamedObject(item)
      if (o !== undefined) this.#listing.set(keyOf(o.namespace, o.name), entryOf(o))
      else skipped.add(`an item is not a namespaced object: ${JSON.stringify(item)?.slice(0, 120)}`)
    }
    return skipped.report(`the list of ${this.workload.resource} ${this.where}`)
  }

  /** Applies a watch's events to the objects; whether any changed. */
  #apply(lines: ReadonlyArray<WatchLine>, now: number): boolean {
    let changed = false
    for (const line of lines) {
      if (line instanceof MalformedLine) {
        this.#skippedByWatch.add(line.detail)
        continue
      }
      if (line.type === "BOOKMARK") continue
      const o = decodeNamedObject(line.object)
      if (o === undefined) {
        this.#skippedByWatch.add(`a ${line.type} object is not a namespaced object`)
        continue
      }
      const key = keyOf(o.namespace, o.name)
      if (line.type === "DELETED") {
        this.objects.delete(key)
        this.#deleted.add(this.#deletedKey(key), entryOf(o), now)
      } else this.objects.set(key, entryOf(o))
      changed = true
    }
    return changed
  }

  /** A watch ended: what it could not use is said. */
  #watchDone(): Effect.Effect<void> {
    const skipped = this.#skippedByWatch
    this.#skippedByWatch = new Skipped()
    return skipped.report(`the watch of ${this.workload.resource} ${this.where}`)
  }

  #failed(e: KubeApiError): Effect.Effect<void> {
    if (refused(e)) Deferred.unsafeDone(this.warm, Exit.void)
    const text = `enrichment: ${failureText(e, this)}`
    const reports = e.verb === "watch" ? this.#watchReports : this.#listReports
    return reports.failed("failed", Effect.logWarning(text), Effect.logDebug(text))
  }
}

/**
 * What list+watch observes of `c`, for ever: while its watch is refused (HTTP 403), the first refusal once
 * `c.relistEvery` has passed since the last list ends the round, and the next one lists again.
 */
const follow = (api: KubeApiShape, settings: ListWatchSettings, c: CachedCollection): Stream.Stream<Observation> => {
  const relistMs = Duration.toMillis(c.relistEvery)
  const round = Stream.suspend(() => {
    let listedAt = 0
    const relistDue = (o: Observation) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (o._tag === "Listed") listedAt = now
        return watchRefused(o) && now - listedAt >= relistMs
      })
    return listWatch(api, { ...settings, collection: c.collection }).pipe(Stream.takeUntilEffect(relistDue))
  })
  return Stream.forever(round)
}

export class OwnerCaches {
  readonly #scopes = new Map<string, CachedCollection>()
  readonly #allNamespaces: boolean
  /** Told the number of objects cached of a kind whenever it changes. */
  readonly #report: (kind: string, size: number) => void
  readonly #warmedUp = Deferred.unsafeMake<void>(FiberId.none)
  #ready = false

  constructor(
    settings: Pick<ListWatchSettings, "namespaces">,
    options: OwnerCacheOptions,
    report: (kind: string, size: number) => void
  ) {
    this.#report = report
    this.#allNamespaces = settings.namespaces.length === 0
    const namespaces: ReadonlyArray<string | undefined> = this.#allNamespaces ? [undefined] : settings.namespaces
    const deleted = new RecentlyDeleted(options.keepDeleted)
    for (const w of WATCHED_WORKLOADS) {
      for (const namespace of namespaces) {
        const c = new CachedCollection(w, namespace, metadataOnly(w), deleted, options.relistEvery)
        this.#scopes.set(`${w.resource}/${namespace ?? "*"}`, c)
      }
    }
  }

  /** Whether every collection has been listed once (or given up on for the first events). */
  get isReady(): boolean {
    return this.#ready
  }

  /**
   * The object `namespace/name` of kind `w` as last listed or watched; if it is not the one `uid` names (or is
   * gone), the one deleted under that name less than `DELETED_GRACE` before `now` (ms), when `uid` names that one;
   * `undefined` when neither is cached.
   */
  get(w: Workload, namespace: string, name: string, uid: string | undefined, now: number): FoundEntry | undefined {
    const scope = this.#scopes.get(`${w.resource}/${this.#allNamespaces ? "*" : namespace}`)
    return scope?.listed === true ? scope.get(keyOf(namespace, name), uid, now) : undefined
  }

  /** Waits until every collection is listed (or `WARM_UP_LIMIT` has passed since `run`). */
  get ready(): Effect.Effect<void> {
    return this.#ready ? Effect.void : Deferred.await(this.#warmedUp)
  }

  /** Lists and watches every collection until the scope closes. */
  run(api: KubeApiShape, settings: ListWatchSettings): Effect.Effect<void, never, Scope.Scope> {
    return Effect.gen(this, function* () {
      for (const c of this.#scopes.values()) {
        const kind = c.workload.kind
        const changed = () => this.#report(kind, this.#sizeOf(kind))
        const observe = (o: Observation) => Effect.flatMap(Clock.currentTimeMillis, (now) => c.observe(o, now, changed))
        yield* Effect.forkScoped(Stream.runForEach(follow(api, settings, c), observe))
      }
      yield* Effect.forkScoped(this.#warmUp(WARM_UP_LIMIT))
    })
  }

  #sizeOf(kind: string): number {
    let n = 0
    for (const s of this.#scopes.values()) if (s.workload.kind === kind) n += s.objects.size
    return n
  }

  #warmUp(limit: Duration.Duration): Effect.Effect<void> {
    return Effect.forEach(this.#scopes.values(), (s) => Deferred.await(s.warm), { discard: true }).pipe(
      Effect.timeoutOption(limit),
      Effect.tap((done) =>
        done._tag === "None"
          ? Effect.logWarning(
              "enrichment: the caches of pods, ReplicaSets and Jobs were not all listed within " +
                `${Duration.format(limit)}; ` +
                "records go out with what a GET per object finds meanwhile"
            )
          : Effect.void
      ),
      Effect.ensuring(
        Effect.sync(() => {
          this.#ready = true
          Deferred.unsafeDone(this.#warmedUp, Exit.void)
        })
      )
    )
  }
}

/**
 * List+watch caches of the kinds every owner chain goes through (pods, ReplicaSets, Jobs), kept the way the
 * Collector's k8sattributes processor keeps them: each collection is listed in pages, then watched from the
 * list's resourceVersion through the source's `KubeApi`, and only the few fields enrichment uses are held per
 * object. ReplicaSets and Jobs are asked for as metadata only (`PartialObjectMetadata`: owner references, labels,
 * annotations); pods in full, for `spec.nodeName`, decoded to the same few fields.
 *
 * `ready` completes once every collection has been listed (or refused with 401, 403 or 404, or after
 * `WARM_UP_LIMIT`), so that the first events released find their objects. A watch that ends is resumed from its
 * last resourceVersion; a 410 lists again; failures are retried with the source's backoff and said once.
 */
import { Deferred, Duration, Effect, Exit, FiberId, Random, type Scope } from "effect"
import { resourceVersionOf } from "../source/Change.ts"
import { KubeApiError } from "../kube/KubeApiError.ts"
import type { Collection, KubeApiShape, WatchEnd } from "../source/KubeApi.ts"
import { backoffDelay, compareResourceVersions } from "../source/EventSource.ts"
import type { FoundEntry } from "./ChainResolver.ts"
import { decodeNamedObject, type NamedObject } from "./OwnerLookup.ts"
import { collectionPath, WATCHED_WORKLOADS, type Workload } from "./workloads.ts"
import { ReportOnce } from "../observability/reportOnce.ts"
import { rbacRule } from "../domain/apiCalls.ts"

export interface ListWatchSettings {
  /** Namespaces to cache (one list+watch each per kind); empty: all namespaces, one cluster-wide list+watch. */
  readonly namespaces: ReadonlyArray<string>
  readonly pageSize: number
  readonly watchTimeout: Duration.Duration
  readonly watchIdleTimeout: Duration.Duration
  readonly retryInitial: Duration.Duration
  readonly retryMax: Duration.Duration
}

/** The most the first events wait for the caches to be listed; then they go out with per-object GETs. */
export const WARM_UP_LIMIT = Duration.seconds(30)

const METADATA_ONLY = {
  list: "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
  watch: "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
}

/** Only pods are asked for whole (their node is in `spec`); owners' metadata says all enrichment uses. */
const metadataOnly = (w: Workload) => w.kind !== "Pod"

/** One cached collection: a kind in one namespace or in all of them. */
class CachedCollection {
  readonly workload: Workload
  readonly namespace: string | undefined
  readonly collection: Collection
  /** `namespace/name` → the object as last listed or watched. */
  objects = new Map<string, FoundEntry>()
  listed = false
  readonly warm = Deferred.unsafeMake<void>(FiberId.none)

  constructor(workload: Workload, namespace: string | undefined, metadataOnly: boolean) {
    this.workload = workload
    this.namespace = namespace
    this.collection = {
      path: collectionPath(workload, namespace),
      fieldSelector: undefined,
      ...(metadataOnly ? { accept: METADATA_ONLY } : {})
    }
  }

  get where(): string {
    return this.namespace === undefined ? "in all namespaces" : `in namespace ${this.namespace}`
  }
}

const entryOf = (o: NamedObject): FoundEntry => ({
  tag: "found",
  object: o.object,
  fetchedAt: 0,
  rechecked: false,
  memo: undefined
})

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`

/** How a watch ended, and so what comes next: watch on, list again, or back off. */
type Next =
  | { readonly _tag: "watch"; readonly from: string }
  | { readonly _tag: "relist" }
  | {
      readonly _tag: "failed"
      readonly error: KubeApiError
      readonly from: string
    }

export class OwnerCaches {
  readonly #scopes = new Map<string, CachedCollection>()
  readonly #allNamespaces: boolean
  /** Told the number of objects cached of a kind whenever it changes. */
  readonly #report: (kind: string, size: number) => void
  readonly #warmedUp = Deferred.unsafeMake<void>(FiberId.none)
  #ready = false

  constructor(settings: Pick<ListWatchSettings, "namespaces">, report: (kind: string, size: number) => void) {
    this.#report = report
    this.#allNamespaces = settings.namespaces.length === 0
    const namespaces: ReadonlyArray<string | undefined> = this.#allNamespaces ? [undefined] : settings.namespaces
    for (const w of WATCHED_WORKLOADS) {
      for (const namespace of namespaces) {
        this.#scopes.set(`${w.resource}/${namespace ?? "*"}`, new CachedCollection(w, namespace, metadataOnly(w)))
      }
    }
  }

  /** Whether every collection has been listed once (or given up on for the first events). */
  get isReady(): boolean {
    return this.#ready
  }

  /** The object `namespace/name` of kind `w` as last listed or watched; `undefined` when not cached. */
  get(w: Workload, namespace: string, name: string): FoundEntry | undefined {
    const scope = this.#scopes.get(`${w.resource}/${this.#allNamespaces ? "*" : namespace}`)
    return scope?.listed === true ? scope.objects.get(keyOf(namespace, name)) : undefined
  }

  /** Waits until every collection is listed (or `WARM_UP_LIMIT` has passed since `run`). */
  get ready(): Effect.Effect<void> {
    return this.#ready ? Effect.void : Deferred.await(this.#warmedUp)
  }

  /** Lists and watches every collection until the scope closes. */
  run(api: KubeApiShape, settings: ListWatchSettings): Effect.Effect<void, never, Scope.Scope> {
    const changed = (kind: string) => this.#report(kind, this.#sizeOf(kind))
    return Effect.gen(this, function* () {
      for (const c of this.#scopes.values()) yield* Effect.forkScoped(follow(api, settings, c, changed))
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

/** Lists the collection in pages into a new map, which replaces the old one when complete; its resourceVersion. */
const listAll = (api: KubeApiShape, settings: ListWatchSettings, scope: CachedCollection) =>
  Effect.gen(function* () {
    const objects = new Map<string, FoundEntry>()
    let continueToken: string | undefined
    for (;;) {
      const page = yield* api.list({ collection: scope.collection, limit: settings.pageSize, continueToken })
      const skipped = new Skipped()
      for (const item of page.items) {
        const o = decodeNamedObject(item)
        if (o !== undefined) objects.set(keyOf(o.namespace, o.name), entryOf(o))
        else skipped.add(`an item is not a namespaced object: ${JSON.stringify(item)?.slice(0, 120)}`)
      }
      yield* skipped.report(`the list of ${scope.workload.resource} ${scope.where}`)
      if (page.continueToken === undefined) {
        scope.objects = objects
        scope.listed = true
        return page.resourceVersion
      }
      continueToken = page.continueToken
    }
  })

/** One watch from `from`, applied to the cache as it arrives; how it ended. */
const watchOnce = (
  api: KubeApiShape,
  settings: ListWatchSettings,
  scope: CachedCollection,
  from: string,
  changed: () => void
) =>
  Effect.gen(function* () {
    const skipped = new Skipped()
    let last = from
    const stretch = 1 + (yield* Random.next)
    const ended = Deferred.unsafeMake<Next>(FiberId.none)
    const end = (next: Next) => Deferred.unsafeDone(ended, Exit.succeed(next))
    const handle = yield* api.watch(
      {
        collection: scope.collection,
        resourceVersion: from,
        timeoutSeconds: Math.max(1, Math.round(Duration.toSeconds(settings.watchTimeout) * stretch)),
        idleTimeoutMs: Duration.toMillis(settings.watchIdleTimeout)
      },
      {
        onEvent: ({ type, object }) => {
          if (type === "ERROR") {
            const error = KubeApiError.errorEvent(object)
            return end(error.reason === "Gone" ? { _tag: "relist" } : { _tag: "failed", from: last, error })
          }
          const rv = resourceVersionOf(object)
          if (rv !== undefined && (compareResourceVersions(rv, last) ?? 1) > 0) last = rv
          if (type === "BOOKMARK") return
          const o = decodeNamedObject(object)
          if (o === undefined) return skipped.add(`a ${type} object is not a namespaced object`)
          if (type === "DELETED") scope.objects.delete(keyOf(o.namespace, o.name))
          else scope.objects.set(keyOf(o.namespace, o.name), entryOf(o))
          changed()
        },
        onMalformed: (detail) => skipped.add(detail),
        onEnd: (how: WatchEnd) => {
          if (how._tag !== "Failed") return end({ _tag: "watch", from: last })
          end(how.error.reason === "Gone" ? { _tag: "relist" } : { _tag: "failed", error: how.error, from: last })
        }
      }
    )
    return yield* Deferred.await(ended).pipe(
      Effect.ensuring(Effect.sync(handle.stop)),
      Effect.tap(() => skipped.report(`the watch of ${scope.workload.resource} ${scope.where}`))
    )
  })

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

const failureText = (e: KubeApiError, c: CachedCollection): string => {
  const w = c.workload
  const what = `${e.verb} ${w.resource} ${c.where} for enrichment`
  if (e.reason === "Forbidden") {
    const binding =
      c.namespace === undefined ? "a ClusterRole and ClusterRoleBinding" : `a Role and RoleBinding in ${c.namespace}`
    return (
      `not allowed to ${what} (HTTP 403): give the collector ` +
      `${rbacRule({ group: w.group, resource: w.resource, verbs: ["list", "watch"] })} in ${binding}. ` +
      "Until then each object is read with a GET. " +
      `The API server said: ${e.explanation}`
    )
  }
  return `could not ${what}: ${e.message}; retrying, and reading each object with a GET meanwhile`
}

/** Lists, then watches, for ever: a watch that ends goes on from its last resourceVersion, a 410 lists again. */
const follow = (api: KubeApiShape, settings: ListWatchSettings, c: CachedCollection, changed: (kind: string) => void) =>
  Effect.gen(function* () {
    let from: string | undefined
    let attempt = 0
    const reports = new ReportOnce()
    const failed = (e: KubeApiError) =>
      Effect.gen(function* () {
        if (refused(e)) Deferred.unsafeDone(c.warm, Exit.void)
        const text = `enrichment: ${failureText(e, c)}`
        yield* reports.failed("failed", Effect.logWarning(text), Effect.logDebug(text))
        const retryAfter = Duration.seconds(e.retryAfterSeconds ?? 0)
        yield* Effect.sleep(Duration.max(yield* backoffDelay(settings, attempt++), retryAfter))
      })
    const succeeded = Effect.suspend(() => {
      attempt = 0
      return reports.succeeded(Effect.logInfo(`enrichment: ${c.workload.resource} ${c.where} are cached again`))
    })
    for (;;) {
      if (from === undefined) {
        const listed = yield* Effect.either(listAll(api, settings, c))
        if (listed._tag === "Left") {
          yield* failed(listed.left)
          continue
        }
        Deferred.unsafeDone(c.warm, Exit.void)
        changed(c.workload.kind)
        yield* succeeded
        from = listed.right
      }
      const next = yield* watchOnce(api, settings, c, from, () => changed(c.workload.kind))
      switch (next._tag) {
        case "watch":
          from = next.from
          yield* succeeded
          break
        case "relist":
          from = undefined
          break
        case "failed":
          from = next.from
          yield* failed(next.error)
          break
      }
    }
  })

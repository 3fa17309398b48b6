/**
 * List+watch caches of the kinds every owner chain goes through (pods, ReplicaSets, Jobs), kept the way the
 * Collector's k8sattributes processor keeps them: each collection is followed by `listWatch` (listed in pages,
 * then watched from the list's resourceVersion, listed again on 410, failures retried with backoff), and only the
 * few fields enrichment uses are held per object. ReplicaSets and Jobs are asked for as metadata only
 * (`PartialObjectMetadata`: owner references, labels, annotations); pods in full, for `spec.nodeName`, decoded to
 * the same few fields.
 *
 * `ready` completes once every collection has been listed (or refused with 401, 403 or 404, or after
 * `WARM_UP_LIMIT`), so that the first events released find their objects. Failures are said once.
 */
import { Deferred, Duration, Effect, Exit, FiberId, type Scope, Stream } from "effect"
import type { KubeApiError } from "../kube/KubeApiError.ts"
import type { Collection, KubeApiShape } from "../kube/KubeApi.ts"
import { listWatch, type ListWatchOptions, type Observation } from "../kube/listWatch.ts"
import { MalformedLine, type WatchLine } from "../kube/watchStream.ts"
import type { FoundEntry } from "./ChainResolver.ts"
import { decodeNamedObject, type NamedObject } from "./OwnerLookup.ts"
import { collectionPath, WATCHED_WORKLOADS, type Workload } from "./workloads.ts"
import { ReportOnce } from "../observability/reportOnce.ts"
import { rbacRule } from "../domain/apiCalls.ts"

export interface ListWatchSettings extends ListWatchOptions {
  /** Namespaces to cache (one list+watch each per kind); empty: all namespaces, one cluster-wide list+watch. */
  readonly namespaces: ReadonlyArray<string>
}

/** The most the first events wait for the caches to be listed; then they go out with per-object GETs. */
export const WARM_UP_LIMIT = Duration.seconds(30)

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

/** One cached collection, a kind in one namespace or in all of them, kept by what list+watch observes of it. */
class CachedCollection {
  readonly workload: Workload
  readonly namespace: string | undefined
  readonly collection: Collection
  /** `namespace/name` → the object as last listed or watched. */
  objects = new Map<string, FoundEntry>()
  listed = false
  readonly warm = Deferred.unsafeMake<void>(FiberId.none)
  /** The objects of the list being read: they replace `objects` once it is complete. */
  #listing = new Map<string, FoundEntry>()
  /** What the current watch could not use. */
  #skippedByWatch = new Skipped()
  readonly #reports = new ReportOnce()
  readonly #worksAgain: Effect.Effect<void>

  constructor(workload: Workload, namespace: string | undefined, metadataOnly: boolean) {
    this.workload = workload
    this.namespace = namespace
    this.collection = {
      path: collectionPath(workload, namespace),
      fieldSelector: undefined,
      ...(metadataOnly ? { accept: METADATA_ONLY } : {})
    }
    this.#worksAgain = this.#reports.succeeded(
      Effect.logInfo(`enrichment: ${workload.resource} ${this.where} are cached again`)
    )
  }

  get where(): string {
    return this.namespace === undefined ? "in all namespaces" : `in namespace ${this.namespace}`
  }

  /** Applies what list+watch observed; `changed` is told when the objects changed. */
  observe(o: Observation, changed: () => void): Effect.Effect<void> {
    switch (o._tag) {
      case "Listing":
        this.#listing = new Map()
        return Effect.void
      case "Page":
        return this.#addPage(o.items)
      case "Listed":
        this.objects = this.#listing
        this.#listing = new Map()
        this.listed = true
        Deferred.unsafeDone(this.warm, Exit.void)
        changed()
        return this.#worksAgain
      case "Watched":
        if (this.#apply(o.lines)) changed()
        return Effect.void
      case "WatchEnded":
        return Effect.zipRight(this.#watchDone(), o.cause === "expired" ? Effect.void : this.#worksAgain)
      case "Failed":
        return Effect.zipRight(this.#watchDone(), this.#failed(o.error))
    }
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
  #apply(lines: ReadonlyArray<WatchLine>): boolean {
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
      if (line.type === "DELETED") this.objects.delete(keyOf(o.namespace, o.name))
      else this.objects.set(keyOf(o.namespace, o.name), entryOf(o))
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
    return this.#reports.failed("failed", Effect.logWarning(text), Effect.logDebug(text))
  }
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
    return Effect.gen(this, function* () {
      for (const c of this.#scopes.values()) {
        const kind = c.workload.kind
        const changed = () => this.#report(kind, this.#sizeOf(kind))
        const observations = listWatch(api, { ...settings, collection: c.collection })
        yield* Effect.forkScoped(Stream.runForEach(observations, (o) => c.observe(o, changed)))
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

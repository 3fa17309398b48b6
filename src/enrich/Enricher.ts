/**
 * Adds what the API server knows about an event's object: the owner chain (Pod → ReplicaSet → Deployment,
 * Pod → Job → CronJob, StatefulSet, DaemonSet), the pod's uid and node, its labels, and `service.name` /
 * `service.namespace` from the OpenTelemetry annotations or the well-known labels.
 *
 * With `listWatch`, pods, ReplicaSets and Jobs are kept by list+watch caches (`OwnerCaches`), and no event is
 * enriched before they have been listed: an event about an object that exists finds it there, and so does one
 * about an object deleted less than `DELETED_GRACE` before. What they do not hold (an object newer than the cache,
 * one deleted longer ago, the other kinds) is read with a GET: answers are cached (bounded, LRU, expiring; 404
 * and 403 answers too), one GET per object is in flight at a time and every lookup of it shares that GET, and
 * GETs go through a token bucket. A chunk waits for its missing objects at most `lookupTimeout`, and not at all
 * for a GET the token bucket holds back past that; what is not known by then is left out (and counted), and the
 * GET goes on in the background so that later events find the object in the cache.
 */
import {
  Cause,
  type Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  FiberId,
  FiberSet,
  Layer,
  Option
} from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import type { KubeEvent } from "../domain/KubeEvent.ts"
import { Metrics } from "../observability/Metrics.ts"
import { KubeApi } from "../kube/KubeApi.ts"
import { ChainResolver, type Entry, FORBIDDEN, type Need, Pass } from "./ChainResolver.ts"
import { EnrichmentMetrics, type RequestOutcome } from "./EnrichmentMetrics.ts"
import { type ListWatchSettings, type OwnerCacheOptions, OwnerCaches } from "./OwnerCaches.ts"
import { describeKey, OwnerLookup, type OwnerLookupShape } from "./OwnerLookup.ts"
import { TokenBucket } from "./TokenBucket.ts"
import { EMPTY_ENRICHMENT, type Enrichment, type Workload } from "./workloads.ts"
import { ReportOnce } from "../observability/reportOnce.ts"
import { rbacRule } from "../domain/apiCalls.ts"
import type { KubeApiError } from "../kube/KubeApiError.ts"
import type { Holder } from "../observability/heapWatch.ts"

export { ENRICHMENT_API_CALLS, type Enrichment } from "./workloads.ts"

export interface EnrichSettings {
  readonly enabled: boolean
  /** Pod labels copied as `k8s.pod.label.<key>`. */
  readonly podLabels: ReadonlyArray<string>
  /**
   * Take `service.name` from `app.kubernetes.io/instance`, then `app.kubernetes.io/name`, when no annotation names
   * it.
   */
  readonly serviceNameFromLabels: boolean
  /** Objects cached (least recently used out). */
  readonly cacheSize: number
  /** Expiry of a cached object, and of a cached 404 or 403. */
  readonly cacheTtl: Duration.Duration
  /** The most a chunk waits for its lookups; then its events go without what is still unknown. */
  readonly lookupTimeout: Duration.Duration
  /** GETs per second to the API server (token bucket, bursts of one second's worth); 0 or less: no limit. */
  readonly maxRequestsPerSecond: number
  /** List+watch caches of pods, ReplicaSets and Jobs, listed before the first event is enriched; `undefined`: GETs. */
  readonly listWatch: ListWatchSettings | undefined
}

export interface EnricherShape {
  /** One enrichment per event, in order. Never fails and never waits longer than `lookupTimeout` for a chunk. */
  readonly enrichAll: (events: ReadonlyArray<KubeEvent>) => Effect.Effect<ReadonlyArray<Enrichment>>
  /** What its caches hold, and how to drop what can be read again, for the heap watch. */
  readonly cache: Holder
}

export class Enricher extends Context.Tag("Enricher")<Enricher, EnricherShape>() {
  /** Reads objects from the API server `kc` points at; counters go into the collector's registry. */
  static readonly layer = (kc: KubeConfig, settings: EnrichSettings): Layer.Layer<Enricher, never, Metrics> =>
    settings.enabled
      ? Layer.scoped(Enricher, make(settings)).pipe(
          Layer.provide(Layer.merge(OwnerLookup.layer(kc), KubeApi.layer(kc)))
        )
      : Enricher.layerNoop
  /** Reads objects through whatever `OwnerLookup` (GETs) and `KubeApi` (lists and watches) are provided. */
  static readonly layerWithLookup = (
    settings: EnrichSettings
  ): Layer.Layer<Enricher, never, Metrics | OwnerLookup | KubeApi> => Layer.scoped(Enricher, make(settings))
  /** Adds nothing. */
  static readonly layerNoop: Layer.Layer<Enricher> = Layer.succeed(Enricher, {
    enrichAll: (events) => Effect.succeed(events.map(() => EMPTY_ENRICHMENT)),
    cache: { name: "enrichment cache entries", size: () => 0 }
  })
}

/** Chain depth is two objects (pod, then ReplicaSet or Job); a few more rounds cover rechecks. */
const MAX_ROUNDS = 4

/** What an operator loses without GET on a resource, for the 403 warning. */
const LOSS: Readonly<Record<string, string>> = {
  pods:
    "events about pods carry no k8s.pod.uid, k8s.node.name, owner workload names, pod labels or service.name from " +
    "the pod's annotation or labels",
  replicasets: "events about pods and ReplicaSets carry no k8s.deployment.name",
  jobs: "events about pods and Jobs carry no k8s.cronjob.name",
  deployments: "events about Deployments carry no labels and no service.name from their annotation or labels",
  statefulsets: "events about StatefulSets carry no labels and no service.name from their annotation or labels",
  daemonsets: "events about DaemonSets carry no labels and no service.name from their annotation or labels",
  cronjobs: "events about CronJobs carry no labels and no service.name from their annotation or labels"
}

const forbiddenMessage = (need: Need, ttl: Duration.Duration, said: string): string => {
  const w = need.object.workload
  return (
    `enrichment: not allowed to get ${w.resource} (${describeKey(need.object)}: HTTP 403), ` +
    `so ${LOSS[w.resource] ?? "those objects add nothing"}. ` +
    `To enable it, give the collector the RBAC rule ` +
    `${rbacRule({ group: w.group, resource: w.resource, verbs: ["get"] })}. ` +
    `Events keep flowing; asking again after ${Duration.format(ttl)}. The API server said: ${said}`
  )
}

interface Flight {
  readonly done: Deferred.Deferred<Entry>
  /** When its token lets the GET go: a chunk whose deadline comes first does not wait for it. */
  readonly sendsAt: number
  /** A chunk timed out waiting for this GET: it is slow, and later chunks go on without waiting for it. */
  abandoned: boolean
}

/** What the steps of one enricher share. */
interface Shared {
  readonly settings: EnrichSettings
  readonly metrics: EnrichmentMetrics
  readonly clock: Clock.Clock
  readonly resolver: ChainResolver
}

const make = (settings: EnrichSettings) =>
  Effect.gen(function* () {
    const metrics = new EnrichmentMetrics((yield* Metrics).registry)
    const clock: Clock.Clock = yield* Effect.clock
    const caches = yield* startCaches(settings, metrics)
    const resolver = new ChainResolver(resolverSettings(settings), caches)
    const shared: Shared = { settings, metrics, clock, resolver }
    const flightFor = yield* makeFlights(shared, yield* OwnerLookup)
    const enrichNow = enrichChunk(shared, resolveMisses(shared, flightFor))
    // Until the caches are listed, every chunk waits for them: the first records carry the chain too.
    const enrichAll = (events: ReadonlyArray<KubeEvent>): Effect.Effect<ReadonlyArray<Enrichment>> =>
      caches === undefined || caches.isReady ? enrichNow(events) : Effect.zipRight(caches.ready, enrichNow(events))
    const cache: Holder = {
      name: "enrichment cache entries",
      size: () => resolver.cached,
      shed: () => resolver.dropCached()
    }
    return Enricher.of({ enrichAll, cache })
  })

/** With `listWatch`, the list+watch caches, started (listed in the background); without, none. */
const startCaches = (settings: EnrichSettings, metrics: EnrichmentMetrics) =>
  Effect.gen(function* () {
    const listWatch = settings.listWatch
    if (listWatch === undefined) return undefined
    // Deleted objects: as many as GET answers are kept. A watch refused: listed again as often as GETs expire.
    const options: OwnerCacheOptions = { keepDeleted: settings.cacheSize, relistEvery: settings.cacheTtl }
    const caches = new OwnerCaches(listWatch, options, (kind, n) => metrics.cachedObjects.set({ kind }, n))
    yield* caches.run(yield* KubeApi, listWatch)
    return caches
  })

const resolverSettings = (settings: EnrichSettings) => ({
  cacheSize: settings.cacheSize,
  cacheTtlMs: Duration.toMillis(settings.cacheTtl),
  podLabels: settings.podLabels,
  serviceNameFromLabels: settings.serviceNameFromLabels
})

/** Warnings about failing reads, each kind said once per resource until a read of it works again. */
const readReports = (cacheTtl: Duration.Duration) => {
  const byResource = new Map<string, ReportOnce>()
  const of = (w: Workload) => {
    const found = byResource.get(w.resource)
    if (found !== undefined) return found
    const made = new ReportOnce()
    byResource.set(w.resource, made)
    return made
  }

  const worksAgain = (w: Workload) => of(w).succeeded(Effect.logInfo(`enrichment: get ${w.resource} works again`))

  const failed = (need: Need, error: KubeApiError) => {
    const answered =
      error.status === undefined
        ? ""
        : ` with HTTP ${error.status}${error.statusReason ? ` ${error.statusReason}` : ""}`
    const text =
      `enrichment: get ${describeKey(need.object)} failed${answered}: ${error.explanation}; ` +
      "events about it go out without what it would add until a read succeeds"
    return of(need.object.workload).failed("failing", Effect.logWarning(text), Effect.logDebug(text))
  }

  const denied = (need: Need, said: string) => {
    const text = forbiddenMessage(need, cacheTtl, said)
    return of(need.object.workload).failed("forbidden", Effect.logWarning(text), Effect.logDebug(text))
  }

  return { worksAgain, failed, denied }
}

/** One GET, after its token; its answer goes into the cache before anyone waiting on it resumes. */
const fetchOne = ({ settings, metrics, clock, resolver }: Shared, lookup: OwnerLookupShape) => {
  const reports = readReports(settings.cacheTtl)
  const recordRequest = (w: Workload, outcome: RequestOutcome) => metrics.requests.inc({ kind: w.kind, outcome })
  return (need: Need, wait: number) =>
    Effect.gen(function* () {
      const w = need.object.workload
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
      // A 403 for another object of this resource may have arrived while this one waited for its token.
      if (resolver.isForbidden(w, need.object.namespace, clock.unsafeCurrentTimeMillis())) return FORBIDDEN
      const answer = yield* Effect.either(lookup.get(need.object))
      const now = clock.unsafeCurrentTimeMillis()
      if (Either.isLeft(answer)) {
        const error = answer.left
        if (error.reason === "Forbidden") {
          recordRequest(w, "forbidden")
          yield* reports.denied(need, error.explanation)
          return resolver.storeForbidden(need, now)
        }
        recordRequest(w, "error")
        yield* reports.failed(need, error)
        return resolver.storeError(need, now)
      }
      yield* reports.worksAgain(w)
      switch (answer.right._tag) {
        case "Found":
          recordRequest(w, "found")
          return resolver.storeFound(need, answer.right.object, now)
        case "NotFound":
          recordRequest(w, "not_found")
          return resolver.storeNotFound(need, now)
      }
    })
}

/**
 * GETs in flight, one per object: `flightFor(need)` starts the GET for `need` (after its token) unless one is in
 * flight, and either way returns the flight to wait on. The GETs run in the enricher's scope.
 */
const makeFlights = (shared: Shared, lookup: OwnerLookupShape) =>
  Effect.gen(function* () {
    const { settings, clock, resolver } = shared
    const fibers = yield* FiberSet.make<Entry>()
    const bucket = new TokenBucket(settings.maxRequestsPerSecond, clock.unsafeCurrentTimeMillis())
    const inflight = new Map<string, Flight>()
    const fetch = fetchOne(shared, lookup)
    const unexpected = (need: Need) => (cause: Cause.Cause<unknown>) =>
      Effect.logError(`enrichment: reading ${describeKey(need.object)} failed unexpectedly`, cause).pipe(
        Effect.andThen(Effect.sync(() => resolver.storeError(need, clock.unsafeCurrentTimeMillis())))
      )

    return (need: Need) =>
      Effect.gen(function* () {
        const current = inflight.get(need.key)
        if (current !== undefined) return current
        const now = clock.unsafeCurrentTimeMillis()
        const wait = bucket.reserve(now)
        const flight: Flight = { done: Deferred.unsafeMake<Entry>(FiberId.none), sendsAt: now + wait, abandoned: false }
        inflight.set(need.key, flight)
        const settle = (entry: Entry) =>
          Effect.sync(() => {
            if (inflight.get(need.key) === flight) inflight.delete(need.key)
            Deferred.unsafeDone(flight.done, Effect.succeed(entry))
          })
        yield* FiberSet.run(
          fibers,
          fetch(need, wait).pipe(
            Effect.catchAllCause(unexpected(need)),
            Effect.tap(settle),
            Effect.onInterrupt(() => settle(resolver.storeError(need, clock.unsafeCurrentTimeMillis())))
          )
        )
        return flight
      })
  })

type FlightFor = (need: Need) => Effect.Effect<Flight>

/**
 * Starts (or joins) the GETs the walks need and waits for the ones that can answer before `deadline`; a flight
 * that does not is marked abandoned. `false` when nothing was waited for or the deadline passed.
 */
const awaitNeeds = (shared: Shared, flightFor: FlightFor, pass: Pass, local: Map<string, Entry>, deadline: number) =>
  Effect.gen(function* () {
    const waits: Array<Effect.Effect<void>> = []
    const awaited: Array<readonly [string, Flight]> = []
    for (const need of pass.needs.values()) {
      const flight = yield* flightFor(need)
      // Slow, or held back by the request rate past this chunk's deadline: it goes on in the background.
      if (flight.abandoned || flight.sendsAt >= deadline) continue
      awaited.push([need.key, flight])
      waits.push(Effect.map(Deferred.await(flight.done), (entry) => void local.set(need.key, entry)))
    }
    pass.needs.clear()
    const remaining = deadline - shared.clock.unsafeCurrentTimeMillis()
    if (waits.length === 0 || remaining <= 0) return false
    const answered = yield* Effect.all(waits, { concurrency: "unbounded", discard: true }).pipe(
      Effect.timeoutOption(Duration.millis(remaining))
    )
    pass.now = shared.clock.unsafeCurrentTimeMillis()
    if (Option.isNone(answered)) {
      for (const [key, flight] of awaited) if (!local.has(key)) flight.abandoned = true
      return false
    }
    return true
  })

/** Walks the events at `indices` again; the indices of those still incomplete. */
const resolveAt = (
  resolver: ChainResolver,
  events: ReadonlyArray<KubeEvent>,
  results: Array<Enrichment>,
  indices: Iterable<number>,
  pass: Pass
): Array<number> => {
  const pending: Array<number> = []
  for (const i of indices) {
    const event = events[i]
    const enrichment = event === undefined ? EMPTY_ENRICHMENT : resolver.resolve(event, pass)
    if (enrichment === undefined) pending.push(i)
    else results[i] = enrichment
  }
  return pending
}

type ResolveMisses = (
  events: ReadonlyArray<KubeEvent>,
  results: Array<Enrichment>,
  firstPending: ReadonlyArray<number>,
  pass: Pass
) => Effect.Effect<Array<Enrichment>>

/** Fetches what the walks need, round after round, until all events are complete or the deadline passes. */
const resolveMisses = (shared: Shared, flightFor: FlightFor): ResolveMisses => {
  const { clock, resolver } = shared
  const timeoutMs = Duration.toMillis(shared.settings.lookupTimeout)
  return Effect.fn("Enricher.resolveMisses")(function* (events, results, firstPending, pass) {
    const deadline = pass.now + timeoutMs
    const local = new Map<string, Entry>()
    pass.local = local
    let pending = firstPending
    for (let round = 0; round < MAX_ROUNDS && pending.length > 0; round++) {
      if (!(yield* awaitNeeds(shared, flightFor, pass, local, deadline))) break
      pending = resolveAt(resolver, events, results, pending, pass)
    }
    pass.final = true
    pass.now = clock.unsafeCurrentTimeMillis()
    for (const i of pending) {
      const event = events[i]
      results[i] = (event === undefined ? undefined : resolver.resolve(event, pass)) ?? EMPTY_ENRICHMENT
    }
    return results
  })
}

/**
 * One chunk, enriched. No Effect per event: the chunk is walked in one loop, and only a chunk with misses goes
 * on to wait. A defect costs the chunk its enrichment, not its events.
 */
const enrichChunk =
  ({ clock, resolver, metrics }: Shared, misses: ResolveMisses) =>
  (events: ReadonlyArray<KubeEvent>): Effect.Effect<ReadonlyArray<Enrichment>> =>
    Effect.suspend(() => {
      const pass = new Pass(clock.unsafeCurrentTimeMillis())
      const flushCounts = () => pass.forEachCount((kind, result, n) => metrics.lookups.inc({ kind, result }, n))
      const results = new Array<Enrichment>(events.length)
      const pending = resolveAt(resolver, events, results, events.keys(), pass)
      if (pending.length === 0) {
        flushCounts()
        return Effect.succeed(results)
      }
      return misses(events, results, pending, pass).pipe(Effect.ensuring(Effect.sync(flushCounts)))
    }).pipe(
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause)
          : Effect.logError("enrichment failed; the chunk goes out without it", cause).pipe(
              Effect.as(events.map(() => EMPTY_ENRICHMENT))
            )
      )
    )

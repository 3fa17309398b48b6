/**
 * Enrichment with list+watch caches of pods, ReplicaSets and Jobs, against the simulated API server over real
 * HTTP: the first events carry the whole chain with no GET, objects created later arrive by the watch, a pod
 * that is gone still lets its event through after a bounded wait, --namespaces scopes the caches, and a list
 * that is not allowed falls back to GETs without holding events back. On the test clock: a deleted pod keeps its
 * chain for DELETED_GRACE (the latest --enrichment-cache-size deletions), a relist after 410 deletes what it lacks
 * at that moment and keeps what was deleted before as it was, and a collection that may be listed but not watched
 * is listed again every --enrichment-cache-ttl.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import { Resource as R } from "../../src/domain/attributes.ts"
import type { EnrichSettings } from "../../src/enrich/Enricher.ts"
import { DELETED_GRACE, type ListWatchSettings } from "../../src/enrich/OwnerCaches.ts"
import type { CollectorMetrics } from "../../src/observability/Metrics.ts"
import {
  Resources,
  SERVICE_NAME_ANNOTATION,
  simKubeConfig,
  StatusBodies,
  type StoredKubeObject
} from "@k8s-event-collector/sim"
import { spinTurns, spinUntil } from "../support/eventLoop.ts"
import {
  captureLogs,
  counterValue,
  elapsed,
  enricher,
  eventAbout,
  NS,
  settings,
  simServer,
  advanceUntil,
  waitFor,
  workloads
} from "./support.ts"

const SLACK_MS = 250

const listWatch = (overrides: Partial<ListWatchSettings> = {}): ListWatchSettings => ({
  namespaces: [],
  pageSize: 500,
  watchTimeout: Duration.minutes(5),
  watchIdleTimeout: Duration.minutes(11),
  retryInitial: Duration.millis(50),
  retryMax: Duration.millis(300),
  ...overrides
})

/** Objects of `kind` the caches hold, as their gauge says. */
const cached = (metrics: CollectorMetrics, kind: string) =>
  Effect.promise(() => counterValue(metrics, "k8s_event_collector_enrichment_cached_objects", { kind }))

/** Waits until the caches hold `n` objects of `kind`. */
const untilCached = (metrics: CollectorMetrics, kind: string, n: number) =>
  Effect.gen(function* () {
    while ((yield* cached(metrics, kind)) !== n) yield* Effect.sleep(Duration.millis(5))
  }).pipe(
    Effect.timeoutFail({ duration: Duration.seconds(5), onTimeout: () => new Error(`${n} ${kind} objects cached`) })
  )

/** A server with one Deployment of two pods, and an Enricher whose caches have been listed. */
const listedWithOneDeployment = Effect.gen(function* () {
  const sim = yield* simServer
  workloads(sim, 1, 0)
  const { enricher: e, metrics } = yield* enricher(simKubeConfig(sim.url), settings({ listWatch: listWatch() }))
  yield* e.enrichAll([])
  return { sim, e, metrics }
})

const chainOf = (resource: Readonly<Record<string, string>> | undefined) =>
  resource?.[R.replicaSetName] !== undefined
    ? [resource[R.replicaSetName], resource[R.deploymentName], resource[R.serviceName]]
    : [resource?.[R.jobName], resource?.[R.cronJobName], resource?.[R.serviceName]]

describe("Enricher with list+watch caches", () => {
  it.scopedLive(
    "the very first events about 12 pods carry ReplicaSet, Deployment (or Job, CronJob) and service.name, with no GET",
    () =>
      Effect.gen(function* () {
        const sim = yield* simServer
        const pods = workloads(sim, 5, 2)
        expect(pods).toHaveLength(12)
        const { enricher: e, metrics } = yield* enricher(simKubeConfig(sim.url), settings({ listWatch: listWatch() }))
        const enrichments = yield* e.enrichAll(pods.map(({ pod }) => eventAbout(pod)))

        const svc = (p: StoredKubeObject) => p.metadata.annotations?.[SERVICE_NAME_ANNOTATION]
        expect(enrichments.map((x) => chainOf(x.resource))).toEqual(
          pods.map(({ pod, owner, top }) => [owner, top, svc(pod)])
        )
        expect(enrichments.map((x) => x.resource[R.nodeName])).toEqual(pods.map(({ node }) => node))
        expect(sim.requests.count({ verb: "get" })).toBe(0)
        // One list each of pods, ReplicaSets and Jobs, then one watch each.
        yield* waitFor("three watches", () => sim.requests.count({ verb: "watch" }) === 3)
        for (const resource of ["pods", "replicasets", "jobs"]) {
          expect(sim.requests.count({ verb: "list", resource })).toBe(1)
          expect(sim.requests.count({ verb: "watch", resource })).toBe(1)
        }
        // ReplicaSets and Jobs as metadata only (the media types of client-go's metadata client); pods whole, for
        // their node.
        const accepts = (resource: string) => sim.requests.filter({ resource }).map((r) => r.accept?.split(",")[0])
        expect(accepts("replicasets")).toEqual([
          "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
          "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
        ])
        expect(accepts("jobs")).toEqual(accepts("replicasets"))
        expect(accepts("pods")).toEqual(["application/json", "application/json"])
        expect(yield* cached(metrics, "Pod")).toBe(12)
      })
  )

  it.scopedLive("objects created after the list arrive by the watch; a deleted one leaves the cache", () =>
    Effect.gen(function* () {
      const { sim, e, metrics } = yield* listedWithOneDeployment
      expect(yield* cached(metrics, "Pod")).toBe(2)
      const replicaSets = yield* cached(metrics, "ReplicaSet")

      const deployment = sim.objects.deployment({ name: "late", namespace: NS })
      const rs = sim.objects.replicaSet({ name: "late-5c8d7", namespace: NS, owner: deployment })
      const pod = sim.objects.pod({ name: "late-5c8d7-a", namespace: NS, owner: rs, nodeName: "node-1" })
      // The pod's and its ReplicaSet's watches are separate streams: wait for both.
      yield* untilCached(metrics, "Pod", 3)
      yield* untilCached(metrics, "ReplicaSet", replicaSets + 1)
      const [late] = yield* e.enrichAll([eventAbout(pod)])
      expect(late?.resource[R.deploymentName]).toBe("late")
      expect(sim.requests.count({ verb: "get" })).toBe(0)

      sim.store.delete(Resources.pods, NS, pod.metadata.name)
      yield* untilCached(metrics, "Pod", 2)
    })
  )

  it.scopedLive(
    "a watch that ends goes on from its last resourceVersion; a 410 lists again, and nothing is missed",
    () =>
      Effect.gen(function* () {
        const { sim, e, metrics } = yield* listedWithOneDeployment
        yield* waitFor("three watches", () => sim.requests.count({ verb: "watch" }) === 3)

        const first = sim.objects.pod({ name: "after-end", namespace: NS, nodeName: "node-1" })
        yield* untilCached(metrics, "Pod", 3)
        sim.endWatches()
        yield* waitFor("the pods watch again", () => sim.requests.count({ verb: "watch", resource: "pods" }) === 2)
        const again = sim.requests.filter({ verb: "watch", resource: "pods" })[1]
        expect(again?.query["resourceVersion"]).toBe(first.metadata.resourceVersion)
        expect(sim.requests.count({ verb: "list", resource: "pods" })).toBe(1)

        // The next pods watch is refused as too old: the pods are listed again, the pod created meanwhile with them.
        const tooOld = StatusBodies.expired("too old resource version")
        sim.faults.add({ verb: "watch", resource: "pods", times: 1, action: { type: "status", status: tooOld } })
        sim.endWatches()
        const second = sim.objects.pod({ name: "during-relist", namespace: NS, nodeName: "node-1" })
        yield* waitFor("a second list of pods", () => sim.requests.count({ verb: "list", resource: "pods" }) === 2)
        yield* untilCached(metrics, "Pod", 4)
        const [enrichment] = yield* e.enrichAll([eventAbout(second)])
        expect(enrichment?.resource[R.podUid]).toBe(second.metadata.uid)
        expect(sim.requests.count({ verb: "get" })).toBe(0)
      })
  )

  it.scopedLive("an event about a pod that is gone goes out with what it says, after at most the lookup timeout", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const [{ pod: kept } = { pod: undefined }] = workloads(sim, 1, 0)
      const gone = sim.objects.pod({ name: "gone-0", namespace: NS, nodeName: "node-1" })
      sim.store.delete(Resources.pods, NS, "gone-0")
      const lookupTimeout = Duration.millis(300)
      // The GET of the pod that is gone hangs: only the bounded wait lets its event go.
      sim.faults.add({ verb: "get", resource: "pods", action: { type: "delay", ms: 5_000 } })
      const { enricher: e } = yield* enricher(
        simKubeConfig(sim.url),
        settings({ listWatch: listWatch(), lookupTimeout })
      )
      yield* e.enrichAll([])

      const {
        value: [fromGone, fromKept],
        ms
      } = yield* elapsed(e.enrichAll([eventAbout(gone), eventAbout(kept as StoredKubeObject)]))
      expect(fromGone).toEqual({ resource: {}, labels: {} })
      expect(fromKept?.resource[R.deploymentName]).toBe("web-0")
      expect(ms).toBeGreaterThanOrEqual(Duration.toMillis(lookupTimeout) - 5)
      expect(ms).toBeLessThan(Duration.toMillis(lookupTimeout) + SLACK_MS)
    })
  )

  it.scopedLive(
    "with --namespaces, each namespace is listed and watched on its own, and only those objects are cached",
    () =>
      Effect.gen(function* () {
        const sim = yield* simServer
        const shop = workloads(sim, 1, 1, "shop")
        const other = workloads(sim, 1, 0, "other")
        const { enricher: e } = yield* enricher(
          simKubeConfig(sim.url),
          settings({ listWatch: listWatch({ namespaces: ["shop"] }) })
        )
        const [fromShop, fromOther] = yield* e.enrichAll([
          eventAbout(shop[0]?.pod as StoredKubeObject),
          eventAbout(other[0]?.pod as StoredKubeObject)
        ])
        expect(fromShop?.resource[R.deploymentName]).toBe("web-0")
        // Not cached: read with a GET.
        expect(fromOther?.resource[R.deploymentName]).toBe("web-0")
        expect(sim.requests.count({ verb: "get", resource: "pods", namespace: "other" })).toBe(1)
        expect(sim.requests.count({ verb: "get", namespace: "shop" })).toBe(0)
        yield* waitFor("three watches", () => sim.requests.count({ verb: "watch" }) === 3)
        for (const resource of ["pods", "replicasets", "jobs"]) {
          expect(sim.requests.filter({ verb: ["list", "watch"], resource }).map((r) => r.namespace)).toEqual([
            "shop",
            "shop"
          ])
        }
      })
  )

  it.scopedLive(
    "a list that is not allowed is said once with its RBAC rule; events go on with GETs, not held back",
    () =>
      Effect.gen(function* () {
        const sim = yield* simServer
        const [{ pod } = { pod: undefined }] = workloads(sim, 1, 0)
        sim.faults.add({ verb: "list", resource: "replicasets", action: { type: "forbidden" } })
        const logs = captureLogs()
        const { enricher: e } = yield* enricher(simKubeConfig(sim.url), settings({ listWatch: listWatch() })).pipe(
          Effect.provide(logs.layer)
        )
        const {
          value: [enrichment],
          ms
        } = yield* elapsed(e.enrichAll([eventAbout(pod as StoredKubeObject)]))
        expect(enrichment?.resource[R.deploymentName]).toBe("web-0")
        expect(ms).toBeLessThan(2_000)
        expect(sim.requests.count({ verb: "get", resource: "replicasets" })).toBe(1)
        expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(0)
        yield* waitFor(
          "a second list attempt",
          () => sim.requests.count({ verb: "list", resource: "replicasets" }) >= 3
        )
        const warnings = logs.warnings().filter((w) => w.includes("replicasets"))
        expect(warnings).toHaveLength(1)
        expect(warnings[0]).toContain(`{apiGroups: ["apps"], resources: ["replicasets"], verbs: ["list", "watch"]}`)
      })
  )
})

/** The chain an enrichment names: ReplicaSet, Deployment, service.name. */
const deploymentChain = (e: { readonly resource: Readonly<Record<string, string>> } | undefined) => [
  e?.resource[R.replicaSetName],
  e?.resource[R.deploymentName],
  e?.resource[R.serviceName]
]

const NO_CHAIN = [undefined, undefined, undefined]

/** Turns the event loop until the caches hold `n` objects of `kind` (their gauge says so). */
const spinUntilCached = (metrics: CollectorMetrics, kind: string, n: number) =>
  spinUntil(
    Effect.map(cached(metrics, kind), (m) => m === n),
    `${n} ${kind} objects cached`
  )

/** An Enricher with caches over a server with `deployments` Deployments of two pods, listed and watching. */
const watchingOver = (deployments: number, overrides: Partial<EnrichSettings> = {}) =>
  Effect.gen(function* () {
    const sim = yield* simServer
    const pods = workloads(sim, deployments, 0)
    const { enricher: e, metrics } = yield* enricher(
      simKubeConfig(sim.url),
      settings({ listWatch: listWatch(), ...overrides })
    )
    yield* e.enrichAll([])
    yield* spinUntil(
      Effect.sync(() => sim.openWatches === 3),
      "three watches"
    )
    return { sim, e, metrics, pods }
  })

describe("Enricher with list+watch caches, deleted objects, on the test clock", () => {
  it.scoped(
    "an event about a pod deleted a moment ago carries its ReplicaSet, Deployment and service.name for 2 minutes",
    () =>
      Effect.gen(function* () {
        const { sim, e, metrics, pods } = yield* watchingOver(1)
        const [gone, kept] = pods
        if (gone === undefined || kept === undefined) throw new Error("two pods")
        sim.store.delete(Resources.pods, NS, gone.pod.metadata.name)
        yield* spinUntilCached(metrics, "Pod", 1)

        const expected = [gone.owner, gone.top, gone.service]
        const [killing, fromKept] = yield* e.enrichAll([
          eventAbout(gone.pod, { reason: "Killing" }),
          eventAbout(kept.pod, { reason: "Started" })
        ])
        expect(deploymentChain(killing)).toEqual(expected)
        expect(killing?.resource[R.podUid]).toBe(gone.pod.metadata.uid)
        expect(killing?.resource[R.nodeName]).toBe(gone.node)
        expect(deploymentChain(fromKept)).toEqual([kept.owner, kept.top, kept.service])
        // Only what it was: an event about another pod under that name (another uid) is not given its chain.
        const [other] = yield* e.enrichAll([eventAbout(gone.pod, { uid: "another-pod-under-that-name" })])
        expect(deploymentChain(other)).toEqual(NO_CHAIN)
        const getsBefore = sim.requests.count({ verb: "get", resource: "pods" })

        yield* TestClock.adjust(Duration.subtract(DELETED_GRACE, Duration.millis(1)))
        const [backOff] = yield* e.enrichAll([eventAbout(gone.pod, { reason: "BackOff" })])
        expect(deploymentChain(backOff)).toEqual(expected)
        expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(getsBefore)
        expect(yield* cached(metrics, "Pod")).toBe(1)

        // Past the grace period it is forgotten: a GET finds nothing.
        yield* TestClock.adjust(Duration.millis(1))
        const [late] = yield* e.enrichAll([eventAbout(gone.pod, { reason: "BackOff" })])
        expect(late).toEqual({ resource: {}, labels: {} })
        expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(getsBefore + 1)
      })
  )

  it.scoped("workloads deleted with their pods: the pods' events go up through the deleted ReplicaSet and Job", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const pods = workloads(sim, 1, 1)
      const { enricher: e, metrics } = yield* enricher(simKubeConfig(sim.url), settings({ listWatch: listWatch() }))
      yield* e.enrichAll([])
      yield* spinUntil(
        Effect.sync(() => sim.openWatches === 3),
        "three watches"
      )
      const [fromDeployment, , fromCronJob] = pods
      if (fromDeployment === undefined || fromCronJob === undefined) throw new Error("three pods")
      // Deleted as the garbage collector deletes them: the owners, then what they owned.
      sim.store.delete(Resources.replicasets, NS, fromDeployment.owner)
      sim.store.delete(Resources.jobs, NS, fromCronJob.owner)
      sim.store.delete(Resources.pods, NS, fromDeployment.pod.metadata.name)
      sim.store.delete(Resources.pods, NS, fromCronJob.pod.metadata.name)
      yield* spinUntilCached(metrics, "ReplicaSet", 0)
      yield* spinUntilCached(metrics, "Job", 0)
      yield* spinUntilCached(metrics, "Pod", 1)

      const [a, b] = yield* e.enrichAll([eventAbout(fromDeployment.pod), eventAbout(fromCronJob.pod)])
      expect(deploymentChain(a)).toEqual([fromDeployment.owner, fromDeployment.top, fromDeployment.service])
      expect([b?.resource[R.jobName], b?.resource[R.cronJobName], b?.resource[R.serviceName]]).toEqual([
        fromCronJob.owner,
        fromCronJob.top,
        fromCronJob.service
      ])
      expect(sim.requests.count({ verb: "get" })).toBe(0)
    })
  )

  it.scoped("the deleted objects kept are the latest --enrichment-cache-size deletions", () =>
    Effect.gen(function* () {
      const { sim, e, metrics, pods } = yield* watchingOver(2, { cacheSize: 2 })
      expect(pods).toHaveLength(4)
      const deleted = pods.slice(0, 3)
      for (const [i, p] of deleted.entries()) {
        sim.store.delete(Resources.pods, NS, p.pod.metadata.name)
        yield* spinUntilCached(metrics, "Pod", 3 - i)
      }
      const enrichments = yield* e.enrichAll(deleted.map((p) => eventAbout(p.pod, { reason: "Killing" })))
      expect(enrichments.map(deploymentChain)).toEqual([
        NO_CHAIN,
        [deleted[1]?.owner, deleted[1]?.top, deleted[1]?.service],
        [deleted[2]?.owner, deleted[2]?.top, deleted[2]?.service]
      ])
    })
  )

  it.scoped(
    "a relist after 410: what the list lacks is deleted then, what was deleted before keeps its own 2 minutes",
    () =>
      Effect.gen(function* () {
        const { sim, e, metrics, pods } = yield* watchingOver(2)
        const [first, second, ...live] = pods
        if (first === undefined || second === undefined) throw new Error("four pods")
        const chainOf = (p: typeof first) => [p.owner, p.top, p.service]

        // At 0 the watch says the first pod was deleted.
        sim.store.delete(Resources.pods, NS, first.pod.metadata.name)
        yield* spinUntilCached(metrics, "Pod", 3)
        // The pods watch is cut and cannot be opened again at once (it is retried after a backoff)...
        sim.faults.add({ verb: "watch", resource: "pods", times: 1, action: { type: "resetConnection" } })
        sim.endWatches()
        yield* spinUntil(
          Effect.sync(() => sim.requests.filter({ verb: "watch", resource: "pods" }).length === 2),
          "the pods watch refused"
        )
        // ...meanwhile the second pod goes, and the history with it: the next watch is answered 410.
        sim.store.delete(Resources.pods, NS, second.pod.metadata.name)
        const tooOld = StatusBodies.expired("too old resource version")
        sim.faults.add({ verb: "watch", resource: "pods", times: 1, action: { type: "status", status: tooOld } })
        yield* TestClock.adjust(Duration.minutes(1))
        yield* spinUntil(
          Effect.sync(() => sim.requests.count({ verb: "list", resource: "pods" }) === 2),
          "the pods listed again"
        )
        yield* spinUntilCached(metrics, "Pod", 2)

        // At 1 min both carry their chain; the relist brought neither back as an object that exists.
        const both = [eventAbout(first.pod), eventAbout(second.pod)]
        expect((yield* e.enrichAll(both)).map(deploymentChain)).toEqual([chainOf(first), chainOf(second)])
        expect(yield* cached(metrics, "Pod")).toBe(2)
        // At 2 min the first is forgotten (deleted at 0), the second not (deleted at the relist, 1 min).
        yield* TestClock.adjust(Duration.minutes(1))
        expect((yield* e.enrichAll(both)).map(deploymentChain)).toEqual([NO_CHAIN, chainOf(second)])
        yield* TestClock.adjust(Duration.minutes(1))
        expect((yield* e.enrichAll(both)).map(deploymentChain)).toEqual([NO_CHAIN, NO_CHAIN])
        // The pods that exist were there all along.
        const fromLive = yield* e.enrichAll(live.map((p) => eventAbout(p.pod)))
        expect(fromLive.map(deploymentChain)).toEqual(live.map(chainOf))
      })
  )
})

describe("Enricher with list+watch caches, watch refused, on the test clock", () => {
  it.scoped("pods that may be listed but not watched are listed again every --enrichment-cache-ttl; said once", () =>
    Effect.gen(function* () {
      const ttl = Duration.minutes(1)
      const sim = yield* simServer
      const [gone, kept] = workloads(sim, 1, 0)
      if (gone === undefined || kept === undefined) throw new Error("two pods")
      sim.faults.add({ verb: "watch", resource: "pods", action: { type: "forbidden" } })
      const logs = captureLogs()
      const { enricher: e, metrics } = yield* enricher(
        simKubeConfig(sim.url),
        settings({ listWatch: listWatch(), cacheTtl: ttl })
      ).pipe(Effect.provide(logs.layer))
      yield* e.enrichAll([])
      const lists = () => sim.requests.count({ verb: "list", resource: "pods" })
      const watches = () => sim.requests.count({ verb: "watch", resource: "pods" })
      yield* spinUntil(
        Effect.sync(() => watches() === 1),
        "a pods watch refused"
      )
      expect(lists()).toBe(1)

      // What changes meanwhile no watch says: a pod deleted, two created.
      sim.store.delete(Resources.pods, NS, gone.pod.metadata.name)
      const rs = sim.store.get(Resources.replicasets, NS, kept.owner)?.object
      if (rs === undefined) throw new Error("the ReplicaSet")
      const added = sim.objects.pod({ name: `${kept.owner}-new`, namespace: NS, owner: rs, nodeName: "node-7" })
      sim.objects.pod({ name: `${kept.owner}-newer`, namespace: NS, owner: rs, nodeName: "node-7" })

      const took = yield* advanceUntil(
        "a second list of pods",
        () => lists() === 2,
        Duration.seconds(1),
        Duration.minutes(3)
      )
      // Listed again once the TTL has passed since the last list, at the next try of the watch (at most
      // --api-retry-max later); the watch was tried again meanwhile, so that it resumes once it is allowed.
      expect(Duration.toMillis(took)).toBeGreaterThanOrEqual(Duration.toMillis(ttl))
      expect(Duration.toMillis(took)).toBeLessThanOrEqual(Duration.toMillis(ttl) + 2_000)
      expect(watches()).toBeGreaterThan(3)
      yield* spinUntilCached(metrics, "Pod", 3)

      const getsBefore = sim.requests.count({ verb: "get", resource: "pods" })
      const [fromAdded, fromGone] = yield* e.enrichAll([eventAbout(added), eventAbout(gone.pod)])
      expect(deploymentChain(fromAdded)).toEqual([kept.owner, kept.top, undefined])
      expect(fromAdded?.resource[R.nodeName]).toBe("node-7")
      // Gone from the list: deleted then, and kept like every deleted pod.
      expect(deploymentChain(fromGone)).toEqual([gone.owner, gone.top, gone.service])
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(getsBefore)

      // And again a TTL later.
      const again = yield* advanceUntil(
        "a third list of pods",
        () => lists() === 3,
        Duration.seconds(1),
        Duration.minutes(3)
      )
      expect(Duration.toMillis(again)).toBeGreaterThanOrEqual(Duration.toMillis(ttl) - 2_000)
      expect(Duration.toMillis(again)).toBeLessThanOrEqual(Duration.toMillis(ttl) + 2_000)

      // Said once, with what to grant and what happens meanwhile; not again at each list.
      const warnings = logs.warnings().filter((w) => w.includes("pods"))
      expect(warnings).toEqual([
        expect.stringContaining("not allowed to watch pods in all namespaces for enrichment (HTTP 403)")
      ])
      expect(warnings[0]).toContain(`{apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"]}`)
      expect(warnings[0]).toContain("listed again every 1m")
      expect(logs.infos().filter((i) => i.includes("pods"))).toEqual([])

      // Allowed again: the watch resumes at its next try, and says so.
      sim.faults.clear()
      yield* advanceUntil("the pods watched", () => sim.openWatches === 3, Duration.seconds(1), Duration.minutes(1))
      const late = sim.objects.pod({ name: `${kept.owner}-late`, namespace: NS, owner: rs, nodeName: "node-8" })
      yield* spinUntilCached(metrics, "Pod", 4)
      expect(lists()).toBe(3)
      const [fromLate] = yield* e.enrichAll([eventAbout(late)])
      expect(fromLate?.resource[R.deploymentName]).toBe(kept.top)
      expect(logs.infos().filter((i) => i.includes("pods"))).toEqual([
        "enrichment: pods in all namespaces are watched again"
      ])
    })
  )

  it.scoped("however short --enrichment-cache-ttl is, a collection is listed again once a second at most", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      workloads(sim, 1, 0)
      sim.faults.add({ verb: "watch", resource: "pods", action: { type: "forbidden" } })
      const { enricher: e } = yield* enricher(
        simKubeConfig(sim.url),
        settings({ listWatch: listWatch(), cacheTtl: Duration.zero })
      )
      yield* e.enrichAll([])
      const lists = () => sim.requests.count({ verb: "list", resource: "pods" })
      const watches = () => sim.requests.count({ verb: "watch", resource: "pods" })
      // The clock standing still, nothing but the refused watch's backoff waits: no list after the first.
      yield* spinUntil(
        Effect.sync(() => watches() === 1),
        "the pods watch refused"
      )
      yield* spinTurns(2_000)
      expect(lists()).toBe(1)
      const took = yield* advanceUntil(
        "a second list of pods",
        () => lists() === 2,
        Duration.millis(100),
        Duration.seconds(10)
      )
      expect(Duration.toMillis(took)).toBeGreaterThanOrEqual(1_000)
    })
  )
})

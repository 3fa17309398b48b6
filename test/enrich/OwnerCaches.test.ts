/**
 * Enrichment with list+watch caches of pods, ReplicaSets and Jobs, against the simulated API server over real
 * HTTP: the first events carry the whole chain with no GET, objects created later arrive by the watch, a pod
 * that is gone still lets its event through after a bounded wait, --namespaces scopes the caches, and a list
 * that is not allowed falls back to GETs without holding events back.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { Resource as R } from "../../src/domain/attributes.ts"
import type { ListWatchSettings } from "../../src/enrich/OwnerCaches.ts"
import type { CollectorMetrics } from "../../src/observability/Metrics.ts"
import {
  Resources,
  SERVICE_NAME_ANNOTATION,
  simKubeConfig,
  StatusBodies,
  type StoredKubeObject
} from "@k8s-event-collector/sim"
import {
  captureLogs,
  counterValue,
  elapsed,
  enricher,
  eventAbout,
  NS,
  settings,
  simServer,
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

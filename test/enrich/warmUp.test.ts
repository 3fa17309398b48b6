/**
 * The timing of enrichment with list+watch caches, on the test clock: no event is enriched before the caches
 * are listed, the wait for a list that never comes is bounded by WARM_UP_LIMIT, and an event about a pod that
 * is gone waits for its GET at most the lookup timeout. The API is answered by in-memory `KubeApi` and
 * `OwnerLookup` services holding objects built by the simulator's builders (no HTTP: the test clock rules).
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Fiber, Layer, Option, Stream, TestClock } from "effect"
import { Resource as R } from "../../src/domain/attributes.ts"
import { Enricher } from "../../src/enrich/Enricher.ts"
import { WARM_UP_LIMIT } from "../../src/enrich/OwnerCaches.ts"
import { type LookupAnswer, OwnerLookup } from "../../src/enrich/OwnerLookup.ts"
import { CollectorMetrics, Metrics } from "../../src/observability/Metrics.ts"
import { SimObjects, VersionedStore } from "@k8s-event-collector/sim"
import { KubeApi, type ListPage } from "../../src/kube/KubeApi.ts"
import { captureLogs, eventAbout, NS, settings } from "./support.ts"

const LOOKUP_TIMEOUT = Duration.millis(250)

const world = () => {
  const objects = new SimObjects(new VersionedStore())
  const deployment = objects.deployment({ name: "web", namespace: NS })
  const rs = objects.replicaSet({ name: "web-7d9f8b", namespace: NS, owner: deployment })
  const pod = objects.pod({ name: "web-7d9f8b-x2x9q", namespace: NS, owner: rs, nodeName: "node-1" })
  const gone = objects.pod({ name: "gone", namespace: NS, owner: rs, nodeName: "node-1" })
  return { rs, pod, gone }
}

/** Lists what `items` gives by path (after `listed`, when given); watches that never say anything. */
const kubeApi = (items: (path: string) => ReadonlyArray<unknown>, listed?: Deferred.Deferred<void>) =>
  Layer.succeed(KubeApi, {
    server: "memory",
    list: (request) =>
      Effect.gen(function* () {
        if (listed !== undefined) yield* Deferred.await(listed)
        return {
          items: items(request.collection.path),
          resourceVersion: "1",
          continueToken: undefined
        } satisfies ListPage
      }),
    watch: () => Stream.never
  })

/** GETs answered by `answer`; each call counted in `calls`. */
const ownerLookup = (answer: (name: string) => Effect.Effect<LookupAnswer>, calls: Array<string>) =>
  Layer.succeed(OwnerLookup, {
    get: (key) =>
      Effect.suspend(() => {
        calls.push(`${key.workload.resource}/${key.name}`)
        return answer(key.name)
      })
  })

const build = (api: Layer.Layer<KubeApi>, lookup: Layer.Layer<OwnerLookup>) =>
  Effect.gen(function* () {
    const s = settings({
      lookupTimeout: LOOKUP_TIMEOUT,
      listWatch: {
        namespaces: [],
        pageSize: 500,
        watchTimeout: Duration.minutes(5),
        watchIdleTimeout: Duration.minutes(11),
        retryInitial: Duration.seconds(1),
        retryMax: Duration.seconds(30)
      }
    })
    const layer = Enricher.layerWithLookup(s).pipe(
      Layer.provide(Layer.mergeAll(api, lookup, Layer.succeed(Metrics, new CollectorMetrics())))
    )
    return Context.get(yield* Layer.build(layer), Enricher)
  })

const byResource = (w: ReturnType<typeof world>) => (path: string) =>
  path.endsWith("/pods") ? [w.pod] : path.endsWith("/replicasets") ? [w.rs] : []

describe("enrichment timing with list+watch caches", () => {
  it.scoped("a list item that is not an object is said once and skipped; the others are cached", () =>
    Effect.gen(function* () {
      const w = world()
      const logs = captureLogs()
      const calls: Array<string> = []
      const items = (path: string) =>
        path.endsWith("/pods") ? [42, { metadata: { name: "no-namespace" } }, w.pod] : byResource(w)(path)
      const e = yield* build(
        kubeApi(items),
        ownerLookup(() => Effect.succeed({ _tag: "NotFound" }), calls)
      ).pipe(Effect.provide(logs.layer))
      const [enrichment] = yield* e.enrichAll([eventAbout(w.pod)])
      expect(enrichment?.resource[R.deploymentName]).toBe("web")
      expect(calls).toEqual([])
      expect(logs.warnings()).toEqual([
        "enrichment: the list of pods in all namespaces had 2 entries that are not objects, skipped; " +
          "the first: an item is not a namespaced object: 42"
      ])
    })
  )

  it.scoped(
    "no event is enriched before the caches are listed; then the first one carries the chain, with no GET",
    () =>
      Effect.gen(function* () {
        const w = world()
        const listed = yield* Deferred.make<void>()
        const calls: Array<string> = []
        const e = yield* build(
          kubeApi(byResource(w), listed),
          ownerLookup(() => Effect.succeed({ _tag: "NotFound" }), calls)
        )
        const fiber = yield* Effect.fork(e.enrichAll([eventAbout(w.pod)]))
        yield* TestClock.adjust(Duration.seconds(10))
        expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)

        yield* Deferred.succeed(listed, undefined)
        const [enrichment] = yield* Fiber.join(fiber)
        expect(enrichment?.resource[R.replicaSetName]).toBe("web-7d9f8b")
        expect(enrichment?.resource[R.deploymentName]).toBe("web")
        expect(calls).toEqual([])
      })
  )

  it.scoped("lists that never answer hold the first events back for WARM_UP_LIMIT, no longer; GETs then fill in", () =>
    Effect.gen(function* () {
      const w = world()
      const never = yield* Deferred.make<void>()
      const calls: Array<string> = []
      const found = (name: string): LookupAnswer => {
        const o = name === w.pod.metadata.name ? w.pod : w.rs
        const owner = o.metadata.ownerReferences?.[0]
        return {
          _tag: "Found",
          object: {
            uid: o.metadata.uid,
            labels: {},
            serviceName: undefined,
            serviceNamespace: undefined,
            controller:
              owner === undefined
                ? undefined
                : { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid },
            nodeName: undefined
          }
        }
      }
      const e = yield* build(
        kubeApi(byResource(w), never),
        ownerLookup((name) => Effect.succeed(found(name)), calls)
      )
      const fiber = yield* Effect.fork(e.enrichAll([eventAbout(w.pod)]))
      yield* TestClock.adjust(Duration.subtract(WARM_UP_LIMIT, Duration.millis(1)))
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      const [enrichment] = yield* Fiber.join(fiber)
      expect(enrichment?.resource[R.deploymentName]).toBe("web")
      expect(calls).toEqual([`pods/${w.pod.metadata.name}`, `replicasets/${w.rs.metadata.name}`])
    })
  )

  it.scoped("an event about a pod that is gone goes out with what it says once the lookup timeout has passed", () =>
    Effect.gen(function* () {
      const w = world()
      const calls: Array<string> = []
      // The GET never answers: only the bounded wait lets the event go.
      const e = yield* build(
        kubeApi(byResource(w)),
        ownerLookup(() => Effect.never, calls)
      )
      yield* e.enrichAll([])
      const fiber = yield* Effect.fork(e.enrichAll([eventAbout(w.gone), eventAbout(w.pod)]))
      yield* TestClock.adjust(Duration.subtract(LOOKUP_TIMEOUT, Duration.millis(1)))
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      const [fromGone, fromPod] = yield* Fiber.join(fiber)
      expect(fromGone).toEqual({ resource: {}, labels: {} })
      expect(fromPod?.resource[R.deploymentName]).toBe("web")
      expect(calls).toEqual([`pods/gone`])
    })
  )
})

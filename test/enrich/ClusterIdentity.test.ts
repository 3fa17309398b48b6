/**
 * `k8s.cluster.uid`: the uid of the `kube-system` namespace (OpenTelemetry semantic conventions, k8s.cluster.uid),
 * read with one GET against the simulated API server over real HTTP. When it cannot be read, start-up goes on
 * without it and one warning says which call failed, why, and the RBAC rule that grants it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Option, TestClock } from "effect"
import { CLUSTER_UID_API_CALLS } from "../../src/domain/apiCalls.ts"
import { CLUSTER_UID_TIMEOUT, ClusterIdentity, readClusterUid } from "../../src/enrich/ClusterIdentity.ts"
import { makeKubeHttp } from "../../src/kube/KubeHttp.ts"
import { KUBE_SYSTEM_UID, simKubeConfig } from "@k8s-event-collector/sim"
import { captureLogs, simServer } from "./support.ts"

/** The rule the chart's ClusterRole has (charts/k8s-event-collector/templates/_helpers.tpl), as a user writes it. */
const RULE = '{apiGroups: [""], resources: ["namespaces"], resourceNames: ["kube-system"], verbs: ["get"]}'

describe("ClusterIdentity", () => {
  it.scopedLive("is the uid of the kube-system namespace, read with the one call CLUSTER_UID_API_CALLS lists", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const kubeSystem = sim.objects.kubeSystemNamespace()
      // Another namespace must not be taken for it.
      sim.objects.namespace("default")
      const logs = captureLogs()
      const context = yield* Layer.build(ClusterIdentity.layer(simKubeConfig(sim.url))).pipe(Effect.provide(logs.layer))
      const uid = Context.get(context, ClusterIdentity).uid
      expect(uid).toBe(kubeSystem.metadata.uid)
      expect(uid).toBe(KUBE_SYSTEM_UID)
      expect(logs.lines).toEqual([])
      const requests = sim.requests.filter({})
      expect(requests.map((r) => ({ verb: r.verb, group: r.group, resource: r.resource, name: r.name }))).toEqual(
        CLUSTER_UID_API_CALLS.map((c) => ({ verb: c.verb, group: c.group, resource: c.resource, name: c.resourceName }))
      )
      expect(requests[0]?.namespace).toBeUndefined()
    })
  )

  it.scopedLive(
    "forbidden (HTTP 403): no uid, and one warning naming the call, the RBAC rule and the server's words",
    () =>
      Effect.gen(function* () {
        const sim = yield* simServer
        sim.objects.kubeSystemNamespace()
        sim.faults.add({ verb: "get", resource: "namespaces", action: { type: "forbidden" } })
        const logs = captureLogs()
        const uid = yield* readClusterUid(makeKubeHttp(simKubeConfig(sim.url))).pipe(Effect.provide(logs.layer))
        expect(uid).toBeUndefined()
        expect(logs.lines).toHaveLength(1)
        const [warning] = logs.warnings()
        expect(warning).toMatch(/^records carry no k8s\.cluster\.uid: could not get namespace kube-system/)
        expect(warning).toContain(`from ${sim.url}: not allowed (HTTP 403)`)
        expect(warning).toContain(RULE)
        expect(warning).toContain("in a ClusterRole bound with a ClusterRoleBinding")
        expect(warning).toContain("the Roles of watched namespaces do not cover it")
        // The API server's own message (kube-apiserver's wording, as the simulator answers it).
        expect(warning).toMatch(/The API server said: namespaces "kube-system" is forbidden: User ".*" cannot get/)
        expect(sim.requests.count({ resource: "namespaces" })).toBe(1)
      })
  )

  it.scopedLive("no kube-system namespace (HTTP 404): no uid, and one warning saying so", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const logs = captureLogs()
      const context = yield* Layer.build(ClusterIdentity.layer(simKubeConfig(sim.url))).pipe(Effect.provide(logs.layer))
      expect(Context.get(context, ClusterIdentity).uid).toBeUndefined()
      expect(logs.warnings()).toEqual([
        expect.stringMatching(
          /could not get namespace kube-system .*: the API server has no such namespace \(HTTP 404\)/
        )
      ])
      expect(logs.warnings()[0]).toContain('The API server said: namespaces "kube-system" not found')
      expect(logs.lines).toHaveLength(1)
    })
  )

  it.scopedLive("an API server that cannot be reached: no uid, and one warning with the network error", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const url = sim.url
      yield* Effect.promise(() => sim.close())
      const logs = captureLogs()
      const uid = yield* readClusterUid(makeKubeHttp(simKubeConfig(url))).pipe(Effect.provide(logs.layer))
      expect(uid).toBeUndefined()
      expect(logs.warnings()).toEqual([expect.stringMatching(new RegExp(`from ${url}: no answer: .*ECONNREFUSED`))])
    })
  )

  it.effect("an API server that does not answer holds start-up for CLUSTER_UID_TIMEOUT at most", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const silent = { server: "https://silent.example:6443", call: () => Effect.never }
      const fiber = yield* Effect.fork(readClusterUid(silent).pipe(Effect.provide(logs.layer)))
      yield* TestClock.adjust(Duration.subtract(CLUSTER_UID_TIMEOUT, Duration.millis(1)))
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* Fiber.join(fiber)).toBeUndefined()
      expect(logs.warnings()).toEqual([
        "records carry no k8s.cluster.uid: could not get namespace kube-system (its uid is the cluster's) from " +
          "https://silent.example:6443: no answer within 10s. Start-up goes on without it; it is read only at " +
          "start, so a restart adds it once this is fixed."
      ])
    })
  )

  it.effect("an answer that is not a Namespace with a uid gives no uid, and says so", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const odd = {
        server: "https://odd.example:6443",
        call: () => Effect.succeed({ status: 200, headers: {}, text: '{"kind":"Namespace","metadata":{"uid":""}}' })
      }
      expect(yield* readClusterUid(odd).pipe(Effect.provide(logs.layer))).toBeUndefined()
      expect(logs.warnings()).toEqual([
        expect.stringContaining("odd.example:6443: the answer is not a Namespace with a uid.")
      ])
    })
  )

  it("layerNoop: no uid, and no call", () => {
    const context = Effect.runSync(Layer.build(ClusterIdentity.layerNoop).pipe(Effect.scoped))
    expect(Context.get(context, ClusterIdentity).uid).toBeUndefined()
  })
})

/**
 * Owner-chain enrichment against the simulated API server over real HTTP: the chains by workload kind, one GET
 * per object however many events ask, 403 and slow answers, cache expiry, and the service.name rules.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { Resource as R } from "../../src/domain/attributes.ts"
import { Enricher, ENRICHMENT_API_CALLS } from "../../src/enrich/Enricher.ts"
import { Resources, SERVICE_NAME_ANNOTATION, simKubeConfig } from "@k8s-event-collector/sim"
import { eventResourceAttributes } from "../../src/translate/resource.ts"
import { captureLogs, elapsed, enricher, eventAbout, lookups, NS, settings, simServer } from "./support.ts"

/** Timer, HTTP and scheduling latency allowed on top of a deadline. */
const SLACK_MS = 250

describe("Enricher", () => {
  it.scopedLive("a Deployment's pod carries its ReplicaSet, Deployment, uid, node and annotated service.name", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const deployment = sim.objects.deployment({ name: "web", namespace: NS })
      const rs = sim.objects.replicaSet({ name: "web-7d9f8b", namespace: NS, owner: deployment })
      const pod = sim.objects.pod({
        name: "web-7d9f8b-x2x9q",
        namespace: NS,
        owner: rs,
        nodeName: "node-1",
        annotations: {
          [SERVICE_NAME_ANNOTATION]: "checkout",
          "resource.opentelemetry.io/service.namespace": "shop-team"
        }
      })
      const { enricher: e } = yield* enricher(simKubeConfig(sim.url), settings())
      const event = eventAbout(pod, { reason: "BackOff" })
      const [enrichment] = yield* e.enrichAll([event])

      expect(enrichment?.resource).toEqual({
        [R.podUid]: pod.metadata.uid,
        [R.nodeName]: "node-1",
        [R.replicaSetName]: "web-7d9f8b",
        [R.replicaSetUid]: rs.metadata.uid,
        [R.deploymentName]: "web",
        [R.deploymentUid]: deployment.metadata.uid,
        [R.serviceName]: "checkout",
        [R.serviceNamespace]: "shop-team"
      })
      expect(enrichment?.labels).toEqual(pod.metadata.labels)
      // Merged by the translator: the pod's node wins over the event's source.host.
      const attrs = eventResourceAttributes(event, enrichment?.resource)
      expect(attrs[R.nodeName]).toBe("node-1")
      expect(attrs[R.serviceName]).toBe("checkout")
      expect(attrs[R.podName]).toBe(pod.metadata.name)
      // The Deployment's name and uid come from the ReplicaSet's owner reference: no GET of the Deployment.
      expect(sim.requests.count({ verb: "get", resource: "deployments" })).toBe(0)
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(1)
      expect(sim.requests.count({ verb: "get", resource: "replicasets" })).toBe(1)
    })
  )

  it.scopedLive(
    "a CronJob's pod carries the Job and the CronJob; a StatefulSet's and a DaemonSet's pods their workload",
    () =>
      Effect.gen(function* () {
        const sim = yield* simServer
        const cronJob = sim.objects.cronJob({ name: "backup", namespace: NS })
        const job = sim.objects.job({ name: "backup-29170560", namespace: NS, owner: cronJob })
        const jobPod = sim.objects.pod({ name: "backup-29170560-7xk2p", namespace: NS, owner: job, nodeName: "node-2" })
        const statefulSet = sim.objects.statefulSet({ name: "db", namespace: NS })
        const dbPod = sim.objects.pod({ name: "db-0", namespace: NS, owner: statefulSet, nodeName: "node-3" })
        const daemonSet = sim.objects.daemonSet({ name: "log-agent", namespace: NS })
        const agentPod = sim.objects.pod({
          name: "log-agent-q8vn4",
          namespace: NS,
          owner: daemonSet,
          nodeName: "node-1"
        })
        const { enricher: e } = yield* enricher(simKubeConfig(sim.url), settings())

        const [fromJob, fromStatefulSet, fromDaemonSet] = yield* e.enrichAll([
          eventAbout(jobPod),
          eventAbout(dbPod),
          eventAbout(agentPod)
        ])
        expect(fromJob?.resource).toMatchObject({
          [R.jobName]: "backup-29170560",
          [R.jobUid]: job.metadata.uid,
          [R.cronJobName]: "backup",
          [R.cronJobUid]: cronJob.metadata.uid,
          [R.podUid]: jobPod.metadata.uid,
          [R.nodeName]: "node-2"
        })
        expect(fromStatefulSet?.resource).toEqual({
          [R.podUid]: dbPod.metadata.uid,
          [R.nodeName]: "node-3",
          [R.statefulSetName]: "db",
          [R.statefulSetUid]: statefulSet.metadata.uid
        })
        expect(fromDaemonSet?.resource).toMatchObject({
          [R.daemonSetName]: "log-agent",
          [R.daemonSetUid]: daemonSet.metadata.uid
        })
        // The StatefulSet and DaemonSet are named by the pods' owner references; only the Job is read to reach the
        // CronJob.
        expect(sim.requests.count({ verb: "get", resource: "statefulsets" })).toBe(0)
        expect(sim.requests.count({ verb: "get", resource: "daemonsets" })).toBe(0)
        expect(sim.requests.count({ verb: "get", resource: "cronjobs" })).toBe(0)
        expect(sim.requests.count({ verb: "get", resource: "jobs" })).toBe(1)
      })
  )

  it.scopedLive("an event about a ReplicaSet or a Job resolves upward; a Node event adds nothing", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const deployment = sim.objects.deployment({ name: "api", namespace: NS })
      const rs = sim.objects.replicaSet({ name: "api-5c8d7", namespace: NS, owner: deployment })
      const cronJob = sim.objects.cronJob({ name: "report", namespace: NS })
      const job = sim.objects.job({ name: "report-1", namespace: NS, owner: cronJob })
      const node = sim.objects.node("node-1")
      const { enricher: e } = yield* enricher(simKubeConfig(sim.url), settings())

      const [fromRs, fromJob, fromNode] = yield* e.enrichAll([
        eventAbout(rs, { reason: "SuccessfulCreate" }),
        eventAbout(job),
        eventAbout(node)
      ])
      expect(fromRs?.resource).toEqual({
        [R.replicaSetUid]: rs.metadata.uid,
        [R.deploymentName]: "api",
        [R.deploymentUid]: deployment.metadata.uid
      })
      expect(fromRs?.labels).toEqual(rs.metadata.labels)
      expect(fromJob?.resource).toMatchObject({ [R.cronJobName]: "report", [R.cronJobUid]: cronJob.metadata.uid })
      expect(fromNode).toEqual({ resource: {}, labels: {} })
      expect(sim.requests.count({ verb: "get", resource: "nodes" })).toBe(0)
    })
  )

  it.scopedLive("1 000 events about 50 pods of one Deployment cost one GET per object", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const deployment = sim.objects.deployment({ name: "shop", namespace: NS, replicas: 50 })
      const rs = sim.objects.replicaSet({ name: "shop-6b7f9", namespace: NS, owner: deployment })
      const pods = Array.from({ length: 50 }, (_, i) =>
        sim.objects.pod({ name: `shop-6b7f9-${i}`, namespace: NS, owner: rs, nodeName: `node-${i % 3}` })
      )
      const events = Array.from({ length: 1000 }, (_, i) => eventAbout(pods[i % 50]!))
      const { enricher: e, metrics } = yield* enricher(simKubeConfig(sim.url), settings())

      // Ten chunks at once: concurrent lookups of one object share its GET.
      const chunks = Array.from({ length: 10 }, (_, c) => events.slice(c * 100, (c + 1) * 100))
      const results = (yield* Effect.all(
        chunks.map((chunk) => e.enrichAll(chunk)),
        { concurrency: "unbounded" }
      )).flat()

      expect(results).toHaveLength(1000)
      results.forEach((r, i) => {
        expect(r.resource[R.deploymentName]).toBe("shop")
        expect(r.resource[R.podUid]).toBe(pods[i % 50]?.metadata.uid)
      })
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(50)
      expect(sim.requests.count({ verb: "get", resource: "replicasets" })).toBe(1)
      expect(sim.requests.count({ verb: "get" })).toBe(51)
      const podPaths = sim.requests.filter({ verb: "get", resource: "pods" }).map((r) => r.path)
      expect(new Set(podPaths).size).toBe(50)

      // Another burst is served from the cache alone.
      const again = yield* e.enrichAll(events)
      expect(again.every((r) => r.resource[R.deploymentName] === "shop")).toBe(true)
      expect(sim.requests.count({ verb: "get" })).toBe(51)
      expect((yield* lookups(metrics, "Pod", "miss")) + (yield* lookups(metrics, "Pod", "hit"))).toBe(2000)
      expect(yield* lookups(metrics, "Pod", "hit")).toBeGreaterThanOrEqual(1000)
      expect(yield* lookups(metrics, "Pod", "timeout")).toBe(0)
    })
  )

  it.scopedLive("a chunk that arrives while a GET is in flight waits on that GET instead of sending another", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const pod = sim.objects.pod({ name: "p", namespace: NS, nodeName: "node-1" })
      sim.faults.add({ resource: "pods", verb: "get", action: { type: "delay", ms: 300 }, times: 1 })
      const { enricher: e, metrics } = yield* enricher(simKubeConfig(sim.url), settings())

      const first = yield* Effect.fork(e.enrichAll([eventAbout(pod)]))
      yield* Effect.sleep(Duration.millis(100))
      const second = yield* e.enrichAll([eventAbout(pod)])
      const firstResult = yield* first.await
      expect(second[0]?.resource[R.nodeName]).toBe("node-1")
      expect(firstResult._tag === "Success" ? firstResult.value[0]?.resource[R.nodeName] : undefined).toBe("node-1")
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(1)
      expect(yield* lookups(metrics, "Pod", "miss")).toBe(2)
    })
  )

  it.scopedLive(
    "a 403 on pods leaves events unenriched, warns once naming the RBAC rule, and is not asked again per event",
    () => {
      const logs = captureLogs()
      return Effect.gen(function* () {
        const sim = yield* simServer
        const deployment = sim.objects.deployment({ name: "web", namespace: NS })
        const rs = sim.objects.replicaSet({ name: "web-1", namespace: NS, owner: deployment })
        const pods = Array.from({ length: 5 }, (_, i) =>
          sim.objects.pod({ name: `web-1-${i}`, namespace: NS, owner: rs })
        )
        sim.faults.add({ resource: "pods", verb: "get", action: { type: "forbidden" } })
        const { enricher: e, metrics } = yield* enricher(simKubeConfig(sim.url), settings())

        const first = yield* e.enrichAll(Array.from({ length: 100 }, (_, i) => eventAbout(pods[i % 5]!)))
        expect(first.every((r) => Object.keys(r.resource).length === 0 && Object.keys(r.labels).length === 0)).toBe(
          true
        )
        const afterFirst = sim.requests.count({ verb: "get", resource: "pods" })
        expect(afterFirst).toBeGreaterThanOrEqual(1)
        expect(afterFirst).toBeLessThanOrEqual(5)

        for (let i = 0; i < 5; i++) yield* e.enrichAll(Array.from({ length: 100 }, (_, j) => eventAbout(pods[j % 5]!)))
        expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(afterFirst)
        expect(yield* lookups(metrics, "Pod", "forbidden")).toBe(600)

        const warnings = logs.warnings()
        expect(warnings).toHaveLength(1)
        expect(warnings[0]).toContain("not allowed to get pods")
        expect(warnings[0]).toContain(`{apiGroups: [""], resources: ["pods"], verbs: ["get"]}`)
        expect(warnings[0]).toContain("Events keep flowing")

        // Other kinds still work: an event about the ReplicaSet gets its Deployment.
        const [fromRs] = yield* e.enrichAll([eventAbout(rs)])
        expect(fromRs?.resource[R.deploymentName]).toBe("web")
      }).pipe(Effect.provide(logs.layer))
    }
  )

  it.scopedLive("a 403 is asked again after the cache TTL, and enrichment resumes when access is granted", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const sim = yield* simServer
      const pod = sim.objects.pod({ name: "solo", namespace: NS, nodeName: "node-1" })
      const fault = sim.faults.add({ resource: "pods", verb: "get", action: { type: "forbidden" } })
      const { enricher: e } = yield* enricher(simKubeConfig(sim.url), settings({ cacheTtl: Duration.millis(300) }))

      const [denied] = yield* e.enrichAll([eventAbout(pod)])
      expect(denied?.resource).toEqual({})
      yield* e.enrichAll([eventAbout(pod)])
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(1)

      fault.clear()
      yield* Effect.sleep(Duration.millis(400))
      const [granted] = yield* e.enrichAll([eventAbout(pod)])
      expect(granted?.resource[R.nodeName]).toBe("node-1")
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(2)
      expect(logs.lines.some((l) => l.text.includes("get pods works again"))).toBe(true)
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive(
    "a slow API: the chunk returns within lookupTimeout with what is known; later events get everything",
    () =>
      Effect.gen(function* () {
        const sim = yield* simServer
        const deployment = sim.objects.deployment({ name: "web", namespace: NS })
        const rs = sim.objects.replicaSet({ name: "web-2", namespace: NS, owner: deployment })
        const pod = sim.objects.pod({ name: "web-2-a", namespace: NS, owner: rs, nodeName: "node-1" })
        sim.faults.add({ resource: "replicasets", verb: "get", action: { type: "delay", ms: 1200 }, times: 1 })
        const timeout = 300
        const { enricher: e, metrics } = yield* enricher(
          simKubeConfig(sim.url),
          settings({ lookupTimeout: Duration.millis(timeout) })
        )

        // The pod answers at once, its ReplicaSet does not: the event keeps what the pod said.
        const first = yield* elapsed(e.enrichAll([eventAbout(pod)]))
        expect(first.ms).toBeLessThan(timeout + SLACK_MS)
        expect(first.value[0]?.resource).toEqual({
          [R.podUid]: pod.metadata.uid,
          [R.nodeName]: "node-1",
          [R.replicaSetName]: "web-2",
          [R.replicaSetUid]: rs.metadata.uid
        })
        expect(yield* lookups(metrics, "ReplicaSet", "timeout")).toBe(1)

        // While that GET is still out, more chunks neither wait for it again nor send another.
        const second = yield* elapsed(e.enrichAll([eventAbout(pod)]))
        expect(second.ms).toBeLessThan(SLACK_MS)
        expect(second.value[0]?.resource[R.deploymentName]).toBeUndefined()

        yield* Effect.sleep(Duration.millis(1200 - first.ms - second.ms + 100))
        const later = yield* e.enrichAll([eventAbout(pod)])
        expect(later[0]?.resource[R.deploymentName]).toBe("web")
        expect(sim.requests.count({ verb: "get", resource: "replicasets" })).toBe(1)
        expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(1)
      })
  )

  it.scopedLive("a slow pod lookup: the event goes out unenriched in time, and the answer fills the cache", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const pod = sim.objects.pod({ name: "slow", namespace: NS, nodeName: "node-9" })
      sim.faults.add({ resource: "pods", verb: "get", action: { type: "delay", ms: 800 }, times: 1 })
      const { enricher: e, metrics } = yield* enricher(
        simKubeConfig(sim.url),
        settings({ lookupTimeout: Duration.millis(200) })
      )

      const first = yield* elapsed(e.enrichAll([eventAbout(pod), eventAbout(pod)]))
      expect(first.ms).toBeLessThan(200 + SLACK_MS)
      expect(first.value.map((r) => r.resource)).toEqual([{}, {}])
      expect(yield* lookups(metrics, "Pod", "timeout")).toBe(2)

      yield* Effect.sleep(Duration.millis(800))
      const later = yield* elapsed(e.enrichAll([eventAbout(pod)]))
      expect(later.value[0]?.resource[R.nodeName]).toBe("node-9")
      expect(later.ms).toBeLessThan(50)
      expect(yield* lookups(metrics, "Pod", "hit")).toBe(1)
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(1)
    })
  )

  it.scopedLive(
    "a failing API: the event goes out, the error is counted and said once, and not retried for every chunk",
    () => {
      const logs = captureLogs()
      return Effect.gen(function* () {
        const sim = yield* simServer
        const pod = sim.objects.pod({ name: "p", namespace: NS, nodeName: "node-1" })
        sim.faults.add({ resource: "pods", verb: "get", action: { type: "internalError" }, times: 1 })
        const { enricher: e, metrics } = yield* enricher(simKubeConfig(sim.url), settings())

        const [failed] = yield* e.enrichAll([eventAbout(pod)])
        expect(failed?.resource).toEqual({})
        yield* e.enrichAll([eventAbout(pod)])
        expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(1)
        expect(yield* lookups(metrics, "Pod", "error")).toBe(2)
        expect(logs.warnings()).toHaveLength(1)
        expect(logs.warnings()[0]).toMatch(
          new RegExp(`^enrichment: get pods ${NS}/p failed with HTTP 500 InternalError: .*; events about it go out`)
        )
      }).pipe(Effect.provide(logs.layer))
    }
  )

  it.scopedLive("a 404 is read again once, a second later: a StatefulSet pod comes back under its name", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const statefulSet = sim.objects.statefulSet({ name: "kafka", namespace: NS })
      const gone = sim.objects.pod({ name: "kafka-0", namespace: NS, owner: statefulSet })
      sim.store.delete(Resources.pods, NS, "kafka-0")
      const { enricher: e, metrics } = yield* enricher(simKubeConfig(sim.url), settings())

      const [missing] = yield* e.enrichAll([eventAbout(gone, { reason: "Killing" })])
      expect(missing?.resource).toEqual({})
      yield* e.enrichAll([eventAbout(gone)])
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(1)
      expect(yield* lookups(metrics, "Pod", "not_found")).toBe(2)

      const back = sim.objects.pod({ name: "kafka-0", namespace: NS, owner: statefulSet, nodeName: "node-4" })
      yield* Effect.sleep(Duration.millis(1100))
      const [found] = yield* e.enrichAll([eventAbout(back, { reason: "Scheduled" })])
      expect(found?.resource).toMatchObject({ [R.podUid]: back.metadata.uid, [R.statefulSetName]: "kafka" })
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(2)
    })
  )

  it.scopedLive("cached objects expire after cacheTtl", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const pod = sim.objects.pod({ name: "p", namespace: NS, nodeName: "node-1" })
      const { enricher: e } = yield* enricher(simKubeConfig(sim.url), settings({ cacheTtl: Duration.millis(300) }))

      yield* e.enrichAll([eventAbout(pod)])
      yield* e.enrichAll([eventAbout(pod)])
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(1)
      yield* Effect.sleep(Duration.millis(400))
      const [after] = yield* e.enrichAll([eventAbout(pod)])
      expect(after?.resource[R.nodeName]).toBe("node-1")
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(2)
    })
  )

  it.scopedLive("the cache holds at most cacheSize objects, least recently used out", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const pods = ["a", "b", "c"].map((name) => sim.objects.pod({ name, namespace: NS, nodeName: "node-1" }))
      const { enricher: e } = yield* enricher(simKubeConfig(sim.url), settings({ cacheSize: 2 }))
      const [a, b, c] = pods.map((p) => eventAbout(p))

      yield* e.enrichAll([a!, b!])
      yield* e.enrichAll([a!]) // a is now the most recently used
      yield* e.enrichAll([c!]) // evicts b
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(3)
      yield* e.enrichAll([a!, c!])
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(3)
      yield* e.enrichAll([b!])
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(4)
    })
  )

  it.scopedLive("service.name from the well-known labels only when serviceNameFromLabels; the annotation first", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const withInstance = sim.objects.pod({
        name: "i",
        namespace: NS,
        labels: { "app.kubernetes.io/instance": "shop-web", "app.kubernetes.io/name": "web" }
      })
      const withName = sim.objects.pod({ name: "n", namespace: NS, labels: { "app.kubernetes.io/name": "cart" } })
      const annotated = sim.objects.pod({
        name: "a",
        namespace: NS,
        labels: { "app.kubernetes.io/instance": "shop-web" },
        annotations: { [SERVICE_NAME_ANNOTATION]: "payments" }
      })
      const kc = simKubeConfig(sim.url)
      const events = [eventAbout(withInstance), eventAbout(withName), eventAbout(annotated)]

      const { enricher: off } = yield* enricher(kc, settings({ serviceNameFromLabels: false }))
      expect((yield* off.enrichAll(events)).map((r) => r.resource[R.serviceName])).toEqual([
        undefined,
        undefined,
        "payments"
      ])
      const { enricher: on } = yield* enricher(kc, settings({ serviceNameFromLabels: true }))
      expect((yield* on.enrichAll(events)).map((r) => r.resource[R.serviceName])).toEqual([
        "shop-web",
        "cart",
        "payments"
      ])
    })
  )

  it.scopedLive(
    "podLabels are copied as k8s.pod.label.<key>; the involved object's labels come along for filters",
    () =>
      Effect.gen(function* () {
        const sim = yield* simServer
        const pod = sim.objects.pod({
          name: "labelled",
          namespace: NS,
          labels: { team: "payments", tier: "backend", "app.kubernetes.io/name": "pay" }
        })
        const { enricher: e } = yield* enricher(
          simKubeConfig(sim.url),
          settings({ podLabels: ["team", "app.kubernetes.io/name", "absent"] })
        )
        const [r] = yield* e.enrichAll([eventAbout(pod)])
        expect(r?.resource).toMatchObject({
          "k8s.pod.label.team": "payments",
          "k8s.pod.label.app.kubernetes.io/name": "pay"
        })
        expect(r?.resource).not.toHaveProperty("k8s.pod.label.absent")
        expect(r?.resource).not.toHaveProperty("k8s.pod.label.tier")
        expect(r?.labels).toEqual({ team: "payments", tier: "backend", "app.kubernetes.io/name": "pay" })
      })
  )

  it.scopedLive(
    "a pod recreated under the same name is another pod: old events get nothing, new ones the new pod",
    () =>
      Effect.gen(function* () {
        const sim = yield* simServer
        const statefulSet = sim.objects.statefulSet({ name: "db", namespace: NS })
        const old = sim.objects.pod({ name: "db-0", namespace: NS, owner: statefulSet, nodeName: "node-1" })
        const { enricher: e, metrics } = yield* enricher(simKubeConfig(sim.url), settings())

        const [before] = yield* e.enrichAll([eventAbout(old)])
        expect(before?.resource[R.podUid]).toBe(old.metadata.uid)

        sim.store.delete(Resources.pods, NS, "db-0")
        const recreated = sim.objects.pod({ name: "db-0", namespace: NS, owner: statefulSet, nodeName: "node-2" })
        // The cached pod is the old one; an event naming the new uid reads the pod again.
        const [fresh] = yield* e.enrichAll([eventAbout(recreated)])
        expect(fresh?.resource).toMatchObject({ [R.podUid]: recreated.metadata.uid, [R.nodeName]: "node-2" })
        expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(2)

        // Late events about the old pod: not enriched with the new pod's node, and no GET per event.
        const stale = yield* e.enrichAll([eventAbout(old), eventAbout(old)])
        expect(stale.map((r) => r.resource)).toEqual([{}, {}])
        expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(2)
        expect(yield* lookups(metrics, "Pod", "not_found")).toBe(2)
      })
  )

  it.scopedLive("GETs keep to maxRequestsPerSecond", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const pods = Array.from({ length: 10 }, (_, i) => sim.objects.pod({ name: `p-${i}`, namespace: NS }))
      const { enricher: e } = yield* enricher(
        simKubeConfig(sim.url),
        settings({ maxRequestsPerSecond: 5, lookupTimeout: Duration.seconds(5) })
      )
      const results = yield* e.enrichAll(pods.map((p) => eventAbout(p)))
      expect(results.every((r) => r.resource[R.podUid] !== undefined)).toBe(true)
      const times = sim.requests.filter({ verb: "get", resource: "pods" }).map((r) => r.at)
      expect(times).toHaveLength(10)
      // A burst of 5, then one every 200 ms.
      expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(900)
    })
  )

  it.scopedLive("a chunk does not wait for GETs the rate holds back past its deadline; they still fill the cache", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const pods = Array.from({ length: 4 }, (_, i) => sim.objects.pod({ name: `q-${i}`, namespace: NS }))
      // One GET at once, then one a second: within an 800 ms deadline only the first can be sent.
      const { enricher: e, metrics } = yield* enricher(
        simKubeConfig(sim.url),
        settings({ maxRequestsPerSecond: 1, lookupTimeout: Duration.millis(800) })
      )
      const { value: first, ms } = yield* elapsed(e.enrichAll(pods.map((p) => eventAbout(p))))
      expect(first.map((r) => r.resource[R.podUid] !== undefined)).toEqual([true, false, false, false])
      expect(yield* lookups(metrics, "Pod", "timeout")).toBe(3)
      // Waiting for the GETs that could not be sent in time would have taken the whole 800 ms.
      expect(ms).toBeLessThan(400)
      // The held-back GETs go on: a later chunk finds every pod, each read once.
      yield* Effect.sleep(Duration.millis(3500))
      const later = yield* e.enrichAll(pods.map((p) => eventAbout(p)))
      expect(later.every((r) => r.resource[R.podUid] !== undefined)).toBe(true)
      expect(sim.requests.count({ verb: "get", resource: "pods" })).toBe(4)
    })
  )

  it.scopedLive("every GET the enricher makes is listed in ENRICHMENT_API_CALLS", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const deployment = sim.objects.deployment({ name: "d", namespace: NS })
      const rs = sim.objects.replicaSet({ name: "d-1", namespace: NS, owner: deployment })
      const cronJob = sim.objects.cronJob({ name: "c", namespace: NS })
      const job = sim.objects.job({ name: "c-1", namespace: NS, owner: cronJob })
      const statefulSet = sim.objects.statefulSet({ name: "s", namespace: NS })
      const daemonSet = sim.objects.daemonSet({ name: "ds", namespace: NS })
      const objects = [
        sim.objects.pod({ name: "d-1-a", namespace: NS, owner: rs }),
        sim.objects.pod({ name: "c-1-a", namespace: NS, owner: job }),
        rs,
        job,
        deployment,
        cronJob,
        statefulSet,
        daemonSet,
        sim.objects.node("n")
      ]
      const { enricher: e } = yield* enricher(simKubeConfig(sim.url), settings())
      yield* e.enrichAll(objects.map((o) => eventAbout(o)))
      const made = new Set(sim.requests.all.map((r) => `${r.verb} ${r.group}/${r.resource}`))
      const allowed = new Set(ENRICHMENT_API_CALLS.map((c) => `${c.verb} ${c.group}/${c.resource}`))
      expect([...made].filter((m) => !allowed.has(m))).toEqual([])
      expect(made.size).toBe(7)
    })
  )

  it.effect("the disabled layer adds nothing", () =>
    Effect.gen(function* () {
      const e = yield* Enricher
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "p", namespace: NS, uid: "u", resourceVersion: "1", creationTimestamp: "" }
      }
      const results = yield* e.enrichAll([eventAbout(pod), eventAbout(pod)])
      expect(results).toEqual([
        { resource: {}, labels: {} },
        { resource: {}, labels: {} }
      ])
    }).pipe(Effect.provide(Enricher.layerNoop))
  )

  it.scopedLive("enabled: false gives the disabled layer: no request at all", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const pod = sim.objects.pod({ name: "p", namespace: NS })
      const { enricher: e } = yield* enricher(simKubeConfig(sim.url), settings({ enabled: false }))
      expect(yield* e.enrichAll([eventAbout(pod)])).toEqual([{ resource: {}, labels: {} }])
      expect(sim.requests.count()).toBe(0)
    })
  )
})

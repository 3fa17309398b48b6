/**
 * Shared pieces of the enrichment tests: the simulated API server, events about its objects, an Enricher, its
 * counters and logs, and waiting for what happens over real HTTP while the test clock stands still.
 */
import { Context, Duration, Effect, Either, Layer, Logger, type LogLevel, TestClock } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { decodeKubeEvent, type KubeEvent } from "../../src/domain/KubeEvent.ts"
import { Enricher, type EnricherShape, type EnrichSettings } from "../../src/enrich/Enricher.ts"
import { CollectorMetrics, Metrics } from "../../src/observability/Metrics.ts"
import { objectReference, type SimServer, type StoredKubeObject, startSimServer } from "@k8s-event-collector/sim"
import { turn } from "../support/eventLoop.ts"

export const NS = "shop"

export const settings = (overrides: Partial<EnrichSettings> = {}): EnrichSettings => ({
  enabled: true,
  podLabels: [],
  serviceNameFromLabels: false,
  cacheSize: 10_000,
  cacheTtl: Duration.minutes(5),
  lookupTimeout: Duration.seconds(2),
  maxRequestsPerSecond: 1000,
  listWatch: undefined,
  ...overrides
})

export const simServer = Effect.acquireRelease(
  Effect.promise(() => startSimServer()),
  (sim) => Effect.promise(() => sim.close())
)

let seq = 0

/** A core/v1 Event about `o`, decoded the way the pipeline decodes it. `uid` overrides the involved object's uid. */
export const eventAbout = (
  o: StoredKubeObject,
  options: { readonly reason?: string; readonly uid?: string } = {}
): KubeEvent => {
  seq++
  const involvedObject = { ...objectReference(o), ...(options.uid === undefined ? {} : { uid: options.uid }) }
  const raw = {
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      name: `${o.metadata.name}.${seq}`,
      namespace: o.metadata.namespace ?? "default",
      uid: `event-${seq}`,
      resourceVersion: String(seq)
    },
    involvedObject,
    reason: options.reason ?? "Started",
    message: "something happened",
    type: "Normal",
    count: 1,
    source: { component: "kubelet", host: "node-from-source" }
  }
  const decoded = decodeKubeEvent(raw)
  if (Either.isLeft(decoded)) throw new Error(decoded.left.message)
  return decoded.right
}

interface Harness {
  readonly enricher: EnricherShape
  readonly metrics: CollectorMetrics
}

/** An Enricher against `kc` with a fresh registry; released with the test's scope. */
export const enricher = (kc: KubeConfig, s: EnrichSettings) =>
  Effect.gen(function* () {
    const metrics = new CollectorMetrics()
    const context = yield* Layer.build(Enricher.layer(kc, s).pipe(Layer.provide(Layer.succeed(Metrics, metrics))))
    return { enricher: Context.get(context, Enricher), metrics } satisfies Harness
  })

/** The value of one labelled series of a counter in `metrics`' registry (0 when absent). */
export const counterValue = async (
  metrics: CollectorMetrics,
  name: string,
  labels: Readonly<Record<string, string>>
): Promise<number> => {
  const metric = metrics.registry.getSingleMetric(name)
  if (metric === undefined) return 0
  const data = await metric.get()
  const match = data.values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))
  return match?.value ?? 0
}

export const lookups = (metrics: CollectorMetrics, kind: string, result: string) =>
  Effect.promise(() => counterValue(metrics, "k8s_event_collector_enrichment_lookups_total", { kind, result }))

/** Collects log lines with their level instead of printing them. */
export const captureLogs = () => {
  const lines: Array<{ readonly level: LogLevel.LogLevel; readonly text: string }> = []
  const logger = Logger.make(({ logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push({ level: logLevel, text })
  })
  return {
    lines,
    warnings: () => lines.filter((l) => l.level._tag === "Warning").map((l) => l.text),
    infos: () => lines.filter((l) => l.level._tag === "Info").map((l) => l.text),
    layer: Logger.replace(Logger.defaultLogger, logger)
  }
}

export const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = Date.now()
    const value = yield* effect
    return { value, ms: Date.now() - start }
  })

export const waitFor = (what: string, condition: () => boolean, timeoutMs = 5000) =>
  Effect.gen(function* () {
    while (!condition()) yield* Effect.sleep(Duration.millis(5))
  }).pipe(
    Effect.timeoutFail({
      duration: Duration.millis(timeoutMs),
      onTimeout: () => new Error(`timed out waiting for ${what}`)
    })
  )

/**
 * Moves the test clock on by `step` at a time, turning the event loop between steps (so that what woke can do its
 * HTTP), until `holds` says so; how long that took on the test clock. Dies naming `what` past `limit`.
 */
export const advanceUntil = (what: string, holds: () => boolean, step: Duration.Duration, limit: Duration.Duration) =>
  Effect.gen(function* () {
    let elapsed = Duration.zero
    while (!holds()) {
      if (Duration.greaterThanOrEqualTo(elapsed, limit)) {
        return yield* Effect.die(new Error(`${what} did not happen within ${Duration.format(limit)}`))
      }
      yield* TestClock.adjust(step)
      elapsed = Duration.sum(elapsed, step)
      for (let i = 0; i < 300 && !holds(); i++) yield* turn
    }
    return elapsed
  })

/** `deployments` Deployments of two pods and `cronJobs` CronJobs of one pod, each pod with its chain's names. */
export const workloads = (sim: SimServer, deployments: number, cronJobs: number, namespace = NS) =>
  sim.objects.ownedPods({ deployments, cronJobs, namespace })

/**
 * `--source kube`: read events until stopped. On SIGTERM or SIGINT reading stops, what is queued is delivered
 * within `--shutdown-timeout`, and the checkpoint is saved. A leader that loses its lease stops at once instead:
 * the next leader resumes from the last checkpoint.
 */
import { Effect, Stream } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { Checkpoint } from "../checkpoint/Checkpoint.ts"
import { LeaderElection, runWhileLeader } from "../leader/LeaderElection.ts"
import { Enricher } from "../enrich/Enricher.ts"
import { Health } from "../observability/Health.ts"
import { HeapWatch } from "../observability/heapWatch.ts"
import { Metrics } from "../observability/Metrics.ts"
import { runPipeline } from "../pipeline/pipeline.ts"
import { RecordSink } from "../sink/RecordSink.ts"
import { eventChanges, type SourceSettings } from "../source/EventSource.ts"
import { KubeApi } from "../kube/KubeApi.ts"
import { KubeLive, LeaderTermLive } from "./layers.ts"
import type { KubeSettings } from "./settings.ts"
import { deliverQueued, reportStop, whenStopped } from "./stop.ts"

/** What the source reads: `core/v1 events in all namespaces`, `... in namespaces a, b`. */
const reading = (source: SourceSettings): string => {
  const namespaces = source.targets.flatMap((t) => (t.namespace === undefined ? [] : [t.namespace]))
  const where = namespaces.length === 0 ? "all namespaces" : `namespaces ${namespaces.join(", ")}`
  return `${source.targets[0]?.api ?? "?"} events in ${where}`
}

/** One term as leader: read from the checkpoint on, until stopped or the lease is lost. */
const collect = (settings: KubeSettings, kc: KubeConfig) =>
  Effect.gen(function* () {
    const sink = yield* RecordSink
    const checkpoint = yield* Checkpoint
    const election = yield* LeaderElection
    const source = { ...settings.source, resumeFrom: checkpoint.initial.streams }
    const server = kc.getCurrentCluster()?.server ?? "?"
    yield* Effect.logInfo(
      `reading ${reading(source)} from ${server} (${source.mode}; checkpoint: ${checkpoint.describe})`
    )
    const stopGracefully = Effect.gen(function* () {
      if ((yield* election.state).role !== "leader") return
      const undelivered = yield* deliverQueued(sink, settings.shutdownTimeout)
      // What the backend acknowledged, and only that: the markers of undelivered records never ran.
      yield* checkpoint.commit
      yield* reportStop(sink, undelivered)
    })
    if (source.targets[0]?.fieldSelector !== undefined) {
      yield* Effect.logInfo(`the API server filters with fieldSelector ${source.targets[0].fieldSelector}`)
    }
    yield* runPipeline(eventChanges(source), settings.pipeline).pipe(
      Effect.provide(KubeApi.layer(kc)),
      whenStopped(stopGracefully)
    )
  }).pipe(Effect.provide(LeaderTermLive(settings, kc)))

/** The heap watch counts what the enricher caches, and drops it when the heap is short. */
const watchEnricherCache = Effect.flatMap(Enricher, (enricher) =>
  Effect.flatMap(HeapWatch, (heap) => heap.register(enricher.cache))
)

/** The probes follow the election: leader or standby, and who leads. */
const followElection = Effect.gen(function* () {
  const health = yield* Health
  const metrics = yield* Metrics
  const leader = yield* LeaderElection
  yield* leader.changes.pipe(
    Stream.runForEach((s) =>
      Effect.sync(() => {
        health.elected(s.role, s.holder)
        metrics.leader.set(s.role === "leader" ? 1 : 0)
      })
    ),
    Effect.forkScoped
  )
})

export const runKube = (settings: KubeSettings, kc: KubeConfig) =>
  followElection.pipe(
    Effect.zipRight(watchEnricherCache),
    Effect.zipRight(runWhileLeader(collect(settings, kc))),
    Effect.scoped,
    Effect.provide(KubeLive(settings, kc))
  )

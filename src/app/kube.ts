/**
 * `--source kube`: read events until stopped. On SIGTERM or SIGINT reading stops, what is queued is delivered
 * within `--shutdown-timeout`, and the checkpoint is saved. A leader that loses its lease stops at once instead:
 * the next leader resumes from the last checkpoint.
 */
import { Effect, Stream } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { Checkpoint } from "../checkpoint/Checkpoint.ts"
import type { OptionValues } from "../cli/options.ts"
import { LeaderElection, runWhileLeader } from "../leader/LeaderElection.ts"
import { Health } from "../observability/Health.ts"
import { Metrics } from "../observability/Metrics.ts"
import { runPipeline } from "../pipeline/pipeline.ts"
import type { RulesConfig } from "../rules/config.ts"
import { RecordSink } from "../sink/RecordSink.ts"
import { eventChanges } from "../source/EventSource.ts"
import { KubeApi } from "../source/KubeApi.ts"
import { KubeLive, LeaderTermLive } from "./layers.ts"
import { pipelineSettings, sourceSettings } from "./settings.ts"
import { deliverQueued, reportStop } from "./stop.ts"

/** One term as leader: read from the checkpoint on, until stopped or the lease is lost. */
const collect = (values: OptionValues, rules: RulesConfig, kc: KubeConfig) =>
  Effect.gen(function* () {
    const sink = yield* RecordSink
    const checkpoint = yield* Checkpoint
    const election = yield* LeaderElection
    const settings = { ...sourceSettings(values, rules), resumeFrom: checkpoint.initial.streams }
    const where = values.namespaces.length === 0 ? "all namespaces" : `namespaces ${values.namespaces.join(", ")}`
    const server = kc.getCurrentCluster()?.server ?? "?"
    yield* Effect.logInfo(
      `reading ${values.api} events in ${where} from ${server} (${values.mode}; checkpoint: ${checkpoint.describe})`
    )
    const stopGracefully = Effect.gen(function* () {
      if ((yield* election.state).role !== "leader") return
      const undelivered = yield* deliverQueued(sink, values.shutdownTimeout)
      // What the backend acknowledged, and only that: the markers of undelivered records never ran.
      yield* checkpoint.commit
      yield* reportStop(sink, undelivered)
    })
    if (settings.targets[0]?.fieldSelector !== undefined) {
      yield* Effect.logInfo(`the API server filters with fieldSelector ${settings.targets[0].fieldSelector}`)
    }
    yield* runPipeline(eventChanges(settings), pipelineSettings(rules, values.enrichment, 100_000)).pipe(
      Effect.provide(KubeApi.layer(kc)),
      Effect.onInterrupt(() => stopGracefully)
    )
  }).pipe(Effect.provide(LeaderTermLive(values, kc)))

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

export const runKube = (values: OptionValues, rules: RulesConfig, kc: KubeConfig) =>
  followElection.pipe(
    Effect.zipRight(runWhileLeader(collect(values, rules, kc))),
    Effect.scoped,
    Effect.provide(KubeLive(values, kc))
  )

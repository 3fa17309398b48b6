/**
 * `demo`: the simulated API server plays the scenario (a rollout, an image pull failure, a crash loop, an
 * OOMKill, a FailedScheduling, a node going NotReady and back, HPA scaling) and the real pipeline reads it over
 * HTTP. Records go to the console unless an OTLP endpoint or exporter was chosen (`demoSettings`).
 *
 * The simulator and the trace SDK it uses are imported here, when the demo starts, and nowhere else in `src/`:
 * the other commands never load them, and the bundle keeps them in a chunk of their own.
 */
import { Effect } from "effect"
import { redactUrl } from "../observability/redact.ts"
import { runKube } from "./kube.ts"
import type { DemoSettings } from "./settings.ts"

export const runDemo = (settings: DemoSettings) =>
  Effect.gen(function* () {
    const { runScenario, simKubeConfig, startDemoTraces, startSimServer } = yield* Effect.promise(
      () => import("@k8s-event-collector/sim")
    )
    const sim = yield* Effect.acquireRelease(
      Effect.promise(() => startSimServer({ bookmarkIntervalMs: 5_000 })),
      (s) => Effect.promise(() => s.close())
    )
    // The namespace whose uid is k8s.cluster.uid: the records name the simulated cluster as a real one's would.
    sim.objects.kubeSystemNamespace()
    yield* Effect.acquireRelease(
      Effect.sync(() => runScenario(sim, { loop: true, speed: 2 })),
      (h) => Effect.sync(() => h.stop())
    )
    yield* Effect.logInfo(`demo: simulated Kubernetes API at ${sim.url}; the scenario is playing (Ctrl-C to stop)`)
    const traces = settings.traces
    if (traces !== undefined) {
      // Requests served by the simulated pods, so that a failing span leads to the events of its pod.
      yield* Effect.acquireRelease(
        Effect.sync(() => startDemoTraces(sim, traces)),
        (stop) => Effect.promise(stop)
      )
      yield* Effect.logInfo(`demo: sending traces of the simulated requests to ${redactUrl(traces.endpoint)}`)
    }
    yield* runKube(settings.kube, simKubeConfig(sim.url))
  }).pipe(Effect.scoped)

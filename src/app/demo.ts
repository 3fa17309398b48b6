/**
 * `demo`: the simulated API server plays the scenario (a rollout, an image pull failure, a crash loop, an
 * OOMKill, a FailedScheduling, a node going NotReady and back, HPA scaling) and the real pipeline reads it over
 * HTTP. Records go to the console unless an OTLP endpoint or exporter was chosen.
 *
 * The simulator and the trace SDK it uses are imported here, when the demo starts, and nowhere else in `src/`:
 * the other commands never load them, and the bundle keeps them in a chunk of their own.
 */
import { Effect } from "effect"
import type { OptionValues } from "../cli/options.ts"
import { redactUrl } from "../observability/redact.ts"
import type { RulesConfig } from "../rules/config.ts"
import { runKube } from "./kube.ts"

/** Where the demo serves /metrics unless `--listen` says otherwise: loopback, a port the system picks. */
const DEMO_LISTEN = { host: "127.0.0.1", port: 0 }

export const runDemo = (values: OptionValues, origins: Readonly<Partial<Record<string, string>>>, rules: RulesConfig) =>
  Effect.gen(function* () {
    const { runScenario, simKubeConfig, startDemoTraces, startSimServer } = yield* Effect.promise(
      () => import("../sim/index.ts")
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
    const chosen = origins["exporter"] !== "default" || origins["otlpEndpoint"] !== "default"
    if (chosen && values.exporter === "otlp") {
      // Requests served by the simulated pods, so that a failing span leads to the events of its pod.
      const endpoint = values.otlpEndpoint.replace(/\/v1\/logs$/, "/v1/traces")
      yield* Effect.acquireRelease(
        Effect.sync(() => startDemoTraces(sim, { endpoint, clusterName: values.clusterName })),
        (stop) => Effect.promise(stop)
      )
      yield* Effect.logInfo(`demo: sending traces of the simulated requests to ${redactUrl(endpoint)}`)
    }
    const consoleFormat = origins["consoleFormat"] === "default" ? "text" : values.consoleFormat
    // Never on all interfaces, and never failing on a port something else took: the log line says which it got.
    const listen = origins["listen"] === "default" ? DEMO_LISTEN : values.listen
    const exporter = chosen ? values.exporter : "console"
    yield* runKube({ ...values, exporter, consoleFormat, listen }, rules, simKubeConfig(sim.url))
  }).pipe(Effect.scoped)

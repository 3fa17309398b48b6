/**
 * Turns a loaded configuration into the layers of one run and the effect that runs it. The exit code is the
 * result: 0 done, 1 records could not be delivered, 2 invalid configuration or input.
 */
import { Duration, Effect, Layer, Logger, LogLevel, Schema, Stream } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { runScenario, simKubeConfig, startDemoTraces, startSimServer } from "../sim/index.ts"
import { eventChanges, type SourceSettings } from "../source/EventSource.ts"
import type { Change } from "../source/Change.ts"
import { KubeApi, type WatchTarget } from "../source/KubeApi.ts"
import { type KubeConfigError, loadKubeConfig } from "../source/kubeconfig.ts"
import { Checkpoint } from "../checkpoint/Checkpoint.ts"
import { type CheckpointError, CheckpointStore } from "../checkpoint/CheckpointStore.ts"
import { defaultIdentity, type InvalidLeaderElectionSettings, LeaderElection, runWhileLeader } from "../leader/LeaderElection.ts"
import { Health } from "../observability/Health.ts"
import { httpServerLayer, type ListenError } from "../observability/HttpServer.ts"
import { logFormatFor, stderrLogger } from "../observability/logging.ts"
import { Metrics } from "../observability/Metrics.ts"
import { redactUrl } from "../observability/redact.ts"
import { type PipelineSettings, runPipeline } from "../pipeline/pipeline.ts"
import { Enricher, type EnrichSettings } from "../enrich/Enricher.ts"
import type { RulesConfig } from "../rules/config.ts"
import { compileFilters, fieldSelectorFor } from "../rules/filter.ts"
import { compileSeverityRules } from "../rules/severity.ts"
import { consoleLayer } from "../sink/console.ts"
import { LogExporter } from "../sink/LogExporter.ts"
import { type ExporterSetupError, otlpLayer, readTlsFiles } from "../sink/otlp.ts"
import { RecordSink, type RecordSinkShape, type SinkStats } from "../sink/RecordSink.ts"
import { type DumpError, readDump } from "../source/FileSource.ts"
import { baseAttributes, Translator } from "../translate/Translator.ts"
import type { OptionValues } from "./options.ts"

/** Some records were not delivered; the run must not look successful. */
export class DeliveryFailed extends Schema.TaggedError<DeliveryFailed>()("DeliveryFailed", {
  dropped: Schema.Record({ key: Schema.String, value: Schema.Number }),
  lastError: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const total = Object.values(this.dropped).reduce((a, b) => a + b, 0)
    const reasons = Object.entries(this.dropped).map(([r, n]) => `${n} ${r}`).join(", ")
    return `${total} records could not be delivered (${reasons})${this.lastError ? `; last error: ${this.lastError}` : ""}`
  }

  static fromStats(stats: SinkStats): DeliveryFailed {
    return new DeliveryFailed({ dropped: stats.dropped, ...(stats.lastError ? { lastError: stats.lastError } : {}) })
  }
}

const LOG_LEVELS = { debug: LogLevel.Debug, info: LogLevel.Info, warn: LogLevel.Warning, error: LogLevel.Error } as const

/** The collector's own logs, on stderr: readable in a terminal unless a format is chosen, else structured. */
export const loggingLayer = (values: Pick<OptionValues, "logFormat" | "logLevel">) =>
  Layer.merge(
    Logger.replace(Logger.defaultLogger, stderrLogger(logFormatFor(values.logFormat, process.stderr))),
    Logger.minimumLogLevel(LOG_LEVELS[values.logLevel])
  )

export const exporterLayer = (values: OptionValues): Layer.Layer<LogExporter, ExporterSetupError> => {
  switch (values.exporter) {
    case "none":
      return LogExporter.none
    case "console":
      return consoleLayer(values.consoleFormat)
    case "otlp":
      return Layer.unwrapEffect(
        Effect.map(
          readTlsFiles({ ca: values.otlpCertificate, cert: values.otlpClientCertificate, key: values.otlpClientKey }),
          (tls) =>
            otlpLayer({
              endpoint: values.otlpEndpoint,
              protocol: values.otlpProtocol,
              headers: values.otlpHeaders,
              compression: values.otlpCompression,
              timeoutMs: Duration.toMillis(values.otlpTimeout),
              concurrency: values.exportConcurrency,
              tls
            })
        )
      )
  }
}

/** Everything a pipeline needs: metrics, translation and the sink in front of the chosen exporter. */
export const pipelineLayer = (
  values: OptionValues,
  defaults: { readonly retryGiveUp: Duration.Duration | undefined; readonly maxRecordAge: Duration.Duration | undefined }
) =>
  Layer.mergeAll(
    RecordSink.layer({
      queueSize: values.queueSize,
      batchSize: values.batchSize,
      linger: values.batchLinger,
      concurrency: values.exportConcurrency,
      retryInitial: values.retryInitial,
      retryMax: values.retryMax,
      retryGiveUpAfter: values.retryGiveUp ?? defaults.retryGiveUp,
      maxRecordAge: defaults.maxRecordAge
    }).pipe(Layer.provide(exporterLayer(values))),
    Translator.layer({ baseAttributes: baseAttributes(values), resourceCacheSize: 10_000 })
  )

/**
 * A stop on SIGTERM or SIGINT: what was queued gets at most `--shutdown-timeout` to be acknowledged, the rest is
 * dropped (reason `shutdown`); returns how many records that left undelivered.
 */
const deliverQueued = (sink: RecordSinkShape, timeout: Duration.Duration) =>
  Effect.logInfo(`stopping: delivering queued records (for at most ${Duration.format(timeout)})`).pipe(
    Effect.zipRight(sink.drain(timeout))
  )

/**
 * Ends a stopped run. Its exit is the interruption, which alone is a clean stop (exit code 0); records left
 * undelivered are added to it as a defect, `DeliveryFailed`, which the entry point turns into exit code 1.
 */
const reportStop = (sink: RecordSinkShape, undelivered: number) =>
  Effect.gen(function*() {
    const stats = yield* sink.stats
    if (undelivered === 0) return yield* Effect.logInfo(`stopped after exporting ${stats.exported} records`)
    const failure = DeliveryFailed.fromStats(stats)
    yield* Effect.logError(`stopped after exporting ${stats.exported} records: ${failure.message}`)
    return yield* Effect.die(failure)
  })

/** The rule sections compiled for the pipeline. */
export const pipelineSettings = (rules: RulesConfig, labelsKnown: boolean, windowSize: number): PipelineSettings => ({
  windowSize,
  filters: compileFilters(rules.filters),
  severity: compileSeverityRules(rules.severity.rules, { defaults: rules.severity.defaults }),
  throttle: rules.throttle.enabled
    ? { limit: rules.throttle.limit, windowMs: rules.throttle.windowMs, key: rules.throttle.key, maxKeys: rules.throttle.maxKeys }
    : undefined,
  labelsKnown
})

export const enrichSettings = (values: OptionValues): EnrichSettings => ({
  enabled: values.enrichment,
  podLabels: values.podLabels,
  serviceNameFromLabels: values.serviceNameFromLabels,
  cacheSize: values.enrichmentCacheSize,
  cacheTtl: values.enrichmentCacheTtl,
  lookupTimeout: values.enrichmentTimeout,
  maxRequestsPerSecond: values.enrichmentQps,
  listWatch: values.enrichmentWatch
    ? {
      namespaces: values.namespaces,
      pageSize: values.listPageSize,
      watchTimeout: values.watchTimeout,
      watchIdleTimeout: values.watchIdleTimeout,
      retryInitial: values.apiRetryInitial,
      retryMax: values.apiRetryMax
    }
    : undefined
})

/** Changes of a file go through the pipeline this many at a time. */
const FILE_CHUNK = 4096

/** `--source file:PATH`: export every event of the dump once, wait for the backend's acks, report. */
export const runFile = (path: string, values: OptionValues, rules: RulesConfig) =>
  Effect.gen(function*() {
    const changes = yield* readDump(path)
    yield* Effect.logInfo(`read ${changes.length} objects from ${path}`)
    const chunks: Array<ReadonlyArray<Change>> = []
    for (let at = 0; at < changes.length; at += FILE_CHUNK) chunks.push(changes.slice(at, at + FILE_CHUNK))
    const sink = yield* RecordSink
    let allRead = false
    const stopped = Effect.gen(function*() {
      if (!allRead) yield* Effect.logWarning(`stopped before all of ${path} was read: what was not read is not counted`)
      yield* reportStop(sink, yield* deliverQueued(sink, values.shutdownTimeout))
    })
    yield* runPipeline(Stream.fromIterable(chunks), pipelineSettings(rules, false, Math.max(changes.length, 1))).pipe(
      Effect.tap(() => Effect.sync(() => (allRead = true))),
      Effect.zipRight(sink.flush),
      Effect.onInterrupt(() => stopped)
    )
    const stats = yield* sink.stats
    const metrics = yield* Metrics
    const decodeFailures = (yield* Effect.promise(() => metrics.decodeFailures.get())).values[0]?.value ?? 0
    yield* Effect.logInfo(`exported ${stats.exported} records from ${path}`).pipe(
      Effect.annotateLogs({ exported: stats.exported, skipped_undecodable: decodeFailures })
    )
    if (Object.keys(stats.dropped).length > 0) {
      return yield* DeliveryFailed.fromStats(stats)
    }
  }).pipe(
    Effect.provide(pipelineLayer(values, { retryGiveUp: Duration.minutes(2), maxRecordAge: undefined })),
    Effect.provide(Checkpoint.layer({ interval: Duration.zero, ttl: values.eventTtl, maxOccurrences: 0 }).pipe(
      Layer.provide(CheckpointStore.none)
    )),
    Effect.provide(Enricher.disabled),
    Effect.provide(Metrics.layer)
  )

export const sourceSettings = (values: OptionValues, rules: RulesConfig): SourceSettings => {
  const namespaces: ReadonlyArray<string | undefined> = values.namespaces.length === 0 ? [undefined] : values.namespaces
  // What the filters can say exactly as a field selector, the server leaves out; the client applies every rule anyway.
  const fieldSelector = fieldSelectorFor(rules.filters, values.api)
  return {
    targets: namespaces.map((namespace): WatchTarget => ({ api: values.api, namespace, fieldSelector })),
    mode: values.mode,
    pageSize: values.listPageSize,
    watchTimeout: values.watchTimeout,
    watchIdleTimeout: values.watchIdleTimeout,
    retryInitial: values.apiRetryInitial,
    retryMax: values.apiRetryMax,
    pollInterval: values.pollInterval,
    highWater: Math.max(1000, values.queueSize),
    resumeFrom: {}
  }
}

/**
 * Checkpoint and sink, built anew for each term as leader: a new leader reads the checkpoint when it takes over.
 * The enricher is not: its caches are kept by standbys too, so that a new leader's first records carry owners.
 */
const collectorLayer = (values: OptionValues, kc: KubeConfig) =>
  Layer.mergeAll(
    pipelineLayer(values, { retryGiveUp: undefined, maxRecordAge: values.eventTtl }),
    Checkpoint.layer({ interval: values.checkpointInterval, ttl: values.eventTtl, maxOccurrences: 10_000 }).pipe(
      Layer.provide(CheckpointStore.fromSpec(values.checkpoint, () => kc))
    )
  )

/**
 * `--source kube`: read events until stopped. On SIGTERM or SIGINT reading stops, what is queued is delivered
 * within `--shutdown-timeout`, and the checkpoint is saved. A leader that loses its lease stops at once instead:
 * the next leader resumes from the last checkpoint.
 */
export const runKube = (values: OptionValues, rules: RulesConfig, kc: KubeConfig) => {
  const collect = Effect.gen(function*() {
    const sink = yield* RecordSink
    const checkpoint = yield* Checkpoint
    const election = yield* LeaderElection
    const settings = { ...sourceSettings(values, rules), resumeFrom: checkpoint.initial.streams }
    const where = values.namespaces.length === 0 ? "all namespaces" : `namespaces ${values.namespaces.join(", ")}`
    yield* Effect.logInfo(`reading ${values.api} events in ${where} from ${kc.getCurrentCluster()?.server ?? "?"} (${values.mode}; checkpoint: ${checkpoint.describe})`)
    const stopGracefully = Effect.gen(function*() {
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
  }).pipe(Effect.provide(collectorLayer(values, kc)))

  const lease = values.lease
  const election = values.leaderElect && lease !== undefined
    ? LeaderElection.layerKube(kc, {
      namespace: lease.namespace,
      name: lease.name,
      identity: defaultIdentity(),
      leaseDuration: values.leaseDuration,
      renewDeadline: values.leaseRenewDeadline,
      retryPeriod: values.leaseRetryPeriod
    })
    : LeaderElection.layerDisabled(defaultIdentity())
  const serve = values.listen === undefined
    ? Layer.empty
    : httpServerLayer({ ...values.listen, stallMs: Duration.toMillis(values.stallTimeout) })
  return Effect.gen(function*() {
    const health = yield* Health
    const metrics = yield* Metrics
    const leader = yield* LeaderElection
    // The probes follow the election: leader or standby, and who leads.
    yield* leader.changes.pipe(
      Stream.runForEach((s) =>
        Effect.sync(() => {
          health.role = s.role
          health.holder = s.holder
          metrics.leader.set(s.role === "leader" ? 1 : 0)
          if (s.role === "standby") health.apiReachable = true
        })
      ),
      Effect.forkScoped
    )
    yield* runWhileLeader(collect)
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.mergeAll(election, serve, Enricher.layer(kc, enrichSettings(values)))),
    // One registry and one health state for the whole process: the server reads what each leadership term writes.
    Effect.provide(Layer.merge(Health.layer, Metrics.layer))
  )
}

/** Where the demo serves /metrics unless `--listen` says otherwise: loopback, a port the system picks. */
const DEMO_LISTEN = { host: "127.0.0.1", port: 0 }

/**
 * `demo`: the simulated API server plays the scenario (a rollout, an image pull failure, a crash loop, an
 * OOMKill, a FailedScheduling, a node going NotReady and back, HPA scaling) and the real pipeline reads it over
 * HTTP. Records go to the console unless an OTLP endpoint or exporter was chosen.
 */
export const runDemo = (values: OptionValues, origins: Readonly<Partial<Record<string, string>>>, rules: RulesConfig) =>
  Effect.gen(function*() {
    const sim = yield* Effect.acquireRelease(Effect.promise(() => startSimServer({ bookmarkIntervalMs: 5_000 })), (s) =>
      Effect.promise(() => s.close()))
    const scenario = yield* Effect.acquireRelease(Effect.sync(() => runScenario(sim, { loop: true, speed: 2 })), (h) =>
      Effect.sync(() => h.stop()))
    yield* Effect.logInfo(`demo: simulated Kubernetes API at ${sim.url}; the scenario is playing (Ctrl-C to stop)`)
    void scenario
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

/** Runs the configured command; failures are logged here and become the exit code. */
export const runCommand = (
  command: "run" | "demo",
  values: OptionValues,
  origins: Readonly<Partial<Record<string, string>>>,
  rules: RulesConfig
): Effect.Effect<number> => {
  const source = values.source
  const run: Effect.Effect<
    void,
    DumpError | KubeConfigError | DeliveryFailed | InvalidLeaderElectionSettings | ListenError | ExporterSetupError
    | CheckpointError
  > = command === "demo"
    ? runDemo(values, origins, rules)
    : source.kind === "file"
    ? runFile(source.path, values, rules)
    : Effect.flatMap(loadKubeConfig({ path: values.kubeconfig, context: values.context }), (kc) => runKube(values, rules, kc))
  return run.pipe(
    Effect.as(0),
    Effect.catchTags({
      DumpError: (e) => Effect.logError(e.message).pipe(Effect.as(2)),
      KubeConfigError: (e) => Effect.logError(e.message).pipe(Effect.as(2)),
      InvalidLeaderElectionSettings: (e) => Effect.logError(e.message).pipe(Effect.as(2)),
      ListenError: (e) => Effect.logError(e.message).pipe(Effect.as(2)),
      ExporterSetupError: (e) => Effect.logError(e.message).pipe(Effect.as(2)),
      CheckpointError: (e) => Effect.logError(e.message).pipe(Effect.as(2)),
      DeliveryFailed: (e) => Effect.logError(e.message).pipe(Effect.as(1))
    }),
    Effect.provide(loggingLayer(values))
  )
}

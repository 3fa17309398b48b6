/**
 * The composition root: the layers of a run, each part's built from its own settings (`settings.ts`). `KubeLive`
 * holds what lives as long as the process (election, probe server, enricher, the cluster's uid, health, metrics),
 * `LeaderTermLive` what is built anew for each term as leader, `FileLive` everything a dump replay needs.
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { Checkpoint } from "../checkpoint/Checkpoint.ts"
import { CheckpointStore } from "../checkpoint/CheckpointStore.ts"
import { ClusterIdentity } from "../enrich/ClusterIdentity.ts"
import { Enricher } from "../enrich/Enricher.ts"
import { defaultIdentity, LeaderElection } from "../leader/LeaderElection.ts"
import { Health } from "../observability/Health.ts"
import { HeapWatch } from "../observability/heapWatch.ts"
import { httpServerLayer } from "../observability/HttpServer.ts"
import { logFormatFor, stderrLogger } from "../observability/logging.ts"
import { Metrics } from "../observability/Metrics.ts"
import { consoleLayer } from "../sink/console.ts"
import { LogExporter } from "../sink/LogExporter.ts"
import { type ExporterSetupError, otlpLayer, readTlsFiles } from "../sink/otlp.ts"
import { RecordSink } from "../sink/RecordSink.ts"
import { baseAttributes, Translator } from "../translate/Translator.ts"
import type { ExporterSettings, FileSettings, KubeSettings, LoggingSettings, ResourceSettings } from "./settings.ts"
import { useLogFormat } from "./lastWords.ts"

const LOG_LEVELS = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error
} as const

/** The collector's own logs, on stderr: readable in a terminal unless a format is chosen, else structured. */
export const LoggingLive = (settings: LoggingSettings) => {
  const format = logFormatFor(settings.format, process.stderr)
  // A failure nothing caught is said in the same format (lastWords.ts).
  useLogFormat(format)
  return Layer.merge(
    Logger.replace(Logger.defaultLogger, stderrLogger(format)),
    Logger.minimumLogLevel(LOG_LEVELS[settings.level])
  )
}

const exporterLayer = (settings: ExporterSettings): Layer.Layer<LogExporter, ExporterSetupError> => {
  switch (settings.kind) {
    case "none":
      return LogExporter.layerNoop
    case "console":
      return consoleLayer(settings.format)
    case "otlp":
      return Layer.unwrapEffect(
        Effect.map(readTlsFiles(settings.tlsFiles), (tls) => otlpLayer({ ...settings.otlp, tls }))
      )
  }
}

/** Translation, with the cluster's uid as it was read when the process started. */
const translatorLayer = (resource: ResourceSettings): Layer.Layer<Translator, never, ClusterIdentity> =>
  Layer.unwrapEffect(
    Effect.map(ClusterIdentity, (cluster) =>
      Translator.layer({ baseAttributes: baseAttributes(resource, cluster.uid), resourceCacheSize: 10_000 })
    )
  )

/** Everything a pipeline needs: translation and the sink in front of the chosen exporter. */
const pipelineLayer = (settings: Pick<KubeSettings, "sink" | "exporter" | "resource">) =>
  Layer.mergeAll(
    RecordSink.layer(settings.sink).pipe(Layer.provide(exporterLayer(settings.exporter))),
    translatorLayer(settings.resource)
  )

/** A dump: no checkpoint kept, no enrichment, no cluster to ask for its uid. */
export const FileLive = (settings: FileSettings) =>
  Layer.mergeAll(
    pipelineLayer(settings).pipe(Layer.provide(ClusterIdentity.layerNoop)),
    Checkpoint.layer(settings.checkpoint).pipe(Layer.provide(CheckpointStore.layerNoop)),
    Enricher.layerNoop,
    HeapWatch.layerNoop
  ).pipe(Layer.provideMerge(Metrics.layer))

/**
 * Checkpoint and sink, built anew for each term as leader: a new leader reads the checkpoint when it takes over.
 * The enricher is not: its caches are kept by standbys too, so that a new leader's first records carry owners.
 */
export const LeaderTermLive = (
  settings: Pick<KubeSettings, "sink" | "exporter" | "resource" | "checkpoint">,
  kc: KubeConfig
) =>
  Layer.mergeAll(
    pipelineLayer(settings),
    Checkpoint.layer(settings.checkpoint.settings).pipe(
      Layer.provide(CheckpointStore.fromSpec(settings.checkpoint.store, () => kc))
    )
  )

/**
 * What lives as long as the process reading a cluster: leader election, the probe server, the enricher, the
 * cluster's uid (read once, at start, by standbys too), and one registry and one health state, which the server
 * reads and each leadership term writes.
 */
export const KubeLive = (settings: Pick<KubeSettings, "election" | "probes" | "enrichment">, kc: KubeConfig) =>
  Layer.mergeAll(
    settings.election === undefined
      ? LeaderElection.layerNoop(defaultIdentity())
      : LeaderElection.layerKube(kc, settings.election),
    settings.probes === undefined ? Layer.empty : httpServerLayer(settings.probes),
    Enricher.layer(kc, settings.enrichment),
    ClusterIdentity.layer(kc),
    HeapWatch.layer()
  ).pipe(Layer.provideMerge(Layer.merge(Health.layer, Metrics.layer)))

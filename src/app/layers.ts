/**
 * The composition root: the layers of a run, built from the loaded options. `KubeLive` holds what lives as long
 * as the process (election, probe server, enricher, the cluster's uid, health, metrics), `LeaderTermLive` what is
 * built anew for each term as leader, `FileLive` everything a dump replay needs.
 */
import { Duration, Effect, Layer, Logger, LogLevel } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { Checkpoint } from "../checkpoint/Checkpoint.ts"
import { CheckpointStore } from "../checkpoint/CheckpointStore.ts"
import type { OptionValues } from "../cli/options.ts"
import { ClusterIdentity } from "../enrich/ClusterIdentity.ts"
import { Enricher } from "../enrich/Enricher.ts"
import { defaultIdentity, LeaderElection } from "../leader/LeaderElection.ts"
import { Health } from "../observability/Health.ts"
import { httpServerLayer } from "../observability/HttpServer.ts"
import { logFormatFor, stderrLogger } from "../observability/logging.ts"
import { Metrics } from "../observability/Metrics.ts"
import { consoleLayer } from "../sink/console.ts"
import { LogExporter } from "../sink/LogExporter.ts"
import { type ExporterSetupError, otlpLayer, readTlsFiles } from "../sink/otlp.ts"
import { RecordSink } from "../sink/RecordSink.ts"
import { baseAttributes, Translator } from "../translate/Translator.ts"
import { checkpointSettings, type DeliveryDefaults, enrichSettings, exportHeaders, sinkSettings } from "./settings.ts"

const LOG_LEVELS = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error
} as const

/** The collector's own logs, on stderr: readable in a terminal unless a format is chosen, else structured. */
export const LoggingLive = (values: Pick<OptionValues, "logFormat" | "logLevel">) =>
  Layer.merge(
    Logger.replace(Logger.defaultLogger, stderrLogger(logFormatFor(values.logFormat, process.stderr))),
    Logger.minimumLogLevel(LOG_LEVELS[values.logLevel])
  )

const exporterLayer = (values: OptionValues): Layer.Layer<LogExporter, ExporterSetupError> => {
  switch (values.exporter) {
    case "none":
      return LogExporter.layerNoop
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
              headers: exportHeaders(values),
              compression: values.otlpCompression,
              timeoutMs: Duration.toMillis(values.otlpTimeout),
              concurrency: values.exportConcurrency,
              tls
            })
        )
      )
  }
}

/** Translation, with the cluster's uid as it was read when the process started. */
const translatorLayer = (values: OptionValues): Layer.Layer<Translator, never, ClusterIdentity> =>
  Layer.unwrapEffect(
    Effect.map(ClusterIdentity, (cluster) =>
      Translator.layer({ baseAttributes: baseAttributes(values, cluster.uid), resourceCacheSize: 10_000 })
    )
  )

/** Everything a pipeline needs: translation and the sink in front of the chosen exporter. */
const pipelineLayer = (values: OptionValues, defaults: DeliveryDefaults) =>
  Layer.mergeAll(
    RecordSink.layer(sinkSettings(values, defaults)).pipe(Layer.provide(exporterLayer(values))),
    translatorLayer(values)
  )

/** A dump: every batch given up after 2 minutes, no checkpoint kept, no enrichment, no cluster to ask for its uid. */
export const FileLive = (values: OptionValues) =>
  Layer.mergeAll(
    pipelineLayer(values, { retryGiveUp: Duration.minutes(2), maxRecordAge: undefined }).pipe(
      Layer.provide(ClusterIdentity.layerNoop)
    ),
    Checkpoint.layer({ interval: Duration.zero, ttl: values.eventTtl, maxOccurrences: 0 }).pipe(
      Layer.provide(CheckpointStore.layerNoop)
    ),
    Enricher.layerNoop
  ).pipe(Layer.provideMerge(Metrics.layer))

/**
 * Checkpoint and sink, built anew for each term as leader: a new leader reads the checkpoint when it takes over.
 * The enricher is not: its caches are kept by standbys too, so that a new leader's first records carry owners.
 */
export const LeaderTermLive = (values: OptionValues, kc: KubeConfig) =>
  Layer.mergeAll(
    pipelineLayer(values, { retryGiveUp: undefined, maxRecordAge: values.eventTtl }),
    Checkpoint.layer(checkpointSettings(values)).pipe(
      Layer.provide(CheckpointStore.fromSpec(values.checkpoint, () => kc))
    )
  )

const electionLayer = (values: OptionValues, kc: KubeConfig) => {
  const lease = values.lease
  return values.leaderElect && lease !== undefined
    ? LeaderElection.layerKube(kc, {
        namespace: lease.namespace,
        name: lease.name,
        identity: defaultIdentity(),
        leaseDuration: values.leaseDuration,
        renewDeadline: values.leaseRenewDeadline,
        retryPeriod: values.leaseRetryPeriod
      })
    : LeaderElection.layerNoop(defaultIdentity())
}

const probeServerLayer = (values: OptionValues) =>
  values.listen === undefined
    ? Layer.empty
    : httpServerLayer({ ...values.listen, stallMs: Duration.toMillis(values.stallTimeout) })

/**
 * What lives as long as the process reading a cluster: leader election, the probe server, the enricher, the
 * cluster's uid (read once, at start, by standbys too), and one registry and one health state, which the server
 * reads and each leadership term writes.
 */
export const KubeLive = (values: OptionValues, kc: KubeConfig) =>
  Layer.mergeAll(
    electionLayer(values, kc),
    probeServerLayer(values),
    Enricher.layer(kc, enrichSettings(values)),
    ClusterIdentity.layer(kc)
  ).pipe(Layer.provideMerge(Layer.merge(Health.layer, Metrics.layer)))

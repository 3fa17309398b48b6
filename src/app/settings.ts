/**
 * The loaded options cut into the settings each part of the collector takes, in one place: the commands and the
 * layers of `src/app/` pass each part its own settings and never read an option.
 */
import { Duration } from "effect"
import type { CheckpointSettings } from "../checkpoint/Checkpoint.ts"
import type { CheckpointSpec } from "../checkpoint/CheckpointSpec.ts"
import type { Loaded } from "../cli/load.ts"
import type { OptionValues } from "../cli/options.ts"
import type { EnrichSettings } from "../enrich/Enricher.ts"
import { defaultIdentity, type LeaderElectionSettings } from "../leader/LeaderElection.ts"
import type { ListenSettings } from "../observability/HttpServer.ts"
import type { LogFormat } from "../observability/logging.ts"
import type { PipelineSettings } from "../pipeline/pipeline.ts"
import type { RulesConfig } from "../rules/config.ts"
import { compileFilters, fieldSelectorFor } from "../rules/filter.ts"
import { compileSeverityRules } from "../rules/severity.ts"
import type { ConsoleFormat } from "../sink/console.ts"
import type { OtlpSettings, OtlpTlsFiles } from "../sink/otlp.ts"
import type { SinkSettings } from "../sink/RecordSink.ts"
import type { SourceSettings } from "../source/EventSource.ts"
import type { WatchTarget } from "../source/WatchTarget.ts"
import type { baseAttributes } from "../translate/Translator.ts"

/** How records leave: discarded, printed, or sent over OTLP/HTTP (its TLS files are read when it starts). */
export type ExporterSettings =
  | { readonly kind: "none" }
  | { readonly kind: "console"; readonly format: ConsoleFormat }
  | { readonly kind: "otlp"; readonly otlp: Omit<OtlpSettings, "tls">; readonly tlsFiles: OtlpTlsFiles }

/** What the configuration adds to every record's resource (the cluster's uid is read at start). */
export type ResourceSettings = Parameters<typeof baseAttributes>[0]

/** The collector's own logs. */
export interface LoggingSettings {
  readonly level: OptionValues["logLevel"]
  /** `undefined`: text at a terminal, JSON otherwise. */
  readonly format: LogFormat | undefined
}

/** Where records go once the pipeline made them, the same for every command. */
interface DeliverySettings {
  readonly sink: SinkSettings
  readonly exporter: ExporterSettings
  readonly resource: ResourceSettings
  /** How long a stopped run waits for what is queued to be delivered. */
  readonly shutdownTimeout: Duration.Duration
}

/** A run that reads a cluster: `run --source kube`, and `demo` against its simulated one. */
export interface KubeSettings extends DeliverySettings {
  /** With `resumeFrom` empty: each term as leader resumes from the checkpoint it reads. */
  readonly source: SourceSettings
  readonly pipeline: PipelineSettings
  readonly checkpoint: { readonly store: CheckpointSpec; readonly settings: CheckpointSettings }
  /** `undefined` without `--leader-elect`: this replica is the only one, always the leader. */
  readonly election: LeaderElectionSettings | undefined
  readonly enrichment: EnrichSettings
  /** Where /healthz, /readyz and /metrics are served; `undefined`: nowhere. */
  readonly probes: ListenSettings | undefined
}

/** `run --source file:PATH`: a dump, exported once. */
export interface FileSettings extends DeliverySettings {
  readonly path: string
  /** The once-only window is sized to the dump once it is read. */
  readonly pipeline: Omit<PipelineSettings, "windowSize">
  readonly checkpoint: CheckpointSettings
}

/** `demo`: a cluster run against the simulator, and where its simulated requests' traces go, if anywhere. */
export interface DemoSettings {
  readonly kube: KubeSettings
  readonly traces: { readonly endpoint: string; readonly clusterName: string | undefined } | undefined
}

/** The command line cut for the command it runs. */
type CommandSettings =
  | { readonly command: "kube"; readonly kubeconfig: KubeConfigSettings; readonly settings: KubeSettings }
  | { readonly command: "file"; readonly settings: FileSettings }
  | { readonly command: "demo"; readonly settings: DemoSettings }

interface KubeConfigSettings {
  readonly path: string | undefined
  readonly context: string | undefined
}

/** Events the once-only window of a cluster run remembers. */
const KUBE_WINDOW = 100_000

/** The rule sections compiled for the pipeline. */
const ruleSettings = (rules: RulesConfig, labelsKnown: boolean): Omit<PipelineSettings, "windowSize"> => ({
  filters: compileFilters(rules.filters),
  severity: compileSeverityRules(rules.severity.rules, { defaults: rules.severity.defaults }),
  throttle: rules.throttle.enabled
    ? {
        limit: rules.throttle.limit,
        windowMs: rules.throttle.windowMs,
        key: rules.throttle.key,
        maxKeys: rules.throttle.maxKeys
      }
    : undefined,
  labelsKnown
})

/** The rule sections compiled for the pipeline, with a once-only window of `windowSize` events. */
export const pipelineSettings = (rules: RulesConfig, labelsKnown: boolean, windowSize: number): PipelineSettings => ({
  windowSize,
  ...ruleSettings(rules, labelsKnown)
})

/** What differs between a dump (give up on a batch, keep every record) and a daemon (retry for ever, drop old). */
interface DeliveryDefaults {
  readonly retryGiveUp: Duration.Duration | undefined
  readonly maxRecordAge: Duration.Duration | undefined
}

/**
 * The checkpoint keeps the latest 10 000 occurrences to save with the resourceVersions; with nowhere to save them
 * (no `--checkpoint`) it keeps none: each would live some seconds, long enough to be promoted and then collected
 * from the old generation.
 */
export const checkpointSettings = (values: OptionValues): CheckpointSettings => ({
  interval: values.checkpointInterval,
  ttl: values.eventTtl,
  maxOccurrences: values.checkpoint._tag === "None" ? 0 : 10_000
})

const sinkSettings = (values: OptionValues, defaults: DeliveryDefaults): SinkSettings => ({
  queueSize: values.queueSize,
  batchSize: values.batchSize,
  linger: values.batchLinger,
  concurrency: values.exportConcurrency,
  retryInitial: values.retryInitial,
  retryMax: values.retryMax,
  retryGiveUpAfter: values.retryGiveUp ?? defaults.retryGiveUp,
  maxRecordAge: defaults.maxRecordAge
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

const sourceSettings = (values: OptionValues, rules: RulesConfig): SourceSettings => {
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
 * The headers of every export: `--otlp-headers`, and `Authorization: Basic ...` from `--otlp-username` and
 * `--otlp-password` (RFC 7617: user-id ":" password, UTF-8, base64), which wins over an Authorization header.
 */
export const exportHeaders = (
  values: Pick<OptionValues, "otlpHeaders" | "otlpUsername" | "otlpPassword">
): Readonly<Record<string, string>> => {
  const { otlpHeaders, otlpUsername, otlpPassword } = values
  if (otlpUsername === undefined || otlpPassword === undefined) return otlpHeaders
  const credentials = Buffer.from(`${otlpUsername}:${otlpPassword}`, "utf8").toString("base64")
  const others = Object.entries(otlpHeaders).filter(([k]) => k.toLowerCase() !== "authorization")
  return { ...Object.fromEntries(others), Authorization: `Basic ${credentials}` }
}

const exporterSettings = (values: OptionValues): ExporterSettings => {
  switch (values.exporter) {
    case "none":
      return { kind: "none" }
    case "console":
      return { kind: "console", format: values.consoleFormat }
    case "otlp":
      return {
        kind: "otlp",
        otlp: {
          endpoint: values.otlpEndpoint,
          protocol: values.otlpProtocol,
          headers: exportHeaders(values),
          compression: values.otlpCompression,
          timeoutMs: Duration.toMillis(values.otlpTimeout),
          concurrency: values.exportConcurrency
        },
        tlsFiles: { ca: values.otlpCertificate, cert: values.otlpClientCertificate, key: values.otlpClientKey }
      }
  }
}

const deliverySettings = (values: OptionValues, defaults: DeliveryDefaults): DeliverySettings => ({
  sink: sinkSettings(values, defaults),
  exporter: exporterSettings(values),
  resource: {
    resourceAttributes: values.resourceAttributes,
    serviceName: values.serviceName,
    clusterName: values.clusterName
  },
  shutdownTimeout: values.shutdownTimeout
})

const electionSettings = (values: OptionValues): LeaderElectionSettings | undefined =>
  values.leaderElect && values.lease !== undefined
    ? {
        namespace: values.lease.namespace,
        name: values.lease.name,
        identity: defaultIdentity(),
        leaseDuration: values.leaseDuration,
        renewDeadline: values.leaseRenewDeadline,
        retryPeriod: values.leaseRetryPeriod
      }
    : undefined

/** A cluster run: retried for ever, records dropped once the API server has forgotten their event. */
export const kubeSettings = (values: OptionValues, rules: RulesConfig): KubeSettings => ({
  ...deliverySettings(values, { retryGiveUp: undefined, maxRecordAge: values.eventTtl }),
  source: sourceSettings(values, rules),
  pipeline: pipelineSettings(rules, values.enrichment, KUBE_WINDOW),
  checkpoint: { store: values.checkpoint, settings: checkpointSettings(values) },
  election: electionSettings(values),
  enrichment: enrichSettings(values),
  probes:
    values.listen === undefined ? undefined : { ...values.listen, stallMs: Duration.toMillis(values.stallTimeout) }
})

/** A dump: every batch given up after 2 minutes, no checkpoint kept, no enrichment, no cluster to ask. */
const fileSettings = (values: OptionValues, rules: RulesConfig, path: string): FileSettings => ({
  ...deliverySettings(values, { retryGiveUp: Duration.minutes(2), maxRecordAge: undefined }),
  path,
  pipeline: ruleSettings(rules, false),
  checkpoint: { interval: Duration.zero, ttl: values.eventTtl, maxOccurrences: 0 }
})

/** Where the demo serves /metrics unless `--listen` says otherwise: loopback, a port the system picks. */
const DEMO_LISTEN = { host: "127.0.0.1", port: 0 }

/**
 * The demo's own defaults: records on the console as text, unless an exporter or an endpoint was chosen; probes
 * never on all interfaces, and never failing on a port something else took. Traces of the simulated requests go
 * where the records go over OTLP.
 */
const demoSettings = ({ values, origins, rules }: Loaded): DemoSettings => {
  const chosen = origins.exporter !== "default" || origins.otlpEndpoint !== "default"
  const demoValues: OptionValues = {
    ...values,
    exporter: chosen ? values.exporter : "console",
    consoleFormat: origins.consoleFormat === "default" ? "text" : values.consoleFormat,
    listen: origins.listen === "default" ? DEMO_LISTEN : values.listen
  }
  return {
    kube: kubeSettings(demoValues, rules),
    traces:
      chosen && values.exporter === "otlp"
        ? { endpoint: values.otlpEndpoint.replace(/\/v1\/logs$/, "/v1/traces"), clusterName: values.clusterName }
        : undefined
  }
}

export const loggingSettings = (values: OptionValues): LoggingSettings => ({
  level: values.logLevel,
  format: values.logFormat
})

/** `demo`, a dump (`--source file:PATH`) or a cluster (`--source kube`), each with its settings. */
export const commandSettings = (loaded: Loaded & { readonly command: "run" | "demo" }): CommandSettings => {
  const { values, rules } = loaded
  if (loaded.command === "demo") return { command: "demo", settings: demoSettings(loaded) }
  if (values.source.kind === "file")
    return { command: "file", settings: fileSettings(values, rules, values.source.path) }
  return {
    command: "kube",
    kubeconfig: { path: values.kubeconfig, context: values.context },
    settings: kubeSettings(values, rules)
  }
}

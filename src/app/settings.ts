/** The loaded options turned into the settings each part of the collector takes. */
import type { Duration } from "effect"
import type { CheckpointSettings } from "../checkpoint/Checkpoint.ts"
import type { EnrichSettings } from "../enrich/Enricher.ts"
import type { PipelineSettings } from "../pipeline/pipeline.ts"
import type { RulesConfig } from "../rules/config.ts"
import { compileFilters, fieldSelectorFor } from "../rules/filter.ts"
import { compileSeverityRules } from "../rules/severity.ts"
import type { SinkSettings } from "../sink/RecordSink.ts"
import type { SourceSettings } from "../source/EventSource.ts"
import type { WatchTarget } from "../source/KubeApi.ts"
import type { OptionValues } from "../cli/options.ts"

/** The rule sections compiled for the pipeline. */
export const pipelineSettings = (rules: RulesConfig, labelsKnown: boolean, windowSize: number): PipelineSettings => ({
  windowSize,
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

/** What differs between a dump (give up on a batch, keep every record) and a daemon (retry for ever, drop old). */
export interface DeliveryDefaults {
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

export const sinkSettings = (values: OptionValues, defaults: DeliveryDefaults): SinkSettings => ({
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

/** The environment variables each option is read from, as released: derived from the flag, or named otherwise. */
import { describe, expect, it } from "vitest"
import { OPTION_KEYS, type OptionKey, OPTIONS } from "../../src/cli/options.ts"

/** Every variable the collector has accepted, by option, in the order they are tried. */
const ACCEPTED: Record<OptionKey, ReadonlyArray<string>> = {
  config: ["K8S_EVENT_COLLECTOR_CONFIG"],
  source: [],
  kubeconfig: [],
  context: ["K8S_EVENT_COLLECTOR_CONTEXT"],
  namespaces: ["K8S_EVENT_COLLECTOR_NAMESPACES"],
  api: ["K8S_EVENT_COLLECTOR_API"],
  mode: ["K8S_EVENT_COLLECTOR_MODE"],
  pollInterval: ["K8S_EVENT_COLLECTOR_POLL_INTERVAL"],
  listPageSize: ["K8S_EVENT_COLLECTOR_LIST_PAGE_SIZE"],
  watchTimeout: ["K8S_EVENT_COLLECTOR_WATCH_TIMEOUT"],
  watchIdleTimeout: ["K8S_EVENT_COLLECTOR_WATCH_IDLE_TIMEOUT"],
  apiRetryInitial: ["K8S_EVENT_COLLECTOR_API_RETRY_INITIAL"],
  apiRetryMax: ["K8S_EVENT_COLLECTOR_API_RETRY_MAX"],
  checkpoint: ["K8S_EVENT_COLLECTOR_CHECKPOINT"],
  checkpointInterval: ["K8S_EVENT_COLLECTOR_CHECKPOINT_INTERVAL"],
  leaderElect: ["K8S_EVENT_COLLECTOR_LEADER_ELECT"],
  lease: ["K8S_EVENT_COLLECTOR_LEASE"],
  leaseDuration: ["K8S_EVENT_COLLECTOR_LEASE_DURATION"],
  leaseRenewDeadline: ["K8S_EVENT_COLLECTOR_LEASE_RENEW_DEADLINE"],
  leaseRetryPeriod: ["K8S_EVENT_COLLECTOR_LEASE_RETRY_PERIOD"],
  eventTtl: ["K8S_EVENT_COLLECTOR_EVENT_TTL"],
  listen: ["K8S_EVENT_COLLECTOR_LISTEN"],
  stallTimeout: ["K8S_EVENT_COLLECTOR_STALL_TIMEOUT"],
  shutdownTimeout: ["K8S_EVENT_COLLECTOR_SHUTDOWN_TIMEOUT"],
  enrichment: ["K8S_EVENT_COLLECTOR_ENRICHMENT"],
  podLabels: ["K8S_EVENT_COLLECTOR_POD_LABELS"],
  serviceNameFromLabels: ["K8S_EVENT_COLLECTOR_SERVICE_NAME_FROM_LABELS"],
  enrichmentWatch: ["K8S_EVENT_COLLECTOR_ENRICHMENT_WATCH"],
  enrichmentCacheSize: ["K8S_EVENT_COLLECTOR_ENRICHMENT_CACHE_SIZE"],
  enrichmentCacheTtl: ["K8S_EVENT_COLLECTOR_ENRICHMENT_CACHE_TTL"],
  enrichmentTimeout: ["K8S_EVENT_COLLECTOR_ENRICHMENT_TIMEOUT"],
  enrichmentQps: ["K8S_EVENT_COLLECTOR_ENRICHMENT_QPS"],
  include: ["K8S_EVENT_COLLECTOR_INCLUDE"],
  exclude: ["K8S_EVENT_COLLECTOR_EXCLUDE"],
  minSeverity: ["K8S_EVENT_COLLECTOR_MIN_SEVERITY"],
  maxEventAge: ["K8S_EVENT_COLLECTOR_MAX_EVENT_AGE"],
  throttle: ["K8S_EVENT_COLLECTOR_THROTTLE"],
  exporter: ["OTEL_LOGS_EXPORTER"],
  consoleFormat: ["K8S_EVENT_COLLECTOR_CONSOLE_FORMAT"],
  otlpEndpoint: ["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"],
  otlpProtocol: ["OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"],
  otlpHeaders: ["OTEL_EXPORTER_OTLP_LOGS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"],
  otlpUsername: ["K8S_EVENT_COLLECTOR_OTLP_USERNAME"],
  otlpPassword: ["K8S_EVENT_COLLECTOR_OTLP_PASSWORD"],
  otlpCompression: ["OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"],
  otlpTimeout: ["OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"],
  otlpCertificate: ["OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"],
  otlpClientCertificate: ["OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"],
  otlpClientKey: ["OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"],
  clusterName: ["K8S_CLUSTER_NAME"],
  resourceAttributes: ["OTEL_RESOURCE_ATTRIBUTES"],
  serviceName: ["OTEL_SERVICE_NAME"],
  batchSize: ["K8S_EVENT_COLLECTOR_BATCH_SIZE"],
  batchLinger: ["K8S_EVENT_COLLECTOR_BATCH_LINGER"],
  exportConcurrency: ["K8S_EVENT_COLLECTOR_EXPORT_CONCURRENCY"],
  queueSize: ["K8S_EVENT_COLLECTOR_QUEUE_SIZE"],
  retryInitial: ["K8S_EVENT_COLLECTOR_RETRY_INITIAL"],
  retryMax: ["K8S_EVENT_COLLECTOR_RETRY_MAX"],
  retryGiveUp: ["K8S_EVENT_COLLECTOR_RETRY_GIVE_UP"],
  logLevel: ["K8S_EVENT_COLLECTOR_LOG_LEVEL"],
  logFormat: ["K8S_EVENT_COLLECTOR_LOG_FORMAT"],
  printConfig: []
}

const names = (key: OptionKey) => OPTIONS[key].env.map((e) => e.name)

describe("environment variables", () => {
  it("are the ones the collector has always accepted, in the same order", () => {
    for (const key of OPTION_KEYS) expect(names(key), key).toEqual(ACCEPTED[key])
  })

  it("are named after the flag unless the entry names others", () => {
    const fromFlag = (key: OptionKey) => `K8S_EVENT_COLLECTOR_${OPTIONS[key].flag.toUpperCase().replaceAll("-", "_")}`
    const others = OPTION_KEYS.filter((key) => names(key).join() !== fromFlag(key))
    expect(others).toEqual([
      "source",
      "kubeconfig",
      "exporter",
      "otlpEndpoint",
      "otlpProtocol",
      "otlpHeaders",
      "otlpCompression",
      "otlpTimeout",
      "otlpCertificate",
      "otlpClientCertificate",
      "otlpClientKey",
      "clusterName",
      "resourceAttributes",
      "serviceName",
      "printConfig"
    ])
  })
})

import { Duration } from "effect"
import { stringify } from "yaml"
import type { RulesConfig } from "../rules/config.ts"
import type { Rule } from "../rules/filter.ts"
import { redactUrl } from "../observability/redact.ts"
import { SEVERITY_NAMES, SEVERITY_NUMBERS } from "../rules/severity.ts"
import { OPTION_KEYS, type OptionKey, OPTIONS, type OptionSpec, type OptionValues } from "./options.ts"
import { durationText } from "../domain/valueText.ts"

const spec = (key: OptionKey): OptionSpec<unknown> => OPTIONS[key]

/** A value as a user would write it: durations as `200ms` or `5m`, maps as `k=v,...`. */
const showValue = (value: unknown): string => {
  if (Duration.isDuration(value)) return durationText(value)
  if (typeof value === "object" && value !== null && "_tag" in value) {
    return value._tag === "File" && "path" in value
      ? `file:${String(value.path)}`
      : value._tag === "ConfigMap" && "namespace" in value && "name" in value
        ? `configmap:${String(value.namespace)}/${String(value.name)}`
        : String(value._tag).toLowerCase()
  }
  if (typeof value === "object" && value !== null && "namespace" in value && "name" in value) {
    return `${String(value.namespace)}/${String(value.name)}`
  }
  if (typeof value === "object" && value !== null && "kind" in value) {
    return value.kind === "file" && "path" in value ? `file:${String(value.path)}` : String(value.kind)
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value)
    return entries.length === 0 ? "(none)" : entries.map(([k, v]) => `${k}=${String(v)}`).join(",")
  }
  return String(value)
}

/** The headings of `--help`, in order, each with what its options are about. */
const GROUPS = {
  source: "Source: where events come from and how they are read",
  export: "Export: where records go",
  delivery: "Delivery: batching, retries, the queue and the checkpoint",
  enrichment: "Enrichment: what is added to each record",
  rules: "Rules: which events become records",
  operations: "Operations: replicas, probes, the collector's own logs and configuration"
} as const

/** Under which heading `--help` lists each option; the compiler sees that every option has one. */
const GROUP_OF: Record<OptionKey, keyof typeof GROUPS> = {
  source: "source",
  kubeconfig: "source",
  context: "source",
  namespaces: "source",
  api: "source",
  mode: "source",
  pollInterval: "source",
  listPageSize: "source",
  watchTimeout: "source",
  watchIdleTimeout: "source",
  apiRetryInitial: "source",
  apiRetryMax: "source",
  exporter: "export",
  consoleFormat: "export",
  otlpEndpoint: "export",
  otlpProtocol: "export",
  otlpHeaders: "export",
  otlpUsername: "export",
  otlpPassword: "export",
  otlpCompression: "export",
  otlpTimeout: "export",
  otlpCertificate: "export",
  otlpClientCertificate: "export",
  otlpClientKey: "export",
  batchSize: "delivery",
  batchLinger: "delivery",
  exportConcurrency: "delivery",
  queueSize: "delivery",
  retryInitial: "delivery",
  retryMax: "delivery",
  retryGiveUp: "delivery",
  eventTtl: "delivery",
  checkpoint: "delivery",
  checkpointInterval: "delivery",
  shutdownTimeout: "delivery",
  enrichment: "enrichment",
  enrichmentWatch: "enrichment",
  podLabels: "enrichment",
  serviceNameFromLabels: "enrichment",
  enrichmentCacheSize: "enrichment",
  enrichmentCacheTtl: "enrichment",
  enrichmentTimeout: "enrichment",
  enrichmentQps: "enrichment",
  clusterName: "enrichment",
  resourceAttributes: "enrichment",
  serviceName: "enrichment",
  include: "rules",
  exclude: "rules",
  minSeverity: "rules",
  maxEventAge: "rules",
  throttle: "rules",
  config: "operations",
  leaderElect: "operations",
  lease: "operations",
  leaseDuration: "operations",
  leaseRenewDeadline: "operations",
  leaseRetryPeriod: "operations",
  listen: "operations",
  stallTimeout: "operations",
  logLevel: "operations",
  logFormat: "operations",
  printConfig: "operations"
}

/** Within a heading, the order of `GROUP_OF`: what belongs together stands together. */
const KEYS_BY_GROUP = [...OPTION_KEYS].sort(
  (a, b) => Object.keys(GROUP_OF).indexOf(a) - Object.keys(GROUP_OF).indexOf(b)
)

/** One option: the flag, its help, then where else it can be set and its default. */
const optionLines = (key: OptionKey): ReadonlyArray<string> => {
  const s = spec(key)
  const details = [
    s.env.length > 0 ? `env: ${s.env.map((e) => e.name).join(", then ")}` : undefined,
    key === "config" ? undefined : `file: ${s.fileSection ?? key}`,
    s.defaultText !== undefined
      ? `default: ${s.defaultText}`
      : s.default !== undefined
        ? `default: ${showValue(s.default)}`
        : undefined
  ].filter((d) => d !== undefined)
  const flag = `  --${s.flag}${s.boolean === true ? "" : ` ${s.valueName}`}`
  return [flag, `      ${s.help}`, `      (${details.join("; ")})`]
}

export const renderHelp = (version: string): string => {
  const lines = [
    `k8s-event-collector ${version}: Kubernetes Events → OpenTelemetry log records over OTLP`,
    "",
    "Usage:",
    "  k8s-event-collector [run] [options]   collect events and export them",
    "  k8s-event-collector demo [options]    run against a simulated cluster (no cluster needed)",
    "",
    "Every option is a flag and can be set in the --config file under its camelCase name; most are also",
    "environment variables. Durations are written 500ms, 10s, 1m30s or 2h."
  ]
  for (const [group, heading] of Object.entries(GROUPS)) {
    lines.push("", heading)
    for (const key of KEYS_BY_GROUP.filter((k) => GROUP_OF[k] === group)) lines.push(...optionLines(key))
    if (group === "operations") lines.push("  -h, --help", "      this text", "  --version", "      the version")
  }
  lines.push("")
  lines.push(
    "Exit codes: 0 done; 1 records could not be delivered; 2 invalid configuration, input file or checkpoint path."
  )
  return lines.join("\n") + "\n"
}

const ruleForDisplay = (r: Rule): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(r)) {
    if (value === undefined) continue
    if (typeof value === "string") out[field] = value
    else if ("_tag" in value && typeof value.text === "string") out[field] = value.text
    else
      out[field] = Object.fromEntries(
        Object.entries(value).map(([k, p]) => [k, typeof p === "object" && p !== null && "text" in p ? p.text : p])
      )
  }
  return out
}

/** The filter, severity and throttle sections as they would be written in the file. */
const rulesForDisplay = (rules: RulesConfig): Record<string, unknown> => {
  const name = (n: number | undefined) => SEVERITY_NAMES.find((k) => SEVERITY_NUMBERS[k] === n)
  return {
    filters: {
      include: rules.filters.include.map(ruleForDisplay),
      exclude: rules.filters.exclude.map(ruleForDisplay),
      ...(rules.filters.minSeverity === undefined ? {} : { minSeverity: name(rules.filters.minSeverity) }),
      ...(rules.filters.maxEventAgeMs === undefined
        ? {}
        : { maxEventAge: durationText(Duration.millis(rules.filters.maxEventAgeMs)) })
    },
    severity: {
      defaults: rules.severity.defaults,
      rules: rules.severity.rules.map((r) => ({
        ...(r.reason === undefined ? {} : { reason: r.reason.text }),
        ...(r.kind === undefined ? {} : { kind: r.kind }),
        ...(r.type === undefined ? {} : { type: r.type }),
        severity: r.severity
      }))
    },
    throttle: { ...rules.throttle, window: durationText(Duration.millis(rules.throttle.windowMs)), windowMs: undefined }
  }
}

/**
 * The effective configuration as YAML a user could put in `--config`, origins as comments; secrets and the
 * credentials of URLs are redacted.
 */
export const renderConfig = (
  values: OptionValues,
  origins: Readonly<Partial<Record<OptionKey, string>>>,
  rules: RulesConfig
): string => {
  const out: Record<string, unknown> = {}
  for (const key of OPTION_KEYS) {
    const value = values[key]
    if (value === undefined || key === "printConfig" || spec(key).fileSection !== undefined) continue
    const s = spec(key)
    if (s.secret === true) {
      out[key] =
        typeof value === "object" && value !== null
          ? Object.fromEntries(Object.keys(value).map((k) => [k, "<redacted>"]))
          : "<redacted>"
    } else if (
      Duration.isDuration(value) ||
      (typeof value === "object" && value !== null && ("kind" in value || "_tag" in value || "namespace" in value))
    ) {
      out[key] = showValue(value)
    } else {
      // Credentials in a URL (http://user:password@host) are as secret as a header.
      out[key] = typeof value === "string" ? redactUrl(value) : value
    }
  }
  const yaml = stringify({ ...out, ...rulesForDisplay(rules) })
  return yaml
    .split("\n")
    .map((line) => {
      const key = OPTION_KEYS.find((k) => line.startsWith(`${k}:`))
      const origin = key === undefined ? undefined : origins[key]
      return origin !== undefined && origin !== "default" ? `${line}  # from ${origin}` : line
    })
    .join("\n")
}

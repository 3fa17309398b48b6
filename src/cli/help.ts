import { Duration } from "effect"
import { stringify } from "yaml"
import { type OptionKey, OPTIONS, type OptionSpec, type OptionValues } from "./options.ts"

const KEYS = Object.keys(OPTIONS) as ReadonlyArray<OptionKey>
const spec = (key: OptionKey): OptionSpec<unknown> => OPTIONS[key]

/** A value as a user would write it: durations as `200ms`, maps as `k=v,...`. */
export const showValue = (value: unknown): string => {
  if (Duration.isDuration(value)) return `${Duration.toMillis(value)}ms`
  if (typeof value === "object" && value !== null && "_tag" in value) {
    return value._tag === "File" && "path" in value ? `file:${String(value.path)}`
      : value._tag === "ConfigMap" && "namespace" in value && "name" in value ? `configmap:${String(value.namespace)}/${String(value.name)}`
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

export const renderHelp = (version: string): string => {
  const lines = [
    `k8s-event-collector ${version}: Kubernetes Events → OpenTelemetry log records over OTLP`,
    "",
    "Usage:",
    "  k8s-event-collector [run] [options]   collect events and export them",
    "  k8s-event-collector demo [options]    run against a simulated cluster (no cluster needed)",
    "",
    "Options (flag, environment variable; every option can also be set in the --config file under its camelCase name):"
  ]
  for (const key of KEYS) {
    const s = spec(key)
    const flag = `--${s.flag}${s.boolean === true ? "" : ` ${s.valueName}`}`
    lines.push(`  ${flag}`)
    lines.push(`      ${s.help}`)
    const details = [
      s.env !== undefined && s.env.length > 0 ? `env: ${s.env.map((e) => e.name).join(", then ")}` : undefined,
      key === "config" ? undefined : `file: ${key}`,
      s.defaultText !== undefined ? `default: ${s.defaultText}` : s.default !== undefined ? `default: ${showValue(s.default)}` : undefined
    ].filter((d) => d !== undefined)
    lines.push(`      (${details.join("; ")})`)
  }
  lines.push("  -h, --help        this text")
  lines.push("  --version         the version")
  lines.push("")
  lines.push("Exit codes: 0 done; 1 records could not be delivered; 2 invalid configuration or input file.")
  return lines.join("\n") + "\n"
}

/** The effective configuration as YAML a user could put in `--config`, secrets redacted, origins as comments. */
export const renderConfig = (values: OptionValues, origins: Readonly<Partial<Record<OptionKey, string>>>): string => {
  const out: Record<string, unknown> = {}
  for (const key of KEYS) {
    const value = values[key]
    if (value === undefined || key === "printConfig") continue
    const s = spec(key)
    if (s.secret === true) {
      out[key] = typeof value === "object" && value !== null
        ? Object.fromEntries(Object.keys(value).map((k) => [k, "<redacted>"]))
        : "<redacted>"
    } else if (Duration.isDuration(value) || (typeof value === "object" && value !== null && ("kind" in value || "_tag" in value || "namespace" in value))) {
      out[key] = showValue(value)
    } else {
      out[key] = value
    }
  }
  const yaml = stringify(out)
  return yaml.split("\n").map((line) => {
    const key = KEYS.find((k) => line.startsWith(`${k}:`))
    const origin = key === undefined ? undefined : origins[key]
    return origin !== undefined && origin !== "default" ? `${line}  # from ${origin}` : line
  }).join("\n")
}

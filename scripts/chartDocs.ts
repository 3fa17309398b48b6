/**
 * `npm run chart:docs`: what the chart says about the collector's options and its own values, derived so that
 * it cannot drift. It writes
 *  - `properties.config` of values.schema.json, from the options table (src/cli/options.ts): every option a user
 *    may set under `config`, typed, so that `helm install` refuses a misspelt or mistyped one;
 *  - the two tables of the chart's README between their markers: the values (from the `# --` comments of
 *    values.yaml) and the options under `config`.
 * test/deploy/chart.test.ts fails when a file differs from what this script writes.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { isMap, isScalar, parseDocument, type Node, type Pair } from "yaml"
import { OPTION_KEYS, type OptionKey, OPTIONS, type OptionSpec } from "../src/cli/options.ts"

const CHART = fileURLToPath(new URL("../charts/k8s-event-collector/", import.meta.url))
export const CHART_FILES = {
  values: `${CHART}values.yaml`,
  schema: `${CHART}values.schema.json`,
  readme: `${CHART}README.md`
} as const

/** Options the chart sets from its own values (or that make no sense in a pod), and where each comes from. */
export const CHART_DERIVED: Readonly<Partial<Record<OptionKey, string>>> = {
  config: "the mounted ConfigMap",
  source: "always `kube`",
  kubeconfig: "the ServiceAccount's token",
  context: "the ServiceAccount's token",
  printConfig: "not for a pod",
  listen: "`containerPorts.metrics`",
  leaderElect: "`replicaCount` above 1",
  lease: "the release's name",
  checkpoint: "`checkpoint.enabled`, named after the release",
  namespaces: "`rbac.namespaces` with `rbac.scope: namespaces`",
  otlpEndpoint: "`otlp.endpoint`",
  otlpProtocol: "`otlp.protocol`",
  otlpHeaders: "`otlp.headersSecret`",
  otlpUsername: "`otlp.basicAuth`",
  otlpPassword: "`otlp.basicAuth`",
  otlpCertificate: "`otlp.tls`",
  otlpClientCertificate: "`otlp.tls`",
  otlpClientKey: "`otlp.tls`"
}

type JsonSchema = { readonly [key: string]: unknown }

/** A word list such as `http/protobuf|http/json` is an enum; `on|off` also as the booleans YAML 1.1 makes of them. */
const enumOf = (valueName: string): ReadonlyArray<string | boolean> | undefined => {
  if (!/^[a-z0-9./]+(\|[a-z0-9./]+)+$/.test(valueName)) return undefined
  const words = valueName.split("|")
  return valueName === "on|off" ? [...words, true, false] : words
}

/** The JSON type of an option's value, from how its table entry describes it. */
const typeOf = (spec: OptionSpec<unknown>): JsonSchema => {
  if (spec.boolean === true) return { type: "boolean" }
  if (spec.multiple === true) return { type: "array", items: { type: "string" } }
  const choices = enumOf(spec.valueName)
  if (choices !== undefined) return { enum: choices }
  switch (spec.valueName) {
    case "N":
      return { type: "integer" }
    case "DURATION":
      // A bare number is milliseconds.
      return { type: ["string", "integer"] }
    case "K=V,...":
      return { type: ["string", "object"], additionalProperties: { type: "string" } }
    case "A,B,...":
    case "KEY,...":
      return { type: ["string", "array"], items: { type: "string" } }
    default:
      return { type: "string" }
  }
}

const optionSchema = (spec: OptionSpec<unknown>): JsonSchema => ({ description: spec.help, ...typeOf(spec) })

/** The rule sections of the file, checked in full by the collector at start-up (src/rules/config.ts). */
const SEVERITY_SECTION: JsonSchema = {
  type: "object",
  description: "Severity rules: {defaults: true|false, rules: [{reason, kind, type, severity}]} (README, Severity)."
}

/** `properties.config` of values.schema.json. */
export const configSchema = (): JsonSchema => {
  const properties: Record<string, JsonSchema> = {}
  const sections: Record<string, Record<string, JsonSchema>> = {}
  for (const key of OPTION_KEYS) {
    if (CHART_DERIVED[key] !== undefined) continue
    const spec: OptionSpec<unknown> = OPTIONS[key]
    const [section, name] = spec.fileSection?.split(".") ?? []
    if (section !== undefined && name !== undefined) (sections[section] ??= {})[name] = optionSchema(spec)
    else if (section !== undefined) properties[section] = { description: spec.help }
    else properties[key] = optionSchema(spec)
  }
  for (const [section, props] of Object.entries(sections)) {
    properties[section] = { type: "object", additionalProperties: false, properties: props }
  }
  properties["severity"] = SEVERITY_SECTION
  return {
    type: "object",
    description: "The collector's options (camelCase), written into its configuration file.",
    additionalProperties: false,
    properties: Object.fromEntries(Object.entries(properties).sort(([a], [b]) => a.localeCompare(b)))
  }
}

/** values.schema.json with its `config` property as `configSchema` says. */
export const renderedSchema = (current: string): string => {
  const schema: unknown = JSON.parse(current)
  if (typeof schema !== "object" || schema === null || !("properties" in schema)) {
    throw new Error("values.schema.json has no properties")
  }
  const properties = schema.properties
  if (typeof properties !== "object" || properties === null) throw new Error("values.schema.json: bad properties")
  return JSON.stringify({ ...schema, properties: { ...properties, config: configSchema() } }, null, 2) + "\n"
}

// ---- the README's tables ----

export interface ValueRow {
  readonly key: string
  readonly type: string
  readonly default: string
  readonly description: string
}

const typeName = (value: unknown): string =>
  Array.isArray(value) ? "list" : value === null ? "null" : typeof value === "object" ? "object" : typeof value

/** The text from the comment line that starts with `--` on, joined into one line. */
const describe = (comment: string | null | undefined): string | undefined => {
  const lines = (comment ?? "").split("\n").map((line) => line.trim())
  const start = lines.findIndex((line) => line.startsWith("--"))
  if (start < 0) return undefined
  return lines.slice(start).join(" ").slice("--".length).trim()
}

/** The key paths of values.yaml, each with its `# --` description, if any, and whether a parent has one. */
interface ValueKey {
  readonly row: ValueRow
  readonly documented: boolean
  readonly underDocumented: boolean
  readonly map: boolean
}

const valueKeys = (valuesYaml: string): ReadonlyArray<ValueKey> => {
  const keys: Array<ValueKey> = []
  const visit = (node: Node | null, prefix: string, underDocumented: boolean) => {
    if (!isMap(node)) return
    const pairs = node.items as ReadonlyArray<Pair<Node, Node>>
    for (const [index, pair] of pairs.entries()) {
      const key = isScalar(pair.key) ? String(pair.key.value) : ""
      const path = prefix === "" ? key : `${prefix}.${key}`
      // The comment above a map's first key belongs to the map in the parsed tree.
      const description = describe(pair.key?.commentBefore ?? (index === 0 ? node.commentBefore : undefined))
      const value: unknown = pair.value?.toJSON()
      keys.push({
        row: { key: path, type: typeName(value), default: JSON.stringify(value), description: description ?? "" },
        documented: description !== undefined,
        underDocumented,
        map: isMap(pair.value)
      })
      visit(pair.value, path, underDocumented || description !== undefined)
    }
  }
  const document = parseDocument(valuesYaml)
  if (isMap(document.contents) && document.contents.commentBefore == null) {
    document.contents.commentBefore = document.commentBefore
  }
  visit(document.contents, "", false)
  return keys
}

/** One row per key with a `# --` comment, in file order. */
export const valueRows = (valuesYaml: string): ReadonlyArray<ValueRow> =>
  valueKeys(valuesYaml)
    .filter((k) => k.documented)
    .map((k) => k.row)

/** Values a user cannot look up: neither they nor a map above them have a `# --` comment (maps may go without). */
export const undocumentedValues = (valuesYaml: string): ReadonlyArray<string> =>
  valueKeys(valuesYaml)
    .filter((k) => !k.documented && !k.underDocumented && !k.map)
    .map((k) => k.row.key)

const cell = (text: string): string => text.replaceAll("|", "\\|")

const valuesTable = (rows: ReadonlyArray<ValueRow>): string =>
  [
    "| value | type | default | meaning |",
    "|---|---|---|---|",
    ...rows.map((r) => `| \`${r.key}\` | ${r.type} | \`${cell(r.default)}\` | ${cell(r.description)} |`)
  ].join("\n")

const optionsTable = (): string =>
  [
    "| key under `config` | flag | meaning |",
    "|---|---|---|",
    ...OPTION_KEYS.map((key) => {
      const spec: OptionSpec<unknown> = OPTIONS[key]
      const derived = CHART_DERIVED[key]
      const name = spec.fileSection ?? key
      const meaning = derived === undefined ? spec.help : `set by the chart: ${derived}`
      return `| \`${name}\` | \`--${spec.flag}\` | ${cell(meaning)} |`
    })
  ].join("\n")

const replaceBetween = (text: string, marker: string, content: string): string => {
  const start = `<!-- ${marker}:start -->`
  const end = `<!-- ${marker}:end -->`
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from < 0 || to < from) throw new Error(`the chart's README has no ${start} ... ${end}`)
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`
}

/** The chart's README with both tables as values.yaml and the options table say. */
export const renderedReadme = (current: string, valuesYaml: string): string =>
  replaceBetween(replaceBetween(current, "values", valuesTable(valueRows(valuesYaml))), "options", optionsTable())

const main = () => {
  const valuesYaml = readFileSync(CHART_FILES.values, "utf8")
  writeFileSync(CHART_FILES.schema, renderedSchema(readFileSync(CHART_FILES.schema, "utf8")))
  writeFileSync(CHART_FILES.readme, renderedReadme(readFileSync(CHART_FILES.readme, "utf8"), valuesYaml))
  console.log(`wrote ${CHART_FILES.schema} and ${CHART_FILES.readme}`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main()

/**
 * Loki's view of an OTLP log record, written out from Loki's documentation, and enough LogQL to run the dashboard's,
 * the alert rules' and the trace-to-logs link's queries against records the collector really makes. No Loki runs
 * here (and none may be built: it is AGPL), so this is the test's own reading of what Loki documents:
 *
 * - "Ingesting logs to Loki using OpenTelemetry Collector" (grafana.com/docs/loki/latest/send-data/otel/),
 *   "Format considerations": the resource attributes in the default list become index labels; every other
 *   resource attribute, everything under InstrumentationScope and everything of the LogRecord but its body and
 *   timestamp become structured metadata; `.` and any other character a label name cannot hold become `_`;
 *   non-string values are stringified. "Changing the default mapping": `limits_config.otlp_config` with
 *   `resource_attributes.ignore_defaults`, `resource_attributes.attributes_config`, `scope_attributes` and
 *   `log_attributes`, each a list of `{action: index_label | structured_metadata | drop, attributes | regex}`;
 *   `index_label` only for resource attributes.
 * - The configuration reference (grafana.com/docs/loki/latest/configure/), `distributor.otlp_config.
 *   default_resource_attributes_as_index_labels`: the default list. The page above lists 17 names (older pages
 *   say `deployment.environment`, newer ones `deployment.environment.name`); the reference's default holds both.
 * - "Remove default OpenTelemetry labels" (grafana.com/docs/loki/latest/get-started/labels/remove-default-labels/):
 *   `k8s.pod.name` and `service.instance.id` are no longer recommended as labels (their cardinality); a new user
 *   should leave them out of `default_resource_attributes_as_index_labels`, which makes them structured metadata.
 * - "Understand labels": Loki sets `service_name` on every stream, `unknown_service` when nothing names one.
 * - The configuration reference, `limits_config.discover_log_levels` (default true) and `log_level_fields`:
 *   `detected_level` is taken from the first of those fields a stream label or structured metadata holds,
 *   normalized; without one, from an OTLP record's severity number by the OpenTelemetry ranges (Loki's
 *   pkg/distributor/field_detection.go). The default fields include `severity_text`, so by default a record's
 *   SeverityText, not its number, decides its `detected_level`.
 * - LogQL (grafana.com/docs/loki/latest/query/): stream selectors with `=`, `!=`, `=~`, `!~` (regular
 *   expressions fully anchored, RE2 syntax); label filter expressions after `|`, joined by `and` (or `,`) and
 *   `or`, evaluated left to right unless parentheses group them; a numeric comparison drops a line without that
 *   label; a selector needs a matcher that does not match the empty value.
 */
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import type { KubeEvent } from "../../src/domain/KubeEvent.ts"
import { deriveEnrichment, type Workload, workloadOf, type WorkloadObject } from "../../src/enrich/workloads.ts"
import { compileSeverityRules } from "../../src/rules/severity.ts"
import { consoleLines } from "../../src/sink/console.ts"
import { type ResourceAttributes, ResourceCache } from "../../src/translate/resource.ts"
import { toLogRecord } from "../../src/translate/toLogRecord.ts"
import { arr, at, lokiName, makeEvent, objectRef, POD_NORMAL, POD_WARNING, str } from "./support.ts"

// ---- the mapping Loki documents ----

/** `distributor.otlp_config.default_resource_attributes_as_index_labels`, Loki's default. */
export const DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS: ReadonlyArray<string> = [
  "service.name",
  "service.namespace",
  "service.instance.id",
  "deployment.environment",
  "deployment.environment.name",
  "cloud.region",
  "cloud.availability_zone",
  "k8s.cluster.name",
  "k8s.namespace.name",
  "k8s.pod.name",
  "k8s.container.name",
  "container.name",
  "k8s.replicaset.name",
  "k8s.deployment.name",
  "k8s.statefulset.name",
  "k8s.daemonset.name",
  "k8s.cronjob.name",
  "k8s.job.name"
]

/** The resource attributes Loki's labelling guidance demotes to structured metadata (high cardinality). */
export const NOT_RECOMMENDED_AS_LABELS: ReadonlyArray<string> = ["k8s.pod.name", "service.instance.id"]

/** `limits_config.log_level_fields`, Loki's default: where `detected_level` is read from before anything else. */
const DEFAULT_LOG_LEVEL_FIELDS: ReadonlyArray<string> = [
  "level",
  "LEVEL",
  "Level",
  "Severity",
  "severity",
  "SEVERITY",
  "lvl",
  "LVL",
  "Lvl",
  "severity_text",
  "Severity_Text",
  "SEVERITY_TEXT"
]

/** Names Loki gives a record's fields in structured metadata, and the stream label it always sets. */
export const LOKI_FIELDS = {
  severityText: "severity_text",
  severityNumber: "severity_number",
  scopeName: "scope_name",
  scopeVersion: "scope_version",
  observedTimestamp: "observed_timestamp",
  detectedLevel: "detected_level",
  serviceName: "service_name",
  unknownService: "unknown_service"
} as const

type Action = "index_label" | "structured_metadata" | "drop"

interface AttributesRule {
  readonly action: Action
  readonly attributes: ReadonlyArray<string>
  /** Fully anchored, as Loki's (Prometheus relabel) regexes are. */
  readonly regex: RegExp | undefined
}

/** The parts of a Loki configuration that decide how an OTLP record is stored. */
export interface LokiOtlpSettings {
  readonly defaultIndexAttributes: ReadonlyArray<string>
  readonly ignoreDefaults: boolean
  readonly resourceRules: ReadonlyArray<AttributesRule>
  readonly scopeRules: ReadonlyArray<AttributesRule>
  readonly logRules: ReadonlyArray<AttributesRule>
  readonly discoverLogLevels: boolean
  readonly logLevelFields: ReadonlyArray<string>
}

const ACTIONS: ReadonlySet<string> = new Set(["index_label", "structured_metadata", "drop"])

const rulesOf = (u: unknown, where: string, indexAllowed: boolean): ReadonlyArray<AttributesRule> =>
  arr(u).map((r, i) => {
    // An empty action means structured_metadata (Loki's default for a rule).
    const action = str(at(r, "action")) ?? "structured_metadata"
    if (!ACTIONS.has(action)) throw new Error(`${where}[${i}]: unknown action ${action}`)
    if (action === "index_label" && !indexAllowed) throw new Error(`${where}[${i}]: index_label is for resources`)
    const attributes = arr(at(r, "attributes")).filter((a): a is string => typeof a === "string")
    const regex = str(at(r, "regex"))
    if (attributes.length > 0 === (regex !== undefined)) throw new Error(`${where}[${i}]: attributes or regex`)
    return {
      action: action as Action,
      attributes,
      regex: regex === undefined ? undefined : new RegExp(`^(?:${regex})$`)
    }
  })

/** What a Loki configuration file (parsed YAML) says about OTLP ingestion; Loki's defaults where it is silent. */
export const lokiSettings = (config: unknown): LokiOtlpSettings => {
  const defaults = at(config, "distributor", "otlp_config", "default_resource_attributes_as_index_labels")
  const otlp = at(config, "limits_config", "otlp_config")
  const levelFields = at(config, "limits_config", "log_level_fields")
  const discover = at(config, "limits_config", "discover_log_levels")
  return {
    defaultIndexAttributes:
      defaults === undefined ? DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS : arr(defaults).map(String),
    ignoreDefaults: at(otlp, "resource_attributes", "ignore_defaults") === true,
    resourceRules: rulesOf(at(otlp, "resource_attributes", "attributes_config"), "resource_attributes", true),
    scopeRules: rulesOf(at(otlp, "scope_attributes"), "scope_attributes", false),
    logRules: rulesOf(at(otlp, "log_attributes"), "log_attributes", false),
    discoverLogLevels: discover === undefined ? true : discover === true,
    logLevelFields: levelFields === undefined ? DEFAULT_LOG_LEVEL_FIELDS : arr(levelFields).map(String)
  }
}

/** Loki with every setting at its default. */
export const LOKI_DEFAULTS: LokiOtlpSettings = lokiSettings({})

/** The first rule naming the attribute decides; none does → structured metadata. Defaults come first. */
const actionFor = (attribute: string, rules: ReadonlyArray<AttributesRule>): Action => {
  for (const r of rules) {
    if (r.regex !== undefined ? r.regex.test(attribute) : r.attributes.includes(attribute)) return r.action
  }
  return "structured_metadata"
}

export const resourceAction = (s: LokiOtlpSettings, attribute: string): Action =>
  actionFor(
    attribute,
    s.ignoreDefaults
      ? s.resourceRules
      : [{ action: "index_label", attributes: s.defaultIndexAttributes, regex: undefined }, ...s.resourceRules]
  )

// ---- an OTLP record, and what Loki stores of it ----

/** One log record as an OTLP receiver gets it, with every value as a string (Loki stringifies them). */
export interface OtlpRecord {
  readonly resource: Readonly<Record<string, string>>
  readonly scopeName: string | undefined
  readonly scopeVersion: string | undefined
  readonly attributes: Readonly<Record<string, string>>
  readonly severityNumber: number | undefined
  readonly severityText: string | undefined
  readonly body: string
  /** Both set: Loki takes the line's time from the first and keeps the second as structured metadata. */
  readonly timeUnixNano: string | undefined
  readonly observedTimeUnixNano: string | undefined
}

const valueText = (v: unknown): string | undefined => {
  for (const key of ["stringValue", "intValue", "doubleValue", "boolValue"]) {
    const x = at(v, key)
    if (typeof x === "string" || typeof x === "number" || typeof x === "boolean") return String(x)
  }
  return undefined
}

const keyValues = (u: unknown): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const kv of arr(u)) {
    const key = str(at(kv, "key"))
    const value = valueText(at(kv, "value"))
    if (key !== undefined && value !== undefined) out[key] = value
  }
  return out
}

const nanos = (u: unknown): string | undefined =>
  (typeof u === "string" || typeof u === "number") && String(u) !== "0" ? String(u) : undefined

/** A record as the collector puts it on the wire: through its own OTLP/JSON serialization (console exporter). */
const otlpRecord = (record: ReadableLogRecord): OtlpRecord => {
  const request: unknown = JSON.parse(consoleLines([record]))
  const resourceLogs = arr(at(request, "resourceLogs"))[0]
  const scopeLogs = arr(at(resourceLogs, "scopeLogs"))[0]
  const logRecord = arr(at(scopeLogs, "logRecords"))[0]
  const severityNumber = at(logRecord, "severityNumber")
  return {
    resource: keyValues(at(resourceLogs, "resource", "attributes")),
    scopeName: str(at(scopeLogs, "scope", "name")),
    scopeVersion: str(at(scopeLogs, "scope", "version")),
    attributes: keyValues(at(logRecord, "attributes")),
    severityNumber: typeof severityNumber === "number" && severityNumber !== 0 ? severityNumber : undefined,
    severityText: str(at(logRecord, "severityText")),
    body: valueText(at(logRecord, "body")) ?? "",
    timeUnixNano: nanos(at(logRecord, "timeUnixNano")),
    observedTimeUnixNano: nanos(at(logRecord, "observedTimeUnixNano"))
  }
}

/** One entry in Loki: the stream it belongs to, its structured metadata and its line. */
export interface LokiEntry {
  readonly stream: Readonly<Record<string, string>>
  readonly metadata: Readonly<Record<string, string>>
  readonly line: string
}

/** `normalizeLogLevel`: the level words Loki recognizes, lower-cased; anything else is kept as it is. */
const normalizeLevel = (level: string): string => {
  const l = level.toLowerCase()
  if (l === "trace" || l === "trc") return "trace"
  if (l === "debug" || l === "dbg") return "debug"
  if (l === "info" || l === "inf" || l === "information") return "info"
  if (l === "warn" || l === "wrn" || l === "warning") return "warn"
  if (l === "error" || l === "err") return "error"
  if (l === "critical") return "critical"
  if (l === "fatal") return "fatal"
  return level
}

/** An OTLP severity number's level, by the OpenTelemetry ranges (1-4 TRACE, 5-8 DEBUG, ... 21-24 FATAL). */
export const levelOfSeverityNumber = (n: number): string => {
  const names = ["trace", "debug", "info", "warn", "error", "fatal"]
  return n >= 1 && n <= 24 ? (names[Math.floor((n - 1) / 4)] ?? "unknown") : "unknown"
}

/** The level word a line holds on its own, as Loki looks for one when nothing else names a level. */
const levelOfLine = (line: string): string => {
  const words: ReadonlyArray<readonly [string, string]> = [
    ["trace", "trace"],
    ["debug", "debug"],
    ["fatal", "fatal"],
    ["critical", "critical"],
    ["error", "error"],
    ["err", "error"],
    ["warning", "warn"],
    ["warn", "warn"],
    ["info", "info"]
  ]
  const lower = line.toLowerCase()
  for (const [word, level] of words) if (new RegExp(`(?:^|[^a-z0-9_])${word}(?:$|[^a-z0-9_])`).test(lower)) return level
  return "unknown"
}

const detectedLevel = (
  s: LokiOtlpSettings,
  stream: Readonly<Record<string, string>>,
  metadata: Readonly<Record<string, string>>,
  line: string
): string => {
  for (const labels of [stream, metadata]) {
    for (const field of s.logLevelFields) {
      const v = labels[field]
      if (v !== undefined) return normalizeLevel(v)
    }
  }
  const n = metadata[LOKI_FIELDS.severityNumber]
  return n !== undefined ? levelOfSeverityNumber(Number(n)) : levelOfLine(line)
}

/** What Loki stores for one OTLP record under the given settings. */
export const lokiEntry = (s: LokiOtlpSettings, r: OtlpRecord): LokiEntry => {
  const stream: Record<string, string> = {}
  const metadata: Record<string, string> = {}
  for (const [key, value] of Object.entries(r.resource)) {
    const action = resourceAction(s, key)
    if (action === "index_label") stream[lokiName(key)] = value
    else if (action === "structured_metadata") metadata[lokiName(key)] = value
  }
  stream[LOKI_FIELDS.serviceName] ??= LOKI_FIELDS.unknownService
  if (r.scopeName !== undefined) metadata[LOKI_FIELDS.scopeName] = r.scopeName
  if (r.scopeVersion !== undefined) metadata[LOKI_FIELDS.scopeVersion] = r.scopeVersion
  for (const [key, value] of Object.entries(r.attributes)) {
    if (actionFor(key, s.logRules) === "structured_metadata") metadata[lokiName(key)] = value
  }
  if (r.severityText !== undefined && r.severityText !== "") metadata[LOKI_FIELDS.severityText] = r.severityText
  if (r.severityNumber !== undefined) metadata[LOKI_FIELDS.severityNumber] = String(r.severityNumber)
  if (r.timeUnixNano !== undefined && r.observedTimeUnixNano !== undefined)
    metadata[LOKI_FIELDS.observedTimestamp] = r.observedTimeUnixNano
  if (s.discoverLogLevels) metadata[LOKI_FIELDS.detectedLevel] = detectedLevel(s, stream, metadata, r.body)
  return { stream, metadata, line: r.body }
}

// ---- LogQL, as far as the provisioned queries use it ----

type Op = "=" | "!=" | "=~" | "!~" | "==" | ">" | ">=" | "<" | "<="

interface Matcher {
  readonly name: string
  readonly op: "=" | "!=" | "=~" | "!~"
  readonly value: string
}

type LabelFilter =
  | { readonly kind: "compare"; readonly name: string; readonly op: Op; readonly value: string; readonly num: boolean }
  | { readonly kind: "and" | "or"; readonly left: LabelFilter; readonly right: LabelFilter }

/** A stream selector and the label filters after it: the log query inside any LogQL expression. */
export interface LogQuery {
  readonly selector: ReadonlyArray<Matcher>
  readonly filters: ReadonlyArray<LabelFilter>
}

const regexOf = (re: string): RegExp =>
  re.startsWith("(?i)") ? new RegExp(`^(?:${re.slice(4)})$`, "i") : new RegExp(`^(?:${re})$`)

const matches = (m: Pick<Matcher, "op" | "value">, value: string): boolean => {
  switch (m.op) {
    case "=":
      return value === m.value
    case "!=":
      return value !== m.value
    case "=~":
      return regexOf(m.value).test(value)
    case "!~":
      return !regexOf(m.value).test(value)
  }
}

class Scanner {
  readonly src: string
  pos = 0
  constructor(src: string) {
    this.src = src
  }

  fail(what: string): never {
    throw new Error(`LogQL: ${what} at ${this.pos} in ${this.src}`)
  }

  skip(): void {
    while (/\s/.test(this.src[this.pos] ?? "")) this.pos++
  }

  peek(s: string): boolean {
    this.skip()
    return this.src.startsWith(s, this.pos)
  }

  eat(s: string): boolean {
    if (!this.peek(s)) return false
    this.pos += s.length
    return true
  }

  /** A keyword such as `and`, only as a whole word. */
  word(w: string): boolean {
    this.skip()
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(this.src.slice(this.pos))
    if (m?.[0] !== w) return false
    this.pos += w.length
    return true
  }

  ident(): string {
    this.skip()
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(this.src.slice(this.pos))
    if (m === null) return this.fail("a label name expected")
    this.pos += m[0].length
    return m[0]
  }

  op(): Op {
    this.skip()
    for (const op of ["=~", "!~", "!=", "==", ">=", "<=", "=", ">", "<"] as const) {
      if (this.src.startsWith(op, this.pos)) {
        this.pos += op.length
        return op
      }
    }
    return this.fail("an operator expected")
  }

  /** A "..." string (Go escapes), a `...` raw string, or a number. */
  value(): { readonly text: string; readonly num: boolean } {
    this.skip()
    const c = this.src[this.pos]
    if (c === "`") {
      const end = this.src.indexOf("`", this.pos + 1)
      if (end < 0) this.fail("unterminated raw string")
      const text = this.src.slice(this.pos + 1, end)
      this.pos = end + 1
      return { text, num: false }
    }
    if (c === '"') {
      let text = ""
      for (this.pos++; this.pos < this.src.length; this.pos++) {
        const ch = this.src[this.pos]
        if (ch === '"') {
          this.pos++
          return { text, num: false }
        }
        if (ch === "\\") {
          const next = this.src[++this.pos] ?? ""
          text += next === "n" ? "\n" : next === "t" ? "\t" : next
        } else text += ch
      }
      return this.fail("unterminated string")
    }
    const m = /^-?[0-9]+(?:\.[0-9]+)?/.exec(this.src.slice(this.pos))
    if (m === null) return this.fail("a value expected")
    this.pos += m[0].length
    if (/^[a-zA-Z]/.test(this.src[this.pos] ?? "")) this.fail("durations and byte sizes are not modelled")
    return { text: m[0], num: true }
  }
}

const parseSelector = (s: Scanner): ReadonlyArray<Matcher> => {
  if (!s.eat("{")) s.fail("{ expected")
  const out: Array<Matcher> = []
  while (!s.eat("}")) {
    if (out.length > 0 && !s.eat(",")) s.fail(", expected")
    const name = s.ident()
    const op = s.op()
    if (op !== "=" && op !== "!=" && op !== "=~" && op !== "!~") s.fail(`${op} in a stream selector`)
    const v = s.value()
    if (v.num) s.fail("a stream selector takes strings")
    out.push({ name, op, value: v.text })
  }
  return out
}

const parseFilter = (s: Scanner): LabelFilter => {
  const primary = (): LabelFilter => {
    if (s.eat("(")) {
      const inner = chain()
      if (!s.eat(")")) s.fail(") expected")
      return inner
    }
    const name = s.ident()
    const op = s.op()
    const v = s.value()
    if (!v.num && op !== "=" && op !== "!=" && op !== "=~" && op !== "!~") s.fail(`${op} compares numbers`)
    if (v.num && (op === "=~" || op === "!~")) s.fail(`${op} takes a string`)
    return { kind: "compare", name, op, value: v.text, num: v.num }
  }
  // `and` and `or` have one precedence and group from the left: `a or b and c` is `(a or b) and c`.
  const chain = (): LabelFilter => {
    let left = primary()
    for (;;) {
      if (s.word("or")) left = { kind: "or", left, right: primary() }
      else if (s.word("and") || s.eat(",")) left = { kind: "and", left, right: primary() }
      else return left
    }
  }
  return chain()
}

const STAGES = /^\s*(?:json|logfmt|regexp|pattern|unpack|line_format|label_format|drop|keep|decolorize|unwrap)\b/

/** Every log query in a LogQL expression (a log query, or a metric query over one or more). */
export const logQueries = (expr: string): ReadonlyArray<LogQuery> => {
  const out: Array<LogQuery> = []
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]
    // A string literal outside a selector is skipped: a brace in it does not start one.
    if (c === "`") {
      i = expr.indexOf("`", i + 1)
      if (i < 0) break
      continue
    }
    if (c === '"') {
      i += (/^"(?:[^"\\]|\\.)*"/.exec(expr.slice(i))?.[0].length ?? 1) - 1
      continue
    }
    if (c !== "{") continue
    const s = new Scanner(expr)
    s.pos = i
    const selector = parseSelector(s)
    const filters: Array<LabelFilter> = []
    // A `|` not followed by `=` or `~` starts a label filter; `|=`, `|~`, `!=`, `!~` lines filters and parsers are
    // not modelled, so an expression using them fails here rather than being half understood.
    while (s.peek("|")) {
      if (s.peek("|=") || s.peek("|~")) s.fail("line filters are not modelled")
      s.eat("|")
      if (STAGES.test(s.src.slice(s.pos))) s.fail("parsers and formatters are not modelled")
      filters.push(parseFilter(s))
    }
    if (s.peek("!=") || s.peek("!~")) s.fail("line filters are not modelled")
    out.push({ selector, filters })
    i = s.pos - 1
  }
  return out
}

const labelOf = (e: LokiEntry, name: string): string | undefined => e.stream[name] ?? e.metadata[name]

const holds = (f: LabelFilter, e: LokiEntry): boolean => {
  if (f.kind !== "compare")
    return f.kind === "and" ? holds(f.left, e) && holds(f.right, e) : holds(f.left, e) || holds(f.right, e)
  const v = labelOf(e, f.name)
  if (!f.num) return matches({ op: f.op as Matcher["op"], value: f.value }, v ?? "")
  // A numeric comparison drops a line without the label; a value that is not a number would be a query error.
  if (v === undefined) return false
  const x = Number(v)
  if (Number.isNaN(x)) throw new Error(`${f.name}=${v} is not a number`)
  const y = Number(f.value)
  const results: Record<Op, boolean> = {
    "=": x === y,
    "==": x === y,
    "!=": x !== y,
    ">": x > y,
    ">=": x >= y,
    "<": x < y,
    "<=": x <= y,
    "=~": false,
    "!~": false
  }
  return results[f.op]
}

/** Whether a log query returns this entry: its selector matches the stream labels and every filter holds. */
export const selects = (q: LogQuery, e: LokiEntry): boolean =>
  q.selector.every((m) => matches(m, e.stream[m.name] ?? "")) && q.filters.every((f) => holds(f, e))

/** The matchers of a selector on `label` that Loki accepts as the non-empty one a selector needs. */
export const nonEmptyMatchers = (q: LogQuery, label: string): ReadonlyArray<Matcher> =>
  q.selector.filter((m) => m.name === label && (m.op === "=" || m.op === "=~") && !matches(m, ""))

/** Label names a log query filters on after its selector. */
export const filterNames = (q: LogQuery): ReadonlyArray<string> => {
  const names: Array<string> = []
  const walk = (f: LabelFilter) => {
    if (f.kind === "compare") names.push(f.name)
    else {
      walk(f.left)
      walk(f.right)
    }
  }
  q.filters.forEach(walk)
  return names
}

// ---- Grafana's template variables ----

/** Values Grafana gives its built-in interval variables; any duration will do for parsing and matching. */
const BUILT_INS: Readonly<Record<string, string>> = {
  __auto: "1m",
  __interval: "1m",
  __rate_interval: "1m",
  __range: "1h"
}

/**
 * A Grafana template with its variables replaced: `$name`, `${name}`, `${name:format}`, `[[name]]`, and a span's
 * `${__span.tags["key"]}`. A variable without a value throws, so a misspelt one fails the test that uses it.
 */
export const interpolate = (
  template: string,
  vars: Readonly<Record<string, string>>,
  spanTags: Readonly<Record<string, string>> = {}
): string => {
  const value = (name: string): string => {
    const v = vars[name] ?? BUILT_INS[name]
    if (v === undefined) throw new Error(`no value for the variable ${name} in ${template}`)
    return v
  }
  return template
    .replace(/\$\{__span\.tags\["([^"]+)"\]\}/g, (_, key: string) => spanTags[key] ?? "")
    .replace(/\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}/g, (_, name: string) => value(name))
    .replace(/\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]/g, (_, name: string) => value(name))
    .replace(/\$([a-zA-Z_][a-zA-Z0-9_]*)/g, (_, name: string) => value(name))
}

// ---- records: the collector's, made by the real pipeline stages, and an application's ----

/** The cluster name docker-compose.yml gives the collector (K8S_CLUSTER_NAME). */
export const CLUSTER = "demo"

const resources = new ResourceCache({ "k8s.cluster.name": CLUSTER })
/** The severity rules the collector runs with when none are configured: the defaults. */
const severityRules = compileSeverityRules([])

/**
 * What the collector sends for an event, as the pipeline makes it: the severity rules' verdict and the enricher's
 * owner-chain attributes handed to the translator, then the exporter's OTLP/JSON serialization.
 */
const collectorRecord = (e: KubeEvent, enrichment?: ResourceAttributes): OtlpRecord =>
  otlpRecord(
    toLogRecord(
      e,
      { resources, observedAt: [1_750_000_000, 0] },
      { severity: severityRules.classify(e), ...(enrichment === undefined ? {} : { resource: enrichment }) }
    )
  )

const kindOf = (kind: string, apiVersion: string): Workload => {
  const w = workloadOf(kind, apiVersion)
  if (w === undefined) throw new Error(`${kind} is not a workload`)
  return w
}
const object = (uid: string, controller?: WorkloadObject["controller"]): WorkloadObject => ({
  uid,
  labels: {},
  serviceName: undefined,
  serviceNamespace: undefined,
  controller,
  nodeName: "node-1"
})
const settings = { podLabels: [], serviceNameFromLabels: false }

/** The objects of the trace-to-events story: a pod of the `checkout` Deployment in `shop`. */
export const NAMESPACE = "shop"
export const POD = "checkout-7d9f8b6c5d-x2k4p"
const REPLICASET = "checkout-7d9f8b6c5d"
export const DEPLOYMENT = "checkout"
const SIBLING = "checkout-7d9f8b6c5d-q8w7e"

const replicaSet = object("uid-replicaset-checkout", {
  apiVersion: "apps/v1",
  kind: "Deployment",
  name: DEPLOYMENT,
  uid: "uid-deployment-checkout"
})
const rsRef = { apiVersion: "apps/v1", kind: "ReplicaSet", name: REPLICASET, uid: "uid-replicaset-checkout" }
/** The enricher's attributes for an event about a pod of the ReplicaSet, from the objects it reads. */
const podEnrichment = (uid: string): ResourceAttributes =>
  deriveEnrichment(kindOf("Pod", "v1"), object(uid, rsRef), kindOf("ReplicaSet", "apps/v1"), replicaSet, settings)
    .resource
const rsEnrichment = deriveEnrichment(
  kindOf("ReplicaSet", "apps/v1"),
  replicaSet,
  kindOf("Deployment", "apps/v1"),
  undefined,
  settings
).resource

/** Events of every severity the default rules give, about the objects above and about others. */
export const EVENT_RECORDS = {
  podBackOff: collectorRecord(POD_WARNING, podEnrichment(`uid-pod-${POD}`)),
  podPulled: collectorRecord(POD_NORMAL, podEnrichment(`uid-pod-${POD}`)),
  /** `Failed` on a Pod: raised to ERROR by a default rule. */
  podFailed: collectorRecord(
    makeEvent("21", "Warning", "Failed", objectRef("Pod", POD, NAMESPACE)),
    podEnrichment(`uid-pod-${POD}`)
  ),
  siblingUnhealthy: collectorRecord(
    makeEvent("22", "Warning", "Unhealthy", objectRef("Pod", SIBLING, NAMESPACE)),
    podEnrichment(`uid-pod-${SIBLING}`)
  ),
  replicaSetCreated: collectorRecord(
    makeEvent("23", "Normal", "SuccessfulCreate", objectRef("ReplicaSet", REPLICASET, NAMESPACE)),
    rsEnrichment
  ),
  deploymentScaled: collectorRecord(
    makeEvent("24", "Normal", "ScalingReplicaSet", objectRef("Deployment", DEPLOYMENT, NAMESPACE))
  ),
  otherDeploymentScaled: collectorRecord(
    makeEvent("25", "Normal", "ScalingReplicaSet", objectRef("Deployment", "cart", NAMESPACE))
  ),
  samePodNameElsewhere: collectorRecord(makeEvent("26", "Warning", "BackOff", objectRef("Pod", POD, "staging"))),
  /** A kubelet's system OOM, about its Node: Warning raised to ERROR. */
  nodeOom: collectorRecord(makeEvent("27", "Warning", "OOMKilling", objectRef("Node", "node-1", undefined))),
  /** The node controller reports NotReady as a Normal event: raised to ERROR. */
  nodeNotReady: collectorRecord(
    makeEvent("28", "Normal", "NodeNotReady", objectRef("Node", "node-2", undefined), { sourceHost: undefined })
  ),
  jobFailed: collectorRecord(makeEvent("29", "Warning", "BackoffLimitExceeded", objectRef("Job", "report-1", "batch"))),
  cronJobRan: collectorRecord(makeEvent("31", "Normal", "SawCompletedJob", objectRef("CronJob", "report", "batch"))),
  statefulSetCreated: collectorRecord(
    makeEvent("32", "Normal", "SuccessfulCreate", objectRef("StatefulSet", "db", NAMESPACE))
  ),
  daemonSetCreated: collectorRecord(
    makeEvent("33", "Normal", "SuccessfulCreate", objectRef("DaemonSet", "agent", "kube-system"))
  ),
  /** A type that is neither Normal nor Warning: no severity number. */
  customType: collectorRecord(makeEvent("30", "Custom", "Reconciled", objectRef("Deployment", "db", NAMESPACE)))
} as const

/**
 * A log record of the application in the same pod, as an OpenTelemetry SDK and the Collector's k8sattributes
 * processor label it: what every event query must leave out.
 */
export const APP_RECORD: OtlpRecord = {
  resource: {
    "service.name": DEPLOYMENT,
    "service.namespace": NAMESPACE,
    "service.instance.id": "4f1c8a52-0b6e-4d7a-9a3e-2f5d6c7b8a90",
    "k8s.cluster.name": CLUSTER,
    "k8s.namespace.name": NAMESPACE,
    "k8s.pod.name": POD,
    "k8s.pod.uid": `uid-pod-${POD}`,
    "k8s.replicaset.name": REPLICASET,
    "k8s.deployment.name": DEPLOYMENT,
    "k8s.container.name": "checkout",
    "k8s.node.name": "node-1",
    "telemetry.sdk.language": "java"
  },
  scopeName: "com.example.checkout.PaymentClient",
  scopeVersion: undefined,
  attributes: { "exception.type": "java.net.SocketTimeoutException" },
  severityNumber: 17,
  severityText: "ERROR",
  body: "payment call timed out",
  timeUnixNano: "1750000000000000000",
  observedTimeUnixNano: "1750000000000000000"
}

/**
 * The `filters`, `severity` and `throttle` sections of the configuration file, and the `--include` /
 * `--exclude` flag values, decoded into the rule modules' types. Every problem is reported, each as
 * `path: what is wrong`, so that one run of the collector lists them all.
 */
import { Duration, Either, type Types } from "effect"
import type { SeverityNumber } from "@opentelemetry/api-logs"
import * as V from "../domain/valueText.ts"
import { closest } from "../domain/closest.ts"
import { RULE_CONDITIONS, type FilterConfig, type Rule } from "./filter.ts"
import { exactOrRegex, glob, substringOrRegex, type Pattern } from "./pattern.ts"
import { parseSeverityName, SEVERITY_NUMBERS, type SeverityName, type SeverityRule } from "./severity.ts"
import { DEFAULT_THROTTLE_KEY, THROTTLE_KEY_FIELDS, type ThrottleKeyField } from "./throttle.ts"
import { isRecord } from "../domain/isRecord.ts"

interface SeverityConfig {
  /** Whether DEFAULT_SEVERITY_RULES follow the user's rules. */
  readonly defaults: boolean
  readonly rules: ReadonlyArray<SeverityRule>
}

interface ThrottleConfig {
  readonly enabled: boolean
  readonly limit: number
  readonly windowMs: number
  readonly key: ReadonlyArray<ThrottleKeyField>
  readonly maxKeys: number
}

export interface RulesConfig {
  readonly filters: FilterConfig
  readonly severity: SeverityConfig
  readonly throttle: ThrottleConfig
}

/** The top-level keys of the file that this module decodes. */
export const RULES_SECTIONS = ["filters", "severity", "throttle"] as const

export const DEFAULT_RULES_CONFIG: RulesConfig = {
  filters: { include: [], exclude: [] },
  severity: { defaults: true, rules: [] },
  throttle: { enabled: false, limit: 10, windowMs: 60_000, key: DEFAULT_THROTTLE_KEY, maxKeys: 10_000 }
}

// ------------------------------------------------------------------------------------------------ helpers

type Problems = Array<string>

const child = (path: string, key: string | number): string =>
  typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`

const report = (problems: Problems, path: string, reason: string): void => {
  problems.push(path === "" ? reason : `${path}: ${reason}`)
}

/** A YAML value in a message: its kind for a mapping or a list, the value itself for a scalar. */
const describeYaml = (u: unknown): string =>
  u === null ? "null" : Array.isArray(u) ? "a list" : typeof u === "object" ? "a mapping" : V.show(u)

/** The mapping at `path`, with its unknown keys reported; undefined (and reported) when not a mapping. */
const mapping = (
  u: unknown,
  path: string,
  known: ReadonlyArray<string>,
  problems: Problems
): Readonly<Record<string, unknown>> | undefined => {
  if (!isRecord(u)) {
    report(problems, path, `must be a mapping with any of ${known.join(", ")}; got ${describeYaml(u)}`)
    return undefined
  }
  for (const key of Object.keys(u)) {
    if (known.includes(key)) continue
    const hit = closest(key, known)
    report(
      problems,
      child(path, key),
      hit !== undefined ? `unknown key; did you mean ${hit}?` : `unknown key; expected one of ${known.join(", ")}`
    )
  }
  return u
}

/** A YAML list at `path`; a missing or null value is the empty list. */
const items = (u: unknown, path: string, what: string, problems: Problems): ReadonlyArray<unknown> => {
  if (u === undefined || u === null) return []
  if (Array.isArray(u)) return u
  report(problems, path, `must be a list of ${what}; got ${describeYaml(u)}`)
  return []
}

/** A non-empty text; YAML numbers and booleans (`name: 2024`) are taken as their text. */
const conditionText = (u: unknown, path: string, problems: Problems, trim = true): string | undefined => {
  const s =
    typeof u === "string"
      ? trim
        ? u.trim()
        : u
      : typeof u === "number" || typeof u === "boolean"
        ? String(u)
        : undefined
  if (s === undefined || s === "") {
    report(problems, path, `must be a non-empty text; got ${describeYaml(u)}`)
    return undefined
  }
  return s
}

const parsed = <A>(e: Either.Either<A, string>, path: string, problems: Problems): A | undefined => {
  if (Either.isRight(e)) return e.right
  report(problems, path, e.left)
  return undefined
}

const whole = (u: unknown, path: string, problems: Problems): number | undefined => {
  const n = typeof u === "number" ? u : typeof u === "string" && /^\s*\d+\s*$/.test(u) ? Number(u) : NaN
  if (Number.isSafeInteger(n) && n >= 1) return n
  report(problems, path, `must be a whole number ≥ 1; got ${describeYaml(u)}`)
  return undefined
}

const positiveMillis = (u: unknown, path: string, problems: Problems): number | undefined => {
  const d = parsed(V.duration(u), path, problems)
  if (d === undefined) return undefined
  const ms = Duration.toMillis(d)
  if (ms > 0) return ms
  report(problems, path, `must be longer than 0; got ${describeYaml(u)}`)
  return undefined
}

// --------------------------------------------------------------------------------------------------- rules

const decodeRuleAt = (u: unknown, path: string, problems: Problems): Rule | undefined => {
  const before = problems.length
  const m = mapping(u, path, RULE_CONDITIONS, problems)
  if (m === undefined) return undefined
  const rule: Types.Mutable<Rule> = {}
  const text = (key: string, trim = true) =>
    m[key] === undefined ? undefined : conditionText(m[key], child(path, key), problems, trim)
  const namespace = text("namespace")
  if (namespace !== undefined) rule.namespace = glob(namespace)
  const kind = text("kind")
  if (kind !== undefined) rule.kind = kind
  const name = text("name")
  if (name !== undefined) rule.name = glob(name)
  const reason = text("reason")
  if (reason !== undefined) {
    const p = parsed(exactOrRegex(reason), child(path, "reason"), problems)
    if (p !== undefined) rule.reason = p
  }
  const type = text("type")
  if (type !== undefined) rule.type = type
  const component = text("component")
  if (component !== undefined) {
    const p = parsed(exactOrRegex(component), child(path, "component"), problems)
    if (p !== undefined) rule.component = p
  }
  // A message substring keeps its spaces.
  const message = text("message", false)
  if (message !== undefined) {
    const p = parsed(substringOrRegex(message), child(path, "message"), problems)
    if (p !== undefined) rule.message = p
  }
  if (m["labels"] !== undefined) {
    const labelsPath = child(path, "labels")
    const labels = m["labels"]
    if (!isRecord(labels) || Object.keys(labels).length === 0) {
      report(problems, labelsPath, `must be a mapping of label names to values or globs; got ${describeYaml(labels)}`)
    } else {
      const out: Record<string, Pattern> = {}
      for (const [key, value] of Object.entries(labels)) {
        // A label value may be empty, so `""` asks for a label that is present and empty.
        const v =
          typeof value === "string"
            ? value
            : typeof value === "number" || typeof value === "boolean"
              ? String(value)
              : undefined
        if (v === undefined) {
          report(problems, child(labelsPath, key), `must be a text or a glob; got ${describeYaml(value)}`)
        } else out[key] = glob(v)
      }
      rule.labels = out
    }
  }
  if (problems.length > before) return undefined
  if (Object.keys(rule).length === 0) {
    // An empty rule would match every event: as an exclude rule it would drop them all.
    report(problems, path, `a rule needs at least one of ${RULE_CONDITIONS.join(", ")}`)
    return undefined
  }
  return rule
}

/** One rule from a YAML mapping such as `{ namespace: "prod-*", reason: "/Back.?Off/" }`. */
export const decodeRule = (u: unknown, path = ""): Either.Either<Rule, ReadonlyArray<string>> => {
  const problems: Problems = []
  const rule = decodeRuleAt(u, path, problems)
  return rule !== undefined && problems.length === 0 ? Either.right(rule) : Either.left(problems)
}

/**
 * Splits `key=value,key=value` into pairs. A regex value runs to its closing slash and flags, so it may hold
 * commas (`reason=/a{1,3}/`); elsewhere `\,` is a comma and `\\` a backslash.
 */
const splitFlag = (text: string): Either.Either<ReadonlyArray<readonly [string, string]>, string> => {
  const pairs: Array<readonly [string, string]> = []
  let i = 0
  while (i < text.length) {
    const eq = text.indexOf("=", i)
    const comma = text.indexOf(",", i)
    if (eq < 0 || (comma >= 0 && comma < eq)) {
      const bad = text.slice(i, comma >= 0 ? comma : undefined).trim()
      return Either.left(
        `${JSON.stringify(bad)} is not a condition=value pair (e.g. namespace=prod-*,reason=/Back.?Off/)`
      )
    }
    const key = text.slice(i, eq).trim()
    let j = eq + 1
    let value = ""
    if (text[j] === "/") {
      // The closing slash is the first unescaped one followed by flags and then a comma or the end.
      let k = j + 1
      let end = -1
      for (; k < text.length; k++) {
        if (text[k] === "\\") {
          k++
          continue
        }
        if (text[k] === "/" && /^[a-z]*(?:,|$)/i.test(text.slice(k + 1))) {
          end = k + 1 + (/^[a-z]*/i.exec(text.slice(k + 1))?.[0].length ?? 0)
          break
        }
      }
      if (end < 0) {
        // Not a regex after all: take it to the next comma and let the pattern parser say what is wrong.
        const c = text.indexOf(",", j)
        end = c < 0 ? text.length : c
      }
      value = text.slice(j, end)
      j = end
    } else {
      for (; j < text.length && text[j] !== ","; j++) {
        if (text[j] === "\\" && (text[j + 1] === "," || text[j + 1] === "\\")) j++
        value += text[j]
      }
    }
    pairs.push([key, value])
    i = j + 1
  }
  return Either.right(pairs)
}

/**
 * One rule from a flag value, for repeated `--include` / `--exclude`:
 * `namespace=prod-*,reason=/Back.?Off/,type=Warning`; labels as `labels.app=web`.
 */
export const parseRuleFlag = (text: string): Either.Either<Rule, string> => {
  const split = splitFlag(text.trim())
  if (Either.isLeft(split)) return Either.left(split.left)
  const raw: Record<string, unknown> = {}
  const labels: Record<string, string> = {}
  const problems: Problems = []
  for (const [key, value] of split.right) {
    if (key.startsWith("labels.") && key.length > "labels.".length) {
      const label = key.slice("labels.".length)
      if (label in labels) problems.push(`${key}: given twice`)
      labels[label] = value
    } else if (key in raw) {
      problems.push(`${key}: given twice`)
    } else {
      raw[key] = value
    }
  }
  if (Object.keys(labels).length > 0) {
    if ("labels" in raw) problems.push("labels: write labels as labels.NAME=VALUE")
    else raw["labels"] = labels
  }
  const decoded = decodeRule(raw)
  const all = [...problems, ...(Either.isLeft(decoded) ? decoded.left : [])]
  return all.length > 0 || Either.isLeft(decoded) ? Either.left(all.join("; ")) : Either.right(decoded.right)
}

// ------------------------------------------------------------------------------------------------ sections

const FILTER_KEYS = ["include", "exclude", "minSeverity", "maxEventAge"] as const
const SEVERITY_KEYS = ["defaults", "rules"] as const
const SEVERITY_RULE_KEYS = ["reason", "kind", "type", "severity"] as const
const THROTTLE_KEYS = ["enabled", "limit", "window", "key", "maxKeys"] as const

const decodeFilters = (u: unknown, path: string, problems: Problems): FilterConfig => {
  const d = DEFAULT_RULES_CONFIG.filters
  if (u === undefined || u === null) return d
  const m = mapping(u, path, FILTER_KEYS, problems)
  if (m === undefined) return d
  const rules = (key: "include" | "exclude") =>
    items(m[key], child(path, key), "rules", problems).flatMap(
      (r, i) => decodeRuleAt(r, child(child(path, key), i), problems) ?? []
    )
  const include = rules("include")
  const exclude = rules("exclude")
  const minSeverity: SeverityNumber | undefined =
    m["minSeverity"] === undefined
      ? undefined
      : (() => {
          const name = parsed(parseSeverityName(m["minSeverity"]), child(path, "minSeverity"), problems)
          return name === undefined ? undefined : SEVERITY_NUMBERS[name]
        })()
  const maxEventAgeMs =
    m["maxEventAge"] === undefined ? undefined : positiveMillis(m["maxEventAge"], child(path, "maxEventAge"), problems)
  return {
    include,
    exclude,
    ...(minSeverity !== undefined ? { minSeverity } : {}),
    ...(maxEventAgeMs !== undefined ? { maxEventAgeMs } : {})
  }
}

const decodeSeverityRule = (u: unknown, path: string, problems: Problems): SeverityRule | undefined => {
  const before = problems.length
  const m = mapping(u, path, SEVERITY_RULE_KEYS, problems)
  if (m === undefined) return undefined
  let severity: SeverityName | undefined
  if (m["severity"] === undefined)
    report(problems, child(path, "severity"), `is required: one of trace, debug, info, warn, error, fatal`)
  else severity = parsed(parseSeverityName(m["severity"]), child(path, "severity"), problems)
  const text = (key: string) => (m[key] === undefined ? undefined : conditionText(m[key], child(path, key), problems))
  const reasonText = text("reason")
  const reason =
    reasonText === undefined ? undefined : parsed(exactOrRegex(reasonText), child(path, "reason"), problems)
  const kind = text("kind")
  const type = text("type")
  if (problems.length > before || severity === undefined) return undefined
  if (reasonText === undefined && kind === undefined && type === undefined) {
    report(problems, path, "a severity rule needs at least one of reason, kind, type")
    return undefined
  }
  return {
    severity,
    ...(reason !== undefined ? { reason } : {}),
    ...(kind !== undefined ? { kind } : {}),
    ...(type !== undefined ? { type } : {})
  }
}

const decodeSeverity = (u: unknown, path: string, problems: Problems): SeverityConfig => {
  const d = DEFAULT_RULES_CONFIG.severity
  if (u === undefined || u === null) return d
  const m = mapping(u, path, SEVERITY_KEYS, problems)
  if (m === undefined) return d
  const defaults =
    m["defaults"] === undefined
      ? d.defaults
      : (parsed(V.boolean(m["defaults"]), child(path, "defaults"), problems) ?? d.defaults)
  const rules = items(m["rules"], child(path, "rules"), "severity rules", problems).flatMap(
    (r, i) => decodeSeverityRule(r, child(child(path, "rules"), i), problems) ?? []
  )
  return { defaults, rules }
}

const decodeThrottleKey = (
  u: unknown,
  path: string,
  problems: Problems
): ReadonlyArray<ThrottleKeyField> | undefined => {
  const names = parsed(V.list(u), path, problems)
  if (names === undefined) return undefined
  if (names.length === 0) {
    report(problems, path, `must name at least one of ${THROTTLE_KEY_FIELDS.join(", ")}`)
    return undefined
  }
  const out: Array<ThrottleKeyField> = []
  const before = problems.length
  names.forEach((name, i) => {
    const field = THROTTLE_KEY_FIELDS.find((f) => f === name)
    if (field === undefined) {
      const hit = closest(name, THROTTLE_KEY_FIELDS)
      report(
        problems,
        child(path, i),
        `must be one of ${THROTTLE_KEY_FIELDS.join(", ")}; got ${JSON.stringify(name)}` +
          `${hit !== undefined ? ` (did you mean ${hit}?)` : ""}`
      )
    } else if (out.includes(field)) {
      report(problems, child(path, i), `${field} is listed twice`)
    } else {
      out.push(field)
    }
  })
  return problems.length > before ? undefined : out
}

const decodeThrottle = (u: unknown, path: string, problems: Problems): ThrottleConfig => {
  const d = DEFAULT_RULES_CONFIG.throttle
  if (u === undefined || u === null) return d
  const m = mapping(u, path, THROTTLE_KEYS, problems)
  if (m === undefined) return d
  const at = (key: string) => child(path, key)
  return {
    enabled:
      m["enabled"] === undefined ? d.enabled : (parsed(V.boolean(m["enabled"]), at("enabled"), problems) ?? d.enabled),
    limit: m["limit"] === undefined ? d.limit : (whole(m["limit"], at("limit"), problems) ?? d.limit),
    windowMs:
      m["window"] === undefined ? d.windowMs : (positiveMillis(m["window"], at("window"), problems) ?? d.windowMs),
    key: m["key"] === undefined ? d.key : (decodeThrottleKey(m["key"], at("key"), problems) ?? d.key),
    maxKeys: m["maxKeys"] === undefined ? d.maxKeys : (whole(m["maxKeys"], at("maxKeys"), problems) ?? d.maxKeys)
  }
}

/**
 * Decodes `{ filters, severity, throttle }` (each optional, null meaning absent) with the defaults applied,
 * or lists every problem. `prefix` is put before each problem as it is, e.g. `"collector.yaml: "`.
 * Any other top-level key is a problem: the caller passes these sections only (see RULES_SECTIONS).
 */
export const decodeRulesConfig = (u: unknown, prefix = ""): Either.Either<RulesConfig, ReadonlyArray<string>> => {
  const problems: Problems = []
  if (u === undefined || u === null) return Either.right(DEFAULT_RULES_CONFIG)
  const m = mapping(u, "", RULES_SECTIONS, problems)
  const config: RulesConfig =
    m === undefined
      ? DEFAULT_RULES_CONFIG
      : {
          filters: decodeFilters(m["filters"], "filters", problems),
          severity: decodeSeverity(m["severity"], "severity", problems),
          throttle: decodeThrottle(m["throttle"], "throttle", problems)
        }
  return problems.length > 0 ? Either.left(problems.map((p) => prefix + p)) : Either.right(config)
}

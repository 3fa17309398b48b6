/**
 * Which events are exported. A rule is a set of conditions that must all hold (AND); an event is kept when
 * it matches at least one include rule (or there are none), no exclude rule, is at least `minSeverity` and
 * was not already older than `maxEventAgeMs` when first seen.
 *
 * Conditions, and the field each reads:
 *   namespace  glob    the involved object's namespace, else the event's own (cluster-scoped objects such as
 *                      Nodes have events in `default` with no involved namespace)
 *   kind       exact   the involved object's kind, ignoring case
 *   name       glob    the involved object's name
 *   reason     exact or /regex/
 *   type       exact   Normal, Warning or anything else, ignoring case
 *   component  exact or /regex/, against source.component OR reportingController (either may hold the sender)
 *   message    substring or /regex/ (plain text is a substring: messages carry names and numbers)
 *   labels     label → exact value or glob, against the involved object's labels, which only enrichment
 *              knows. A rule with labels never matches while the labels are unknown (`undefined`), so an
 *              include rule with labels drops such events and an exclude rule with labels keeps them.
 * A condition on a field the event does not have never matches. Globs and exact texts are case-sensitive
 * except for kind and type; a regex decides for itself (`/backoff/i`).
 */
import type { SeverityNumber } from "@opentelemetry/api-logs"
import type { EventApi, KubeEvent } from "../domain/KubeEvent.ts"
import { occurrenceMs } from "../domain/eventTimes.ts"
import { compilePattern, type Pattern } from "./pattern.ts"

export const RULE_CONDITIONS = [
  "namespace",
  "kind",
  "name",
  "reason",
  "type",
  "component",
  "message",
  "labels"
] as const

export interface Rule {
  readonly namespace?: Pattern
  readonly kind?: string
  readonly name?: Pattern
  readonly reason?: Pattern
  readonly type?: string
  readonly component?: Pattern
  readonly message?: Pattern
  readonly labels?: Readonly<Record<string, Pattern>>
}

export interface FilterConfig {
  readonly include: ReadonlyArray<Rule>
  readonly exclude: ReadonlyArray<Rule>
  readonly minSeverity?: SeverityNumber
  readonly maxEventAgeMs?: number
}

type Labels = Readonly<Record<string, string>>

/** Names `verdict` gives for a dropped event (plus `exclude[i]`), for a counter labelled by rule. */
const DROPPED_BY_INCLUDE = "include"
const DROPPED_BY_MIN_SEVERITY = "min_severity"
const DROPPED_BY_MAX_EVENT_AGE = "max_event_age"
const excludeRuleName = (index: number): string => `exclude[${index}]`

export interface Filters {
  /**
   * `undefined` keeps the event; otherwise the name of the rule that drops it. `labels` are the involved
   * object's (undefined when unknown), `severity` the number after the severity rules, `nowMs` when the
   * event was first seen. Checked in this order: include, exclude (the first that matches), min_severity,
   * max_event_age.
   */
  readonly verdict: (
    e: KubeEvent,
    labels: Labels | undefined,
    severity: number | undefined,
    nowMs: number
  ) => string | undefined
  /** Whether any rule reads labels, i.e. whether the event must be enriched before it is filtered. */
  readonly needsLabels: boolean
  /** Every name `verdict` can return, to create the counter's series up front. */
  readonly ruleNames: ReadonlyArray<string>
}

type EventTest = (e: KubeEvent, labels: Labels | undefined) => boolean

const ofText =
  (test: (s: string) => boolean) =>
  (s: string | undefined): boolean =>
    s !== undefined && test(s)

const ignoringCase = (value: string) => {
  const lower = value.toLowerCase()
  return (s: string | undefined): boolean => s !== undefined && s.toLowerCase() === lower
}

/** The predicate of one rule: every condition it has must hold. */
export const compileRule = (rule: Rule): EventTest => {
  const tests: Array<EventTest> = []
  if (rule.namespace !== undefined) {
    const t = ofText(compilePattern(rule.namespace))
    tests.push((e) => t(e.regarding.namespace ?? e.namespace))
  }
  if (rule.kind !== undefined) {
    const t = ignoringCase(rule.kind)
    tests.push((e) => t(e.regarding.kind))
  }
  if (rule.name !== undefined) {
    const t = ofText(compilePattern(rule.name))
    tests.push((e) => t(e.regarding.name))
  }
  if (rule.reason !== undefined) {
    const t = ofText(compilePattern(rule.reason))
    tests.push((e) => t(e.reason))
  }
  if (rule.type !== undefined) {
    const t = ignoringCase(rule.type)
    tests.push((e) => t(e.type))
  }
  if (rule.component !== undefined) {
    const t = ofText(compilePattern(rule.component))
    tests.push((e) => t(e.sourceComponent) || t(e.reportingController))
  }
  if (rule.message !== undefined) {
    const t = ofText(compilePattern(rule.message))
    tests.push((e) => t(e.message))
  }
  if (rule.labels !== undefined) {
    const wanted = Object.entries(rule.labels).map(([key, p]) => [key, compilePattern(p)] as const)
    tests.push((_, labels) => {
      if (labels === undefined) return false
      for (const [key, test] of wanted) {
        const value = Object.hasOwn(labels, key) ? labels[key] : undefined
        if (value === undefined || !test(value)) return false
      }
      return true
    })
  }
  const n = tests.length
  if (n === 1) return tests[0] as EventTest
  return (e, labels) => {
    for (let i = 0; i < n; i++) if (!(tests[i] as EventTest)(e, labels)) return false
    return true
  }
}

export const compileFilters = (config: FilterConfig): Filters => {
  const include = config.include.map(compileRule)
  const exclude = config.exclude.map(compileRule)
  const excludeNames = config.exclude.map((_, i) => excludeRuleName(i))
  const { minSeverity, maxEventAgeMs } = config
  const verdict = (
    e: KubeEvent,
    labels: Labels | undefined,
    severity: number | undefined,
    nowMs: number
  ): string | undefined => {
    if (include.length > 0) {
      let matched = false
      for (let i = 0; i < include.length && !matched; i++) matched = (include[i] as EventTest)(e, labels)
      if (!matched) return DROPPED_BY_INCLUDE
    }
    for (let i = 0; i < exclude.length; i++) {
      if ((exclude[i] as EventTest)(e, labels)) return excludeNames[i]
    }
    // An event whose severity is unset (a type other than Normal or Warning, raised by no rule) is not known
    // to reach any minimum, so it does not.
    if (minSeverity !== undefined && (severity === undefined || severity < minSeverity)) return DROPPED_BY_MIN_SEVERITY
    if (maxEventAgeMs !== undefined) {
      // An event without any time cannot be judged old.
      const at = occurrenceMs(e)
      if (at !== undefined && nowMs - at > maxEventAgeMs) return DROPPED_BY_MAX_EVENT_AGE
    }
    return undefined
  }
  const all = [...config.include, ...config.exclude]
  return {
    verdict,
    needsLabels: all.some((r) => r.labels !== undefined),
    ruleNames: [
      ...(config.include.length > 0 ? [DROPPED_BY_INCLUDE] : []),
      ...excludeNames,
      ...(minSeverity !== undefined ? [DROPPED_BY_MIN_SEVERITY] : []),
      ...(maxEventAgeMs !== undefined ? [DROPPED_BY_MAX_EVENT_AGE] : [])
    ]
  }
}

// ---------------------------------------------------------------------------------------------------------
// What the API server can filter for us.
//
// The client applies every rule anyway, so a server-side selector is only an optimisation, and it is safe
// exactly when the server never drops an event the rules would keep. Hence:
//   - one include rule: `field=value` for its exact reason and exact name (the server compares the same
//     field, case included). Not pushed from an include rule:
//       kind, type   the rules ignore case (`pod` is a kind seen in the wild, `warning` a type), the server does not;
//       namespace    the rules fall back to the event's namespace when the involved object has none, the server
//                    reads involvedObject.namespace only (use --namespaces to restrict the watch instead);
//       component    the rules accept source.component OR reportingController; the server's `source` is
//                    source.component (or reportingController when that is empty) and `reportingComponent` is
//                    reportingController alone: either selector alone would lose events the rule keeps;
//       globs, regexes, substrings, labels: the server has equality only, and knows no object labels.
//   - several include rules: nothing, a selector cannot say OR.
//   - an exclude rule with exactly one exact condition: `field!=value`; the server then drops a subset of what
//     the rule drops (case-insensitive kind/type, namespace fallback: the rule drops more, never less). A
//     component is excluded with `source!=v,reportingComponent!=v`, which is the rule exactly; events.k8s.io/v1
//     has no `source` label, so there only `reportingController!=v` (a subset again). An exclude rule with two
//     conditions would need `a!=x OR b!=y`, which a selector cannot say.
// ---------------------------------------------------------------------------------------------------------

type SelectorField = "reason" | "kind" | "namespace" | "name" | "type" | "source" | "reportingComponent"

/**
 * Field labels per API: events.k8s.io/v1 spells them after its own field names and has no `source`
 * (k8s.io/kubernetes pkg/apis/events/v1/conversion.go refuses it: "field label not supported: source").
 */
const FIELD_LABELS: Readonly<Record<EventApi, Readonly<Record<SelectorField, string | undefined>>>> = {
  "core/v1": {
    reason: "reason",
    kind: "involvedObject.kind",
    namespace: "involvedObject.namespace",
    name: "involvedObject.name",
    type: "type",
    source: "source",
    reportingComponent: "reportingComponent"
  },
  "events.k8s.io/v1": {
    reason: "reason",
    kind: "regarding.kind",
    namespace: "regarding.namespace",
    name: "regarding.name",
    type: "type",
    source: undefined,
    reportingComponent: "reportingController"
  }
}

/** `\`, `,` and `=` escaped with a backslash (k8s.io/apimachinery `fields.EscapeValue`). */
export const escapeFieldValue = (value: string): string => value.replace(/[\\,=]/g, "\\$&")

const exactText = (p: Pattern | undefined): string | undefined => (p?._tag === "Exact" ? p.text : undefined)

const conditionCount = (r: Rule): number => RULE_CONDITIONS.filter((c) => r[c] !== undefined).length

/** The `fieldSelector` the watch can send, or undefined when nothing can be pushed. */
export const fieldSelectorFor = (config: FilterConfig, api: EventApi = "core/v1"): string | undefined => {
  const labels = FIELD_LABELS[api]
  const terms: Array<string> = []
  const add = (field: SelectorField, op: "=" | "!=", value: string) => {
    const label = labels[field]
    if (label === undefined) return
    const term = `${label}${op}${escapeFieldValue(value)}`
    if (!terms.includes(term)) terms.push(term)
  }
  const only = config.include.length === 1 ? config.include[0] : undefined
  if (only !== undefined) {
    const reason = exactText(only.reason)
    if (reason !== undefined) add("reason", "=", reason)
    const name = exactText(only.name)
    if (name !== undefined) add("name", "=", name)
  }
  for (const rule of config.exclude) {
    if (conditionCount(rule) !== 1) continue
    const reason = exactText(rule.reason)
    const name = exactText(rule.name)
    const namespace = exactText(rule.namespace)
    const component = exactText(rule.component)
    if (reason !== undefined) add("reason", "!=", reason)
    else if (name !== undefined) add("name", "!=", name)
    else if (namespace !== undefined) add("namespace", "!=", namespace)
    else if (rule.kind !== undefined) add("kind", "!=", rule.kind)
    else if (rule.type !== undefined) add("type", "!=", rule.type)
    else if (component !== undefined) {
      add("source", "!=", component)
      add("reportingComponent", "!=", component)
    }
  }
  return terms.length > 0 ? terms.join(",") : undefined
}

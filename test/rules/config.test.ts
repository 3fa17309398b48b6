import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { decodeRule, decodeRulesConfig, DEFAULT_RULES_CONFIG, parseRuleFlag } from "../../src/rules/config.ts"
import { compileRule } from "../../src/rules/filter.ts"
import { coreEvent, left, right } from "./support.ts"

describe("decodeRulesConfig", () => {
  it("applies the defaults to a missing or empty configuration", () => {
    expect(right(decodeRulesConfig(undefined))).toEqual(DEFAULT_RULES_CONFIG)
    expect(right(decodeRulesConfig({}))).toEqual(DEFAULT_RULES_CONFIG)
    expect(right(decodeRulesConfig(parse("filters:\nseverity:\nthrottle:\n")))).toEqual(DEFAULT_RULES_CONFIG)
    expect(DEFAULT_RULES_CONFIG.throttle).toEqual({
      enabled: false,
      limit: 10,
      windowMs: 60_000,
      key: ["namespace", "kind", "name", "reason"],
      maxKeys: 10_000
    })
    expect(DEFAULT_RULES_CONFIG.severity).toEqual({ defaults: true, rules: [] })
  })

  it("decodes the documented example", () => {
    const config = right(
      decodeRulesConfig(
        parse(`
filters:
  include: [ {namespace: "prod-*", kind: Pod, reason: "/Back.*/", type: Warning, component: kubelet, message: "/OOM/", labels: {app: web}} ]
  exclude: [ {reason: Pulled} ]
  minSeverity: warn
  maxEventAge: 10m
severity:
  defaults: true
  rules: [ {reason: BackOff, kind: Pod, severity: warn} ]
throttle:
  enabled: false
  limit: 10
  window: 1m
  key: [namespace, kind, name, reason]
`)
      )
    )
    const [include] = config.filters.include
    expect(include?.namespace).toEqual({ _tag: "Glob", text: "prod-*" })
    expect(include?.kind).toBe("Pod")
    expect(include?.reason?._tag).toBe("Regex")
    expect(include?.component).toEqual({ _tag: "Exact", text: "kubelet" })
    expect(include?.message?._tag).toBe("Regex")
    expect(include?.labels).toEqual({ app: { _tag: "Exact", text: "web" } })
    expect(config.filters.exclude).toEqual([{ reason: { _tag: "Exact", text: "Pulled" } }])
    expect(config.filters.minSeverity).toBe(SeverityNumber.WARN)
    expect(config.filters.maxEventAgeMs).toBe(600_000)
    expect(config.severity).toEqual({
      defaults: true,
      rules: [{ reason: { _tag: "Exact", text: "BackOff" }, kind: "Pod", severity: "warn" }]
    })
    expect(config.throttle).toEqual({
      enabled: false,
      limit: 10,
      windowMs: 60_000,
      key: ["namespace", "kind", "name", "reason"],
      maxKeys: 10_000
    })
  })

  it("takes the rest of a section from the defaults", () => {
    const config = right(
      decodeRulesConfig({ throttle: { enabled: "true", window: "1m30s" }, severity: { defaults: false } })
    )
    expect(config.throttle).toEqual({ ...DEFAULT_RULES_CONFIG.throttle, enabled: true, windowMs: 90_000 })
    expect(config.severity).toEqual({ defaults: false, rules: [] })
    expect(config.filters).toEqual({ include: [], exclude: [] })
  })

  it("lists five different mistakes in one file, each by its path", () => {
    const problems = left(
      decodeRulesConfig(
        parse(`
filters:
  include:
    - namespace: prod-*
  exclude:
    - reason: Pulled
    - reason: Created
    - reason: "/(/"
  maxEventAge: ten minutes
severity:
  rules:
    - reason: BackOff
      severity: critical
throttle:
  limit: 0
  windw: 1m
`),
        "collector.yaml: "
      )
    )
    expect(problems).toEqual([
      "collector.yaml: filters.exclude[2].reason: invalid regex /(/: Unterminated group",
      `collector.yaml: filters.maxEventAge: must be a duration such as 500ms, 10s, 1m30s or 2h; got "ten minutes"`,
      `collector.yaml: severity.rules[0].severity: must be one of trace, debug, info, warn, error, fatal; got "critical"`,
      "collector.yaml: throttle.windw: unknown key; did you mean window?",
      "collector.yaml: throttle.limit: must be a whole number ≥ 1; got 0"
    ])
  })

  it.each<[string, unknown, string]>([
    [
      "a section that is not a mapping",
      { filters: [] },
      "filters: must be a mapping with any of include, exclude, minSeverity, maxEventAge; got a list"
    ],
    ["an unknown section", { filter: {} }, "filter: unknown key; did you mean filters?"],
    [
      "an unknown section, far from any",
      { batchSize: 1 },
      "batchSize: unknown key; expected one of filters, severity, throttle"
    ],
    [
      "rules that are not a list",
      { filters: { include: { reason: "x" } } },
      "filters.include: must be a list of rules; got a mapping"
    ],
    [
      "a rule that is not a mapping",
      { filters: { exclude: ["Pulled"] } },
      `filters.exclude[0]: must be a mapping with any of namespace, kind, name, reason, type, component, message, labels; got "Pulled"`
    ],
    [
      "an empty rule",
      { filters: { exclude: [{}] } },
      "filters.exclude[0]: a rule needs at least one of namespace, kind, name, reason, type, component, message, labels"
    ],
    [
      "a misspelt condition",
      { filters: { exclude: [{ reasn: "Pulled" }] } },
      "filters.exclude[0].reasn: unknown key; did you mean reason?"
    ],
    [
      "a condition in the wrong case",
      { filters: { exclude: [{ Namespace: "x" }] } },
      "filters.exclude[0].Namespace: unknown key; did you mean namespace?"
    ],
    [
      "an empty condition",
      { filters: { include: [{ kind: "" }] } },
      `filters.include[0].kind: must be a non-empty text; got ""`
    ],
    [
      "a list as a condition",
      { filters: { include: [{ kind: ["Pod"] }] } },
      "filters.include[0].kind: must be a non-empty text; got a list"
    ],
    [
      "a regex flag that makes test() stateful",
      { filters: { include: [{ reason: "/x/g" }] } },
      "filters.include[0].reason: regex flag g in /x/g is not allowed: use i, m, s or u"
    ],
    [
      "a slash that starts no regex",
      { filters: { include: [{ message: "/var/lib/kubelet/pods/1" }] } },
      `filters.include[0].message: "/var/lib/kubelet/pods/1" starts with / but is not a regex written /pattern/flags; to match text that starts with /, write a regex such as /^\\/var/`
    ],
    [
      "labels that are not a mapping",
      { filters: { include: [{ labels: "app=web" }] } },
      `filters.include[0].labels: must be a mapping of label names to values or globs; got "app=web"`
    ],
    [
      "a label value that is not a text",
      { filters: { include: [{ labels: { app: { x: 1 } } }] } },
      "filters.include[0].labels.app: must be a text or a glob; got a mapping"
    ],
    [
      "a bad min severity",
      { filters: { minSeverity: "warning" } },
      `filters.minSeverity: must be one of trace, debug, info, warn, error, fatal; got "warning"`
    ],
    [
      "a zero max event age",
      { filters: { maxEventAge: "0s" } },
      `filters.maxEventAge: must be longer than 0; got "0s"`
    ],
    [
      "a severity rule without severity",
      { severity: { rules: [{ reason: "x" }] } },
      "severity.rules[0].severity: is required: one of trace, debug, info, warn, error, fatal"
    ],
    [
      "a severity rule without condition",
      { severity: { rules: [{ severity: "error" }] } },
      "severity.rules[0]: a severity rule needs at least one of reason, kind, type"
    ],
    [
      "a filter condition in a severity rule",
      { severity: { rules: [{ namespace: "x", severity: "error" }] } },
      "severity.rules[0].namespace: unknown key; expected one of reason, kind, type, severity"
    ],
    [
      "a bad defaults flag",
      { severity: { defaults: "maybe" } },
      `severity.defaults: must be true or false; got "maybe"`
    ],
    ["a fractional limit", { throttle: { limit: 1.5 } }, "throttle.limit: must be a whole number ≥ 1; got 1.5"],
    [
      "a bad window",
      { throttle: { window: "soon" } },
      `throttle.window: must be a duration such as 500ms, 10s, 1m30s or 2h; got "soon"`
    ],
    [
      "an unknown key field",
      { throttle: { key: ["namespace", "reasons"] } },
      `throttle.key[1]: must be one of namespace, kind, name, reason, type, message; got "reasons" (did you mean reason?)`
    ],
    ["a key field twice", { throttle: { key: "reason,reason" } }, "throttle.key[1]: reason is listed twice"],
    [
      "an empty key",
      { throttle: { key: [] } },
      "throttle.key: must name at least one of namespace, kind, name, reason, type, message"
    ],
    ["a zero maxKeys", { throttle: { maxKeys: "0" } }, `throttle.maxKeys: must be a whole number ≥ 1; got "0"`],
    ["max keys spelt otherwise", { throttle: { max_keys: 5 } }, "throttle.max_keys: unknown key; did you mean maxKeys?"]
  ])("reports %s", (_, input, problem) => {
    expect(left(decodeRulesConfig(input))).toEqual([problem])
  })

  it("takes YAML numbers as names", () => {
    const config = right(decodeRulesConfig(parse("filters:\n  include: [{name: 2024, labels: {version: 2}}]\n")))
    expect(config.filters.include[0]).toEqual({
      name: { _tag: "Exact", text: "2024" },
      labels: { version: { _tag: "Exact", text: "2" } }
    })
  })
})

describe("parseRuleFlag", () => {
  it("parses the documented example", () => {
    const r = right(parseRuleFlag("namespace=prod-*,reason=/Back.*/,type=Warning"))
    expect(r.namespace).toEqual({ _tag: "Glob", text: "prod-*" })
    expect(r.reason?._tag).toBe("Regex")
    expect(r.reason?.text).toBe("/Back.*/")
    expect(r.type).toBe("Warning")
    expect(compileRule(r)(coreEvent(), undefined)).toBe(true)
  })

  it.each<[string, Record<string, unknown>]>([
    ["kind=Pod", { kind: "Pod" }],
    [" kind = Pod ", { kind: "Pod" }],
    ["reason=/a{1,3}/i,kind=Pod", { reason: "/a{1,3}/i", kind: "Pod" }],
    ["reason=/a\\/b,c/", { reason: "/a\\/b,c/" }],
    ["message=one\\, two", { message: "one, two" }],
    ["message=a\\\\b", { message: "a\\b" }],
    ["labels.app=web,labels.tier=front*", { labels: { app: "web", tier: "front*" } }],
    ["labels.canary=", { labels: { canary: "" } }]
  ])("%s", (flag, expected) => {
    expect(right(parseRuleFlag(flag))).toEqual(right(decodeRule(expected)))
  })

  it.each<[string, string]>([
    ["", "a rule needs at least one of namespace, kind, name, reason, type, component, message, labels"],
    ["Pod", `"Pod" is not a condition=value pair (e.g. namespace=prod-*,reason=/Back.?Off/)`],
    ["kind=Pod,Node", `"Node" is not a condition=value pair (e.g. namespace=prod-*,reason=/Back.?Off/)`],
    ["knd=Pod", "knd: unknown key; did you mean kind?"],
    ["kind=Pod,kind=Node", "kind: given twice"],
    ["reason=/(/", "reason: invalid regex /(/: Unterminated group"],
    ["kind=,reason=/(/", `kind: must be a non-empty text; got ""; reason: invalid regex /(/: Unterminated group`]
  ])("rejects %j", (flag, problem) => {
    expect(left(parseRuleFlag(flag))).toBe(problem)
  })
})

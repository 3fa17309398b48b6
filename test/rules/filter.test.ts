import { describe, expect, it } from "vitest"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { decodeKubeEvent } from "../../src/domain/KubeEvent.ts"
import { decodeRule } from "../../src/rules/config.ts"
import {
  compileFilters,
  compileRule,
  escapeFieldValue,
  fieldSelectorFor,
  type FilterConfig,
  type Rule
} from "../../src/rules/filter.ts"
import { coreEvent, right, T0, type EventSpec } from "./support.ts"

const rule = (u: Record<string, unknown>): Rule => right(decodeRule(u))
const matches = (r: Record<string, unknown>, spec: EventSpec, labels?: Record<string, string>) =>
  compileRule(rule(r))(coreEvent(spec), labels)

const config = (
  c: { include?: ReadonlyArray<Record<string, unknown>>; exclude?: ReadonlyArray<Record<string, unknown>> } & Omit<
    Partial<FilterConfig>,
    "include" | "exclude"
  >
): FilterConfig => ({
  ...c,
  include: (c.include ?? []).map(rule),
  exclude: (c.exclude ?? []).map(rule)
})

describe("a single condition", () => {
  it.each<[string, Record<string, unknown>, EventSpec, boolean]>([
    ["namespace exact", { namespace: "prod-web" }, {}, true],
    ["namespace exact, other", { namespace: "prod" }, {}, false],
    ["namespace glob *", { namespace: "prod-*" }, {}, true],
    ["namespace glob * is anchored", { namespace: "web*" }, {}, false],
    ["namespace glob ?", { namespace: "prod-we?" }, {}, true],
    ["namespace glob ? is one character", { namespace: "prod-w?" }, {}, false],
    ["namespace glob, regex characters are literal", { namespace: "prod.web" }, {}, false],
    ["namespace is case-sensitive", { namespace: "Prod-*" }, {}, false],
    [
      "namespace: the involved object's first",
      { namespace: "team-a" },
      { namespace: "default", objectNamespace: "team-a" },
      true
    ],
    [
      "namespace: falls back to the event's",
      { namespace: "default" },
      { namespace: "default", objectNamespace: null, kind: "Node", name: "n1" },
      true
    ],
    ["kind exact", { kind: "Pod" }, {}, true],
    ["kind ignores case", { kind: "pod" }, {}, true],
    ["kind ignores case, the other way", { kind: "Pod" }, { kind: "pod" }, true],
    ["kind is not a glob", { kind: "Po*" }, {}, false],
    ["kind other", { kind: "Node" }, {}, false],
    ["name exact", { name: "web-1" }, {}, true],
    ["name glob", { name: "web-*" }, {}, true],
    ["name glob, other", { name: "api-*" }, {}, false],
    ["reason exact", { reason: "BackOff" }, {}, true],
    ["reason exact is case-sensitive", { reason: "backoff" }, {}, false],
    ["reason exact is not a substring", { reason: "Back" }, {}, false],
    ["reason regex", { reason: "/Back.*/" }, {}, true],
    ["reason regex searches anywhere", { reason: "/Off/" }, {}, true],
    ["reason regex with flags", { reason: "/back.?off/i" }, {}, true],
    ["reason regex anchored", { reason: "/^Off$/" }, {}, false],
    ["type exact", { type: "Warning" }, {}, true],
    ["type ignores case", { type: "warning" }, { type: "WARNING" }, true],
    ["type other", { type: "Normal" }, {}, false],
    ["type of an unusual kind", { type: "Error" }, { type: "Error" }, true],
    ["component: source.component", { component: "kubelet" }, { source: "kubelet" }, true],
    ["component: reportingController", { component: "kubelet" }, { reporting: "kubelet" }, true],
    ["component: either one", { component: "kubelet" }, { source: "x", reporting: "kubelet" }, true],
    ["component: neither", { component: "kubelet" }, { source: "x", reporting: "y" }, false],
    ["component: absent", { component: "kubelet" }, {}, false],
    ["component regex", { component: "/^kube/" }, { source: "kubelet" }, true],
    ["message substring", { message: "restarting failed" }, {}, true],
    ["message substring is case-sensitive", { message: "Restarting" }, {}, false],
    ["message regex", { message: "/container \\w+ in pod/" }, {}, true],
    ["message regex, other", { message: "/OOM/" }, {}, false]
  ])("%s", (_, r, spec, expected) => {
    expect(matches(r, spec)).toBe(expected)
  })

  it("does not match a field the event lacks", () => {
    const e = right(decodeKubeEvent({ metadata: { name: "x", uid: "u", resourceVersion: "1" }, involvedObject: {} }))
    for (const r of [
      { namespace: "*" },
      { kind: "Pod" },
      { name: "*" },
      { reason: "/.*/" },
      { type: "Normal" },
      { message: "/.*/" },
      { component: "/.*/" }
    ]) {
      expect(compileRule(rule(r))(e, {}), JSON.stringify(r)).toBe(false)
    }
  })
})

describe("labels", () => {
  const r = { labels: { app: "web", tier: "front*" } }
  it.each<[string, Record<string, string> | undefined, boolean]>([
    ["all labels match", { app: "web", tier: "frontend", other: "x" }, true],
    ["a glob value", { app: "web", tier: "front" }, true],
    ["one label differs", { app: "api", tier: "frontend" }, false],
    ["one label missing", { app: "web" }, false],
    ["the object has no labels", {}, false],
    ["labels unknown (not enriched): never matches", undefined, false]
  ])("%s", (_, labels, expected) => {
    expect(matches(r, {}, labels)).toBe(expected)
  })

  it("an empty value asks for a present, empty label", () => {
    expect(matches({ labels: { canary: "" } }, {}, { canary: "" })).toBe(true)
    expect(matches({ labels: { canary: "" } }, {}, {})).toBe(false)
  })

  it("a label named like an Object.prototype member is only read from the labels themselves", () => {
    expect(matches({ labels: { constructor: "*" } }, {}, {})).toBe(false)
  })
})

describe("compileFilters", () => {
  const now = T0 + 1000
  const verdict = (
    c: FilterConfig,
    spec: EventSpec = {},
    opts: { labels?: Record<string, string>; severity?: number | undefined; now?: number } = {}
  ) =>
    compileFilters(c).verdict(
      coreEvent(spec),
      opts.labels,
      "severity" in opts ? opts.severity : SeverityNumber.WARN,
      opts.now ?? now
    )

  it("keeps everything without rules", () => {
    expect(verdict(config({}))).toBeUndefined()
    expect(compileFilters(config({})).ruleNames).toEqual([])
  })

  it("ANDs the conditions of one rule", () => {
    const c = config({ include: [{ namespace: "prod-*", kind: "Pod", reason: "/Back/", type: "Warning" }] })
    expect(verdict(c)).toBeUndefined()
    expect(verdict(c, { type: "Normal" })).toBe("include")
    expect(verdict(c, { namespace: "dev" })).toBe("include")
    expect(verdict(c, { kind: "Node" })).toBe("include")
  })

  it("ORs the include rules", () => {
    const c = config({ include: [{ reason: "OOMKilling" }, { namespace: "prod-*" }] })
    expect(verdict(c, { reason: "OOMKilling", namespace: "dev" })).toBeUndefined()
    expect(verdict(c, { reason: "BackOff", namespace: "prod-x" })).toBeUndefined()
    expect(verdict(c, { reason: "BackOff", namespace: "dev" })).toBe("include")
  })

  it("lets an exclude rule win over an include rule and names the first exclude rule that matches", () => {
    const c = config({
      include: [{ namespace: "prod-*" }],
      exclude: [{ reason: "Pulled" }, { kind: "Pod" }, { type: "Warning" }]
    })
    expect(verdict(c, { reason: "Pulled" })).toBe("exclude[0]")
    expect(verdict(c)).toBe("exclude[1]")
    expect(verdict(c, { kind: "Node" })).toBe("exclude[2]")
    expect(verdict(c, { kind: "Node", type: "Normal" })).toBeUndefined()
    expect(compileFilters(c).ruleNames).toEqual(["include", "exclude[0]", "exclude[1]", "exclude[2]"])
  })

  it("does not match an include rule with labels while the labels are unknown, nor an exclude rule", () => {
    const inc = config({ include: [{ labels: { app: "web" } }] })
    expect(verdict(inc, {}, { labels: { app: "web" } })).toBeUndefined()
    expect(verdict(inc, {}, {})).toBe("include")
    const exc = config({ exclude: [{ labels: { app: "web" } }] })
    expect(verdict(exc, {}, { labels: { app: "web" } })).toBe("exclude[0]")
    expect(verdict(exc, {}, {})).toBeUndefined()
    expect(compileFilters(exc).needsLabels).toBe(true)
    expect(compileFilters(config({ exclude: [{ reason: "x" }] })).needsLabels).toBe(false)
  })

  it.each<[string, number | undefined, SeverityNumber, string | undefined]>([
    ["WARN ≥ WARN", SeverityNumber.WARN, SeverityNumber.WARN, undefined],
    ["ERROR ≥ WARN", SeverityNumber.ERROR, SeverityNumber.WARN, undefined],
    ["INFO < WARN", SeverityNumber.INFO, SeverityNumber.WARN, "min_severity"],
    ["unset severity reaches no minimum", undefined, SeverityNumber.TRACE, "min_severity"]
  ])("min severity: %s", (_, severity, minSeverity, expected) => {
    expect(verdict(config({ minSeverity }), {}, { severity })).toBe(expected)
  })

  it.each<[string, EventSpec, number, string | undefined]>([
    ["as old as the limit", {}, T0 + 600_000, undefined],
    ["older than the limit", {}, T0 + 600_001, "max_event_age"],
    ["from the future", {}, T0 - 5_000, undefined],
    ["the newest time counts (lastTimestamp)", { lastTimestamp: "2024-05-01T12:09:59Z" }, T0 + 1_000_000, undefined]
  ])("max event age: %s", (_, spec, at, expected) => {
    expect(verdict(config({ maxEventAgeMs: 600_000 }), spec, { now: at })).toBe(expected)
  })

  it("keeps an event without any time whatever its age limit", () => {
    const e = right(
      decodeKubeEvent({ metadata: { name: "x", uid: "u", resourceVersion: "1" }, involvedObject: {}, type: "Warning" })
    )
    expect(compileFilters(config({ maxEventAgeMs: 1 })).verdict(e, undefined, SeverityNumber.WARN, T0)).toBeUndefined()
  })

  it("checks include, exclude, min_severity, max_event_age in that order", () => {
    const c = config({
      include: [{ reason: "X" }],
      exclude: [{ kind: "Pod" }],
      minSeverity: SeverityNumber.ERROR,
      maxEventAgeMs: 1
    })
    const late = T0 + 10_000
    expect(verdict(c, {}, { now: late })).toBe("include")
    expect(verdict(c, { reason: "X" }, { now: late })).toBe("exclude[0]")
    expect(verdict(c, { reason: "X", kind: "Node" }, { now: late })).toBe("min_severity")
    expect(verdict(c, { reason: "X", kind: "Node" }, { now: late, severity: SeverityNumber.ERROR })).toBe(
      "max_event_age"
    )
    expect(compileFilters(c).ruleNames).toEqual(["include", "exclude[0]", "min_severity", "max_event_age"])
  })

  it("reads events.k8s.io/v1 events the same way", () => {
    const e = right(
      decodeKubeEvent({
        apiVersion: "events.k8s.io/v1",
        metadata: { name: "x", namespace: "prod-web", uid: "u", resourceVersion: "1" },
        regarding: { kind: "Pod", name: "web-1", namespace: "prod-web" },
        reason: "BackOff",
        type: "Warning",
        note: "Back-off restarting",
        reportingController: "kubelet"
      })
    )
    const f = compileFilters(
      config({
        include: [
          {
            namespace: "prod-*",
            kind: "pod",
            name: "web-?",
            reason: "BackOff",
            component: "kubelet",
            message: "Back-off"
          }
        ]
      })
    )
    expect(f.verdict(e, undefined, SeverityNumber.WARN, T0)).toBeUndefined()
  })
})

describe("fieldSelectorFor", () => {
  it.each<[string, Parameters<typeof config>[0], string | undefined]>([
    ["nothing to push without rules", {}, undefined],
    ["one include rule: exact reason", { include: [{ reason: "BackOff" }] }, "reason=BackOff"],
    ["one include rule: exact name", { include: [{ name: "web-1" }] }, "involvedObject.name=web-1"],
    [
      "one include rule: reason and name, ANDed",
      { include: [{ reason: "BackOff", name: "web-1" }] },
      "reason=BackOff,involvedObject.name=web-1"
    ],
    [
      "one include rule: only the exact conditions are pushed",
      { include: [{ reason: "BackOff", name: "web-*", message: "x" }] },
      "reason=BackOff"
    ],
    ["one include rule: a regex reason is not pushed", { include: [{ reason: "/Back/" }] }, undefined],
    ["one include rule: a name glob is not pushed", { include: [{ name: "web-*" }] }, undefined],
    [
      "one include rule: kind is not pushed (the rule ignores case, the server does not)",
      { include: [{ kind: "Pod" }] },
      undefined
    ],
    [
      "one include rule: type is not pushed (the rule ignores case, the server does not)",
      { include: [{ type: "Warning" }] },
      undefined
    ],
    [
      "one include rule: namespace is not pushed (the rule falls back to the event's namespace)",
      { include: [{ namespace: "prod" }] },
      undefined
    ],
    [
      "one include rule: component is not pushed (the rule reads two fields)",
      { include: [{ component: "kubelet" }] },
      undefined
    ],
    ["one include rule: labels are not pushed", { include: [{ labels: { app: "web" } }] }, undefined],
    ["two include rules: an OR, not pushed", { include: [{ reason: "A" }, { reason: "B" }] }, undefined],
    ["exclude: exact reason", { exclude: [{ reason: "Pulled" }] }, "reason!=Pulled"],
    ["exclude: exact name", { exclude: [{ name: "noisy" }] }, "involvedObject.name!=noisy"],
    ["exclude: exact namespace", { exclude: [{ namespace: "kube-system" }] }, "involvedObject.namespace!=kube-system"],
    ["exclude: kind as written", { exclude: [{ kind: "Node" }] }, "involvedObject.kind!=Node"],
    ["exclude: type as written", { exclude: [{ type: "Normal" }] }, "type!=Normal"],
    [
      "exclude: component on both fields",
      { exclude: [{ component: "kubelet" }] },
      "source!=kubelet,reportingComponent!=kubelet"
    ],
    ["exclude: a glob is not pushed", { exclude: [{ namespace: "kube-*" }] }, undefined],
    ["exclude: a regex is not pushed", { exclude: [{ reason: "/Pull/" }] }, undefined],
    ["exclude: a message is not pushed", { exclude: [{ message: "pulled" }] }, undefined],
    ["exclude: two conditions would be an OR, not pushed", { exclude: [{ reason: "Pulled", kind: "Pod" }] }, undefined],
    [
      "several exclude rules",
      { exclude: [{ reason: "Pulled" }, { reason: "Created" }, { reason: "Started", kind: "Pod" }] },
      "reason!=Pulled,reason!=Created"
    ],
    [
      "include and exclude together",
      { include: [{ reason: "BackOff" }], exclude: [{ namespace: "kube-system" }] },
      "reason=BackOff,involvedObject.namespace!=kube-system"
    ],
    ["a repeated term once", { exclude: [{ reason: "Pulled" }, { reason: "Pulled" }] }, "reason!=Pulled"],
    ["escapes \\ , and =", { include: [{ reason: "a,b=c\\d" }] }, "reason=a\\,b\\=c\\\\d"]
  ])("%s", (_, c, expected) => {
    expect(fieldSelectorFor(config(c))).toBe(expected)
  })

  it("uses the events.k8s.io/v1 field names for that API, which has no `source` label", () => {
    // pkg/apis/events/v1/conversion.go (k8s.io/kubernetes v1.37): reason, regarding.*, reportingController, type,
    // metadata.*; kube-apiserver answers 400 "field label not supported: source" for anything else.
    const c = config({
      include: [{ reason: "BackOff", name: "web-1" }],
      exclude: [{ kind: "Node" }, { namespace: "kube-system" }, { component: "kubelet" }]
    })
    expect(fieldSelectorFor(c, "events.k8s.io/v1")).toBe(
      "reason=BackOff,regarding.name=web-1,regarding.kind!=Node,regarding.namespace!=kube-system,reportingController!=kubelet"
    )
  })

  it.each([
    ["plain", "plain"],
    ["a,b", "a\\,b"],
    ["a=b", "a\\=b"],
    ["a\\b", "a\\\\b"],
    ["!=", "!\\="]
  ])("escapes %s", (raw, escaped) => {
    expect(escapeFieldValue(raw)).toBe(escaped)
  })
})

/**
 * The field-selector grammar of the Kubernetes API server (k8s.io/apimachinery/pkg/fields, `ParseSelector`),
 * written out here so that selectors are checked against it rather than against the project's own parser:
 *   1. The selector is split into terms at each `,` that is not escaped: a `\` escapes the character after it.
 *   2. A term is split at the first operator found scanning from the left, trying `!=`, then `==`, then `=` at
 *      each position: field on the left, value on the right. A term without an operator is invalid.
 *   3. The value is unescaped: `\\` → `\`, `\,` → `,`, `\=` → `=`. Any other escape, a trailing `\`, or an
 *      unescaped `,` or `=` is invalid.
 */
type Term = { readonly field: string; readonly op: "=" | "==" | "!="; readonly value: string }

const splitTerms = (selector: string): ReadonlyArray<string> => {
  const terms: Array<string> = []
  let start = 0
  let escaped = false
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i]
    if (escaped) escaped = false
    else if (c === "\\") escaped = true
    else if (c === ",") {
      terms.push(selector.slice(start, i))
      start = i + 1
    }
  }
  return [...terms, selector.slice(start)]
}

const unescapeValue = (value: string): string => {
  let out = ""
  let escaped = false
  for (const c of value) {
    if (escaped) {
      if (c !== "\\" && c !== "," && c !== "=")
        throw new Error(`invalid escape sequence \\${c} in ${JSON.stringify(value)}`)
      out += c
      escaped = false
    } else if (c === "\\") escaped = true
    else if (c === "," || c === "=") throw new Error(`unescaped ${c} in ${JSON.stringify(value)}`)
    else out += c
  }
  if (escaped) throw new Error(`trailing \\ in ${JSON.stringify(value)}`)
  return out
}

const parseTerm = (term: string): Term => {
  for (let i = 0; i < term.length; i++) {
    const op = (["!=", "==", "="] as const).find((o) => term.startsWith(o, i))
    if (op !== undefined) return { field: term.slice(0, i), op, value: unescapeValue(term.slice(i + op.length)) }
  }
  throw new Error(`no operator in the term ${JSON.stringify(term)}`)
}

const parseSelector = (selector: string): ReadonlyArray<Term> => splitTerms(selector).map(parseTerm)

/**
 * The fields the API server can select events by. core/v1: the Event field label conversion of kube-apiserver
 * (pkg/apis/core/v1/conversion.go); events.k8s.io/v1: its own field label conversion, which has no `source`
 * (a real kube-apiserver v1.37 answers 400 to `source!=kubelet` there: test/real/events.test.ts). Any other
 * field is refused with "field label not supported".
 */
const SERVER_FIELDS = {
  "core/v1": [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name"
  ],
  "events.k8s.io/v1": [
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "type",
    "metadata.namespace",
    "metadata.name"
  ]
} as const

describe("fieldSelectorFor, read as the API server reads it", () => {
  const everyRuleKind = config({
    include: [{ reason: "BackOff", name: "web-1" }],
    exclude: [
      { reason: "Pulled" },
      { name: "noisy" },
      { namespace: "kube-system" },
      { kind: "Node" },
      { type: "Normal" },
      { component: "kubelet" }
    ]
  })

  it.each(["core/v1", "events.k8s.io/v1"] as const)(
    "uses only fields the %s API can select on, with its operators",
    (api) => {
      const terms = parseSelector(fieldSelectorFor(everyRuleKind, api) ?? "")
      // A component rule is two terms on core/v1 (source, reportingComponent), one on events.k8s.io/v1.
      expect(terms).toHaveLength(api === "core/v1" ? 9 : 8)
      for (const term of terms) {
        expect(SERVER_FIELDS[api], term.field).toContain(term.field)
        expect(["=", "!="]).toContain(term.op)
      }
    }
  )

  it("says, term by term, what the rules say", () => {
    expect(parseSelector(fieldSelectorFor(everyRuleKind) ?? "")).toEqual([
      { field: "reason", op: "=", value: "BackOff" },
      { field: "involvedObject.name", op: "=", value: "web-1" },
      { field: "reason", op: "!=", value: "Pulled" },
      { field: "involvedObject.name", op: "!=", value: "noisy" },
      { field: "involvedObject.namespace", op: "!=", value: "kube-system" },
      { field: "involvedObject.kind", op: "!=", value: "Node" },
      { field: "type", op: "!=", value: "Normal" },
      { field: "source", op: "!=", value: "kubelet" },
      { field: "reportingComponent", op: "!=", value: "kubelet" }
    ])
  })

  it.each([
    "a,b=c\\d",
    "x!=y",
    "==",
    "=lead",
    "trail\\",
    "\\,",
    "a\\=b",
    "!",
    "!x",
    "x!",
    "ünïcödé ✓",
    "with space",
    "a,,b"
  ])("keeps the value %j intact through escaping", (value) => {
    const selector = fieldSelectorFor(config({ include: [{ reason: value }], exclude: [{ name: value }] }))
    expect(parseSelector(selector ?? "")).toEqual([
      { field: "reason", op: "=", value },
      { field: "involvedObject.name", op: "!=", value }
    ])
  })

  it("the grammar written out here refuses what the API server refuses", () => {
    expect(() => parseSelector("reason=a,b")).toThrow(/no operator/)
    expect(() => parseSelector("reason=a=b")).toThrow(/unescaped =/)
    expect(() => parseSelector("reason=a\\b")).toThrow(/invalid escape/)
    expect(() => parseSelector("reason=a\\")).toThrow(/trailing/)
    expect(parseSelector("reason==a")).toEqual([{ field: "reason", op: "==", value: "a" }])
    expect(parseSelector("reason!=a\\,b")).toEqual([{ field: "reason", op: "!=", value: "a,b" }])
  })
})

import { describe, expect, it } from "vitest"
import { CRITICAL_REASONS } from "../fixtures/expectations.ts"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { decodeRulesConfig } from "../../src/rules/config.ts"
import {
  compileSeverityRules,
  DEFAULT_SEVERITY_RULES,
  parseSeverityName,
  SEVERITY_NUMBERS,
  type SeverityRule
} from "../../src/rules/severity.ts"
import { coreEvent, left, right, type EventSpec } from "./support.ts"

const userRules = (rules: ReadonlyArray<Record<string, unknown>>): ReadonlyArray<SeverityRule> =>
  right(decodeRulesConfig({ severity: { rules } })).severity.rules

describe("severity names", () => {
  it.each([
    ["trace", 1],
    ["debug", 5],
    ["info", 9],
    ["warn", 13],
    ["error", 17],
    ["fatal", 21]
  ] as const)("%s is SeverityNumber %i", (name, n) => {
    expect(SEVERITY_NUMBERS[name]).toBe(n)
  })

  it.each(["ERROR", "Error", " error "])("accepts %j", (raw) => {
    expect(right(parseSeverityName(raw))).toBe("error")
  })

  it.each(["critical", "", 17, null])("rejects %j", (raw) => {
    expect(left(parseSeverityName(raw))).toMatch(/^must be one of trace, debug, info, warn, error, fatal/)
  })
})

describe("the default rules", () => {
  const { classify } = compileSeverityRules([])
  it.each<[string, EventSpec, SeverityNumber | undefined]>([
    ["OOMKilling", { reason: "OOMKilling", kind: "Node" }, SeverityNumber.ERROR],
    ["Evicted", { reason: "Evicted" }, SeverityNumber.ERROR],
    ["FailedScheduling", { reason: "FailedScheduling" }, SeverityNumber.ERROR],
    ["BackoffLimitExceeded", { reason: "BackoffLimitExceeded", kind: "Job" }, SeverityNumber.ERROR],
    [
      "NodeNotReady, even as a Normal event",
      { reason: "NodeNotReady", kind: "Node", type: "Normal" },
      SeverityNumber.ERROR
    ],
    ["FailedMount", { reason: "FailedMount" }, SeverityNumber.ERROR],
    ["FailedAttachVolume", { reason: "FailedAttachVolume" }, SeverityNumber.ERROR],
    ["Failed on a Pod", { reason: "Failed" }, SeverityNumber.ERROR],
    ["Failed on a pod, kind in lower case", { reason: "Failed", kind: "pod" }, SeverityNumber.ERROR],
    ["Failed on a Job: the type decides", { reason: "Failed", kind: "Job" }, SeverityNumber.WARN],
    ["reasons are exact: OOMKilled is not OOMKilling", { reason: "OOMKilled" }, SeverityNumber.WARN],
    ["a Warning no rule matches", { reason: "BackOff" }, SeverityNumber.WARN],
    ["a Normal no rule matches", { reason: "Pulled", type: "Normal" }, SeverityNumber.INFO],
    ["an unknown type no rule matches", { reason: "Odd", type: "Custom" }, undefined]
  ])("%s", (_, spec, expected) => {
    const s = classify(coreEvent(spec))
    expect(s.number).toBe(expected)
    // DESIGN §3: a raised number gets its level's short name (the log data model's ERROR), else the event's type.
    expect(s.text).toBe(expected === SeverityNumber.ERROR ? "ERROR" : (spec.type ?? "Warning"))
  })

  it("are the eight documented ones", () => {
    expect(DEFAULT_SEVERITY_RULES.map((r) => r.reason?.text)).toEqual([...CRITICAL_REASONS, "Failed"])
  })
})

describe("user rules", () => {
  it("come before the defaults, and the first that matches wins", () => {
    const { classify } = compileSeverityRules(
      userRules([
        { reason: "FailedMount", severity: "warn" },
        { reason: "/Back.?Off/i", kind: "Pod", severity: "ERROR" },
        { reason: "BackOff", severity: "debug" }
      ])
    )
    expect(classify(coreEvent({ reason: "FailedMount" })).number).toBe(SeverityNumber.WARN)
    expect(classify(coreEvent({ reason: "BackOff" })).number).toBe(SeverityNumber.ERROR)
    expect(classify(coreEvent({ reason: "BackOff", kind: "Node" })).number).toBe(SeverityNumber.DEBUG)
    expect(classify(coreEvent({ reason: "Evicted" })).number).toBe(SeverityNumber.ERROR)
  })

  it("match by type, ignoring case; the text names the level a rule set, unless it is the type's own", () => {
    const { classify } = compileSeverityRules(
      userRules([
        { type: "custom", severity: "fatal" },
        { reason: "Pulled", severity: "info" },
        { reason: "Unhealthy", severity: "debug" }
      ])
    )
    expect(classify(coreEvent({ type: "Custom" }))).toEqual({ number: SeverityNumber.FATAL, text: "FATAL" })
    expect(classify(coreEvent({ reason: "Pulled", type: "Normal" }))).toEqual({
      number: SeverityNumber.INFO,
      text: "Normal"
    })
    expect(classify(coreEvent({ reason: "Unhealthy" }))).toEqual({ number: SeverityNumber.DEBUG, text: "DEBUG" })
  })

  it("alone, with defaults: false", () => {
    const { classify } = compileSeverityRules(userRules([{ reason: "BackOff", severity: "info" }]), { defaults: false })
    expect(classify(coreEvent({ reason: "BackOff" })).number).toBe(SeverityNumber.INFO)
    expect(classify(coreEvent({ reason: "OOMKilling" })).number).toBe(SeverityNumber.WARN)
    expect(classify(coreEvent({ reason: "Failed", type: "Normal" }))).toEqual({
      number: SeverityNumber.INFO,
      text: "Normal"
    })
  })
})

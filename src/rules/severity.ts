/**
 * Severity rules: the first rule that matches an event sets its severity number, and the text then names that
 * level (ERROR), so that the text and the number never disagree; a rule that keeps the type's own level keeps the
 * type as the text. The user's rules come first, then (unless `defaults: false`) DEFAULT_SEVERITY_RULES; an event
 * no rule matches gets the type's severity (Normal → INFO, Warning → WARN, anything else unset).
 */
import { Either } from "effect"
import { SeverityNumber } from "@opentelemetry/api-logs"
import type { KubeEvent } from "../domain/KubeEvent.ts"
import { severityOfType, type Severity } from "../domain/defaultSeverity.ts"
import { show } from "../domain/valueText.ts"
import { compileRule } from "./filter.ts"
import { exact, type Pattern } from "./pattern.ts"

export const SEVERITY_NAMES = ["trace", "debug", "info", "warn", "error", "fatal"] as const
export type SeverityName = (typeof SEVERITY_NAMES)[number]

/** The first number of each OpenTelemetry severity range (TRACE 1-4, DEBUG 5-8, ...). */
export const SEVERITY_NUMBERS: Readonly<Record<SeverityName, SeverityNumber>> = {
  trace: SeverityNumber.TRACE,
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
  fatal: SeverityNumber.FATAL
}

/** `warn`, `WARN` or `Warn`. */
export const parseSeverityName = (raw: unknown): Either.Either<SeverityName, string> => {
  const lower = typeof raw === "string" ? raw.trim().toLowerCase() : undefined
  const found = SEVERITY_NAMES.find((n) => n === lower)
  return found !== undefined
    ? Either.right(found)
    : Either.left(`must be one of ${SEVERITY_NAMES.join(", ")}; got ${show(raw)}`)
}

export interface SeverityRule {
  /** Exact, or a regex. */
  readonly reason?: Pattern
  /** The involved object's kind, ignoring case. */
  readonly kind?: string
  /** The event's type, ignoring case. */
  readonly type?: string
  readonly severity: SeverityName
}

/** Reasons that mean something is broken rather than in progress. */
export const DEFAULT_SEVERITY_RULES: ReadonlyArray<SeverityRule> = [
  { reason: exact("OOMKilling"), severity: "error" },
  { reason: exact("Evicted"), severity: "error" },
  { reason: exact("FailedScheduling"), severity: "error" },
  { reason: exact("BackoffLimitExceeded"), severity: "error" },
  { reason: exact("NodeNotReady"), severity: "error" },
  { reason: exact("FailedMount"), severity: "error" },
  { reason: exact("FailedAttachVolume"), severity: "error" },
  // `Failed` is also a Normal reason of other kinds (a Job's pod failing is expected); on a Pod it means an
  // image pull or container start failed.
  { reason: exact("Failed"), kind: "Pod", severity: "error" }
]

export interface SeverityOptions {
  /** Append DEFAULT_SEVERITY_RULES after the given rules (the default). */
  readonly defaults?: boolean
}

export interface SeverityClassifier {
  readonly classify: (e: KubeEvent) => Severity
}

export const compileSeverityRules = (
  rules: ReadonlyArray<SeverityRule>,
  options: SeverityOptions = {}
): SeverityClassifier => {
  const all = options.defaults === false ? rules : [...rules, ...DEFAULT_SEVERITY_RULES]
  const compiled = all.map((r) => ({
    test: compileRule({
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      ...(r.kind !== undefined ? { kind: r.kind } : {}),
      ...(r.type !== undefined ? { type: r.type } : {})
    }),
    number: SEVERITY_NUMBERS[r.severity],
    text: r.severity.toUpperCase()
  }))
  const n = compiled.length
  return {
    classify: (e) => {
      for (let i = 0; i < n; i++) {
        const rule = compiled[i]
        if (rule !== undefined && rule.test(e, undefined)) {
          const own = severityOfType(e.type)
          return own.number === rule.number ? own : { number: rule.number, text: rule.text }
        }
      }
      return severityOfType(e.type)
    }
  }
}

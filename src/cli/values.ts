/** Parsers for option values. Each returns the value or a sentence saying what was expected. */
import { Duration, Either } from "effect"

export type Parsed<A> = Either.Either<A, string>

const show = (raw: unknown): string => (typeof raw === "string" ? JSON.stringify(raw) : String(raw))

export const oneOf = <const L extends string>(...choices: ReadonlyArray<L>) => (raw: unknown): Parsed<L> => {
  const value = typeof raw === "string" ? raw.trim() : raw
  const found = choices.find((c) => c === value)
  return found !== undefined ? Either.right(found) : Either.left(`must be one of ${choices.join(", ")}; got ${show(raw)}`)
}

/** `on` or `off`, as true or false. */
export const onOff = (raw: unknown): Parsed<boolean> => Either.map(oneOf("on", "off")(raw), (v) => v === "on")

export const text = (raw: unknown): Parsed<string> =>
  typeof raw === "string" && raw.trim() !== ""
    ? Either.right(raw.trim())
    : typeof raw === "number"
    ? Either.right(String(raw))
    : Either.left(`must be a non-empty text; got ${show(raw)}`)

export const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) => (raw: unknown): Parsed<number> => {
  const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN
  return Number.isInteger(n) && n >= min && n <= max
    ? Either.right(n)
    : Either.left(`must be a whole number from ${min} to ${max}; got ${show(raw)}`)
}

export const boolean = (raw: unknown): Parsed<boolean> => {
  if (typeof raw === "boolean") return Either.right(raw)
  const s = typeof raw === "string" ? raw.trim().toLowerCase() : ""
  if (["true", "1", "yes", "on"].includes(s)) return Either.right(true)
  if (["false", "0", "no", "off"].includes(s)) return Either.right(false)
  return Either.left(`must be true or false; got ${show(raw)}`)
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** `200ms`, `5s`, `1m30s`, `2h`; a bare number is milliseconds (as the `OTEL_*_TIMEOUT` variables are). */
export const duration = (raw: unknown): Parsed<Duration.Duration> => {
  if (typeof raw === "number" && Number.isFinite(raw) && raw >= 0) return Either.right(Duration.millis(raw))
  const s = typeof raw === "string" ? raw.trim() : ""
  if (/^\d+$/.test(s)) return Either.right(Duration.millis(Number(s)))
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(s) ? s.match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g) : null
  if (parts === null) return Either.left(`must be a duration such as 500ms, 10s, 1m30s or 2h; got ${show(raw)}`)
  let ms = 0
  for (const p of parts) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(p)
    if (m?.[1] !== undefined && m[2] !== undefined) ms += Number(m[1]) * (UNIT_MS[m[2]] ?? 0)
  }
  return Either.right(Duration.millis(ms))
}

export const url = (raw: unknown): Parsed<string> => {
  const s = typeof raw === "string" ? raw.trim() : ""
  try {
    const u = new URL(s)
    if (u.protocol !== "http:" && u.protocol !== "https:") return Either.left(`must be an http:// or https:// URL; got ${show(raw)}`)
    return Either.right(s)
  } catch {
    return Either.left(`must be an http:// or https:// URL; got ${show(raw)}`)
  }
}

/**
 * `key=value,key2=value2`, percent-decoded, the format of `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`.
 * A YAML mapping is accepted as well.
 */
export const keyValues = (raw: unknown): Parsed<Readonly<Record<string, string>>> => {
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") return Either.left(`value of ${k} must be a text`)
      out[k] = String(v)
    }
    return Either.right(out)
  }
  if (typeof raw !== "string") return Either.left(`must be key=value pairs separated by commas; got ${show(raw)}`)
  const out: Record<string, string> = {}
  for (const pair of raw.split(",")) {
    if (pair.trim() === "") continue
    const eq = pair.indexOf("=")
    if (eq <= 0) return Either.left(`must be key=value pairs separated by commas; ${JSON.stringify(pair.trim())} has no key=value`)
    try {
      out[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim())
    } catch {
      return Either.left(`${JSON.stringify(pair.trim())} is not valid percent-encoding`)
    }
  }
  return Either.right(out)
}

export const list = (raw: unknown): Parsed<ReadonlyArray<string>> => {
  if (Array.isArray(raw)) return Either.right(raw.map(String).map((s) => s.trim()).filter((s) => s !== ""))
  if (typeof raw === "string") return Either.right(raw.split(",").map((s) => s.trim()).filter((s) => s !== ""))
  return Either.left(`must be a comma-separated list; got ${show(raw)}`)
}

/**
 * Values written as text by a user (flags, environment, the YAML file) and back: each parser returns the value or
 * a sentence saying what was expected.
 */
import { Duration, Either } from "effect"
import { isNamespaceName, NAMESPACE_RULE, type NamespacedName, parseNamespacedName } from "./kubeNames.ts"

export type Parsed<A> = Either.Either<A, string>

/** A value as it is quoted in a message: a string in JSON quotes, anything else as its text. */
export const show = (raw: unknown): string => (typeof raw === "string" ? JSON.stringify(raw) : String(raw))

export const oneOf =
  <const L extends string>(...choices: ReadonlyArray<L>) =>
  (raw: unknown): Parsed<L> => {
    const value = typeof raw === "string" ? raw.trim() : raw
    const found = choices.find((c) => c === value)
    return found !== undefined
      ? Either.right(found)
      : Either.left(`must be one of ${choices.join(", ")}; got ${show(raw)}`)
  }

/**
 * `on` or `off`, as true or false. A YAML 1.1 reader (Helm's, kustomize's) turns a bare `on` into true, so a
 * boolean is taken too.
 */
export const onOff = (raw: unknown): Parsed<boolean> =>
  typeof raw === "boolean" ? Either.right(raw) : Either.map(oneOf("on", "off")(raw), (v) => v === "on")

export const text = (raw: unknown): Parsed<string> =>
  typeof raw === "string" && raw.trim() !== ""
    ? Either.right(raw.trim())
    : typeof raw === "number"
      ? Either.right(String(raw))
      : Either.left(`must be a non-empty text; got ${show(raw)}`)

export const wholeNumber =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (raw: unknown): Parsed<number> => {
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

/** A duration as a user writes it, the inverse of `duration`: `60s` is `1m`, `90s` is `1m30s`, `0` is `0s`. */
export const durationText = (d: Duration.Duration): string => {
  let ms = Duration.toMillis(d)
  if (!Number.isFinite(ms)) return "never"
  if (ms === 0) return "0s"
  let out = ""
  for (const [unit, size] of Object.entries(UNIT_MS).sort(([, a], [, b]) => b - a)) {
    const n = unit === "ms" ? ms : Math.floor(ms / size)
    if (n > 0) out += `${n}${unit}`
    ms -= n * size
  }
  return out
}

/**
 * `key=value,key2=value2`, percent-decoded, the format of `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`.
 * A YAML mapping is accepted as well.
 */
export const keyValues = (raw: unknown): Parsed<Readonly<Record<string, string>>> => {
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
        return Either.left(`value of ${k} must be a text`)
      }
      out[k] = String(v)
    }
    return Either.right(out)
  }
  if (typeof raw !== "string") return Either.left(`must be key=value pairs separated by commas; got ${show(raw)}`)
  const out: Record<string, string> = {}
  for (const pair of raw.split(",")) {
    if (pair.trim() === "") continue
    const eq = pair.indexOf("=")
    if (eq <= 0) {
      return Either.left(`must be key=value pairs separated by commas; ${JSON.stringify(pair.trim())} has no key=value`)
    }
    try {
      out[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim())
    } catch {
      return Either.left(`${JSON.stringify(pair.trim())} is not valid percent-encoding`)
    }
  }
  return Either.right(out)
}

export const list = (raw: unknown): Parsed<ReadonlyArray<string>> => {
  if (Array.isArray(raw))
    return Either.right(
      raw
        .map(String)
        .map((s) => s.trim())
        .filter((s) => s !== "")
    )
  if (typeof raw === "string")
    return Either.right(
      raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
    )
  return Either.left(`must be a comma-separated list; got ${show(raw)}`)
}

/**
 * Namespaces to watch: each a valid namespace name, each once. An empty list is a mistake (a variable that
 * expanded to nothing), not "all namespaces": that is what leaving the option out means.
 */
export const namespaces = (raw: unknown): Parsed<ReadonlyArray<string>> =>
  Either.flatMap(list(raw), (names) => {
    if (names.length === 0) return Either.left(`names no namespace; leave the option out to watch all of them`)
    const invalid = names.filter((n) => !isNamespaceName(n))
    return invalid.length > 0
      ? Either.left(`not valid namespace names (${NAMESPACE_RULE}): ${invalid.map(show).join(", ")}`)
      : Either.right([...new Set(names)])
  })

/** `NAMESPACE/NAME` of an object of `kind`. */
export const namespacedName =
  (kind: string) =>
  (raw: unknown): Parsed<NamespacedName> =>
    Either.flatMap(text(raw), (t) =>
      Either.mapLeft(
        parseNamespacedName(t, kind),
        (why) => `must be NAMESPACE/NAME of a ${kind}; ${JSON.stringify(t)} ${why}`
      )
    )

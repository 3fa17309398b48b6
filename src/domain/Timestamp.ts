import { ParseResult, Schema } from "effect"

/**
 * A point in time with the nanosecond precision OTLP carries. Kubernetes sends RFC 3339 strings, with
 * microseconds for `MicroTime` fields (`eventTime`, `series.lastObservedTime`), which a JS `Date` would truncate.
 */
export interface Timestamp {
  readonly seconds: number
  readonly nanos: number
  /** The text as the API server sent it, kept for attributes such as `k8s.event.start_time`. */
  readonly iso: string
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$/

/** Parses an RFC 3339 timestamp; `undefined` when the text is not one. */
export const parseTimestamp = (text: string): Timestamp | undefined => {
  const m = RFC3339.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const local = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))
  if (Number.isNaN(local)) return undefined
  let offsetMinutes = 0
  if (zone !== undefined && zone !== "Z" && zone !== "z") {
    const sign = zone.startsWith("-") ? -1 : 1
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)))
  }
  const seconds = local / 1000 - offsetMinutes * 60
  const nanos = frac === undefined ? 0 : Number(frac.padEnd(9, "0"))
  return { seconds, nanos, iso: text }
}

/** `[seconds, nanos]`, the `HrTime` the OpenTelemetry SDK uses. */
export const toHrTime = (t: Timestamp): [number, number] => [t.seconds, t.nanos]

export const compareTimestamps = (a: Timestamp, b: Timestamp): number =>
  a.seconds !== b.seconds ? a.seconds - b.seconds : a.nanos - b.nanos

/** Decodes an RFC 3339 string into a `Timestamp`; encodes back to the original text. */
export const TimestampFromString = Schema.transformOrFail(
  Schema.String,
  Schema.declare((u): u is Timestamp => typeof u === "object" && u !== null && "iso" in u, {
    identifier: "Timestamp"
  }),
  {
    strict: true,
    decode: (text, _, ast) => {
      const t = parseTimestamp(text)
      return t === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, text, `not an RFC 3339 timestamp: ${JSON.stringify(text)}`))
        : ParseResult.succeed(t)
    },
    encode: (t) => ParseResult.succeed(t.iso)
  }
)

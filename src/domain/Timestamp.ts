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

/**
 * Events of one moment share their timestamps' text (a burst, a list page, a repeat's lastTimestamp), so recent
 * parses are kept: a bounded map, emptied when full.
 */
const recent = new Map<string, Timestamp | undefined>()
const RECENT_MAX = 4096

/** Parses an RFC 3339 timestamp; `undefined` when the text is not one. */
export const parseTimestamp = (text: string): Timestamp | undefined => {
  if (recent.has(text)) return recent.get(text)
  const parsed = parseUncached(text)
  if (recent.size >= RECENT_MAX) recent.clear()
  recent.set(text, parsed)
  return parsed
}

const parseUncached = (text: string): Timestamp | undefined => {
  const m = RFC3339.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number
  ]
  // RFC 3339 allows a leap second (60); the fields must otherwise be in range, not rolled over into another date.
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 60) {
    return undefined
  }
  const date = new Date(0)
  // setUTCFullYear, unlike Date.UTC, does not read years 0-99 as 1900-1999.
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, 0)
  const local = date.getTime()
  let offsetMinutes = 0
  if (zone !== undefined && zone !== "Z" && zone !== "z") {
    const sign = zone.startsWith("-") ? -1 : 1
    const oh = Number(zone.slice(1, 3))
    const om = Number(zone.slice(4, 6))
    if (oh > 23 || om > 59) return undefined
    offsetMinutes = sign * (oh * 60 + om)
  }
  const seconds = local / 1000 - offsetMinutes * 60
  const nanos = frac === undefined ? 0 : Number(frac.padEnd(9, "0"))
  return { seconds, nanos, iso: text }
}

const daysIn = (year: number, month: number): number => {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0
}

const utcIso = new WeakMap<Timestamp, string>()

/** RFC 3339 in UTC with as many fractional digits as needed (none, or up to nanoseconds). */
export const toUtcIso = (t: Timestamp): string => {
  let iso = utcIso.get(t)
  if (iso === undefined) {
    iso = formatUtc(t)
    utcIso.set(t, iso)
  }
  return iso
}

const formatUtc = (t: Timestamp): string => {
  const base = new Date(t.seconds * 1000).toISOString().slice(0, 19)
  const frac = t.nanos === 0 ? "" : "." + String(t.nanos).padStart(9, "0").replace(/0+$/, "")
  return `${base}${frac}Z`
}

/** `[seconds, nanos]`, the `HrTime` the OpenTelemetry SDK uses. */
export const toHrTime = (t: Timestamp): [number, number] => [t.seconds, t.nanos]

export const compareTimestamps = (a: Timestamp, b: Timestamp): number =>
  a.seconds !== b.seconds ? a.seconds - b.seconds : a.nanos - b.nanos

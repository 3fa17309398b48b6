/**
 * One canonical Event, whichever API it came through. Absent, `null` and empty-string fields all become
 * `undefined`: the API server writes `""` for unset strings (`reportingComponent: ""`), and a record
 * attribute with an empty value helps nobody.
 */
import { Either, ParseResult, Schema } from "effect"
import { parseTimestamp, type Timestamp } from "./Timestamp.ts"
import { CoreV1Event, EventsV1Event, type ObjectReference } from "./wire.ts"
import { isRecord } from "./isRecord.ts"

export type EventApi = "core/v1" | "events.k8s.io/v1"

export interface ObjectRef {
  readonly apiVersion?: string | undefined
  readonly kind?: string | undefined
  readonly namespace?: string | undefined
  readonly name?: string | undefined
  readonly uid?: string | undefined
  readonly resourceVersion?: string | undefined
  readonly fieldPath?: string | undefined
}

export interface KubeEvent {
  readonly api: EventApi
  readonly name: string
  readonly namespace?: string | undefined
  readonly uid: string
  readonly resourceVersion: string
  readonly creationTimestamp?: Timestamp | undefined
  /** `involvedObject` (core/v1) or `regarding` (events.k8s.io/v1). */
  readonly regarding: ObjectRef
  readonly related?: ObjectRef | undefined
  readonly reason?: string | undefined
  /** `message` (core/v1) or `note` (events.k8s.io/v1). */
  readonly message?: string | undefined
  readonly type?: string | undefined
  readonly action?: string | undefined
  /** `count`/`deprecatedCount`, or `series.count` when the event is a series. */
  readonly count?: number | undefined
  readonly firstTimestamp?: Timestamp | undefined
  readonly lastTimestamp?: Timestamp | undefined
  readonly eventTime?: Timestamp | undefined
  readonly seriesLastObservedTime?: Timestamp | undefined
  readonly reportingController?: string | undefined
  readonly reportingInstance?: string | undefined
  readonly sourceComponent?: string | undefined
  readonly sourceHost?: string | undefined
}

const text = (s: string | null | undefined): string | undefined =>
  s === null || s === undefined || s === "" ? undefined : s
const opt = <A>(a: A | null | undefined): A | undefined => (a === null ? undefined : a)

const toRef = (r: ObjectReference | null | undefined): ObjectRef => ({
  apiVersion: text(r?.apiVersion),
  kind: text(r?.kind),
  namespace: text(r?.namespace),
  name: text(r?.name),
  uid: text(r?.uid),
  resourceVersion: text(r?.resourceVersion),
  fieldPath: text(r?.fieldPath)
})

/** The series count is the live one for series events; plain `count` is the older, deprecated counter. */
const countOf = (
  series: { readonly count?: number | null | undefined } | null | undefined,
  count: number | null | undefined
) => {
  const n = opt(series?.count) ?? opt(count)
  // Kubernetes counts are int32; anything else is not a count an OTLP int64 attribute can carry.
  return n !== undefined && Number.isSafeInteger(n) ? n : undefined
}

/** Parses a timestamp field; a text that is not RFC 3339 is a problem at `path`. */
const time = (text: string | null | undefined, path: string, issues: Array<string>): Timestamp | undefined => {
  if (text === null || text === undefined) return undefined
  const t = parseTimestamp(text)
  if (t === undefined) issues.push(`${path}: not an RFC 3339 timestamp: ${JSON.stringify(text)}`)
  return t
}

const fromCoreV1 = (e: CoreV1Event, issues: Array<string> = []): KubeEvent => ({
  api: "core/v1",
  name: e.metadata.name,
  namespace: text(e.metadata.namespace),
  uid: e.metadata.uid,
  resourceVersion: e.metadata.resourceVersion,
  creationTimestamp: time(e.metadata.creationTimestamp, "metadata.creationTimestamp", issues),
  regarding: toRef(e.involvedObject),
  related: e.related ? toRef(e.related) : undefined,
  reason: text(e.reason),
  message: text(e.message),
  type: text(e.type),
  action: text(e.action),
  count: countOf(e.series, e.count),
  firstTimestamp: time(e.firstTimestamp, "firstTimestamp", issues),
  lastTimestamp: time(e.lastTimestamp, "lastTimestamp", issues),
  eventTime: time(e.eventTime, "eventTime", issues),
  seriesLastObservedTime: time(e.series?.lastObservedTime, "series.lastObservedTime", issues),
  reportingController: text(e.reportingComponent),
  reportingInstance: text(e.reportingInstance),
  sourceComponent: text(e.source?.component),
  sourceHost: text(e.source?.host)
})

const fromEventsV1 = (e: EventsV1Event, issues: Array<string> = []): KubeEvent => ({
  api: "events.k8s.io/v1",
  name: e.metadata.name,
  namespace: text(e.metadata.namespace),
  uid: e.metadata.uid,
  resourceVersion: e.metadata.resourceVersion,
  creationTimestamp: time(e.metadata.creationTimestamp, "metadata.creationTimestamp", issues),
  regarding: toRef(e.regarding),
  related: e.related ? toRef(e.related) : undefined,
  reason: text(e.reason),
  message: text(e.note),
  type: text(e.type),
  action: text(e.action),
  count: countOf(e.series, e.deprecatedCount),
  firstTimestamp: time(e.deprecatedFirstTimestamp, "deprecatedFirstTimestamp", issues),
  lastTimestamp: time(e.deprecatedLastTimestamp, "deprecatedLastTimestamp", issues),
  eventTime: time(e.eventTime, "eventTime", issues),
  seriesLastObservedTime: time(e.series?.lastObservedTime, "series.lastObservedTime", issues),
  reportingController: text(e.reportingController),
  reportingInstance: text(e.reportingInstance),
  sourceComponent: text(e.deprecatedSource?.component),
  sourceHost: text(e.deprecatedSource?.host)
})

/** An object that is not a decodable Event. `name` is whatever identifies it, for the log line. */
export class EventDecodeError extends Schema.TaggedError<EventDecodeError>()("EventDecodeError", {
  name: Schema.String,
  issues: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `event ${this.name} could not be decoded: ${this.issues.join("; ")}`
  }
}

const decodeCoreV1 = Schema.decodeUnknownEither(CoreV1Event, { errors: "all" })
const decodeEventsV1 = Schema.decodeUnknownEither(EventsV1Event, { errors: "all" })

/** Which API an object is in: its own `apiVersion`, else the API it was read from, else its field names. */
export const apiOf = (u: unknown, readFrom?: EventApi): EventApi => {
  if (isRecord(u)) {
    if (u["apiVersion"] === "events.k8s.io/v1" || u["apiVersion"] === "events.k8s.io/v1beta1") return "events.k8s.io/v1"
    if (u["apiVersion"] === "v1") return "core/v1"
    if (readFrom !== undefined) return readFrom
    if ("regarding" in u || "note" in u || "reportingController" in u) return "events.k8s.io/v1"
  }
  return readFrom ?? "core/v1"
}

/** A name for an object that failed to decode: `namespace/name`, else its uid, else "(unnamed)". */
export const describeObject = (u: unknown): string => {
  const meta = isRecord(u) ? u["metadata"] : undefined
  if (isRecord(meta)) {
    const name = typeof meta["name"] === "string" ? meta["name"] : undefined
    const ns = typeof meta["namespace"] === "string" ? meta["namespace"] : undefined
    if (name !== undefined) return ns !== undefined ? `${ns}/${name}` : name
    if (typeof meta["uid"] === "string") return `uid ${meta["uid"]}`
  }
  return "(unnamed)"
}

/**
 * One line per problem, as `path: message`. An optional field that fails reports each alternative (`Expected
 * null`, `Expected undefined`); only the alternative that says what is wrong is kept.
 */
const formatIssues = (error: ParseResult.ParseError): ReadonlyArray<string> => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const useful = issues.filter((i) => !/^Expected (null|undefined), actual/.test(i.message))
  return (useful.length > 0 ? useful : issues).map((i) =>
    i.path.length === 0 ? i.message : `${i.path.join(".")}: ${i.message}`
  )
}

/**
 * The fast path: plain checks of the same rules as the schemas, on the objects that satisfy them (all of them,
 * in practice). It gives up (`undefined`) at the first field the schema or a timestamp might reject, and the slow
 * path then decides and words the error, so both accept exactly the same objects with the same result.
 */
const GIVE_UP = new Error("not decodable on the fast path")
const fStr = (v: unknown): string | undefined => {
  if (v === undefined || v === null) return undefined
  if (typeof v === "string") return v
  throw GIVE_UP
}
const fText = (v: unknown): string | undefined => {
  const s = fStr(v)
  return s === "" ? undefined : s
}
const fTime = (v: unknown): Timestamp | undefined => {
  if (v === undefined || v === null) return undefined
  if (typeof v !== "string") throw GIVE_UP
  const t = parseTimestamp(v)
  if (t === undefined) throw GIVE_UP
  return t
}
const fCount = (v: unknown): number | undefined => {
  if (v === undefined || v === null) return undefined
  if (typeof v === "number" && Number.isFinite(v)) return v
  throw GIVE_UP
}
const fRecord = (v: unknown): Record<string, unknown> | undefined => {
  if (v === undefined || v === null) return undefined
  if (isRecord(v)) return v
  throw GIVE_UP
}
const fRef = (r: Record<string, unknown>): ObjectRef => ({
  apiVersion: fText(r["apiVersion"]),
  kind: fText(r["kind"]),
  namespace: fText(r["namespace"]),
  name: fText(r["name"]),
  uid: fText(r["uid"]),
  resourceVersion: fText(r["resourceVersion"]),
  fieldPath: fText(r["fieldPath"])
})
const fMeta = (u: Record<string, unknown>) => {
  const m = u["metadata"]
  if (!isRecord(m)) throw GIVE_UP
  const { name, uid, resourceVersion } = m
  if (typeof name !== "string" || typeof uid !== "string" || typeof resourceVersion !== "string") throw GIVE_UP
  return {
    name,
    namespace: fText(m["namespace"]),
    uid,
    resourceVersion,
    creationTimestamp: fTime(m["creationTimestamp"])
  }
}
const fCountOf = (series: Record<string, unknown> | undefined, count: unknown) => {
  // Both are checked: the schema rejects a malformed `count` even when `series.count` is the one used.
  const fromSeries = fCount(series?.["count"])
  const plain = fCount(count)
  const n = fromSeries ?? plain
  return n !== undefined && Number.isSafeInteger(n) ? n : undefined
}

/** Where each API keeps the fields whose names differ. */
const FIELDS = {
  "core/v1": {
    regarding: "involvedObject",
    message: "message",
    count: "count",
    firstTimestamp: "firstTimestamp",
    lastTimestamp: "lastTimestamp",
    reportingController: "reportingComponent",
    source: "source"
  },
  "events.k8s.io/v1": {
    regarding: "regarding",
    message: "note",
    count: "deprecatedCount",
    firstTimestamp: "deprecatedFirstTimestamp",
    lastTimestamp: "deprecatedLastTimestamp",
    reportingController: "reportingController",
    source: "deprecatedSource"
  }
} as const satisfies Record<EventApi, Record<string, string>>

export const fastDecode = (u: Record<string, unknown>, api: EventApi): KubeEvent | undefined => {
  try {
    fStr(u["apiVersion"])
    fStr(u["kind"])
    const meta = fMeta(u)
    const related = fRecord(u["related"])
    const series = fRecord(u["series"])
    const seriesLastObservedTime = fTime(series?.["lastObservedTime"])
    const f = FIELDS[api]
    const regarding = u[f.regarding]
    // core/v1 requires involvedObject; events.k8s.io/v1 may leave regarding out.
    if (
      api === "core/v1" ? !isRecord(regarding) : regarding !== undefined && regarding !== null && !isRecord(regarding)
    )
      throw GIVE_UP
    const source = fRecord(u[f.source])
    return {
      api,
      ...meta,
      regarding: fRef(isRecord(regarding) ? regarding : {}),
      related: related === undefined ? undefined : fRef(related),
      reason: fText(u["reason"]),
      message: fText(u[f.message]),
      type: fText(u["type"]),
      action: fText(u["action"]),
      count: fCountOf(series, u[f.count]),
      firstTimestamp: fTime(u[f.firstTimestamp]),
      lastTimestamp: fTime(u[f.lastTimestamp]),
      eventTime: fTime(u["eventTime"]),
      seriesLastObservedTime,
      reportingController: fText(u[f.reportingController]),
      reportingInstance: fText(u["reportingInstance"]),
      sourceComponent: fText(source?.["component"]),
      sourceHost: fText(source?.["host"])
    }
  } catch (e) {
    if (e === GIVE_UP) return undefined
    throw e
  }
}

/** Decodes one Event object from either API. Total: every input gives an event or an `EventDecodeError`. */
export const decodeKubeEvent = (u: unknown, readFrom?: EventApi): Either.Either<KubeEvent, EventDecodeError> => {
  if (isRecord(u)) {
    const fast = fastDecode(u, apiOf(u, readFrom))
    if (fast !== undefined) return Either.right(fast)
  }
  return decodeKubeEventWithSchema(u, readFrom)
}

/** The same decoding through the schemas alone: what `decodeKubeEvent` falls back to, and words errors with. */
export const decodeKubeEventWithSchema = (
  u: unknown,
  readFrom?: EventApi
): Either.Either<KubeEvent, EventDecodeError> => {
  if (!isRecord(u)) {
    const found = u === null ? "null" : Array.isArray(u) ? "an array" : `a ${typeof u}`
    return Either.left(
      new EventDecodeError({ name: describeObject(u), issues: [`expected an Event object, found ${found}`] })
    )
  }
  const api = apiOf(u, readFrom)
  const issues: Array<string> = []
  const decoded =
    api === "core/v1"
      ? Either.map(decodeCoreV1(u), (e) => fromCoreV1(e, issues))
      : Either.map(decodeEventsV1(u), (e) => fromEventsV1(e, issues))
  if (Either.isLeft(decoded))
    return Either.left(new EventDecodeError({ name: describeObject(u), issues: formatIssues(decoded.left) }))
  return issues.length > 0
    ? Either.left(new EventDecodeError({ name: describeObject(u), issues }))
    : Either.right(decoded.right)
}

/** The identity of one occurrence: a repeat of an event keeps its uid and gets a new resourceVersion. */
export const occurrenceId = (e: Pick<KubeEvent, "uid" | "resourceVersion">): string => `${e.uid}:${e.resourceVersion}`

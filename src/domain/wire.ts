/**
 * The two wire shapes of a Kubernetes Event, as the API server serves them. Every field the API marks
 * optional may be absent or `null` in real data (see the fixtures), so only identity fields are required.
 * Unknown fields are ignored: newer servers add fields and that must never break decoding.
 */
import { Schema } from "effect"

const OptString = Schema.optional(Schema.NullOr(Schema.String))
/**
 * Timestamps stay text here and are parsed by `decodeKubeEvent` with the project's own RFC 3339 parser: the same
 * check, at a third of the cost of a Schema transformation per field (this is the collector's hot path).
 */
const OptTime = OptString
const OptCount = Schema.optional(Schema.NullOr(Schema.Number.pipe(Schema.finite())))

export const ObjectReference = Schema.Struct({
  apiVersion: OptString,
  kind: OptString,
  namespace: OptString,
  name: OptString,
  uid: OptString,
  resourceVersion: OptString,
  fieldPath: OptString
})
export type ObjectReference = typeof ObjectReference.Type

const EventMeta = Schema.Struct({
  name: Schema.String,
  namespace: OptString,
  uid: Schema.String,
  resourceVersion: Schema.String,
  creationTimestamp: OptTime
})

const EventSeries = Schema.Struct({
  count: OptCount,
  lastObservedTime: OptTime
})

const EventSource = Schema.Struct({
  component: OptString,
  host: OptString
})

/** `v1` Event (the `core/v1` API, what `kubectl get events` shows). */
export const CoreV1Event = Schema.Struct({
  apiVersion: OptString,
  kind: OptString,
  metadata: EventMeta,
  involvedObject: ObjectReference,
  related: Schema.optional(Schema.NullOr(ObjectReference)),
  reason: OptString,
  message: OptString,
  type: OptString,
  action: OptString,
  count: OptCount,
  firstTimestamp: OptTime,
  lastTimestamp: OptTime,
  eventTime: OptTime,
  series: Schema.optional(Schema.NullOr(EventSeries)),
  source: Schema.optional(Schema.NullOr(EventSource)),
  reportingComponent: OptString,
  reportingInstance: OptString
})
export type CoreV1Event = typeof CoreV1Event.Type

/** `events.k8s.io/v1` Event: the same object under newer field names. */
export const EventsV1Event = Schema.Struct({
  apiVersion: OptString,
  kind: OptString,
  metadata: EventMeta,
  regarding: Schema.optional(Schema.NullOr(ObjectReference)),
  related: Schema.optional(Schema.NullOr(ObjectReference)),
  reason: OptString,
  note: OptString,
  type: OptString,
  action: OptString,
  eventTime: OptTime,
  series: Schema.optional(Schema.NullOr(EventSeries)),
  reportingController: OptString,
  reportingInstance: OptString,
  deprecatedSource: Schema.optional(Schema.NullOr(EventSource)),
  deprecatedFirstTimestamp: OptTime,
  deprecatedLastTimestamp: OptTime,
  deprecatedCount: OptCount
})
export type EventsV1Event = typeof EventsV1Event.Type

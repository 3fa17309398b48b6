import type { Types } from "effect"
import type { HrTime } from "@opentelemetry/api"
import type { LogAttributes } from "@opentelemetry/api-logs"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { EVENT_NAME, RecordAttr as A, SCOPE_NAME } from "../domain/attributes.ts"
import { type KubeEvent, occurrenceId } from "../domain/KubeEvent.ts"
import { toHrTime, toUtcIso } from "../domain/Timestamp.ts"
import { COLLECTOR_VERSION } from "../domain/version.ts"
import { type ResourceAttributes, type ResourceCache } from "./resource.ts"
import { severityOfType, type Severity } from "../domain/defaultSeverity.ts"
import { occurrenceTime, startTime } from "../domain/eventTimes.ts"

export interface TranslateContext {
  readonly resources: ResourceCache
  /** When the collector saw the event: the record's ObservedTimestamp. */
  readonly observedAt: HrTime
}

/** What the pipeline's stages decided about a record beyond the event itself. */
export interface RecordParts {
  readonly resource?: ResourceAttributes
  /** A severity rule's verdict, replacing the one derived from the event's type. */
  readonly severity?: Severity
  readonly attributes?: LogAttributes
  /** Replaces the event's message as the body (a summary record says what it sums up). */
  readonly body?: string
}

/** One scope object for every record (the encoder groups by scope identity too): the collector and its version. */
export const INSTRUMENTATION_SCOPE = { name: SCOPE_NAME, version: COLLECTOR_VERSION }

/**
 * Translates one event occurrence into a log record. Pure and total: no field of a decoded event can make it
 * throw, and the same input gives the same record (the resource cache only interns equal objects).
 */
export const toLogRecord = (e: KubeEvent, ctx: TranslateContext, parts: RecordParts = {}): ReadableLogRecord => {
  const attributes: Record<string, string | number> = {}
  if (e.reason !== undefined) attributes[A.reason] = e.reason
  if (e.action !== undefined) attributes[A.action] = e.action
  attributes[A.name] = e.name
  attributes[A.uid] = e.uid
  if (e.count !== undefined) attributes[A.count] = e.count
  if (e.reportingController !== undefined) attributes[A.reportingController] = e.reportingController
  if (e.reportingInstance !== undefined) attributes[A.reportingInstance] = e.reportingInstance
  if (e.sourceComponent !== undefined) attributes[A.sourceComponent] = e.sourceComponent
  if (e.sourceHost !== undefined) attributes[A.sourceHost] = e.sourceHost
  const start = startTime(e)
  if (start !== undefined) attributes[A.startTime] = toUtcIso(start)
  attributes[A.recordUid] = occurrenceId(e)
  if (parts.attributes !== undefined) Object.assign(attributes, parts.attributes)
  const when = occurrenceTime(e)
  const severity = parts.severity ?? severityOfType(e.type)
  const body = parts.body ?? e.message
  const record: Types.Mutable<ReadableLogRecord> = {
    hrTime: when === undefined ? ctx.observedAt : toHrTime(when),
    hrTimeObserved: ctx.observedAt,
    resource: ctx.resources.resourceOf(e, parts.resource),
    instrumentationScope: INSTRUMENTATION_SCOPE,
    attributes,
    droppedAttributesCount: 0,
    eventName: EVENT_NAME
  }
  // Absent, not undefined: the exporter's JSON serializer writes what is present.
  if (severity.number !== undefined) record.severityNumber = severity.number
  if (severity.text !== undefined) record.severityText = severity.text
  if (body !== undefined) record.body = body
  return record
}

import type { HrTime } from "@opentelemetry/api"
import type { LogAttributes } from "@opentelemetry/api-logs"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { EVENT_NAME, RecordAttr as A, SCOPE_NAME } from "../domain/attributes.ts"
import { type KubeEvent, occurrenceId } from "../domain/KubeEvent.ts"
import { toHrTime, toUtcIso } from "../domain/Timestamp.ts"
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

/** One scope object for every record: the encoder groups by scope identity too. */
export const INSTRUMENTATION_SCOPE = { name: SCOPE_NAME }

/**
 * Translates one event occurrence into a log record. Pure and total: no field of a decoded event can make it
 * throw, and the same input gives the same record (the resource cache only interns equal objects).
 */
export const toLogRecord = (e: KubeEvent, ctx: TranslateContext, parts: RecordParts = {}): ReadableLogRecord => {
  const attributes: Record<string, string | number> = {}
  const put = (key: string, value: string | number | undefined) => {
    if (value !== undefined) attributes[key] = value
  }
  put(A.reason, e.reason)
  put(A.action, e.action)
  put(A.name, e.name)
  put(A.uid, e.uid)
  put(A.count, e.count)
  put(A.reportingController, e.reportingController)
  put(A.reportingInstance, e.reportingInstance)
  put(A.sourceComponent, e.sourceComponent)
  put(A.sourceHost, e.sourceHost)
  const start = startTime(e)
  put(A.startTime, start === undefined ? undefined : toUtcIso(start))
  put(A.recordUid, occurrenceId(e))
  const when = occurrenceTime(e)
  const severity = parts.severity ?? severityOfType(e.type)
  const record: ReadableLogRecord = {
    hrTime: when === undefined ? ctx.observedAt : toHrTime(when),
    hrTimeObserved: ctx.observedAt,
    resource: ctx.resources.resourceOf(e, parts.resource),
    instrumentationScope: INSTRUMENTATION_SCOPE,
    attributes: parts.attributes === undefined ? attributes : { ...attributes, ...parts.attributes },
    droppedAttributesCount: 0,
    eventName: EVENT_NAME,
    ...(severity.number === undefined ? {} : { severityNumber: severity.number }),
    ...(severity.text === undefined ? {} : { severityText: severity.text }),
    ...(parts.body !== undefined ? { body: parts.body } : e.message === undefined ? {} : { body: e.message })
  }
  return record
}

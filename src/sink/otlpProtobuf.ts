/**
 * The OTLP/HTTP protobuf body of a batch of log records: an `ExportLogsServiceRequest` written straight from the
 * records (opentelemetry-proto, `collector/logs/v1/logs_service.proto` and the messages it uses), the same message
 * `@opentelemetry/otlp-transformer`'s `ProtobufLogsSerializer` writes, with less work per record:
 *
 * - one pass into a buffer kept between batches, no size estimate walking every string first;
 * - each `Resource` and scope encoded once and kept with the object (the translator interns resources, so a
 *   repeat of an event about the same object costs a copy of bytes);
 * - records grouped by resource and scope through an index array, not an array per group;
 * - short strings copied by a loop, long ones and any non-ASCII by Node's UTF-8 writer, which writes a lone
 *   surrogate as U+FFFD, as `TextEncoder` in the exporter's encoder does (protobuf strings must be UTF-8).
 */
import type { HrTime } from "@opentelemetry/api"
import type { AnyValue, LogAttributes } from "@opentelemetry/api-logs"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"

/** Field tags (field number << 3 | wire type) of the messages written here, by message. */
const Tag = {
  /** ExportLogsServiceRequest.resource_logs */
  resourceLogs: 0x0a,
  /** ResourceLogs.resource, ScopeLogs.scope, Resource.attributes, KeyValue.key, KeyValueList.values */
  field1: 0x0a,
  /** ResourceLogs.scope_logs, ScopeLogs.log_records, KeyValue.value */
  field2: 0x12,
  /** ResourceLogs.schema_url, ScopeLogs.schema_url */
  schemaUrl: 0x1a,
  resourceDroppedAttributesCount: 0x10,
  scopeVersion: 0x12,
  scopeAttributes: 0x1a,
  scopeDroppedAttributesCount: 0x20,
  timeUnixNano: 0x09,
  severityNumber: 0x10,
  severityText: 0x1a,
  body: 0x2a,
  recordAttributes: 0x32,
  droppedAttributesCount: 0x38,
  flags: 0x45,
  traceId: 0x4a,
  spanId: 0x52,
  observedTimeUnixNano: 0x59,
  eventName: 0x62,
  stringValue: 0x0a,
  boolValue: 0x10,
  intValue: 0x18,
  doubleValue: 0x21,
  arrayValue: 0x2a,
  kvlistValue: 0x32,
  bytesValue: 0x3a
} as const

const TWO_32 = 0x1_0000_0000
/** int64's range: a whole number outside it is written as a double. Both bounds are exact doubles. */
const MIN_INT64 = -(2 ** 63)
const MAX_INT64_EXCLUSIVE = 2 ** 63
/** The buffer a batch is written into at first; it grows for a larger batch and is replaced when it grew past... */
const INITIAL_BYTES = 1 << 18
/** ...this size, so that one huge batch does not keep its buffer for ever. */
const KEPT_BYTES = 1 << 22
/** A string this short takes at most 127 bytes in UTF-8 (3 per UTF-16 unit): its length is one byte. */
const SHORT_STRING = 43
/** A string this short takes at most 16 383 bytes: its length is at most two bytes. */
const MEDIUM_STRING = 5461

const varintSize = (v: number): number => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x20_0000 ? 3 : v < 0x1000_0000 ? 4 : 5)

/** Protobuf's primitives over one growing buffer. */
class ProtobufWriter {
  buf: Buffer = Buffer.allocUnsafe(INITIAL_BYTES)
  pos = 0

  reset(): void {
    if (this.buf.length > KEPT_BYTES) this.buf = Buffer.allocUnsafe(INITIAL_BYTES)
    this.pos = 0
  }

  ensure(more: number): void {
    const needed = this.pos + more
    if (needed <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < needed) size *= 2
    const grown = Buffer.allocUnsafe(size)
    this.buf.copy(grown, 0, 0, this.pos)
    this.buf = grown
  }

  byte(b: number): void {
    this.ensure(1)
    this.buf[this.pos++] = b
  }

  /** A non-negative whole number below 2^32 in the fast path; any other int64 as its 64-bit two's complement. */
  varint(value: number): void {
    this.ensure(10)
    const buf = this.buf
    if (value >= 0 && value <= 0xffff_ffff) {
      let v = value >>> 0
      while (v > 0x7f) {
        buf[this.pos++] = (v & 0x7f) | 0x80
        v >>>= 7
      }
      buf[this.pos++] = v
      return
    }
    const abs = Math.abs(value)
    let low = abs >>> 0
    let high = (abs / TWO_32) >>> 0
    if (value < 0) {
      low = (~low + 1) >>> 0
      high = (~high + (low === 0 ? 1 : 0)) >>> 0
    }
    while (high > 0 || low > 0x7f) {
      buf[this.pos++] = (low & 0x7f) | 0x80
      low = ((low >>> 7) | (high << 25)) >>> 0
      high >>>= 7
    }
    buf[this.pos++] = low
  }

  fixed32(value: number): void {
    this.ensure(4)
    this.buf.writeUInt32LE(value >>> 0, this.pos)
    this.pos += 4
  }

  fixed64(low: number, high: number): void {
    this.ensure(8)
    this.buf.writeUInt32LE(low >>> 0, this.pos)
    this.buf.writeUInt32LE(high >>> 0, this.pos + 4)
    this.pos += 8
  }

  double(value: number): void {
    this.ensure(8)
    this.buf.writeDoubleLE(value, this.pos)
    this.pos += 8
  }

  /**
   * An HrTime as fixed64 nanoseconds since the epoch. `seconds * 1e9` passes 2^53 for today's times, so the
   * seconds are split at bit 16 and the two products (each exact) are added in 32-bit halves, wrapping at 2^64.
   */
  hrTime(time: HrTime): void {
    const [seconds, nanos] = time
    const fromLow16 = (seconds & 0xffff) * 1e9
    const fromHigh = ((seconds / 0x1_0000) >>> 0) * 1e9
    const low = (fromLow16 >>> 0) + (((fromHigh & 0xffff) * 0x1_0000) >>> 0) + nanos
    const carry = Math.floor(low / TWO_32)
    this.fixed64(low >>> 0, Math.floor(fromLow16 / TWO_32) + ((fromHigh / 0x1_0000) >>> 0) + carry)
  }

  bytes(value: Uint8Array): void {
    this.varint(value.length)
    this.ensure(value.length)
    this.buf.set(value, this.pos)
    this.pos += value.length
  }

  /** Bytes given as hexadecimal text (trace and span ids), length-delimited. */
  hex(text: string): void {
    const size = text.length >>> 1
    this.varint(size)
    this.ensure(size)
    this.pos += this.buf.write(text, this.pos, size, "hex")
  }

  /** A length-delimited UTF-8 string. */
  string(s: string): void {
    const n = s.length
    if (n < SHORT_STRING) {
      this.ensure(1 + 3 * n)
      const buf = this.buf
      const start = this.pos + 1
      let p = start
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) {
          p = start + buf.write(s, start, "utf8")
          break
        }
        buf[p++] = c
      }
      buf[this.pos] = p - start
      this.pos = p
    } else if (n <= MEDIUM_STRING) {
      this.ensure(2 + 3 * n)
      const at = this.begin(2)
      this.pos += this.buf.write(s, this.pos, "utf8")
      this.end(at, 2)
    } else {
      const size = Buffer.byteLength(s, "utf8")
      this.varint(size)
      this.ensure(size)
      this.pos += this.buf.write(s, this.pos, size, "utf8")
    }
  }

  /** A string field, left out when empty or absent (proto3's default), as the exporter leaves it out. */
  optionalString(tag: number, value: string | undefined): void {
    if (!value) return
    this.byte(tag)
    this.string(value)
  }

  /** A varint field, left out when 0 or absent (proto3's default). */
  optionalVarint(tag: number, value: number | undefined): void {
    if (!value) return
    this.byte(tag)
    this.varint(value)
  }

  /** A length-delimited field's tag and room for its length, which `end` writes. */
  field(tag: number, reserved: number): number {
    this.byte(tag)
    return this.begin(reserved)
  }

  /** Reserves `reserved` bytes for the length of what follows; `end` writes it there. */
  begin(reserved: number): number {
    this.ensure(reserved)
    const at = this.pos
    this.pos += reserved
    return at
  }

  /** Writes the length of what was written since `begin`, moving it when its varint is not `reserved` long. */
  end(at: number, reserved: number): void {
    const start = at + reserved
    const length = this.pos - start
    const size = varintSize(length)
    if (size !== reserved) {
      this.ensure(size - reserved)
      this.buf.copyWithin(at + size, start, this.pos)
      this.pos += size - reserved
    }
    let p = at
    let v = length
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    this.buf[p] = v
  }

  copy(bytes: Uint8Array): void {
    this.ensure(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  /** What was written since `from`, copied out of the buffer. */
  takeFrom(from: number): Uint8Array {
    return new Uint8Array(this.buf.subarray(from, this.pos))
  }
}

/** An AnyValue's fields (without its own tag and length); null and undefined give an empty AnyValue. */
const anyValue = (w: ProtobufWriter, value: AnyValue): void => {
  switch (typeof value) {
    case "string":
      w.byte(Tag.stringValue)
      w.string(value)
      return
    case "boolean":
      w.byte(Tag.boolValue)
      w.byte(value ? 1 : 0)
      return
    case "number":
      if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64_EXCLUSIVE) {
        w.byte(Tag.intValue)
        w.varint(value)
      } else {
        w.byte(Tag.doubleValue)
        w.double(value)
      }
      return
  }
  if (value instanceof Uint8Array) {
    w.byte(Tag.bytesValue)
    w.bytes(value)
  } else if (Array.isArray(value)) {
    const array = w.field(Tag.arrayValue, 1)
    for (const item of value) {
      const at = w.field(Tag.field1, 1)
      anyValue(w, item)
      w.end(at, 1)
    }
    w.end(array, 1)
  } else if (typeof value === "object" && value !== null) {
    const list = w.field(Tag.kvlistValue, 1)
    attributes(w, value, Tag.field1)
    w.end(list, 1)
  }
}

/** Each own key of `attrs` as a KeyValue under `tag`, in the object's order. */
const attributes = (w: ProtobufWriter, attrs: LogAttributes, tag: number): void => {
  for (const key in attrs) {
    if (!Object.hasOwn(attrs, key)) continue
    const kv = w.field(tag, 1)
    w.byte(Tag.field1)
    w.string(key)
    const value = w.field(Tag.field2, 1)
    anyValue(w, attrs[key])
    w.end(value, 1)
    w.end(kv, 1)
  }
}

type Resource = ReadableLogRecord["resource"]
type Scope = ReadableLogRecord["instrumentationScope"]

/** `ResourceLogs.resource` with its tag, as bytes. */
const resourceField = (w: ProtobufWriter, resource: Resource): void => {
  const at = w.field(Tag.field1, 2)
  attributes(w, resource.attributes, Tag.field1)
  w.byte(Tag.resourceDroppedAttributesCount)
  w.byte(0)
  w.end(at, 2)
}

/** `ScopeLogs.scope` with its tag, as bytes. */
const scopeField = (w: ProtobufWriter, scope: Scope): void => {
  const at = w.field(Tag.field1, 1)
  w.byte(Tag.field1)
  w.string(scope.name)
  w.optionalString(Tag.scopeVersion, scope.version)
  if (scope.attributes) attributes(w, scope.attributes, Tag.scopeAttributes)
  w.optionalVarint(Tag.scopeDroppedAttributesCount, scope.droppedAttributesCount)
  w.end(at, 1)
}

const logRecord = (w: ProtobufWriter, r: ReadableLogRecord): void => {
  const at = w.field(Tag.field2, 2)
  w.byte(Tag.timeUnixNano)
  w.hrTime(r.hrTime)
  w.optionalVarint(Tag.severityNumber, r.severityNumber)
  w.optionalString(Tag.severityText, r.severityText)
  if (r.body !== undefined) {
    const body = w.field(Tag.body, 1)
    anyValue(w, r.body)
    w.end(body, 1)
  }
  attributes(w, r.attributes, Tag.recordAttributes)
  w.byte(Tag.droppedAttributesCount)
  w.varint(r.droppedAttributesCount)
  const span = r.spanContext
  if (span?.traceFlags) {
    w.byte(Tag.flags)
    w.fixed32(span.traceFlags)
  }
  if (span?.traceId) {
    w.byte(Tag.traceId)
    w.hex(span.traceId)
  }
  if (span?.spanId) {
    w.byte(Tag.spanId)
    w.hex(span.spanId)
  }
  w.byte(Tag.observedTimeUnixNano)
  w.hrTime(r.hrTimeObserved)
  w.optionalString(Tag.eventName, r.eventName)
  w.end(at, 2)
}

/**
 * The records of one resource and scope, as a chain through the batch: `first` and `last` index the batch, and
 * `next[i]` is the record after record i in the same group (-1 at the end).
 */
interface Group {
  readonly scope: Scope
  readonly first: number
  last: number
}

/** Groups by resource, then scope, each in the order it first appears, as the exporter's encoder does. */
const groupRecords = (records: ReadonlyArray<ReadableLogRecord>, next: Int32Array) => {
  const byResource = new Map<Resource, Map<Scope, Group>>()
  for (let i = 0; i < records.length; i++) {
    const r = records[i]
    if (r === undefined) continue
    next[i] = -1
    let scopes = byResource.get(r.resource)
    if (scopes === undefined) {
      scopes = new Map()
      byResource.set(r.resource, scopes)
    }
    const group = scopes.get(r.instrumentationScope)
    if (group === undefined) scopes.set(r.instrumentationScope, { scope: r.instrumentationScope, first: i, last: i })
    else {
      next[group.last] = i
      group.last = i
    }
  }
  return byResource
}

/**
 * Keeps the encoded bytes of objects that are shared between records (resources, scopes) for as long as the
 * objects live. Resources are immutable once made, scopes are constants.
 */
class Encoded<K extends object> {
  readonly #bytes = new WeakMap<K, Uint8Array>()
  readonly #encode: (w: ProtobufWriter, key: K) => void

  constructor(encode: (w: ProtobufWriter, key: K) => void) {
    this.#encode = encode
  }

  write(w: ProtobufWriter, key: K): void {
    const cached = this.#bytes.get(key)
    if (cached !== undefined) return w.copy(cached)
    const from = w.pos
    this.#encode(w, key)
    this.#bytes.set(key, w.takeFrom(from))
  }
}

const writer = new ProtobufWriter()
const resources = new Encoded<Resource>(resourceField)
const scopes = new Encoded<Scope>(scopeField)
let chain = new Int32Array(1024)

/** The `ExportLogsServiceRequest` of `records`, as protobuf bytes the caller owns. */
export const encodeLogsRequest = (records: ReadonlyArray<ReadableLogRecord>): Uint8Array => {
  if (chain.length < records.length) chain = new Int32Array(Math.max(records.length, chain.length * 2))
  const next = chain
  const w = writer
  w.reset()
  for (const [resource, byScope] of groupRecords(records, next)) {
    const resourceLogs = w.field(Tag.resourceLogs, 3)
    resources.write(w, resource)
    for (const group of byScope.values()) {
      const scopeLogs = w.field(Tag.field2, 3)
      scopes.write(w, group.scope)
      for (let i = group.first; i !== -1; i = next[i] ?? -1) {
        const record = records[i]
        if (record !== undefined) logRecord(w, record)
      }
      w.optionalString(Tag.schemaUrl, group.scope.schemaUrl)
      w.end(scopeLogs, 3)
    }
    w.optionalString(Tag.schemaUrl, resource.schemaUrl)
    w.end(resourceLogs, 3)
  }
  return w.takeFrom(0)
}

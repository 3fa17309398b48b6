/**
 * Just enough protobuf to count the log records of an OTLP ExportLogsServiceRequest without decoding them:
 * request.resource_logs (1) → ResourceLogs.scope_logs (2) → ScopeLogs.log_records (2). Optionally it reads each
 * record's time_unix_nano (field 1, fixed64), its `log.record.uid` attribute (field 6, KeyValue), and the event
 * occurrence it reports: the `k8s.event.uid` and `k8s.event.count` attributes, which ours and the peer both write.
 */

export interface WalkOptions {
  /** Collect each record's time_unix_nano, in milliseconds. */
  readonly times?: boolean
  /** Collect each record's `log.record.uid` attribute. */
  readonly uids?: boolean
  /** Count the records whose resource names an owner workload (`k8s.deployment.name` or `k8s.cronjob.name`). */
  readonly owners?: boolean
  /** Collect each record's occurrence: `k8s.event.uid` and `k8s.event.count` (0 when absent). */
  readonly occurrences?: boolean
}

export interface WalkResult {
  records: number
  /** With `owners`: the records whose resource names a Deployment or a CronJob. */
  withOwner: number
  readonly timesMs: Array<number>
  readonly uids: Array<string>
  readonly occurrences: Array<Occurrence>
}

/** The event occurrence a record reports. */
interface Occurrence {
  readonly eventUid: string
  readonly count: number
}

const RECORD_UID = Buffer.from("log.record.uid")
const EVENT_UID = Buffer.from("k8s.event.uid")
const EVENT_COUNT = Buffer.from("k8s.event.count")
const OWNER_KEYS = [Buffer.from("k8s.deployment.name"), Buffer.from("k8s.cronjob.name")]

/** Whether the Resource message in [start, end) has an attribute with one of the owner keys. */
const namesOwner = (b: Uint8Array, start: number, end: number): boolean => {
  let found = false
  eachMessageField(b, start, end, 1, (kvStart, kvEnd) =>
    eachMessageField(b, kvStart, kvEnd, 1, (s, e) => {
      if (OWNER_KEYS.some((k) => equalBytes(b, s, e, k))) found = true
    })
  )
  return found
}

const readVarint = (b: Uint8Array, pos: number): [value: number, next: number] => {
  let value = 0
  let shift = 1
  for (;;) {
    const byte = b[pos++]
    if (byte === undefined) throw new Error("truncated varint")
    value += (byte & 0x7f) * shift
    if (byte < 0x80) return [value, pos]
    shift *= 128
  }
}

/** Position after the field's value, for a field of this wire type starting at `pos`. */
const skip = (b: Uint8Array, pos: number, wireType: number): number => {
  switch (wireType) {
    case 0:
      return readVarint(b, pos)[1]
    case 1:
      return pos + 8
    case 2: {
      const [len, next] = readVarint(b, pos)
      return next + len
    }
    case 5:
      return pos + 4
    default:
      throw new Error(`unsupported wire type ${wireType}`)
  }
}

/** Calls `onField(field, start, end)` for every length-delimited field in [pos, end). */
const eachMessageField = (
  b: Uint8Array,
  pos: number,
  end: number,
  want: number,
  onField: (start: number, end: number) => void
) => {
  while (pos < end) {
    const [tag, next] = readVarint(b, pos)
    const field = Math.floor(tag / 8)
    const wireType = tag & 7
    if (wireType === 2 && field === want) {
      const [len, start] = readVarint(b, next)
      onField(start, start + len)
      pos = start + len
    } else pos = skip(b, next, wireType)
  }
}

const equalBytes = (b: Uint8Array, start: number, end: number, expected: Uint8Array): boolean => {
  if (end - start !== expected.length) return false
  for (let i = 0; i < expected.length; i++) if (b[start + i] !== expected[i]) return false
  return true
}

const text = (b: Uint8Array, [s, e]: readonly [number, number]) =>
  Buffer.from(b.buffer, b.byteOffset + s, e - s).toString("utf8")

/** The string (AnyValue field 1) or int (field 3) of an AnyValue in [start, end). */
const anyValue = (b: Uint8Array, start: number, end: number): string | number | undefined => {
  let pos = start
  let out: string | number | undefined
  while (pos < end) {
    const [tag, next] = readVarint(b, pos)
    const field = Math.floor(tag / 8)
    const wireType = tag & 7
    if (field === 1 && wireType === 2) {
      const [len, s] = readVarint(b, next)
      out = text(b, [s, s + len])
      pos = s + len
    } else if (field === 3 && wireType === 0) {
      ;[out, pos] = readVarint(b, next)
    } else pos = skip(b, next, wireType)
  }
  return out
}

const readRecord = (b: Uint8Array, start: number, end: number, options: WalkOptions, out: WalkResult) => {
  let pos = start
  let eventUid: string | undefined
  let count = 0
  while (pos < end) {
    const [tag, next] = readVarint(b, pos)
    const field = Math.floor(tag / 8)
    const wireType = tag & 7
    if (field === 1 && wireType === 1 && options.times === true) {
      const view = new DataView(b.buffer, b.byteOffset + next, 8)
      const nanos = view.getUint32(4, true) * 4294967296 + view.getUint32(0, true)
      out.timesMs.push(nanos / 1e6)
      pos = next + 8
    } else if (field === 6 && wireType === 2 && (options.uids === true || options.occurrences === true)) {
      const [len, kvStart] = readVarint(b, next)
      const kvEnd = kvStart + len
      let key: [number, number] | undefined
      let value: [number, number] | undefined
      eachMessageField(b, kvStart, kvEnd, 1, (s, e) => (key = [s, e]))
      eachMessageField(b, kvStart, kvEnd, 2, (s, e) => (value = [s, e]))
      if (key !== undefined && value !== undefined) {
        const v = anyValue(b, value[0], value[1])
        if (options.uids === true && equalBytes(b, key[0], key[1], RECORD_UID) && typeof v === "string")
          out.uids.push(v)
        if (equalBytes(b, key[0], key[1], EVENT_UID) && typeof v === "string") eventUid = v
        if (equalBytes(b, key[0], key[1], EVENT_COUNT) && typeof v === "number") count = v
      }
      pos = kvEnd
    } else pos = skip(b, next, wireType)
  }
  if (options.occurrences === true && eventUid !== undefined) out.occurrences.push({ eventUid, count })
}

/** Counts (and optionally reads) the log records of one ExportLogsServiceRequest body. */
export const walkLogsRequest = (b: Uint8Array, options: WalkOptions = {}): WalkResult => {
  const out: WalkResult = { records: 0, withOwner: 0, timesMs: [], uids: [], occurrences: [] }
  const detail = options.times === true || options.uids === true || options.occurrences === true
  eachMessageField(b, 0, b.length, 1, (rlStart, rlEnd) => {
    let owner = false
    if (options.owners === true) eachMessageField(b, rlStart, rlEnd, 1, (s, e) => (owner = namesOwner(b, s, e)))
    eachMessageField(b, rlStart, rlEnd, 2, (slStart, slEnd) =>
      eachMessageField(b, slStart, slEnd, 2, (lrStart, lrEnd) => {
        out.records++
        if (owner) out.withOwner++
        if (detail) readRecord(b, lrStart, lrEnd, options, out)
      })
    )
  })
  return out
}

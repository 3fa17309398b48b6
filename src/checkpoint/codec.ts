/**
 * The checkpoint's binary form. A ConfigMap holds at most 1 MiB (base64 of binary data included), and JSON of
 * 10 000 occurrences with 36-character uids is about 700 KB before base64, so the window is stored compactly:
 *
 *   "KECP" (4 bytes) · format version (1 byte) · gzip(payload)
 *
 * payload, version 1 (numbers are LEB128 varints; "signed" ones zigzag-encoded first):
 *   savedAtMs (signed)
 *   stream count, then per stream: key, resourceVersion (each a length-prefixed UTF-8 string)
 *   occurrence count n, then the occurrences sorted by time, column by column so that gzip sees alike bytes together:
 *     times:  first time (signed), then n-1 differences to the previous one (>= 0)
 *     counts: n signed numbers
 *     kinds:  n bytes, 0 = uid is a canonical lowercase UUID, 1 = uid is text
 *     uuids:  16 bytes per UUID uid, in order
 *     texts:  one length-prefixed UTF-8 string per text uid, in order
 *
 * Random UUIDs do not compress: 10 000 occurrences take about 160 KB (214 KB as base64 in a ConfigMap);
 * 100 000 take 1.6 MB (2.1 MB as base64), more than a ConfigMap holds, which is why the collector caps the window.
 * Times and counts are stored as whole numbers (fractions are dropped, values clamped to ±2^51).
 */
import { gunzipSync, gzipSync } from "node:zlib"
import { Either, ParseResult, Schema } from "effect"
import type { CheckpointState, ExportedOccurrence } from "./CheckpointState.ts"

const MAGIC = [0x4b, 0x45, 0x43, 0x50] // "KECP": k8s-event-collector checkpoint
const FORMAT_VERSION = 1
const HEADER_LENGTH = MAGIC.length + 1
/** Refuse to inflate more than this: no real checkpoint comes near it, a hostile one might. */
const MAX_PAYLOAD = 64 * 1024 * 1024
const LIMIT = 2 ** 51
const KIND_UUID = 0
const KIND_TEXT = 1
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const whole = (n: number): number => (Number.isFinite(n) ? Math.max(-LIMIT, Math.min(LIMIT, Math.trunc(n))) : 0)
const zigzag = (n: number): number => (n >= 0 ? n * 2 : -n * 2 - 1)
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2)

class CheckpointWriter {
  #buf = new Uint8Array(1024)
  #len = 0

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n))
    next.set(this.#buf.subarray(0, this.#len))
    this.#buf = next
  }

  byte(b: number): void {
    this.#room(1)
    this.#buf[this.#len++] = b
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length)
    this.#buf.set(b, this.#len)
    this.#len += b.length
  }

  /** Unsigned integer up to 2^53 (division, not bit operations, which stop at 32 bits). */
  varint(n: number): void {
    let v = n
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80)
      v = Math.floor(v / 0x80)
    }
    this.byte(v)
  }

  signed(n: number): void {
    this.varint(zigzag(n))
  }

  string(s: string): void {
    const b = Buffer.from(s, "utf8")
    this.varint(b.length)
    this.bytes(b)
  }

  done(): Uint8Array {
    return this.#buf.subarray(0, this.#len)
  }
}

/** Thrown only inside `parse`, which turns it into a Left. */
class Malformed {
  readonly message: string
  constructor(message: string) {
    this.message = message
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

class CheckpointReader {
  readonly #buf: Uint8Array
  #pos = 0

  constructor(buf: Uint8Array) {
    this.#buf = buf
  }

  get remaining(): number {
    return this.#buf.length - this.#pos
  }

  #need(n: number, what: string): void {
    if (n > this.remaining)
      throw new Malformed(`truncated: ${what} needs ${n} bytes at offset ${this.#pos}, ${this.remaining} left`)
  }

  byte(what: string): number {
    this.#need(1, what)
    return this.#buf[this.#pos++] ?? 0
  }

  bytes(n: number, what: string): Uint8Array {
    this.#need(n, what)
    const b = this.#buf.subarray(this.#pos, this.#pos + n)
    this.#pos += n
    return b
  }

  varint(what: string): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      const b = this.byte(what)
      value += (b & 0x7f) * scale
      if (b < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) break
        return value
      }
      scale *= 0x80
    }
    throw new Malformed(`${what} is not a valid number (offset ${this.#pos})`)
  }

  signed(what: string): number {
    return unzigzag(this.varint(what))
  }

  /** A count of items that each take at least `minBytes`: bounded by what is left, so garbage cannot allocate much. */
  count(what: string, minBytes: number): number {
    const n = this.varint(what)
    if (n * minBytes > this.remaining)
      throw new Malformed(`${what} says ${n}, more than the ${this.remaining} bytes left can hold`)
    return n
  }

  string(what: string): string {
    const n = this.varint(`length of ${what}`)
    const b = this.bytes(n, what)
    try {
      return utf8.decode(b)
    } catch {
      throw new Malformed(`${what} is not valid UTF-8`)
    }
  }
}

const uuidToBytes = (uid: string): Uint8Array => Buffer.from(uid.replace(/-/g, ""), "hex")

const bytesToUuid = (b: Uint8Array): string => {
  const h = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

const encodePayload = (state: CheckpointState): Uint8Array => {
  const w = new CheckpointWriter()
  w.signed(whole(state.savedAtMs))
  const streams = Object.entries(state.streams)
  w.varint(streams.length)
  for (const [key, rv] of streams) {
    w.string(key)
    w.string(rv)
  }
  const occurrences = state.occurrences
    .map((o) => ({ uid: o.uid, count: whole(o.count), timeMs: whole(o.timeMs) }))
    .sort((a, b) => a.timeMs - b.timeMs)
  w.varint(occurrences.length)
  let previous = 0
  occurrences.forEach((o, i) => {
    if (i === 0) w.signed(o.timeMs)
    else w.varint(o.timeMs - previous)
    previous = o.timeMs
  })
  for (const o of occurrences) w.signed(o.count)
  const kinds = occurrences.map((o) => (UUID.test(o.uid) ? KIND_UUID : KIND_TEXT))
  for (const k of kinds) w.byte(k)
  occurrences.forEach((o, i) => {
    if (kinds[i] === KIND_UUID) w.bytes(uuidToBytes(o.uid))
  })
  occurrences.forEach((o, i) => {
    if (kinds[i] === KIND_TEXT) w.string(o.uid)
  })
  return w.done()
}

const decodePayload = (payload: Uint8Array): CheckpointState => {
  const r = new CheckpointReader(payload)
  const savedAtMs = r.signed("savedAtMs")
  const streamCount = r.count("the stream count", 2)
  const streams: Record<string, string> = {}
  for (let i = 0; i < streamCount; i++) {
    const key = r.string(`stream ${i + 1}'s key`)
    streams[key] = r.string(`stream ${i + 1}'s resourceVersion`)
  }
  // Each occurrence takes at least 4 bytes: a time, a count, a kind and a uid of one length byte.
  const n = r.count("the occurrence count", 4)
  const times = new Array<number>(n)
  let time = 0
  for (let i = 0; i < n; i++) {
    time = i === 0 ? r.signed("the first occurrence time") : time + r.varint(`occurrence ${i + 1}'s time`)
    times[i] = time
  }
  const counts = new Array<number>(n)
  for (let i = 0; i < n; i++) counts[i] = r.signed(`occurrence ${i + 1}'s count`)
  const kinds = r.bytes(n, "the uid kinds")
  const uids = new Array<string>(n)
  for (let i = 0; i < n; i++) {
    const k = kinds[i]
    if (k === KIND_UUID) uids[i] = bytesToUuid(r.bytes(16, `occurrence ${i + 1}'s uid`))
    else if (k !== KIND_TEXT) throw new Malformed(`occurrence ${i + 1} has an unknown uid kind ${k}`)
  }
  for (let i = 0; i < n; i++) if (kinds[i] === KIND_TEXT) uids[i] = r.string(`occurrence ${i + 1}'s uid`)
  if (r.remaining !== 0) throw new Malformed(`${r.remaining} unexpected bytes after the occurrences`)
  const occurrences: Array<ExportedOccurrence> = new Array(n)
  for (let i = 0; i < n; i++) occurrences[i] = { uid: uids[i] ?? "", count: counts[i] ?? 0, timeMs: times[i] ?? 0 }
  return { streams, occurrences, savedAtMs }
}

/** The compact, versioned binary form of a checkpoint. Occurrences come out sorted by time. */
export const encodeState = (state: CheckpointState): Uint8Array => {
  const body = gzipSync(encodePayload(state), { level: 9 })
  const out = new Uint8Array(HEADER_LENGTH + body.length)
  out.set(MAGIC, 0)
  out[MAGIC.length] = FORMAT_VERSION
  out.set(body, HEADER_LENGTH)
  return out
}

const parse = (bytes: Uint8Array): Either.Either<CheckpointState, string> => {
  if (bytes.length < HEADER_LENGTH || MAGIC.some((m, i) => bytes[i] !== m)) {
    return Either.left(
      bytes.length === 0
        ? "not a checkpoint: the data is empty"
        : 'not a checkpoint: it does not start with the checkpoint signature "KECP"'
    )
  }
  const version = bytes[MAGIC.length]
  if (version !== FORMAT_VERSION) {
    return Either.left(
      `checkpoint format version ${version} is not one this collector reads (it reads version ${FORMAT_VERSION})`
    )
  }
  let payload: Uint8Array
  try {
    payload = gunzipSync(bytes.subarray(HEADER_LENGTH), { maxOutputLength: MAX_PAYLOAD })
  } catch (error) {
    return Either.left(
      `corrupt checkpoint: its compressed body does not inflate ` +
        `(${error instanceof Error ? error.message : String(error)})`
    )
  }
  try {
    return Either.right(decodePayload(payload))
  } catch (error) {
    if (error instanceof Malformed) return Either.left(`corrupt checkpoint: ${error.message}`)
    throw error
  }
}

const Occurrence = Schema.Struct({ uid: Schema.String, count: Schema.Number, timeMs: Schema.Number })

const State = Schema.Struct({
  streams: Schema.Record({ key: Schema.String, value: Schema.String }),
  occurrences: Schema.Array(Occurrence),
  savedAtMs: Schema.Number
})

/** Checkpoint bytes ⇄ CheckpointState, as a Schema: decoding fails with a sentence saying what is wrong. */
const CheckpointFromBytes = Schema.transformOrFail(Schema.Uint8ArrayFromSelf, State, {
  strict: true,
  decode: (bytes, _, ast) =>
    Either.match(parse(bytes), {
      onLeft: (message) => ParseResult.fail(new ParseResult.Type(ast, bytes, message)),
      onRight: (state) => ParseResult.succeed(state)
    }),
  encode: (state) => ParseResult.succeed(encodeState(state))
})

const decodeBytes = Schema.decodeEither(CheckpointFromBytes)

/** Reads what `encodeState` wrote; anything else is a Left saying what is wrong with it. */
export const decodeState = (bytes: Uint8Array): Either.Either<CheckpointState, string> =>
  Either.mapLeft(decodeBytes(bytes), (error) =>
    ParseResult.ArrayFormatter.formatErrorSync(error)
      .map((issue) => issue.message)
      .join("; ")
  )

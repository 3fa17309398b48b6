/**
 * floor: the least work any collector must do for the same data, with no pipeline:
 * JSON.parse of the exact bytes the server streamed on the watch (decoded and split into lines), and OTLP
 * protobuf encoding of as many records in batches of 512 with the exporter's own serializer. The records are
 * built once, before timing, by the collector's own decode and `toLogRecord` (so they are the records the
 * pipeline sends, sharing Resource objects the same way). The collector encodes with its own encoder
 * (src/sink/otlpProtobuf.ts): its time is measured beside, `encode_own_ms`, and the floor with it,
 * `floor_own_events_per_s`; the floor itself stays defined with the exporter's serializer.
 *
 * It runs in a child process of its own, so that the bench process's heap (the simulated servers it ran) is not
 * collected on the floor's clock. (Forcing a full collection between the phases was tried: V8 then shrinks the
 * young generation and flushes compiled code, and encoding measured twice as slow as in steady state.)
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { gzipSync } from "node:zlib"
import { ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { decodeKubeEvent } from "../../src/domain/KubeEvent.ts"
import { encodeLogsRequest } from "../../src/sink/otlpProtobuf.ts"
import { ResourceCache } from "../../src/translate/resource.ts"
import { toLogRecord } from "../../src/translate/toLogRecord.ts"
import { REPO } from "../lib/collector.ts"
import { median } from "../lib/stats.ts"

export interface FloorResult {
  readonly events: number
  readonly bytes: number
  readonly parse_ms: number
  readonly encode_ms: number
  /** The same records through the collector's own encoder. */
  readonly encode_own_ms: number
  readonly gzip_ms: number
  readonly floor_events_per_s: number
  /** Parse + the collector's own encoder. */
  readonly floor_own_events_per_s: number
  /** Parse + encode + gzip of each batch (what the default compression adds). */
  readonly floor_gzip_events_per_s: number
  readonly repeats: number
}

const BATCH = 512

const parseAll = (bytes: Buffer): Array<unknown> => {
  const text = bytes.toString("utf8")
  const out: Array<unknown> = []
  let start = 0
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", start)) {
    out.push(JSON.parse(text.slice(start, i)))
    start = i + 1
  }
  return out
}

type Encoder = (batch: Array<ReadableLogRecord>) => Uint8Array | undefined
const exporters: Encoder = (batch) => ProtobufLogsSerializer.serializeRequest(batch)

const encodeAll = (records: ReadonlyArray<ReadableLogRecord>, gzip: boolean, encode: Encoder = exporters): number => {
  let size = 0
  for (let i = 0; i < records.length; i += BATCH) {
    const body = encode(records.slice(i, i + BATCH))
    if (body === undefined) throw new Error("the serializer returned nothing")
    size += gzip ? gzipSync(body).length : body.length
  }
  return size
}

/** Measures the floor in a child process (see above). */
export const measureFloor = (capturePath: string, repeats: number): FloorResult => {
  const out = execFileSync(process.execPath, ["bench/scenarios/floor.ts", capturePath, String(repeats)], {
    cwd: REPO,
    encoding: "utf8",
    maxBuffer: 1 << 20
  })
  return JSON.parse(out) as FloorResult
}

const measureHere = (capturePath: string, repeats: number): FloorResult => {
  const bytes = readFileSync(capturePath)
  const events = parseAll(bytes).filter(
    (e): e is { type: string; object: unknown } =>
      typeof e === "object" && e !== null && "type" in e && e.type !== "BOOKMARK"
  )
  // Outside the timing: the records the pipeline would build from these events.
  const resources = new ResourceCache({}, 10_000)
  const now = Date.now()
  const observedAt: [number, number] = [Math.floor(now / 1000), (now % 1000) * 1e6]
  const records: Array<ReadableLogRecord> = []
  for (const e of events) {
    const decoded = decodeKubeEvent(e.object, "core/v1")
    if (decoded._tag === "Right") records.push(toLogRecord(decoded.right, { resources, observedAt }))
  }
  const parse: Array<number> = []
  const encode: Array<number> = []
  const encodeOwn: Array<number> = []
  const gzip: Array<number> = []
  // One warm-up round: the pipeline runs warm too.
  events.length = 0
  for (let r = 0; r <= repeats; r++) {
    let t = performance.now()
    const parsedCount = parseAll(bytes).length
    const parseMs = performance.now() - t
    if (parsedCount < records.length) throw new Error("parse lost lines")
    t = performance.now()
    encodeAll(records, false)
    const encodeMs = performance.now() - t
    t = performance.now()
    encodeAll(records, true)
    const gzipMs = performance.now() - t - encodeMs
    t = performance.now()
    encodeAll(records, false, encodeLogsRequest)
    const encodeOwnMs = performance.now() - t
    if (r === 0) continue
    parse.push(parseMs)
    encode.push(encodeMs)
    encodeOwn.push(encodeOwnMs)
    gzip.push(gzipMs)
  }
  const p = median(parse)
  const e = median(encode)
  const own = median(encodeOwn)
  const g = median(gzip)
  return {
    events: records.length,
    bytes: bytes.length,
    parse_ms: p,
    encode_ms: e,
    encode_own_ms: own,
    gzip_ms: g,
    floor_events_per_s: records.length / ((p + e) / 1000),
    floor_own_events_per_s: records.length / ((p + own) / 1000),
    floor_gzip_events_per_s: records.length / ((p + e + g) / 1000),
    repeats
  }
}

if (import.meta.main) {
  const [capture, repeats] = process.argv.slice(2)
  if (capture === undefined) throw new Error("usage: floor.ts CAPTURE_PATH [REPEATS]")
  process.stdout.write(`${JSON.stringify(measureHere(capture, Number(repeats ?? 3)))}\n`)
}

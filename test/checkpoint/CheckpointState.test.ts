/** The checkpoint's state: pruning, and the compact binary encoding (round trips, sizes, garbage). */
import { randomUUID } from "node:crypto"
import { gzipSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import { Either } from "effect"
import {
  type CheckpointState,
  type ExportedOccurrence,
  decodeState,
  describeState,
  emptyState,
  encodeState,
  prune
} from "../../src/checkpoint/CheckpointState.ts"
import { randomOccurrences, T0 } from "./support.ts"

const roundTrip = (s: CheckpointState): CheckpointState => Either.getOrThrow(decodeState(encodeState(s)))
const decodeError = (bytes: Uint8Array): string =>
  Either.match(decodeState(bytes), { onLeft: (e) => e, onRight: () => "decoded" })

describe("encodeState / decodeState", () => {
  it("round-trips the empty state", () => {
    expect(roundTrip(emptyState)).toEqual(emptyState)
  })

  it("round-trips UUID and non-UUID uids, counts and times, in time order", () => {
    const s: CheckpointState = {
      streams: { "core/v1/*": "123456", "events.k8s.io/v1/shop": "98" },
      occurrences: [
        { uid: "6f1c2a8e-4b7d-4c1e-9a3f-0d2e5b7c9a11", count: 1, timeMs: T0 },
        { uid: "not-a-uuid", count: 3, timeMs: T0 + 5 },
        { uid: "6F1C2A8E-4B7D-4C1E-9A3F-0D2E5B7C9A11", count: 2, timeMs: T0 + 5 },
        { uid: "", count: 0, timeMs: T0 + 10 },
        { uid: "ünïcødé/ü", count: 2_000_000_000, timeMs: T0 + 86_400_000 },
        { uid: "00000000-0000-0000-0000-000000000000", count: 7, timeMs: T0 + 86_400_001 }
      ],
      savedAtMs: T0 + 86_400_002
    }
    expect(roundTrip(s)).toEqual(s)
  })

  it("sorts occurrences by time and keeps whole milliseconds", () => {
    const s: CheckpointState = {
      streams: {},
      occurrences: [
        { uid: "b", count: 2, timeMs: T0 + 10.7 },
        { uid: "a", count: 1, timeMs: T0 }
      ],
      savedAtMs: -5
    }
    expect(roundTrip(s)).toEqual({
      streams: {},
      occurrences: [
        { uid: "a", count: 1, timeMs: T0 },
        { uid: "b", count: 2, timeMs: T0 + 10 }
      ],
      savedAtMs: -5
    })
  })

  it("round-trips many streams", () => {
    const streams: Record<string, string> = {}
    for (let i = 0; i < 2000; i++) streams[`core/v1/namespace-${i}`] = String(1_000_000_000 + i * 17)
    streams["events.k8s.io/v1/*"] = "opaque-ℝ𝕍"
    const s: CheckpointState = { streams, occurrences: randomOccurrences(100), savedAtMs: T0 }
    expect(roundTrip(s)).toEqual(s)
  })

  it("is small: 10 000 occurrences with random UUIDs fit far below the ConfigMap limit; 100 000 would not", () => {
    const streams = { "core/v1/*": "987654321" }
    const ten = encodeState({ streams, occurrences: randomOccurrences(10_000), savedAtMs: T0 })
    const hundred = encodeState({ streams, occurrences: randomOccurrences(100_000), savedAtMs: T0 })
    const base64 = (b: Uint8Array) => Buffer.from(b).toString("base64").length
    console.info(
      `checkpoint size: 10 000 occurrences ${ten.length} bytes (${base64(ten)} as base64); ` +
        `100 000 occurrences ${hundred.length} bytes (${base64(hundred)} as base64)`
    )
    // 16 bytes per random UUID do not compress; times and counts add about 1 byte per occurrence.
    expect(ten.length).toBeLessThan(200_000)
    expect(base64(ten)).toBeLessThan(300_000)
    expect(hundred.length).toBeGreaterThan(1_500_000)
    expect(base64(hundred)).toBeGreaterThan(1024 * 1024)
  })

  it("rejects garbage with a message saying what is wrong", () => {
    expect(decodeError(new Uint8Array())).toBe("not a checkpoint: the data is empty")
    expect(decodeError(Buffer.from('{"streams":{}}'))).toMatch(
      /not a checkpoint: it does not start with the checkpoint signature "KECP"/
    )
    const good = encodeState({ streams: { a: "1" }, occurrences: randomOccurrences(50), savedAtMs: T0 })
    const newer = Uint8Array.from(good)
    newer[4] = 9
    expect(decodeError(newer)).toBe("checkpoint format version 9 is not one this collector reads (it reads version 1)")
    expect(decodeError(good.subarray(0, good.length - 10))).toMatch(
      /^corrupt checkpoint: its compressed body does not inflate/
    )
    const flipped = Uint8Array.from(good)
    flipped[good.length - 20] = (flipped[good.length - 20] ?? 0) ^ 0xff
    expect(decodeError(flipped)).toMatch(/^corrupt checkpoint/)
    const header = good.subarray(0, 5)
    const wrap = (payload: ReadonlyArray<number>) => Buffer.concat([header, gzipSync(Uint8Array.from(payload))])
    // savedAtMs 0, no streams, a billion occurrences in three bytes.
    expect(decodeError(wrap([0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 1, 2, 3]))).toMatch(
      /^corrupt checkpoint: the occurrence count says 1000000000, more than the 3 bytes left can hold/
    )
    // One occurrence whose uid kind is neither UUID nor text.
    expect(decodeError(wrap([0, 0, 1, 2, 2, 7, 0]))).toBe("corrupt checkpoint: occurrence 1 has an unknown uid kind 7")
    // A text uid that is cut short.
    expect(decodeError(wrap([0, 0, 1, 2, 2, 1, 5, 0x61]))).toMatch(
      /^corrupt checkpoint: truncated: occurrence 1's uid needs 5 bytes/
    )
    expect(decodeError(wrap([0, 0, 0, 42]))).toBe("corrupt checkpoint: 1 unexpected bytes after the occurrences")
  })
})

describe("prune", () => {
  const occ = (uid: string, timeMs: number, count = 1): ExportedOccurrence => ({ uid, count, timeMs })
  const state = (occurrences: ReadonlyArray<ExportedOccurrence>): CheckpointState => ({
    streams: { s: "5" },
    occurrences,
    savedAtMs: 7
  })

  it("drops occurrences older than the TTL", () => {
    const s = state([occ("a", 100), occ("b", 499), occ("c", 500), occ("d", 900)])
    expect(prune(s, { nowMs: 1000, ttlMs: 500, maxOccurrences: 10 })).toEqual(state([occ("c", 500), occ("d", 900)]))
  })

  it("keeps the newest when over the cap", () => {
    const s = state([occ("a", 1), occ("b", 2), occ("c", 3), occ("d", 4)])
    expect(prune(s, { nowMs: 10, ttlMs: 100, maxOccurrences: 2 }).occurrences).toEqual([occ("c", 3), occ("d", 4)])
    expect(prune(s, { nowMs: 10, ttlMs: 100, maxOccurrences: 0 }).occurrences).toEqual([])
  })

  it("keeps one occurrence per uid, the latest, in time order", () => {
    const s = state([occ("a", 5, 2), occ("b", 3), occ("a", 1, 1), occ("c", 4), occ("b", 6, 4)])
    expect(prune(s, { nowMs: 10, ttlMs: 100, maxOccurrences: 10 }).occurrences).toEqual([
      occ("c", 4),
      occ("a", 5, 2),
      occ("b", 6, 4)
    ])
  })

  it("leaves streams and savedAtMs alone", () => {
    const pruned = prune(state([occ("a", 1)]), { nowMs: 1000, ttlMs: 10, maxOccurrences: 10 })
    expect(pruned).toEqual({ streams: { s: "5" }, occurrences: [], savedAtMs: 7 })
  })
})

describe("describeState", () => {
  it("says what the checkpoint holds in words", () => {
    const text = describeState({
      streams: { "core/v1/shop": "12", "core/v1/*": "34" },
      occurrences: [occurrence(T0), occurrence(T0 + 60_000)],
      savedAtMs: T0 + 120_000
    })
    expect(text).toBe(
      "saved at: 2025-06-01T12:02:00.000Z\n" +
        "exported occurrences remembered: 2 (from 2025-06-01T12:00:00.000Z to 2025-06-01T12:01:00.000Z)\n" +
        "streams (2):\n  core/v1/*: resourceVersion 34\n  core/v1/shop: resourceVersion 12\n"
    )
  })
})

function occurrence(timeMs: number): ExportedOccurrence {
  return { uid: randomUUID(), count: 1, timeMs }
}

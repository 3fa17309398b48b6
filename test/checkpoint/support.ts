import { randomUUID } from "node:crypto"
import type { ExportedOccurrence } from "../../src/checkpoint/CheckpointState.ts"

export const T0 = Date.UTC(2025, 5, 1, 12, 0, 0)

/** `n` occurrences with random UUIDs, about one every 360 ms (10 000 in an hour, the event TTL). */
export const randomOccurrences = (n: number, start = T0): ReadonlyArray<ExportedOccurrence> =>
  Array.from({ length: n }, (_, i) => ({ uid: randomUUID(), count: 1 + (i % 9), timeMs: start + i * 360 + (i % 7) }))

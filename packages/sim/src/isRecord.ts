/** A JSON object: not null, not an array. (The collector has its own, src/domain/isRecord.ts: nothing is shared.) */
export const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

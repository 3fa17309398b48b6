/** A JSON object: not null, not an array. The one check every decoder of unknown JSON starts with. */
export const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** resourceVersions as the API concepts page defines them: opaque strings, ordered only where they are decimals. */
import { isRecord } from "../domain/isRecord.ts"

/** The `metadata.resourceVersion` of a raw object (an event, a bookmark, a list item), if it has one. */
export const resourceVersionOf = (object: unknown): string | undefined => {
  const meta = isRecord(object) ? object["metadata"] : undefined
  return isRecord(meta) && typeof meta["resourceVersion"] === "string" ? meta["resourceVersion"] : undefined
}

/**
 * Compares two resourceVersions as the API concepts page allows for kube-apiserver types: arbitrary-size
 * decimals. `undefined` when either is not a decimal (an aggregated server), where no order can be assumed.
 */
export const compareResourceVersions = (a: string, b: string): number | undefined => {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0
}

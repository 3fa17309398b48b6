import type { EventApi } from "../domain/KubeEvent.ts"

/**
 * One object from a source, not yet decoded. Sources never emit deletions: an expired event is no occurrence.
 * A BOOKMARK carries only a resourceVersion: how far the source has read, for the checkpoint.
 */
export interface Change {
  readonly type: "ADDED" | "MODIFIED" | "BOOKMARK"
  readonly object: unknown
  /** The API the object was read from, when the source knows it (list items carry no `apiVersion`). */
  readonly api?: EventApi | undefined
  /** The watch stream it came from (`targetKey`), whose resourceVersion the checkpoint keeps. */
  readonly stream?: string | undefined
}

/** The `metadata.resourceVersion` of a raw object (an event, a bookmark), if it has one. */
export const resourceVersionOf = (object: unknown): string | undefined => {
  if (typeof object !== "object" || object === null || !("metadata" in object)) return undefined
  const meta = object.metadata
  return typeof meta === "object" &&
    meta !== null &&
    "resourceVersion" in meta &&
    typeof meta.resourceVersion === "string"
    ? meta.resourceVersion
    : undefined
}

import { Either } from "effect"
import { decodeKubeEvent, type EventApi, type KubeEvent } from "../domain/KubeEvent.ts"
import { resourceVersionOf } from "../kube/resourceVersion.ts"

/**
 * What a source passes on, decoded. Sources never emit deletions: an expired event is no occurrence.
 * - `Event`: an event added or modified.
 * - `Undecodable`: an object or a watch line that is no Event the collector can read; the pipeline counts it,
 *   logs `message` and skips it.
 * - `Bookmark`: only how far the source has read, for the checkpoint.
 * Each carries the watch stream it came from (`targetKey`) and its resourceVersion when the source knows them.
 */
export type Change =
  | {
      readonly _tag: "Event"
      readonly type: "ADDED" | "MODIFIED"
      readonly event: KubeEvent
      readonly stream?: string | undefined
    }
  | {
      readonly _tag: "Undecodable"
      readonly message: string
      readonly stream?: string | undefined
      readonly resourceVersion?: string | undefined
    }
  | { readonly _tag: "Bookmark"; readonly stream: string; readonly resourceVersion: string }

/** The stream position a change moves its stream to, if any. */
export const resourceVersionOfChange = (change: Change): string | undefined =>
  change._tag === "Event" ? change.event.resourceVersion : change.resourceVersion

/**
 * Decodes one object a source read (a list item, a watch event's object, an object of a dump) into a change.
 * `api` is the API it was read from, when the source knows it (list items carry no `apiVersion`).
 */
export const decodeChange = (type: "ADDED" | "MODIFIED", object: unknown, api?: EventApi, stream?: string): Change =>
  Either.match(decodeKubeEvent(object, api), {
    onRight: (event): Change => ({ _tag: "Event", type, event, stream }),
    onLeft: (error): Change => ({
      _tag: "Undecodable",
      message: error.message,
      stream,
      resourceVersion: resourceVersionOf(object)
    })
  })

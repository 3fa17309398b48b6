import { Schema } from "effect"
import { KubeApiError } from "../kube/KubeApiError.ts"

/**
 * A checkpoint that could not be read or written. `store` names where it lives ("file /var/lib/…",
 * "ConfigMap ns/name"), `detail` what went wrong; `cause` is the call to the API server that failed, when one did
 * (its `reason` says how: `Forbidden`, `Conflict`, `Transport`...).
 * The collector decides what follows: start fresh after a failed load, retry a failed save at the next commit,
 * refuse to start when the check at start-up fails.
 */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  /** `check`: the start-up test that the store can be written at all. */
  operation: Schema.Literal("load", "save", "check"),
  store: Schema.String,
  detail: Schema.String,
  cause: Schema.optional(KubeApiError)
}) {
  override get message(): string {
    return this.operation === "check"
      ? `the checkpoint (${this.store}) cannot be written: ${this.detail}`
      : `could not ${this.operation} the checkpoint (${this.store}): ${this.detail}`
  }
}

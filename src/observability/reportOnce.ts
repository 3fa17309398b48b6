import { Effect } from "effect"

/**
 * Says each kind of failure once, and once that things work again: a collector retrying a forbidden call every
 * 30 s must not fill its log with the same error, but must say when access comes back. Repeats of a kind already
 * said go out quietly (at debug level, say) until something succeeds.
 */
export class ReportOnce {
  readonly #said = new Set<string>()

  /** `loud` the first time `kind` fails since the last success, `quiet` after that. */
  failed(kind: string, loud: Effect.Effect<void>, quiet: Effect.Effect<void> = Effect.void): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.#said.has(kind)) return quiet
      this.#said.add(kind)
      return loud
    })
  }

  /** `say` when failures were said since the last success; nothing otherwise. */
  succeeded(say: Effect.Effect<void>): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.#said.size === 0) return Effect.void
      this.#said.clear()
      return say
    })
  }
}

/**
 * Waiting for what happens over real HTTP by turns of the event loop, not by time: I/O callbacks run between two
 * turns and no clock is read, so tests on the test clock wait for a server without moving it.
 */
import { Effect } from "effect"

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** One turn of the event loop. */
export const turn = Effect.promise(nextTurn)

/** `n` turns of the event loop, for code outside Effect (a server's side). */
export const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await nextTurn()
}

/** Turns the event loop until `holds` says so (a predicate, or an Effect that reads); dies naming `what`. */
export const spinUntil = (holds: (() => boolean) | Effect.Effect<boolean>, what: string, most = 1_000_000) => {
  const check = typeof holds === "function" ? Effect.sync(holds) : holds
  return Effect.gen(function* () {
    for (let i = 0; i < most; i++) {
      if (yield* check) return
      yield* turn
    }
    return yield* Effect.die(new Error(`gave up waiting for ${what}`))
  })
}

/** Turns the event loop `n` times: what I/O alone leads to has happened. */
export const spinTurns = (n: number) => Effect.repeatN(turn, n - 1)

import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, TestClock } from "effect"
import { HIGH, HOLD, HeapWatch, type HeapUse, isShort, LOW } from "../../src/observability/heapWatch.ts"
import { captureLogs } from "../enrich/support.ts"

const MB = 2 ** 20
const at = (share: number): HeapUse => ({ usedBytes: Math.round(share * 128 * MB), limitBytes: 128 * MB })

describe("isShort", () => {
  it.each([
    { was: false, share: HIGH - 0.01, short: false },
    { was: false, share: HIGH, short: true },
    { was: true, share: HIGH - 0.01, short: true },
    { was: true, share: LOW, short: true },
    { was: true, share: LOW - 0.01, short: false }
  ])("was short $was, at $share of the cap: short $short", ({ was, share, short }) => {
    expect(isShort(was, at(share))).toBe(short)
  })
})

describe("HeapWatch", () => {
  /** A heap whose share of a 128 MB cap the test sets; the watch reads it every second. */
  const scripted = () => {
    let share = 0.5
    return { set: (s: number) => void (share = s), read: () => at(share) }
  }

  it.effect(
    "short: says what it holds, sheds the caches once, slows intake to a chunk per HOLD until below LOW",
    () => {
      const logs = captureLogs()
      const heap = scripted()
      return Effect.gen(function* () {
        let cacheEntries = 5000
        let sheds = 0
        const watch = yield* HeapWatch
        yield* watch.register({ name: "occurrence window uids", size: () => 100_000 })
        yield* watch.register({
          name: "enrichment cache entries",
          size: () => cacheEntries,
          shed: () => {
            sheds++
            cacheEntries = 0
          }
        })
        yield* watch.roomToGrow
        heap.set(0.9)
        yield* TestClock.adjust(Duration.seconds(1))
        expect(logs.warnings()).toEqual([
          "memory: the heap holds 115 MB of its 128 MB cap (90 %); dropping enrichment cache entries and slowing " +
            "intake to a chunk every 2s until it is below 70 %; held: occurrence window uids 100000, enrichment " +
            "cache entries 5000. If this recurs, give the process more memory (--max-old-space-size and the " +
            "container's limit) or watch fewer namespaces"
        ])
        expect(sheds).toBe(1)
        // Still above LOW: each chunk waits HOLD, to the millisecond.
        heap.set(0.75)
        for (let chunk = 0; chunk < 3; chunk++) {
          const slowed = yield* Effect.fork(watch.roomToGrow)
          yield* TestClock.adjust(Duration.subtract(HOLD, Duration.millis(1)))
          expect(Option.isNone(yield* Fiber.poll(slowed))).toBe(true)
          yield* TestClock.adjust(Duration.millis(1))
          yield* Fiber.join(slowed)
        }
        expect(sheds).toBe(1)
        expect(logs.warnings()).toHaveLength(1)
        const held = yield* Effect.fork(watch.roomToGrow)
        heap.set(0.6)
        yield* TestClock.adjust(Duration.seconds(1))
        yield* Fiber.join(held)
        expect(logs.infos()).toContain("memory: the heap is at 60 % of its cap again; intake goes on")
        yield* watch.roomToGrow
      }).pipe(Effect.provide(HeapWatch.layer(heap.read)), Effect.provide(logs.layer))
    }
  )
})

/**
 * The running checkpoint against a store that stops and starts working: what it says, and how often; and its
 * times (the age gauge, the saved time, the TTL) on the test clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import { Checkpoint } from "../../src/checkpoint/Checkpoint.ts"
import { CheckpointStore, MemoryCheckpoints } from "../../src/checkpoint/CheckpointStore.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { captureLogs } from "../enrich/support.ts"

const INTERVAL = Duration.seconds(1)

const setup = (ttl: Duration.Duration = Duration.hours(1)) => {
  const checkpoints = new MemoryCheckpoints()
  const logs = captureLogs()
  const layer = Checkpoint.layer({ interval: INTERVAL, ttl, maxOccurrences: 100 }).pipe(
    Layer.provide(CheckpointStore.layerMemory(checkpoints)),
    Layer.provideMerge(Metrics.layer),
    Layer.provideMerge(logs.layer)
  )
  return { checkpoints, logs, layer }
}

/** One acknowledgement, then time for its save. */
const acknowledge = (rv: number) =>
  Effect.gen(function* () {
    const checkpoint = yield* Checkpoint
    yield* checkpoint.acknowledged({ streams: { "core/v1/*": String(rv) }, occurrences: [] })
    yield* TestClock.adjust(INTERVAL)
  })

describe("Checkpoint saves to a store that fails", () => {
  it.effect("says so once while saves keep failing, and once when a save works again", () => {
    const { checkpoints, logs, layer } = setup()
    return Effect.gen(function* () {
      checkpoints.failing = "EROFS: read-only file system"
      for (let rv = 1; rv <= 30; rv++) yield* acknowledge(rv)
      expect(logs.warnings()).toEqual([
        "could not save the checkpoint (memory): EROFS: read-only file system; will try again with each acknowledgement, and say so when it works again"
      ])
      expect(checkpoints.saved).toHaveLength(0)

      checkpoints.failing = undefined
      yield* acknowledge(31)
      expect(checkpoints.latest?.streams).toEqual({ "core/v1/*": "31" })
      expect(logs.lines.map((l) => l.text)).toContain("the checkpoint is saved again (memory) after 30 failed saves")
      for (let rv = 32; rv <= 40; rv++) yield* acknowledge(rv)
      expect(checkpoints.saved.length).toBeGreaterThanOrEqual(10)
      expect(logs.warnings()).toHaveLength(1)

      // A new stretch of failures is said again, once.
      checkpoints.failing = "ENOSPC: no space left on device"
      for (let rv = 41; rv <= 50; rv++) yield* acknowledge(rv)
      expect(logs.warnings()).toHaveLength(2)
      expect(logs.warnings()[1]).toMatch(/ENOSPC/)
    }).pipe(Effect.provide(layer))
  })

  it.effect("on shutdown, says that the checkpoint could not be saved", () => {
    const { checkpoints, logs, layer } = setup()
    return Effect.gen(function* () {
      checkpoints.failing = "EROFS: read-only file system"
      yield* acknowledge(1)
      yield* acknowledge(2)
      const checkpoint = yield* Checkpoint
      yield* checkpoint.commit
      const errors = logs.lines.filter((l) => l.level._tag === "Error").map((l) => l.text)
      expect(errors).toEqual([
        "stopping without a saved checkpoint (memory): 3 saves in a row failed; a restart sends again what was delivered since the last save"
      ])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a shutdown after a successful save says nothing more", () => {
    const { checkpoints, logs, layer } = setup()
    return Effect.gen(function* () {
      yield* acknowledge(1)
      const checkpoint = yield* Checkpoint
      yield* checkpoint.acknowledged({ streams: { "core/v1/*": "2" }, occurrences: [] })
      yield* checkpoint.commit
      expect(checkpoints.latest?.streams).toEqual({ "core/v1/*": "2" })
      expect(logs.lines.filter((l) => l.level._tag === "Error" || l.level._tag === "Warning")).toEqual([])
    }).pipe(Effect.provide(layer))
  })
})

/** The checkpoint-age gauge as a scrape would read it now. */
const age = Effect.flatMap(Metrics, (metrics) => Effect.promise(() => metrics.checkpointAge.get())).pipe(
  Effect.map((m) => m.values[0]?.value)
)

describe("Checkpoint times", () => {
  it.effect("the age gauge grows with the clock while nothing is saved, and counts from each save", () => {
    const { checkpoints, layer } = setup()
    return Effect.gen(function* () {
      expect(yield* age).toBe(0)
      yield* TestClock.adjust(Duration.seconds(5))
      expect(yield* age).toBe(5)
      yield* TestClock.adjust(Duration.millis(500))
      // Set once a second, not at every tick of the clock.
      expect(yield* age).toBe(5)

      yield* acknowledge(1)
      const savedAtMs = checkpoints.latest?.savedAtMs ?? -1
      expect(savedAtMs).toBe(5_500)
      yield* TestClock.adjust(Duration.seconds(3))
      expect(yield* age).toBe(((yield* TestClock.currentTimeMillis) - 500 - savedAtMs) / 1000)
    }).pipe(Effect.provide(layer))
  })

  it.effect("occurrences older than the TTL by the clock are left out of what is saved", () => {
    const { checkpoints, layer } = setup(Duration.minutes(1))
    return Effect.gen(function* () {
      const checkpoint = yield* Checkpoint
      yield* TestClock.adjust(Duration.minutes(2))
      const secondsAgo = (s: number) => Duration.toMillis(Duration.minutes(2)) - s * 1000
      yield* checkpoint.acknowledged({
        streams: { "core/v1/*": "1" },
        occurrences: [
          { uid: "old", count: 1, timeMs: secondsAgo(61) },
          { uid: "recent", count: 1, timeMs: secondsAgo(50) }
        ]
      })
      yield* TestClock.adjust(INTERVAL)
      expect(checkpoints.latest?.occurrences.map((o) => o.uid)).toEqual(["recent"])
      yield* TestClock.adjust(Duration.seconds(10))
      expect((yield* checkpoint.current).occurrences).toEqual([])
    }).pipe(Effect.provide(layer))
  })
})

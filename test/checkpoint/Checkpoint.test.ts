/** The running checkpoint against a store that stops and starts working: what it says, and how often. */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import { Checkpoint } from "../../src/checkpoint/Checkpoint.ts"
import { CheckpointStore, MemoryCheckpoints } from "../../src/checkpoint/CheckpointStore.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { captureLogs } from "../enrich/support.ts"

const INTERVAL = Duration.seconds(1)

const setup = () => {
  const checkpoints = new MemoryCheckpoints()
  const logs = captureLogs()
  const layer = Checkpoint.layer({ interval: INTERVAL, ttl: Duration.hours(1), maxOccurrences: 100 }).pipe(
    Layer.provide(Layer.merge(CheckpointStore.layerMemory(checkpoints), Metrics.layer)),
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

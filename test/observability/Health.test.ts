import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, TestClock } from "effect"
import { HealthState, liveness, readiness } from "../../src/observability/Health.ts"

/** A health state on the test clock. */
const healthState = Effect.map(Effect.clock, (clock) => new HealthState(clock))

// What README.md says of the probes: /readyz is 200 as leader or standby once the API answered, /healthz fails
// when the leader has heard nothing from the API for --stall-timeout.
describe("HealthState", () => {
  it.effect("is not ready while starting, ready as leader once the API answered, not ready when it fails", () =>
    Effect.gen(function* () {
      const h = yield* healthState
      expect(readiness(h).ok).toBe(false)
      h.elected("leader", "me")
      expect(readiness(h).ok).toBe(false)
      h.activity()
      expect(readiness(h)).toEqual({
        ok: true,
        body: { status: "ready", role: "leader", leader: "me", apiReachable: true }
      })
      h.unreachable()
      expect(readiness(h).ok).toBe(false)
    })
  )

  it.effect("is ready as a standby: it read the Lease, so the API answers", () =>
    Effect.gen(function* () {
      const h = yield* healthState
      h.elected("standby", "other")
      expect(readiness(h).body).toEqual({ status: "ready", role: "standby", leader: "other", apiReachable: true })
    })
  )

  it.effect("is alive unless it leads and heard nothing for the stall timeout, by the clock", () =>
    Effect.gen(function* () {
      const stallMs = 60_000
      yield* TestClock.setTime(1_000)
      const h = yield* healthState
      // Starting counts as a sign of life.
      expect(h.lastActivityMs).toBe(1_000)
      yield* TestClock.adjust(Duration.seconds(99))
      expect(liveness(h, stallMs, yield* Clock.currentTimeMillis).ok).toBe(true)
      h.elected("leader", "me")
      expect(liveness(h, stallMs, yield* Clock.currentTimeMillis).body).toMatchObject({
        status: "stalled",
        lastActivitySecondsAgo: 99
      })
      h.activity()
      expect(h.lastActivityMs).toBe(100_000)
      yield* TestClock.adjust(Duration.seconds(60))
      expect(liveness(h, stallMs, yield* Clock.currentTimeMillis).ok).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      expect(liveness(h, stallMs, yield* Clock.currentTimeMillis).ok).toBe(false)
    })
  )
})

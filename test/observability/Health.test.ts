import { describe, expect, it } from "vitest"
import { HealthState, liveness, readiness } from "../../src/observability/Health.ts"

// What README.md says of the probes: /readyz is 200 as leader or standby once the API answered, /healthz fails
// when the leader has heard nothing from the API for --stall-timeout.
describe("HealthState", () => {
  it("is not ready while starting, ready as leader once the API answered, not ready when it fails", () => {
    const h = new HealthState()
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

  it("is ready as a standby: it read the Lease, so the API answers", () => {
    const h = new HealthState()
    h.elected("standby", "other")
    expect(readiness(h).body).toEqual({ status: "ready", role: "standby", leader: "other", apiReachable: true })
  })

  it("is alive unless it leads and heard nothing for the stall timeout", () => {
    const h = new HealthState()
    h.activity(1_000)
    expect(liveness(h, 60_000, 100_000).ok).toBe(true)
    h.elected("leader", "me")
    expect(liveness(h, 60_000, 100_000).body).toMatchObject({ status: "stalled", lastActivitySecondsAgo: 99 })
    h.activity(90_000)
    expect(liveness(h, 60_000, 100_000).ok).toBe(true)
  })
})

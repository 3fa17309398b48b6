/**
 * Two electors over real HTTP against the simulated API server, with the waits on the test clock: the one that
 * creates the Lease leads and writes the record as the API server wants it (MicroTimes with six digits), the other
 * reads it and stands by; a release hands the Lease over at the standby's next try (its jitter pinned: one retry
 * period).
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Random, TestClock } from "effect"
import { simKubeConfig } from "@k8s-event-collector/sim"
import {
  captureLogs,
  httpElector,
  RECORDED_LEASE_MS,
  RETRY_PERIOD_MS,
  simServer,
  stateWhere,
  storedLease,
  Timeline
} from "./support.ts"

describe("LeaderElection over HTTP", () => {
  it.scoped("elects the replica that created the Lease; the other stands by; a release hands it over", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const sim = yield* simServer
      const kc = simKubeConfig(sim.url)
      const t = new Timeline()
      const done = yield* Deferred.make<void>()
      const a = yield* httpElector(kc, "pod-a")
      const b = yield* httpElector(kc, "pod-b")
      const runA = yield* Effect.fork(a.runWhileLeader(t.program("pod-a", Deferred.await(done))))
      yield* stateWhere(a, (s) => s.role === "leader")
      yield* Effect.fork(b.runWhileLeader(t.program("pod-b")))
      yield* stateWhere(b, (s) => s.holder === "pod-a")

      expect(yield* b.state).toEqual({ role: "standby", holder: "pod-a" })
      expect(logs.lines).toContain("pod-a: became leader")
      expect(logs.lines).toContain("pod-b: leader is pod-a")
      // The test clock's wall time is 0.
      expect(storedLease(sim)?.spec).toEqual({
        holderIdentity: "pod-a",
        leaseDurationSeconds: RECORDED_LEASE_MS / 1000,
        acquireTime: "1970-01-01T00:00:00.000000Z",
        renewTime: "1970-01-01T00:00:00.000000Z",
        leaseTransitions: 0
      })
      expect(sim.requests.filter({ method: "POST" }).map((r) => r.status)).toEqual([201])

      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(runA)
      expect(storedLease(sim)?.spec).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 })

      yield* TestClock.adjust(RETRY_PERIOD_MS)
      yield* stateWhere(b, (s) => s.role === "leader")
      expect(storedLease(sim)?.spec).toMatchObject({ holderIdentity: "pod-b", leaseTransitions: 1 })
      expect(t.starts()).toEqual([0, RETRY_PERIOD_MS])
      expect(t.maxConcurrent).toBe(1)
    }).pipe(Effect.withRandom(Random.fixed([0])), Effect.provide(logs.layer))
  })
})

/** Settings validation, identity and time formatting, and the elector over the in-memory Lease store. */
import { describe, expect, it } from "@effect/vitest"
import * as os from "node:os"
import { Deferred, Duration, Effect, Fiber } from "effect"
import { LeaseApi } from "../../src/leader/LeaseApi.ts"
import {
  defaultIdentity,
  InvalidLeaderElectionSettings,
  LeaderElection,
  microTime,
  settingsProblems
} from "../../src/leader/LeaderElection.ts"
import { captureLogs, settings, Timeline, waitFor } from "./support.ts"

describe("settingsProblems", () => {
  it("accepts a lease duration above the renew deadline above the retry period", () => {
    expect(settingsProblems(settings("pod-a"))).toEqual([])
  })

  it("says why the renew deadline must be shorter than the lease duration", () => {
    const problems = settingsProblems({ ...settings("pod-a"), renewDeadline: Duration.millis(1500) })
    expect(problems).toEqual([
      "the renew deadline (1s 500ms) must be shorter than the lease duration (1s 500ms): " +
        "a leader that cannot renew must stop before another replica may take the lease over"
    ])
  })

  it("says why the retry period must be shorter than the renew deadline", () => {
    const problems = settingsProblems({ ...settings("pod-a"), retryPeriod: Duration.seconds(2) })
    expect(problems).toEqual([
      "the retry period (2s) must be shorter than the renew deadline (1s): " +
        "the leader must be able to retry a failed renewal before it gives the lease up"
    ])
  })

  it("lists every missing name and non-positive duration", () => {
    const problems = settingsProblems({
      namespace: "",
      name: " ",
      identity: "",
      leaseDuration: Duration.zero,
      renewDeadline: Duration.infinity,
      retryPeriod: Duration.millis(100)
    })
    expect(problems).toEqual([
      "the Lease namespace is empty",
      "the Lease name is empty",
      "the identity is empty (set POD_NAME or give one)",
      "the lease duration must be a positive, finite duration (got 0)",
      "the renew deadline must be a positive, finite duration (got Infinity)"
    ])
  })

  it.effect("makes the layer fail with all of them", () =>
    Effect.gen(function* () {
      const error = yield* LeaderElection.make({ ...settings("pod-a"), renewDeadline: Duration.seconds(5) }).pipe(
        Effect.provide(LeaseApi.layerMemory),
        Effect.flip
      )
      expect(error).toBeInstanceOf(InvalidLeaderElectionSettings)
      expect(error.message).toMatch(/^invalid leader election settings: the renew deadline \(5s\) must be shorter/)
    })
  )
})

describe("defaultIdentity", () => {
  it("is POD_NAME when set, else the host name, then an underscore and a suffix kept for the process's life", () => {
    const saved = process.env["POD_NAME"]
    try {
      process.env["POD_NAME"] = "collector-7d9f-abcde"
      const inPod = defaultIdentity()
      expect(inPod).toMatch(/^collector-7d9f-abcde_[0-9a-f]{8}$/)
      expect(defaultIdentity()).toBe(inPod)
      delete process.env["POD_NAME"]
      expect(defaultIdentity()).toBe(`${os.hostname()}_${inPod.split("_")[1]}`)
    } finally {
      if (saved === undefined) delete process.env["POD_NAME"]
      else process.env["POD_NAME"] = saved
    }
  })
})

describe("microTime", () => {
  it("writes six fractional digits, as the API server requires of a MicroTime", () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 123))).toBe("2026-01-02T03:04:05.123000Z")
  })
})

describe("LeaderElection over the in-memory Lease store", () => {
  it.scopedLive("elects one replica and hands over when its program ends", () =>
    Effect.gen(function* () {
      const api = yield* LeaseApi.pipe(Effect.provide(LeaseApi.layerMemory))
      const make = (identity: string) =>
        LeaderElection.make(settings(identity)).pipe(Effect.provideService(LeaseApi, api))
      const t = new Timeline()
      const done = yield* Deferred.make<void>()
      const a = yield* make("pod-a")
      const b = yield* make("pod-b")
      const runA = yield* Effect.forkScoped(a.runWhileLeader(t.program("pod-a", Deferred.await(done))))
      yield* waitFor("pod-a to lead", () => t.running.has("pod-a"))
      yield* Effect.forkScoped(b.runWhileLeader(t.program("pod-b")))
      yield* Effect.sleep(Duration.millis(300))
      expect(yield* b.state).toEqual({ role: "standby", holder: "pod-a" })

      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(runA)
      yield* waitFor("pod-b to take over", () => t.running.has("pod-b"), 1000)
      expect(t.maxConcurrent).toBe(1)
    }).pipe(Effect.provide(captureLogs().layer))
  )

  it.effect("runs the program at once when election is disabled", () =>
    Effect.gen(function* () {
      const election = yield* LeaderElection
      expect(yield* election.state).toEqual({ role: "leader", holder: "solo" })
      expect(yield* election.runWhileLeader(Effect.succeed(42))).toBe(42)
    }).pipe(Effect.provide(LeaderElection.layerNoop("solo")))
  )
})

/**
 * Leader election on the test clock, over the in-memory Lease store as each replica reaches it (answered, refused,
 * unanswered, or raced by another writer): one leader at a time; a leader that cannot renew stops at its renew
 * deadline, before its lease could expire; a standby takes over a lease the lease duration after it last saw it
 * change, or at its next try after a release; a write that loses a race (409) reads the Lease again.
 * Times are the test clock's milliseconds from 0; settings: lease 1.5 s (recorded as 2 s), renew deadline 1 s,
 * retry period 200 ms; the standby's jitter is pinned by a fixed `Random`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as os from "node:os"
import { Cause, Data, Duration, Effect, Exit, Fiber, Option, Random, TestClock } from "effect"
import { defaultIdentity, InvalidLeaderElectionSettings, LeaderElection } from "../../src/leader/LeaderElection.ts"
import { LeaseApi } from "../../src/leader/LeaseApi.ts"
import { microTime } from "../../src/leader/rules.ts"
import {
  captureLogs,
  memoryStore,
  othersRecord,
  RECORDED_LEASE_MS,
  REF,
  RENEW_DEADLINE_MS,
  RETRY_PERIOD_MS,
  settings,
  Timeline
} from "./support.ts"

/** Runs what is due up to `ms` on the test clock. */
const at = (ms: number) => TestClock.setTime(ms)

/**
 * A fresh in-memory Lease store and timeline for a test; `leaderAndStandby` starts pod-a, which is elected at 0 and
 * runs `programA` (by default one that runs until interrupted), then pod-b as its standby.
 */
const newScene = (logs: ReturnType<typeof captureLogs>) =>
  Effect.map(memoryStore, (memory) => {
    const t = new Timeline()
    const leaderAndStandby = (programA: Effect.Effect<unknown> = t.program("pod-a")) =>
      Effect.gen(function* () {
        const a = yield* memory.replica("pod-a", t)
        const b = yield* memory.replica("pod-b", t)
        const runA = yield* Effect.fork(a.election.runWhileLeader(programA))
        yield* at(0)
        yield* Effect.fork(b.election.runWhileLeader(t.program("pod-b")))
        return { a, b, runA }
      })
    return { logs, memory, t, leaderAndStandby }
  })

type Scene = Effect.Effect.Success<ReturnType<typeof newScene>>

/** Runs `body` on a fresh scene, its logs captured, the standby's jitter pinned (0: one retry period between tries). */
const scenario = <A, E, R>(body: (scene: Scene) => Effect.Effect<A, E, R>, jitter = 0) => {
  const logs = captureLogs()
  return Effect.flatMap(newScene(logs), body).pipe(
    Effect.withRandom(Random.fixed([jitter])),
    Effect.provide(logs.layer)
  )
}

/** The write times of `who` that the store accepted, by holder written. */
const writes = (t: Timeline, who: string, holder = who) =>
  t.of("write", who).flatMap((e) => (e.holder === holder ? [e.at] : []))

describe("LeaderElection on the test clock", () => {
  it.scoped("elects one of two replicas; the leader renews each retry period, the other stands by and names it", () =>
    scenario(({ logs, memory, t, leaderAndStandby }) =>
      Effect.gen(function* () {
        const { a, b } = yield* leaderAndStandby()
        yield* at(1500)

        expect(t.starts("pod-a")).toEqual([0])
        expect(t.starts("pod-b")).toEqual([])
        expect(yield* a.election.state).toEqual({ role: "leader", holder: "pod-a" })
        expect(yield* b.election.state).toEqual({ role: "standby", holder: "pod-a" })
        expect(logs.lines).toContain("pod-a: became leader")
        expect(logs.lines).toContain("pod-b: leader is pod-a")
        expect(writes(t, "pod-a")).toEqual([0, 200, 400, 600, 800, 1000, 1200, 1400])
        expect(b.replica.calls).toMatchObject({ get: 8, create: 0, update: 0 })
        expect(yield* memory.stored).toMatchObject({
          holderIdentity: "pod-a",
          leaseDurationSeconds: RECORDED_LEASE_MS / 1000,
          acquireTime: microTime(0),
          renewTime: microTime(1400),
          leaseTransitions: 0
        })
      })
    )
  )

  it.scoped("keeps the lease through failures shorter than the renew deadline; a repeated one is logged once", () =>
    scenario(({ logs, memory, t }) =>
      Effect.gen(function* () {
        const a = yield* memory.replica("pod-a", t)
        yield* Effect.fork(a.election.runWhileLeader(t.program("pod-a")))
        yield* at(100)
        a.replica.link = "refused"
        yield* at(500)
        a.replica.link = "up"
        yield* at(1200)

        expect(t.stops()).toEqual([])
        expect(yield* a.election.state).toEqual({ role: "leader", holder: "pod-a" })
        expect(writes(t, "pod-a")).toEqual([0, 600, 800, 1000, 1200])
        const refused =
          "pod-a: update of Lease collector/k8s-event-collector failed: connect ECONNREFUSED 10.96.0.1:443"
        expect(logs.levels.filter((l) => l.endsWith(refused))).toEqual([`WARN ${refused}`, `DEBUG ${refused}`])
      })
    )
  )

  it.scoped("stops a leader whose renewals fail at the renew deadline, then leads afresh once they succeed", () =>
    scenario(({ logs, memory, t }) =>
      Effect.gen(function* () {
        const a = yield* memory.replica("pod-a", t)
        yield* Effect.fork(a.election.runWhileLeader(t.program("pod-a")))
        yield* at(450)
        a.replica.link = "failingWrites"
        yield* at(1399)
        expect(t.stops()).toEqual([])

        yield* at(1400)
        // The last renewal was sent at 400: stopped one renew deadline later.
        expect(t.stops("pod-a")).toEqual([400 + RENEW_DEADLINE_MS])
        expect(yield* a.election.state).toEqual({ role: "standby", holder: "pod-a" })
        expect(logs.lines).toContain("pod-a: lost the lease: no renewal succeeded within 1s")
        expect(logs.lines).toContain(
          "pod-a: update of Lease collector/k8s-event-collector failed with HTTP 500 InternalError: boom"
        )

        a.replica.link = "up"
        yield* at(2000)
        // Its own record: taken again at the next try, and the program starts afresh.
        expect(t.starts("pod-a")).toEqual([0, 1600])
        expect(yield* memory.stored).toMatchObject({ holderIdentity: "pod-a", leaseTransitions: 0 })
      })
    )
  )

  it.scoped("lets a standby take over a leader that cannot renew only after the lease duration, never both", () =>
    scenario(({ memory, t, leaderAndStandby }) =>
      Effect.gen(function* () {
        const { a, b } = yield* leaderAndStandby()
        yield* at(450)
        a.replica.link = "failingWrites"

        const lastRenewal = Math.max(...writes(t, "pod-a"))
        expect(lastRenewal).toBe(400)
        yield* at(lastRenewal + RECORDED_LEASE_MS - 1)
        expect(t.stops("pod-a")).toEqual([lastRenewal + RENEW_DEADLINE_MS])
        expect(t.running.size).toBe(0)

        yield* at(3000)
        // The standby saw the last renewal at its first read after it (at most a retry period later).
        const [startedB] = t.starts("pod-b")
        expect(startedB).toBeGreaterThanOrEqual(lastRenewal + RECORDED_LEASE_MS)
        expect(startedB).toBeLessThanOrEqual(lastRenewal + RECORDED_LEASE_MS + RETRY_PERIOD_MS)
        expect(t.maxConcurrent).toBe(1)
        expect(yield* memory.stored).toMatchObject({ holderIdentity: "pod-b", leaseTransitions: 1 })
        expect(yield* b.election.state).toEqual({ role: "leader", holder: "pod-b" })
      })
    )
  )

  it.scoped("stops a partitioned leader (no answer) at its deadline; the standby takes over after the lease", () =>
    scenario(({ logs, t, leaderAndStandby }) =>
      Effect.gen(function* () {
        const { a } = yield* leaderAndStandby()
        yield* at(450)
        a.replica.link = "silent"

        // The renewal sent at 600 is given up when the deadline passes, and the program stopped at once.
        yield* at(1400)
        expect(t.stops("pod-a")).toEqual([1400])
        expect(logs.lines).toContain(
          "pod-a: the renewal of Lease collector/k8s-event-collector got no answer before the renew deadline"
        )
        expect(logs.lines).toContain("pod-a: lost the lease: no renewal succeeded within 1s")

        yield* at(3000)
        const [startedB] = t.starts("pod-b")
        expect(startedB).toBeGreaterThanOrEqual(400 + RECORDED_LEASE_MS)
        expect(t.maxConcurrent).toBe(1)
        expect(logs.lines).toContain(
          "pod-a: no answer from the API server about Lease collector/k8s-event-collector within 1s"
        )

        a.replica.link = "up"
        yield* at(4500)
        expect(yield* a.election.state).toEqual({ role: "standby", holder: "pod-b" })
        expect(logs.lines).toContain("pod-a: leader is pod-b")
        expect(t.starts("pod-a")).toEqual([0])
        expect(t.maxConcurrent).toBe(1)
      })
    )
  )

  /** A Lease that pod-a finds free, or none, and pod-x's write that lands between pod-a's read and its own. */
  const losesTheRace = (existing: "released" | "none") =>
    scenario(({ logs, memory, t }) =>
      Effect.gen(function* () {
        if (existing === "released") yield* memory.store.create(REF, othersRecord("", 0, 1))
        const transitions = existing === "released" ? 2 : 0
        const a = yield* memory.replica("pod-a", t)
        a.replica.beforeNextWrite = Effect.orDie(
          existing === "released"
            ? Effect.flatMap(memory.store.get(REF), (found) =>
                memory.store.replace(REF, Option.getOrThrow(found), othersRecord("pod-x", 0, transitions))
              )
            : memory.store.create(REF, othersRecord("pod-x", 0, transitions))
        )
        yield* Effect.fork(a.election.runWhileLeader(t.program("pod-a")))
        yield* at(0)

        expect(t.of("refused", "pod-a")).toHaveLength(1)
        expect(logs.lines).toContain("pod-a: leader is pod-x")
        expect(yield* a.election.state).toEqual({ role: "standby", holder: "pod-x" })
        expect(t.running.size).toBe(0)

        // pod-x never renews its one-second lease, seen at 0: pod-a takes it over at its first try from 1000.
        yield* at(999)
        expect(t.starts("pod-a")).toEqual([])
        yield* at(1000)
        expect(t.starts("pod-a")).toEqual([1000])
        expect(yield* memory.stored).toMatchObject({ holderIdentity: "pod-a", leaseTransitions: transitions + 1 })
      })
    )

  it.scoped("loses an update race with a 409, reads the Lease again and stands by", () => losesTheRace("released"))

  it.scoped("loses a create race with a 409, reads the Lease again and stands by", () => losesTheRace("none"))

  it.scoped("steps down at once when its renewal loses the race to another holder, and waits out its lease", () =>
    scenario(({ logs, memory, t }) =>
      Effect.gen(function* () {
        const a = yield* memory.replica("pod-a", t)
        yield* Effect.fork(a.election.runWhileLeader(t.program("pod-a")))
        yield* at(100)
        a.replica.beforeNextWrite = Effect.orDie(
          Effect.flatMap(memory.store.get(REF), (found) =>
            memory.store.replace(REF, Option.getOrThrow(found), othersRecord("pod-x", 100, 1))
          )
        )
        yield* at(200)

        expect(t.stops("pod-a")).toEqual([200])
        expect(logs.lines).toContain("pod-a: lost the lease: pod-x holds it now")
        expect(yield* a.election.state).toEqual({ role: "standby", holder: "pod-x" })

        yield* at(1200)
        expect(t.starts("pod-a")).toEqual([0, 1200])
        expect(t.maxConcurrent).toBe(1)
      })
    )
  )

  it.scoped("releases the lease when the program ends, and a standby takes over at its next try", () =>
    scenario(({ logs, memory, t, leaderAndStandby }) =>
      Effect.gen(function* () {
        const { a, runA } = yield* leaderAndStandby(
          t.program("pod-a", Effect.as(Effect.sleep("500 millis"), "finished"))
        )
        yield* at(500)

        expect(yield* Fiber.join(runA)).toBe("finished")
        expect(yield* a.election.state).toEqual({ role: "standby", holder: undefined })
        expect(logs.lines).toContain("pod-a: released the lease")
        expect(writes(t, "pod-a", "")).toEqual([500])
        expect(yield* memory.stored).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 })

        yield* at(600)
        // The standby's next try, far sooner than the lease duration.
        expect(t.starts("pod-b")).toEqual([600])
        expect(yield* memory.stored).toMatchObject({ holderIdentity: "pod-b", leaseTransitions: 1 })
      })
    )
  )

  it.scoped("stops the program before it releases the lease when interrupted, however long its stop takes", () =>
    scenario(({ memory, t }) =>
      Effect.gen(function* () {
        const a = yield* memory.replica("pod-a", t)
        const runA = yield* Effect.fork(
          a.election.runWhileLeader(t.program("pod-a", Effect.never, Effect.sleep("300 millis")))
        )
        yield* at(300)
        yield* Fiber.interruptFork(runA)
        yield* at(599)
        expect(yield* memory.stored).toMatchObject({ holderIdentity: "pod-a" })
        expect(t.stops()).toEqual([])

        yield* at(600)
        expect(yield* Fiber.await(runA)).toSatisfy(Exit.isInterrupted)
        expect(t.stops()).toEqual([600])
        expect(writes(t, "pod-a", "")).toEqual([600])
        const order = t.events.map((e) => `${e.what}${e.holder === "" ? " release" : ""}`)
        expect(order.slice(-2)).toEqual(["stop", "write release"])
        expect(yield* memory.stored).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 })
        expect(yield* a.election.state).toEqual({ role: "standby", holder: undefined })
      })
    )
  )

  class Undelivered extends Data.TaggedError("Undelivered")<{ readonly records: number }> {}

  it.scoped("ends with the failure that the program's own stop added to the interruption", () =>
    scenario(({ memory, t }) =>
      Effect.gen(function* () {
        const a = yield* memory.replica("pod-a", t)
        // A program that, once stopped, fails with what it could not finish (as the collector's term does).
        const program = Effect.uninterruptibleMask((restore) =>
          restore(t.program("pod-a")).pipe(
            Effect.catchAllCause((cause) =>
              Effect.failCause(Cause.sequential(cause, Cause.fail(new Undelivered({ records: 3 }))))
            )
          )
        )
        const runA = yield* Effect.fork(a.election.runWhileLeader(program))
        yield* at(300)

        const exit = yield* Fiber.interrupt(runA)
        expect(Exit.isFailure(exit) && Cause.isInterrupted(exit.cause)).toBe(true)
        expect(Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined).toEqual(
          Option.some(new Undelivered({ records: 3 }))
        )
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(false)
        expect(yield* memory.stored).toMatchObject({ holderIdentity: "" })
      })
    )
  )

  for (const [jitter, reads] of [
    [0, [0, 200, 400, 600, 800, 1000]],
    [0.5, [0, 320, 640, 960]],
    [1, [0, 440, 880]]
  ] as const) {
    it.scoped(`a standby tries every retry period, stretched at random by up to 1.2 of one (${jitter})`, () =>
      scenario(
        ({ t, leaderAndStandby }) =>
          Effect.gen(function* () {
            yield* leaderAndStandby()
            yield* at(1000)
            expect(t.of("read", "pod-b").map((e) => e.at)).toEqual(reads)
          }),
        jitter
      )
    )
  }
})

describe("LeaderElection's settings and stand-ins", () => {
  it.effect("makes the layer fail with every problem of its settings", () =>
    Effect.gen(function* () {
      const error = yield* LeaderElection.make({ ...settings("pod-a"), renewDeadline: Duration.seconds(5) }).pipe(
        Effect.provide(LeaseApi.layerMemory),
        Effect.flip
      )
      expect(error).toBeInstanceOf(InvalidLeaderElectionSettings)
      expect(error.message).toMatch(/^invalid leader election settings: the renew deadline \(5s\) must be shorter/)
    })
  )

  it.effect("runs the program at once when election is disabled", () =>
    Effect.gen(function* () {
      const election = yield* LeaderElection
      expect(yield* election.state).toEqual({ role: "leader", holder: "solo" })
      expect(yield* election.runWhileLeader(Effect.succeed(42))).toBe(42)
    }).pipe(Effect.provide(LeaderElection.layerNoop("solo")))
  )

  it("names this process by POD_NAME when set, else the host name, with a suffix kept for its life", () => {
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

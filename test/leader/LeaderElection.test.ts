/**
 * Leader election against the simulated API server over real HTTP: one leader at a time, a leader that cannot
 * renew stops before its lease could expire, a standby takes over after the lease duration or at once after a
 * release, and 409 races on create and update.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Option } from "effect"
import { Resources, simKubeConfig } from "../../src/sim/index.ts"
import {
  acceptedWrites,
  captureLogs,
  elector,
  LEASE,
  LEASE_PATH,
  NAMESPACE,
  partitionableProxy,
  RECORDED_LEASE_MS,
  RENEW_DEADLINE_MS,
  simServer,
  storedLease,
  Timeline,
  tracked,
  waitFor
} from "./support.ts"

/** Timer and interruption latency allowed on top of a deadline. */
const SLACK_MS = 150

describe("LeaderElection", () => {
  it.scopedLive("elects one of two replicas; the other stands by and names the leader", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const sim = yield* simServer
      const kc = simKubeConfig(sim.url)
      const t = new Timeline()
      const a = yield* elector(kc, "pod-a")
      const b = yield* elector(kc, "pod-b")
      const stateA = yield* tracked(a)
      const stateB = yield* tracked(b)
      yield* Effect.forkScoped(a.runWhileLeader(t.program("pod-a")))
      yield* Effect.forkScoped(b.runWhileLeader(t.program("pod-b")))

      yield* waitFor("a leader", () => t.running.size === 1)
      yield* Effect.sleep(Duration.millis(1500))

      expect(t.maxConcurrent).toBe(1)
      expect(t.starts()).toHaveLength(1)
      const leader = t.starts()[0]?.who
      const standby = leader === "pod-a" ? "pod-b" : "pod-a"
      const [leaderState, standbyState] = leader === "pod-a" ? [stateA, stateB] : [stateB, stateA]
      expect(leaderState.current).toEqual({ role: "leader", holder: leader })
      expect(standbyState.current).toEqual({ role: "standby", holder: leader })
      expect(logs.lines).toContain(`${leader}: became leader`)
      expect(logs.lines).toContain(`${standby}: leader is ${leader}`)

      const lease = storedLease(sim)
      expect(lease?.spec).toMatchObject({ holderIdentity: leader, leaseDurationSeconds: 2, leaseTransitions: 0 })
      expect(lease?.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
      expect(lease?.spec.acquireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
      // Renewed every retry period (200 ms) over those 1.5 s.
      expect(acceptedWrites(sim).length).toBeGreaterThanOrEqual(5)
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive("keeps the lease through failures shorter than the renew deadline", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const kc = simKubeConfig(sim.url)
      const t = new Timeline()
      const a = yield* elector(kc, "pod-a")
      yield* Effect.forkScoped(a.runWhileLeader(t.program("pod-a")))
      yield* waitFor("pod-a to lead", () => t.running.has("pod-a"))

      const fault = sim.faults.add({
        path: "/apis/coordination.k8s.io/*",
        action: { type: "resetConnection" },
        times: 2
      })
      yield* waitFor("both faults to be hit", () => !fault.active)
      yield* Effect.sleep(Duration.millis(600))

      expect(t.stops()).toHaveLength(0)
      expect((yield* a.state).role).toBe("leader")
    }).pipe(Effect.provide(captureLogs().layer))
  )

  it.scopedLive("stops a leader whose renewals fail within the renew deadline, before its lease could expire", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const sim = yield* simServer
      const kc = simKubeConfig(sim.url)
      const t = new Timeline()
      const a = yield* elector(kc, "pod-a")
      const b = yield* elector(kc, "pod-b")
      yield* Effect.forkScoped(a.runWhileLeader(t.program("pod-a")))
      yield* waitFor("pod-a to lead", () => t.running.has("pod-a"))
      yield* Effect.forkScoped(b.runWhileLeader(t.program("pod-b")))
      yield* Effect.sleep(Duration.millis(300))

      const fault = sim.faults.add({
        method: "PUT",
        path: "/apis/coordination.k8s.io/*",
        action: { type: "internalError" }
      })
      yield* waitFor("pod-a to stop", () => t.stops("pod-a").length === 1)
      const lastRenewal = Math.max(...acceptedWrites(sim))
      const stoppedAt = t.stops("pod-a")[0]?.at ?? NaN
      // Stopped by its own deadline, measured from no later than the last renewal's arrival...
      expect(stoppedAt - lastRenewal).toBeLessThanOrEqual(RENEW_DEADLINE_MS + SLACK_MS)
      expect(stoppedAt - lastRenewal).toBeGreaterThanOrEqual(RENEW_DEADLINE_MS - SLACK_MS)
      // ...which is well before anyone else could consider the lease expired.
      expect(stoppedAt).toBeLessThan(lastRenewal + 1500)
      expect((yield* a.state).role).toBe("standby")
      expect(logs.lines.some((l) => l.startsWith("pod-a: lost the lease"))).toBe(true)

      // Past the lease's expiry nobody runs while no write can succeed.
      yield* Effect.sleep(Duration.millis(lastRenewal + RECORDED_LEASE_MS + 500 - Date.now()))
      expect(t.running.size).toBe(0)
      expect(t.starts("pod-b")).toHaveLength(0)

      fault.clear()
      yield* waitFor("a leader again", () => t.running.size === 1)
      yield* Effect.sleep(Duration.millis(500))
      expect(t.maxConcurrent).toBe(1)
      expect(t.running.size).toBe(1)
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive("lets a standby take over a partitioned leader only after the lease duration, never both at once", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const proxy = yield* partitionableProxy(sim)
      const t = new Timeline()
      const a = yield* elector(simKubeConfig(proxy.url), "pod-a")
      const b = yield* elector(simKubeConfig(sim.url), "pod-b")
      const stateA = yield* tracked(a)
      yield* Effect.forkScoped(a.runWhileLeader(t.program("pod-a")))
      yield* waitFor("pod-a to lead", () => t.running.has("pod-a"))
      yield* Effect.forkScoped(b.runWhileLeader(t.program("pod-b")))
      yield* Effect.sleep(Duration.millis(500))

      proxy.cut()
      const lastRenewal = Math.max(...acceptedWrites(sim))
      yield* waitFor("pod-b to take over", () => t.running.has("pod-b"))
      const stoppedA = t.stops("pod-a")[0]?.at ?? NaN
      const startedB = t.starts("pod-b")[0]?.at ?? NaN
      expect(stoppedA - lastRenewal).toBeLessThanOrEqual(RENEW_DEADLINE_MS + SLACK_MS)
      expect(startedB - lastRenewal).toBeGreaterThanOrEqual(RECORDED_LEASE_MS)
      expect(startedB).toBeGreaterThan(stoppedA)
      expect(t.maxConcurrent).toBe(1)
      expect(storedLease(sim)?.spec).toMatchObject({ holderIdentity: "pod-b", leaseTransitions: 1 })

      proxy.heal()
      yield* waitFor("pod-a to see pod-b", () => stateA.current.holder === "pod-b")
      expect(stateA.current.role).toBe("standby")
      yield* Effect.sleep(Duration.millis(500))
      expect(t.starts("pod-a")).toHaveLength(1)
      expect(t.maxConcurrent).toBe(1)
    }).pipe(Effect.provide(captureLogs().layer))
  )

  it.scopedLive("releases the lease when the program ends, and a standby takes over at its next try", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const sim = yield* simServer
      const kc = simKubeConfig(sim.url)
      const t = new Timeline()
      const done = yield* Deferred.make<string>()
      const a = yield* elector(kc, "pod-a")
      const b = yield* elector(kc, "pod-b")
      const runA = yield* Effect.forkScoped(a.runWhileLeader(t.program("pod-a", Deferred.await(done))))
      yield* waitFor("pod-a to lead", () => t.running.has("pod-a"))
      yield* Effect.forkScoped(b.runWhileLeader(t.program("pod-b")))
      yield* Effect.sleep(Duration.millis(400))

      yield* Deferred.succeed(done, "finished")
      expect(yield* Fiber.join(runA)).toBe("finished")
      expect(yield* a.state).toEqual({ role: "standby", holder: undefined })
      expect(logs.lines).toContain("pod-a: released the lease")

      yield* waitFor("pod-b to take over", () => t.running.has("pod-b"))
      const stoppedA = t.stops("pod-a")[0]?.at ?? NaN
      const startedB = t.starts("pod-b")[0]?.at ?? NaN
      // At most 2.2 retry periods of standby jitter, far sooner than the lease duration.
      expect(startedB - stoppedA).toBeLessThan(440 + SLACK_MS)
      expect(t.maxConcurrent).toBe(1)
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive("stops the program before it releases the lease when interrupted", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const t = new Timeline()
      const a = yield* elector(simKubeConfig(sim.url), "pod-a")
      const runA = yield* Effect.forkScoped(a.runWhileLeader(t.program("pod-a")))
      yield* waitFor("pod-a to lead", () => t.running.has("pod-a"))

      expect(yield* Fiber.interrupt(runA)).toSatisfy(Exit.isInterrupted)
      const released = storedLease(sim)
      expect(released?.spec).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 })
      const releaseArrived = Math.max(...acceptedWrites(sim))
      expect(t.stops("pod-a")[0]?.at).toBeLessThanOrEqual(releaseArrived)
    }).pipe(Effect.provide(captureLogs().layer))
  )

  it.scopedLive("ends with what the program's own stop added to the interruption (records left undelivered)", () =>
    Effect.gen(function* () {
      const sim = yield* simServer
      const a = yield* elector(simKubeConfig(sim.url), "pod-a")
      const leading = yield* Deferred.make<void>()
      const program = Deferred.succeed(leading, undefined).pipe(
        Effect.zipRight(Effect.never),
        Effect.onInterrupt(() => Effect.die("3 records could not be delivered"))
      )
      const runA = yield* Effect.forkScoped(a.runWhileLeader(program))
      yield* Deferred.await(leading)

      const exit = yield* Fiber.interrupt(runA)
      expect(Exit.isFailure(exit) && Cause.isInterrupted(exit.cause)).toBe(true)
      expect(Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : undefined).toEqual(
        Option.some("3 records could not be delivered")
      )
      expect(storedLease(sim)?.spec).toMatchObject({ holderIdentity: "" })
    }).pipe(Effect.provide(captureLogs().layer))
  )

  it.scopedLive("loses a create race with a 409, re-reads and stands by, then takes the unrenewed lease over", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const sim = yield* simServer
      const t = new Timeline()
      const a = yield* elector(simKubeConfig(sim.url), "pod-a")
      sim.faults.add({
        method: "POST",
        path: "/apis/coordination.k8s.io/*",
        action: { type: "delay", ms: 200 },
        times: 1
      })
      yield* Effect.forkScoped(a.runWhileLeader(t.program("pod-a")))
      yield* waitFor("the create to arrive", () => sim.requests.count({ method: "POST" }) === 1)
      sim.objects.lease({ namespace: NAMESPACE, name: LEASE, holderIdentity: "pod-x", leaseDurationSeconds: 1 })

      yield* waitFor("pod-a to see pod-x", () => logs.lines.includes("pod-a: leader is pod-x"))
      expect(sim.requests.filter({ method: "POST" }).map((r) => r.status)).toEqual([409])
      expect(yield* a.state).toEqual({ role: "standby", holder: "pod-x" })
      expect(t.running.size).toBe(0)

      // pod-x never renews: after its one-second lease pod-a takes over.
      yield* waitFor("pod-a to lead", () => t.running.has("pod-a"), 2500)
      expect(storedLease(sim)?.spec).toMatchObject({ holderIdentity: "pod-a", leaseTransitions: 1 })
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive("loses an update race with a 409, re-reads and stands by", () => {
    const logs = captureLogs()
    return Effect.gen(function* () {
      const sim = yield* simServer
      const t = new Timeline()
      sim.objects.lease({ namespace: NAMESPACE, name: LEASE })
      const a = yield* elector(simKubeConfig(sim.url), "pod-a")
      sim.faults.add({ method: "PUT", path: LEASE_PATH, action: { type: "delay", ms: 200 }, times: 1 })
      yield* Effect.forkScoped(a.runWhileLeader(t.program("pod-a")))
      yield* waitFor("the update to arrive", () => sim.requests.count({ method: "PUT" }) === 1)
      const now = new Date().toISOString().replace("Z", "000Z")
      sim.store.modify(Resources.leases, NAMESPACE, LEASE, (o) => ({
        ...o,
        spec: {
          holderIdentity: "pod-x",
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 1
        }
      }))

      yield* waitFor("pod-a to see pod-x", () => logs.lines.includes("pod-a: leader is pod-x"))
      expect(sim.requests.filter({ method: "PUT" }).map((r) => r.status)).toEqual([409])
      expect(yield* a.state).toEqual({ role: "standby", holder: "pod-x" })
      expect(t.running.size).toBe(0)
      yield* waitFor("pod-a to lead", () => t.running.has("pod-a"), 2500)
      expect(storedLease(sim)?.spec).toMatchObject({ holderIdentity: "pod-a", leaseTransitions: 2 })
    }).pipe(Effect.provide(logs.layer))
  })
})

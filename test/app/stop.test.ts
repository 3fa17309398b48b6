/**
 * How a stopped run ends: records left undelivered are a `DeliveryFailed` failure beside the interruption, said
 * once, and exit code 1; a stop that delivered everything, like any interruption alone, exits 0. The same through
 * a term as leader, whose end releases the Lease.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, FiberId, Layer, Option } from "effect"
import { processExitCode, type RunError, toExitCode } from "../../src/app/exitCodes.ts"
import { reportStop, whenStopped } from "../../src/app/stop.ts"
import { LeaderElection, runWhileLeader } from "../../src/leader/LeaderElection.ts"
import { LeaseApi } from "../../src/leader/LeaseApi.ts"
import { DeliveryFailed } from "../../src/sink/DeliveryFailed.ts"
import { KubeConfigError } from "../../src/source/kubeconfig.ts"
import { captureLevelledLogs } from "../support/logs.ts"

/** A sink that exported 5 records and dropped `dropped` at shutdown. */
const sinkWith = (dropped: number) => ({
  stats: Effect.succeed({
    exported: 5,
    dropped: dropped === 0 ? {} : { shutdown: dropped },
    lastError: undefined
  })
})

/** Runs `run` as the entry point does, stops it once `started` completes, and gives the main fiber's exit. */
const stopMain = (run: (started: Deferred.Deferred<void>) => Effect.Effect<void, RunError>) =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void>()
    const main = yield* Effect.fork(toExitCode(run(started)))
    yield* Deferred.await(started)
    return yield* Fiber.interrupt(main)
  })

/** Reads events until stopped, then reports what `sink` left undelivered. */
const collector = (dropped: number) => (started: Deferred.Deferred<void>) =>
  Deferred.succeed(started, undefined).pipe(
    Effect.zipRight(Effect.never),
    whenStopped(reportStop(sinkWith(dropped), dropped))
  )

const undelivered = new DeliveryFailed({ dropped: { shutdown: 3 } })

describe("a stopped run", () => {
  it.effect(
    "that left records undelivered fails with DeliveryFailed beside the interruption, said once; exit 1",
    () => {
      const logs = captureLevelledLogs()
      return Effect.gen(function* () {
        const exit = yield* stopMain(collector(3))

        expect(processExitCode(exit)).toBe(1)
        expect(Exit.isFailure(exit) && Cause.isInterrupted(exit.cause)).toBe(true)
        expect(Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined).toEqual(Option.some(undelivered))
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(false)
        expect(logs.lines.filter((l) => l.startsWith("ERROR"))).toEqual([
          "ERROR stopped after exporting 5 records: 3 records could not be delivered (3 shutdown)"
        ])
      }).pipe(Effect.provide(logs.layer))
    }
  )

  it.effect("that delivered everything is a clean stop: exit 0", () => {
    const logs = captureLevelledLogs()
    return Effect.gen(function* () {
      const exit = yield* stopMain(collector(0))

      expect(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)).toBe(true)
      expect(processExitCode(exit)).toBe(0)
      expect(logs.lines).toEqual(["INFO stopped after exporting 5 records"])
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("as leader ends with DeliveryFailed too, after the program stopped and the Lease was released", () => {
    const logs = captureLevelledLogs()
    const election = LeaderElection.layer({
      namespace: "collector",
      name: "k8s-event-collector",
      identity: "pod-a",
      leaseDuration: Duration.seconds(15),
      renewDeadline: Duration.seconds(10),
      retryPeriod: Duration.seconds(2)
    }).pipe(Layer.provide(LeaseApi.layerMemory))
    return Effect.gen(function* () {
      const exit = yield* stopMain((started) => runWhileLeader(collector(3)(started)).pipe(Effect.provide(election)))

      expect(processExitCode(exit)).toBe(1)
      expect(Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined).toEqual(Option.some(undelivered))
      expect(logs.lines).toContain("INFO released the lease")
      const stopped = logs.lines.indexOf(
        "ERROR stopped after exporting 5 records: 3 records could not be delivered (3 shutdown)"
      )
      expect(stopped).toBeGreaterThanOrEqual(0)
      expect(stopped).toBeLessThan(logs.lines.indexOf("INFO released the lease"))
    }).pipe(Effect.provide(logs.layer))
  })
})

describe("toExitCode and processExitCode", () => {
  it.effect("log a run's failure once with its message and give its code", () => {
    const logs = captureLevelledLogs()
    return Effect.gen(function* () {
      expect(yield* toExitCode(Effect.fail(undelivered))).toBe(1)
      expect(yield* toExitCode(Effect.fail(new KubeConfigError({ reason: "NotFound", path: "/nowhere" })))).toBe(2)
      expect(yield* toExitCode(Effect.void)).toBe(0)
      expect(logs.lines).toEqual([`ERROR ${undelivered.message}`, expect.stringMatching(/^ERROR /)])
    }).pipe(Effect.provide(logs.layer))
  })

  it.each([
    ["a command's code", Exit.succeed(2), 2],
    ["an interruption alone", Exit.interrupt(FiberId.none), 0],
    ["a defect", Exit.die(new Error("bug")), 70],
    [
      "a stop that left records undelivered",
      Exit.failCause(Cause.sequential(Cause.interrupt(FiberId.none), Cause.fail(undelivered))),
      1
    ],
    [
      "a stop whose checkpoint store was unusable",
      Exit.failCause(Cause.sequential(Cause.interrupt(FiberId.none), Cause.fail({ _tag: "CheckpointError" }))),
      2
    ]
  ])("give the process's exit code for %s", (_, exit, code) => {
    expect(processExitCode(exit)).toBe(code)
  })
})

/**
 * Leader election on a `coordination.k8s.io/v1` Lease, following client-go's `leaderelection` package: every
 * replica tries to acquire or renew the Lease every retry period; the holder renews it, and a replica takes it over
 * only when the record it last saw has not changed for the record's lease duration, measured on its own monotonic
 * clock from the moment it saw it (no comparison of wall clocks across machines). Writes are guarded by
 * `resourceVersion`, so of two replicas racing for the Lease exactly one wins.
 *
 * What it adds to client-go: the guarded program runs in a fiber that is interrupted as soon as no renewal has
 * succeeded for `renewDeadline` since the start of the last successful write. That write reached the API server
 * no earlier than it started, and any other replica saw it no earlier than that, so it cannot take the Lease over
 * before `leaseDuration` after that start: the program is stopped `leaseDuration - renewDeadline` before anyone
 * else may start it (less the time the program's own finalizers take).
 */
import { randomBytes } from "node:crypto"
import * as os from "node:os"
import { Cause, Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Schema, Stream, SubscriptionRef } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import {
  acquire,
  becomeLeader,
  deadlinePassed,
  type Elector,
  keepRenewing,
  type LeaderState,
  lose,
  makeElector,
  release
} from "./elector.ts"
import { LeaseApi } from "./LeaseApi.ts"
import { type LeaderElectionSettings, settingsProblems } from "./rules.ts"

export type { LeaderState } from "./elector.ts"
export { brokenTimingRules, type LeaderElectionSettings, type LeaseTiming } from "./rules.ts"

export class InvalidLeaderElectionSettings extends Schema.TaggedError<InvalidLeaderElectionSettings>()(
  "InvalidLeaderElectionSettings",
  { problems: Schema.Array(Schema.String) }
) {
  override get message(): string {
    return `invalid leader election settings: ${this.problems.join("; ")}`
  }
}

const readableName = (): string => {
  const pod = process.env["POD_NAME"]?.trim()
  return pod !== undefined && pod !== "" ? pod : os.hostname()
}

/** 32 random bits: two processes of one name collide with a chance of one in four billion. */
const PROCESS_SUFFIX = randomBytes(4).toString("hex")

/**
 * This process's name in the Lease: the pod's name (the downward API's `POD_NAME`), else the host name, plus a
 * random suffix drawn once per process, as client-go's `hostname + "_" + uuid`. The name keeps it readable in logs
 * and `/readyz`; the suffix keeps apart processes that share it (two on one host, `hostNetwork` pods on one node)
 * and a restarted process from its previous incarnation, whose Lease it waits out like any other replica's.
 */
export const defaultIdentity = (): string => `${readableName()}_${PROCESS_SUFFIX}`

export interface LeaderElectionShape {
  readonly settings: LeaderElectionSettings
  readonly state: Effect.Effect<LeaderState>
  /** The current state, then every change. */
  readonly changes: Stream.Stream<LeaderState>
  /**
   * Runs `program` only while this replica holds the Lease: waits to acquire it, runs the program while renewing,
   * interrupts the program when a renewal deadline passes and waits to acquire again (the program starts afresh).
   * When the program ends (success, failure or its own interruption), or this effect is interrupted, the Lease is
   * released so a standby takes over at its next retry, and the program's result is returned. Errors of the API
   * server are logged and retried, never returned. One call at a time per service: a second call waits.
   */
  readonly runWhileLeader: <A, E, R>(program: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** How a term as leader ended: the program's own end, or the Lease lost (the program was interrupted). */
type Outcome<A, E> = { readonly _tag: "Done"; readonly exit: Exit.Exit<A, E> } | { readonly _tag: "Lost" }

const LOST = { _tag: "Lost" } as const

/**
 * The exit of a term ended from outside (`interrupted`), with what the program's own stop added to the interruption
 * (records it could not deliver while stopping): that is part of how the run ended.
 */
const endedFromOutside = <A, E>(interrupted: Cause.Cause<never>, outcome: Deferred.Deferred<Outcome<A, E>>) =>
  Effect.gen(function* () {
    const ended = (yield* Deferred.isDone(outcome)) ? yield* Deferred.await(outcome) : LOST
    return ended._tag === "Done" && Exit.isFailure(ended.exit) && !Cause.isInterruptedOnly(ended.exit.cause)
      ? yield* Effect.failCause(Cause.sequential(interrupted, ended.exit.cause))
      : yield* Effect.failCause(interrupted)
  })

/**
 * One term as leader, from a write sent at `heldSince`: the program and the renewals side by side. Both are forked
 * so that their end is under control here: a lost lease interrupts the program and waits for it to stop; an ending
 * program, or an interruption from outside, stops the renewals and (only once the program has stopped) releases
 * the Lease.
 */
const lead = <A, E, R>(e: Elector, program: Effect.Effect<A, E, R>, heldSince: number) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      if (yield* deadlinePassed(e, heldSince)) {
        yield* lose(e, "acquiring it took longer than the renew deadline")
        return LOST
      }
      yield* becomeLeader(e)
      const outcome = yield* Deferred.make<Outcome<A, E>>()
      const programFiber = yield* Effect.fork(
        restore(program).pipe(
          Effect.exit,
          Effect.flatMap((exit) => Deferred.succeed(outcome, { _tag: "Done", exit }))
        )
      )
      const renewFiber = yield* Effect.fork(
        restore(keepRenewing(e, heldSince)).pipe(Effect.zipRight(Deferred.succeed(outcome, LOST)))
      )
      const result = yield* restore(Deferred.await(outcome)).pipe(Effect.exit)
      if (Exit.isSuccess(result) && result.value._tag === "Lost") {
        yield* Fiber.interrupt(programFiber)
        return result.value
      }
      yield* Fiber.interrupt(renewFiber)
      yield* Fiber.interrupt(programFiber)
      yield* release(e)
      return Exit.isSuccess(result) ? result.value : yield* endedFromOutside(result.cause, outcome)
    })
  )

const make = (settings: LeaderElectionSettings) =>
  Effect.gen(function* () {
    const problems = settingsProblems(settings)
    if (problems.length > 0) return yield* new InvalidLeaderElectionSettings({ problems })
    const e = yield* makeElector(settings, yield* LeaseApi)
    const permit = yield* Effect.makeSemaphore(1)
    const term = <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.flatMap(acquire(e), (heldSince) => lead(e, program, heldSince)).pipe(
        Effect.flatMap((outcome) => (outcome._tag === "Done" ? outcome.exit : term(program)))
      )
    const runWhileLeader = <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      permit
        .withPermits(1)(term(program))
        .pipe(
          Effect.annotateLogs({ lease: `${settings.namespace}/${settings.name}`, identity: settings.identity }),
          Effect.withSpan("LeaderElection.runWhileLeader")
        )
    return {
      settings,
      state: SubscriptionRef.get(e.state),
      changes: e.state.changes,
      runWhileLeader
    } satisfies LeaderElectionShape
  })

export class LeaderElection extends Context.Tag("LeaderElection")<LeaderElection, LeaderElectionShape>() {
  /** An elector on its own, for a caller that needs more than one (tests) or builds its own layer. */
  static readonly make = make
  static readonly layer = (settings: LeaderElectionSettings) => Layer.effect(LeaderElection, make(settings))
  /** The live layer: the Lease read and written through the kubeconfig's cluster and credentials. */
  static readonly layerKube = (kc: KubeConfig, settings: LeaderElectionSettings) =>
    LeaderElection.layer(settings).pipe(Layer.provide(LeaseApi.layer(kc)))
  /** No election: the program runs at once and this replica always reports itself leader (a single replica). */
  static readonly layerNoop = (identity: string) =>
    Layer.effect(
      LeaderElection,
      Effect.gen(function* () {
        const state = yield* SubscriptionRef.make<LeaderState>({ role: "leader", holder: identity })
        return {
          settings: {
            namespace: "",
            name: "",
            identity,
            leaseDuration: Duration.infinity,
            renewDeadline: Duration.infinity,
            retryPeriod: Duration.infinity
          },
          state: SubscriptionRef.get(state),
          changes: state.changes,
          runWhileLeader: (program) => program
        } satisfies LeaderElectionShape
      })
    )
}

/** `program`, run only while this replica holds the Lease (see `LeaderElectionShape.runWhileLeader`). */
export const runWhileLeader = <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | LeaderElection> =>
  Effect.flatMap(LeaderElection, (election) => election.runWhileLeader(program))

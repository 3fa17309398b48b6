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
import {
  Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Random,
  Ref,
  Schema,
  Stream,
  SubscriptionRef
} from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { type Lease, LeaseApi, type LeaseError, type LeaseRecord, type LeaseRef } from "./LeaseApi.ts"

export interface LeaderElectionSettings {
  readonly namespace: string
  /** Name of the Lease. */
  readonly name: string
  /** This replica's name in `spec.holderIdentity`; must differ between replicas (see `defaultIdentity`). */
  readonly identity: string
  /**
   * How long a standby waits, from when it last saw the Lease change, before taking it over. Written to
   * `spec.leaseDurationSeconds` in whole seconds, rounded up, which is what the other replicas wait.
   */
  readonly leaseDuration: Duration.Duration
  /** The leader stops its program when no renewal has succeeded for this long. Shorter than `leaseDuration`. */
  readonly renewDeadline: Duration.Duration
  /** Interval between attempts to acquire or renew. Shorter than `renewDeadline`. */
  readonly retryPeriod: Duration.Duration
}

type LeaderRole = "leader" | "standby"

export interface LeaderState {
  /** "leader" exactly while the program guarded by `runWhileLeader` is meant to run here. */
  readonly role: LeaderRole
  /** Who holds the Lease as last seen (this replica's identity when leader); undefined when free or not yet read. */
  readonly holder: string | undefined
}

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

/** Every problem with the settings, in words for the person who wrote them; empty when they are usable. */
export const settingsProblems = (settings: LeaderElectionSettings): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const fmt = Duration.format
  if (settings.namespace.trim() === "") problems.push("the Lease namespace is empty")
  if (settings.name.trim() === "") problems.push("the Lease name is empty")
  if (settings.identity.trim() === "") problems.push("the identity is empty (set POD_NAME or give one)")
  for (const timing of Object.keys(TIMING_LABEL) as ReadonlyArray<LeaseTiming>) {
    const d = settings[timing]
    if (!Duration.isFinite(d) || Duration.lessThanOrEqualTo(d, Duration.zero)) {
      problems.push(`the ${TIMING_LABEL[timing]} must be a positive, finite duration (got ${fmt(d)})`)
    }
  }
  if (problems.length > 0) return problems
  return brokenTimingRules(settings).map(
    (rule) =>
      `the ${TIMING_LABEL[rule.shorter]} (${fmt(settings[rule.shorter])}) must be shorter than ` +
      `the ${TIMING_LABEL[rule.longer]} (${fmt(settings[rule.longer])}): ${rule.why}`
  )
}

export type LeaseTiming = "leaseDuration" | "renewDeadline" | "retryPeriod"

const TIMING_LABEL: Record<LeaseTiming, string> = {
  leaseDuration: "lease duration",
  renewDeadline: "renew deadline",
  retryPeriod: "retry period"
}

/** The orderings of the timings a leader relies on: each `shorter` below its `longer`, and why. */
interface TimingRule {
  readonly shorter: LeaseTiming
  readonly longer: LeaseTiming
  readonly why: string
}

const TIMING_RULES: ReadonlyArray<TimingRule> = [
  {
    shorter: "renewDeadline",
    longer: "leaseDuration",
    why: "a leader that cannot renew must stop before another replica may take the lease over"
  },
  {
    shorter: "retryPeriod",
    longer: "renewDeadline",
    why: "the leader must be able to retry a failed renewal before it gives the lease up"
  }
]

/** The timing rules that `timings` break, in the order of `TIMING_RULES`. */
export const brokenTimingRules = (timings: Readonly<Record<LeaseTiming, Duration.Duration>>) =>
  TIMING_RULES.filter((rule) => Duration.greaterThanOrEqualTo(timings[rule.shorter], timings[rule.longer]))

/** A Lease time as the API server writes it (`metav1.MicroTime`: exactly six fractional digits). */
export const microTime = (epochMillis: number): string => new Date(epochMillis).toISOString().replace(/Z$/, "000Z")

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

/** Seen from a standby: the holder's lease is valid until this long after the record last changed. */
interface Observed {
  readonly lease: Lease
  readonly fingerprint: string
  /** Monotonic milliseconds at which this record was first seen. */
  readonly at: number
}

type Attempt =
  /** We hold the Lease; the successful write was sent no earlier than `writtenAt` (monotonic ms). */
  { readonly _tag: "Held"; readonly writtenAt: number } | { readonly _tag: "HeldByOther"; readonly holder: string }

type Outcome<A, E> = { readonly _tag: "Done"; readonly exit: Exit.Exit<A, E> } | { readonly _tag: "Lost" }

/** client-go's `JitterFactor`: a standby waits between 1 and 2.2 retry periods between attempts. */
const JITTER_FACTOR = 1.2
/** Re-reads after a 409 within one attempt, before waiting for the next. */
const CONFLICT_REREADS = 2

const monotonicMillis = Effect.map(Clock.currentTimeNanos, (n) => Number(n / 1000n) / 1000)

const fingerprintOf = (l: Lease): string =>
  JSON.stringify([l.holderIdentity, l.leaseDurationSeconds, l.acquireTime, l.renewTime, l.leaseTransitions])

const make = (settings: LeaderElectionSettings) =>
  Effect.gen(function* () {
    const problems = settingsProblems(settings)
    if (problems.length > 0) return yield* new InvalidLeaderElectionSettings({ problems })
    const api = yield* LeaseApi
    const ref: LeaseRef = { namespace: settings.namespace, name: settings.name }
    const { identity } = settings
    const leaseDurationMs = Duration.toMillis(settings.leaseDuration)
    const renewDeadlineMs = Duration.toMillis(settings.renewDeadline)
    const retryPeriodMs = Duration.toMillis(settings.retryPeriod)
    const recordedSeconds = Math.ceil(leaseDurationMs / 1000)

    const state = yield* SubscriptionRef.make<LeaderState>({ role: "standby", holder: undefined })
    const observed = yield* Ref.make<Observed | undefined>(undefined)
    const reportedLeader = yield* Ref.make("")
    const lastProblem = yield* Ref.make<string | undefined>(undefined)
    const permit = yield* Effect.makeSemaphore(1)

    const setState = (next: LeaderState) =>
      SubscriptionRef.updateSome(state, (s) =>
        s.role === next.role && s.holder === next.holder ? Option.none() : Option.some(next)
      )

    /** Remembers the record and when it was first seen; while standby, reports a new holder. */
    const observe = (lease: Lease, leading: boolean) =>
      Effect.gen(function* () {
        const now = yield* monotonicMillis
        const fingerprint = fingerprintOf(lease)
        yield* Ref.update(observed, (prev) =>
          prev?.fingerprint === fingerprint ? { ...prev, lease } : { lease, fingerprint, at: now }
        )
        if (leading) return
        const holder = lease.holderIdentity
        yield* setState({ role: "standby", holder: holder === "" ? undefined : holder })
        const previous = yield* Ref.getAndSet(reportedLeader, holder)
        if (holder !== previous && holder !== "" && holder !== identity) yield* Effect.logInfo(`leader is ${holder}`)
      })

    const expired = (o: Observed, now: number) => {
      const seconds = o.lease.leaseDurationSeconds
      const validMs = seconds !== undefined && seconds > 0 ? seconds * 1000 : leaseDurationMs
      return now >= o.at + validMs
    }

    const ourRecord = (current: Lease | undefined, wallNow: number): LeaseRecord => {
      const t = microTime(wallNow)
      const continuing = current !== undefined && current.holderIdentity === identity
      return {
        holderIdentity: identity,
        leaseDurationSeconds: recordedSeconds,
        acquireTime: continuing ? (current.acquireTime ?? t) : t,
        renewTime: t,
        leaseTransitions:
          current === undefined ? 0 : continuing ? current.leaseTransitions : current.leaseTransitions + 1
      }
    }

    /** client-go's `tryAcquireOrRenew`, re-reading the Lease after a 409 instead of waiting a retry period. */
    const readAndTry = (leading: boolean, rereads: number): Effect.Effect<Attempt, LeaseError> =>
      Effect.gen(function* () {
        const again = (e: LeaseError) =>
          e.isConflict && rereads > 0 ? readAndTry(leading, rereads - 1) : Effect.fail(e)
        const found = yield* api.get(ref)
        if (Option.isNone(found)) {
          const writtenAt = yield* monotonicMillis
          const created = yield* api
            .create(ref, ourRecord(undefined, yield* Clock.currentTimeMillis))
            .pipe(Effect.either)
          if (created._tag === "Left") return yield* again(created.left)
          yield* observe(created.right, true)
          return { _tag: "Held", writtenAt } as const
        }
        const lease = found.value
        yield* observe(lease, leading)
        const seen = yield* Ref.get(observed)
        const holder = lease.holderIdentity
        if (holder !== "" && holder !== identity && seen !== undefined && !expired(seen, yield* monotonicMillis)) {
          return { _tag: "HeldByOther", holder } as const
        }
        const writtenAt = yield* monotonicMillis
        const written = yield* api
          .replace(ref, lease, ourRecord(lease, yield* Clock.currentTimeMillis))
          .pipe(Effect.either)
        if (written._tag === "Left") return yield* again(written.left)
        yield* observe(written.right, true)
        return { _tag: "Held", writtenAt } as const
      })

    const tryAcquireOrRenew = (leading: boolean): Effect.Effect<Attempt, LeaseError> =>
      Effect.gen(function* () {
        const seen = yield* Ref.get(observed)
        // The leader's fast path writes over the record it wrote last; only a 409 sends it back to reading.
        if (!leading || seen === undefined || seen.lease.holderIdentity !== identity)
          return yield* readAndTry(leading, CONFLICT_REREADS)
        const writtenAt = yield* monotonicMillis
        const renewed = yield* api
          .replace(ref, seen.lease, ourRecord(seen.lease, yield* Clock.currentTimeMillis))
          .pipe(Effect.either)
        if (renewed._tag === "Left") {
          if (renewed.left.isConflict) return yield* readAndTry(leading, CONFLICT_REREADS)
          return yield* renewed.left
        }
        yield* observe(renewed.right, true)
        return { _tag: "Held", writtenAt } as const
      })

    /** Logs a failed attempt as a warning when it differs from the previous one, else at debug level. */
    const noteProblem = (message: string) =>
      Ref.getAndSet(lastProblem, message).pipe(
        Effect.flatMap((previous) => (previous === message ? Effect.logDebug(message) : Effect.logWarning(message)))
      )
    const clearProblem = Ref.set(lastProblem, undefined)

    const attempt = (leading: boolean, within: number) =>
      tryAcquireOrRenew(leading).pipe(
        Effect.timeoutOption(Duration.millis(Math.max(0, within))),
        Effect.flatMap(
          Option.match({
            onNone: () =>
              noteProblem(
                leading
                  ? `the renewal of Lease ${ref.namespace}/${ref.name} got no answer before the renew deadline`
                  : `no answer from the API server about Lease ${ref.namespace}/${ref.name} ` +
                      `within ${Duration.format(settings.renewDeadline)}`
              ).pipe(Effect.as(undefined)),
            onSome: (a) => clearProblem.pipe(Effect.as(a))
          })
        ),
        Effect.catchAll((e) => noteProblem(e.message).pipe(Effect.as(undefined)))
      )

    /** Waits until this replica holds the Lease; returns when the winning write was sent. */
    const acquire = Effect.gen(function* () {
      while (true) {
        const result = yield* attempt(false, renewDeadlineMs)
        if (result?._tag === "Held") return result.writtenAt
        const jitter = yield* Random.next
        yield* Effect.sleep(Duration.millis(retryPeriodMs * (1 + jitter * JITTER_FACTOR)))
      }
    })

    const lose = (why: string) =>
      Effect.gen(function* () {
        const seen = yield* Ref.get(observed)
        const holder = seen?.lease.holderIdentity
        yield* setState({ role: "standby", holder: holder === undefined || holder === "" ? undefined : holder })
        yield* Ref.set(reportedLeader, "")
        yield* Effect.logInfo(`lost the lease: ${why}`)
      })

    /** Renews every retry period; returns (after switching to standby) once the renew deadline has passed. */
    const keepRenewing = (heldSince: number) =>
      Effect.gen(function* () {
        let renewedAt = heldSince
        while (true) {
          const deadline = renewedAt + renewDeadlineMs
          yield* Effect.sleep(
            Duration.millis(Math.max(0, Math.min(retryPeriodMs, deadline - (yield* monotonicMillis))))
          )
          const now = yield* monotonicMillis
          if (now >= deadline)
            return yield* lose(`no renewal succeeded within ${Duration.format(settings.renewDeadline)}`)
          const result = yield* attempt(true, deadline - now)
          if (result?._tag === "Held") renewedAt = result.writtenAt
          else if (result?._tag === "HeldByOther") return yield* lose(`${result.holder} holds it now`)
        }
      })

    /**
     * client-go's release: an empty holder and a one-second duration, so a standby takes over at its next try.
     * A renewal interrupted in flight may have been written anyway, so a 409 is answered by reading the Lease again.
     */
    const releaseOver = (lease: Lease, rereads: number): Effect.Effect<void, LeaseError> =>
      Effect.gen(function* () {
        if (lease.holderIdentity !== identity) return
        const t = microTime(yield* Clock.currentTimeMillis)
        const released = yield* api
          .replace(ref, lease, {
            holderIdentity: "",
            leaseDurationSeconds: 1,
            acquireTime: t,
            renewTime: t,
            leaseTransitions: lease.leaseTransitions
          })
          .pipe(Effect.either)
        if (released._tag === "Right") {
          yield* observe(released.right, true)
          return yield* Effect.logInfo("released the lease")
        }
        if (!released.left.isConflict || rereads === 0) return yield* released.left
        const current = yield* api.get(ref)
        if (Option.isSome(current)) yield* releaseOver(current.value, rereads - 1)
      })

    const release = Ref.get(observed).pipe(
      Effect.flatMap((seen) => (seen === undefined ? Effect.void : releaseOver(seen.lease, CONFLICT_REREADS))),
      Effect.timeoutFail({ duration: settings.renewDeadline, onTimeout: () => "no answer from the API server" }),
      Effect.catchAll((e) =>
        Effect.logWarning(`could not release the lease: ${typeof e === "string" ? e : e.message}`)
      ),
      Effect.zipRight(setState({ role: "standby", holder: undefined })),
      Effect.zipRight(Ref.set(reportedLeader, ""))
    )

    /**
     * Runs the program and the renewals side by side. Both are forked so that their end is under control here:
     * a lost lease interrupts the program and waits for it to stop; an ending program, or an interruption from
     * outside, stops the renewals and (only once the program has stopped) releases the Lease.
     */
    const lead = <A, E, R>(program: Effect.Effect<A, E, R>, heldSince: number) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          if ((yield* monotonicMillis) >= heldSince + renewDeadlineMs) {
            yield* lose("acquiring it took longer than the renew deadline")
            const lost: Outcome<A, E> = { _tag: "Lost" }
            return lost
          }
          yield* setState({ role: "leader", holder: identity })
          yield* Ref.set(reportedLeader, identity)
          yield* Effect.logInfo("became leader")
          const outcome = yield* Deferred.make<Outcome<A, E>>()
          const programFiber = yield* Effect.fork(
            restore(program).pipe(
              Effect.exit,
              Effect.flatMap((exit) => Deferred.succeed(outcome, { _tag: "Done", exit }))
            )
          )
          const renewFiber = yield* Effect.fork(
            restore(keepRenewing(heldSince)).pipe(Effect.zipRight(Deferred.succeed(outcome, { _tag: "Lost" })))
          )
          const result = yield* restore(Deferred.await(outcome)).pipe(Effect.exit)
          if (Exit.isSuccess(result) && result.value._tag === "Lost") {
            yield* Fiber.interrupt(programFiber)
            return result.value
          }
          yield* Fiber.interrupt(renewFiber)
          yield* Fiber.interrupt(programFiber)
          yield* release
          // A program that ended with more than the interruption (records it could not deliver while stopping)
          // makes that part of how the run ended.
          if (Exit.isFailure(result) && (yield* Deferred.isDone(outcome))) {
            const ended = yield* Deferred.await(outcome)
            if (ended._tag === "Done" && Exit.isFailure(ended.exit) && !Cause.isInterruptedOnly(ended.exit.cause)) {
              return yield* Effect.failCause(Cause.sequential(result.cause, ended.exit.cause))
            }
          }
          return yield* result
        })
      )

    const runWhileLeader = <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      permit
        .withPermits(1)(
          Effect.gen(function* () {
            while (true) {
              const heldSince = yield* acquire
              const outcome = yield* lead(program, heldSince)
              if (outcome._tag === "Done") return yield* outcome.exit
            }
          })
        )
        .pipe(
          Effect.annotateLogs({ lease: `${ref.namespace}/${ref.name}`, identity }),
          Effect.withSpan("LeaderElection.runWhileLeader")
        )

    return {
      settings,
      state: SubscriptionRef.get(state),
      changes: state.changes,
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

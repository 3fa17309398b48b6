/**
 * One replica's side of the election: what it has seen of the Lease, one attempt to acquire or renew it
 * (client-go's `tryAcquireOrRenew`), the standby's attempts until it holds it, the leader's renewals until it loses
 * it, and the release. What these decide follows `rules.ts`; every wait and every time read is the `Clock`'s.
 */
import { Clock, Duration, Effect, Option, Ref, Schedule, SubscriptionRef } from "effect"
import type { KubeApiError } from "../kube/KubeApiError.ts"
import type { Lease, LeaseApiShape, LeaseRef } from "./LeaseApi.ts"
import {
  acquireOrRenew,
  JITTER_FACTOR,
  type LeaderElectionSettings,
  leaseFailure,
  mayWrite,
  type Observation,
  observe,
  recordedSeconds,
  released,
  renewalDelay
} from "./rules.ts"

export interface LeaderState {
  /** "leader" exactly while the program guarded by `runWhileLeader` is meant to run here. */
  readonly role: "leader" | "standby"
  /** Who holds the Lease as last seen (this replica's identity when leader); undefined when free or not yet read. */
  readonly holder: string | undefined
}

export interface Elector {
  readonly settings: LeaderElectionSettings
  readonly api: LeaseApiShape
  readonly ref: LeaseRef
  /** What the service reports; changed only when the role or the holder changes. */
  readonly state: SubscriptionRef.SubscriptionRef<LeaderState>
  /** The Lease as last read or written, and since when it has looked so. */
  readonly observed: Ref.Ref<Observation | undefined>
  /** The holder last named in the log, so that a standby names each new leader once. */
  readonly reportedLeader: Ref.Ref<string>
  /** The last failed attempt, so that the same failure again is logged at debug level. */
  readonly lastProblem: Ref.Ref<string | undefined>
}

export const makeElector = (settings: LeaderElectionSettings, api: LeaseApiShape) =>
  Effect.gen(function* () {
    const elector: Elector = {
      settings,
      api,
      ref: { namespace: settings.namespace, name: settings.name },
      state: yield* SubscriptionRef.make<LeaderState>({ role: "standby", holder: undefined }),
      observed: yield* Ref.make<Observation | undefined>(undefined),
      reportedLeader: yield* Ref.make(""),
      lastProblem: yield* Ref.make<string | undefined>(undefined)
    }
    return elector
  })

/** The outcome of one attempt to acquire or renew. */
type Attempt =
  /** This replica holds the Lease; the successful write was sent no earlier than `writtenAt`. */
  | { readonly _tag: "Held"; readonly writtenAt: number }
  | { readonly _tag: "HeldByOther"; readonly holder: string }
  /** No answer in time, or a failed call: logged, and tried again at the next retry. */
  | { readonly _tag: "Failed" }

const FAILED: Attempt = { _tag: "Failed" }

/** Re-reads after a lost race within one attempt, before waiting for the next. */
const CONFLICT_REREADS = 2

/** The `Clock`'s monotonic time in milliseconds. */
const monotonicMillis = Effect.map(Clock.currentTimeNanos, (n) => Number(n / 1000n) / 1000)

const isConflict = (error: KubeApiError) => error.reason === "Conflict"

const setState = (e: Elector, next: LeaderState) =>
  SubscriptionRef.updateSome(e.state, (s) =>
    s.role === next.role && s.holder === next.holder ? Option.none() : Option.some(next)
  )

const holderOf = (lease: Lease | undefined) =>
  lease === undefined || lease.holderIdentity === "" ? undefined : lease.holderIdentity

/** A standby follows the holder it read: its state names it, and the log names each new one once. */
const followHolder = (e: Elector, lease: Lease) =>
  Effect.gen(function* () {
    const holder = lease.holderIdentity
    yield* setState(e, { role: "standby", holder: holderOf(lease) })
    const previous = yield* Ref.getAndSet(e.reportedLeader, holder)
    if (holder !== previous && holder !== "" && holder !== e.settings.identity) {
      yield* Effect.logInfo(`leader is ${holder}`)
    }
  })

/** Remembers the record read or written, and since when it has looked so; while standby, follows its holder. */
const observeLease = (e: Elector, lease: Lease, leading: boolean) =>
  Effect.gen(function* () {
    const now = yield* monotonicMillis
    const seen = yield* Ref.modify(e.observed, (previous) => {
      const next = observe(previous, lease, now)
      return [next, next]
    })
    if (!leading) yield* followHolder(e, lease)
    return seen
  })

/** Writes this replica's record over `current`, or creates the Lease when there is none. */
const write = (e: Elector, current: Lease | undefined): Effect.Effect<Attempt, KubeApiError> =>
  Effect.gen(function* () {
    const writtenAt = yield* monotonicMillis
    const { identity, leaseDuration } = e.settings
    const record = acquireOrRenew(current, identity, recordedSeconds(leaseDuration), yield* Clock.currentTimeMillis)
    const lease = yield* current === undefined ? e.api.create(e.ref, record) : e.api.replace(e.ref, current, record)
    yield* observeLease(e, lease, true)
    return { _tag: "Held", writtenAt } as const
  })

/** client-go's `tryAcquireOrRenew`, reading the Lease again after a lost race instead of waiting a retry period. */
const readAndTry = (e: Elector, leading: boolean, rereads: number): Effect.Effect<Attempt, KubeApiError> =>
  Effect.gen(function* () {
    const found = yield* e.api.get(e.ref)
    if (Option.isSome(found)) {
      const seen = yield* observeLease(e, found.value, leading)
      const leaseDurationMs = Duration.toMillis(e.settings.leaseDuration)
      if (!mayWrite(seen, e.settings.identity, yield* monotonicMillis, leaseDurationMs)) {
        return { _tag: "HeldByOther", holder: found.value.holderIdentity } as const
      }
    }
    return yield* write(e, Option.getOrUndefined(found)).pipe(
      Effect.catchIf(
        (error) => isConflict(error) && rereads > 0,
        () => readAndTry(e, leading, rereads - 1)
      )
    )
  })

const tryAcquireOrRenew = (e: Elector, leading: boolean) =>
  Effect.flatMap(Ref.get(e.observed), (seen) =>
    leading && seen !== undefined && seen.lease.holderIdentity === e.settings.identity
      ? // The leader's fast path writes over the record it wrote last; only a lost race sends it back to reading.
        write(e, seen.lease).pipe(Effect.catchIf(isConflict, () => readAndTry(e, true, CONFLICT_REREADS)))
      : readAndTry(e, leading, CONFLICT_REREADS)
  )

/** Logs a failed attempt as a warning when it differs from the previous one, else at debug level. */
const noteProblem = (e: Elector, message: string) =>
  Ref.getAndSet(e.lastProblem, message).pipe(
    Effect.flatMap((previous) => (previous === message ? Effect.logDebug(message) : Effect.logWarning(message)))
  )

const noAnswer = (e: Elector, leading: boolean) => {
  const lease = `Lease ${e.ref.namespace}/${e.ref.name}`
  return leading
    ? `the renewal of ${lease} got no answer before the renew deadline`
    : `no answer from the API server about ${lease} within ${Duration.format(e.settings.renewDeadline)}`
}

/** One attempt, given up after `withinMs`; a failure is logged, not returned. */
const attempt = (e: Elector, leading: boolean, withinMs: number): Effect.Effect<Attempt> =>
  tryAcquireOrRenew(e, leading).pipe(
    Effect.timeoutFail({ duration: Duration.millis(Math.max(0, withinMs)), onTimeout: () => noAnswer(e, leading) }),
    Effect.tap(() => Ref.set(e.lastProblem, undefined)),
    Effect.catchAll((problem) =>
      noteProblem(e, typeof problem === "string" ? problem : leaseFailure(e.ref, problem)).pipe(Effect.as(FAILED))
    )
  )

const isHeld = (a: Attempt) => a._tag === "Held"

/** client-go's standby: a retry period between attempts, stretched at random by up to `JITTER_FACTOR` of one. */
const standbySchedule = (retryPeriod: Duration.Duration): Schedule.Schedule<number, Attempt> =>
  Schedule.spaced(retryPeriod).pipe(Schedule.jitteredWith({ min: 1, max: 1 + JITTER_FACTOR }))

/** Waits until this replica holds the Lease; returns when the winning write was sent (monotonic milliseconds). */
export const acquire = (e: Elector): Effect.Effect<number> =>
  attempt(e, false, Duration.toMillis(e.settings.renewDeadline)).pipe(
    Effect.repeat({ schedule: Schedule.passthrough(standbySchedule(e.settings.retryPeriod)), until: isHeld }),
    Effect.flatMap((a) =>
      a._tag === "Held" ? Effect.succeed(a.writtenAt) : Effect.dieMessage("stopped standing by without the Lease")
    )
  )

/** Whether the renew deadline has passed since a write sent at `writtenAt`. */
export const deadlinePassed = (e: Elector, writtenAt: number) =>
  Effect.map(monotonicMillis, (now) => now >= writtenAt + Duration.toMillis(e.settings.renewDeadline))

export const becomeLeader = (e: Elector) =>
  Effect.gen(function* () {
    yield* setState(e, { role: "leader", holder: e.settings.identity })
    yield* Ref.set(e.reportedLeader, e.settings.identity)
    yield* Effect.logInfo("became leader")
  })

export const lose = (e: Elector, why: string) =>
  Effect.gen(function* () {
    const seen = yield* Ref.get(e.observed)
    yield* setState(e, { role: "standby", holder: holderOf(seen?.lease) })
    yield* Ref.set(e.reportedLeader, "")
    yield* Effect.logInfo(`lost the lease: ${why}`)
  })

/** How long the leader waits now before its next step, its last successful write having been sent at `renewedAt`. */
const waitFrom = (e: Elector, renewedAt: number) =>
  Effect.map(monotonicMillis, (now) =>
    renewalDelay(renewedAt, now, {
      renewDeadlineMs: Duration.toMillis(e.settings.renewDeadline),
      retryPeriodMs: Duration.toMillis(e.settings.retryPeriod)
    })
  )

/** Where the leader's renewals stand after one step: the wait before the next, or the Lease lost. */
type Renewal = { readonly _tag: "Renewing"; readonly waitMs: number } | { readonly _tag: "Lost" }

/**
 * One step of the leader: the renew deadline checked, a renewal attempted within what is left of it, and the wait
 * until the next step (`renewalDelay`). Switches to standby (`lose`) when the deadline has passed or another
 * replica holds the Lease.
 */
const renewStep = (e: Elector, renewedAt: Ref.Ref<number>): Effect.Effect<Renewal> =>
  Effect.gen(function* () {
    const deadline = (yield* Ref.get(renewedAt)) + Duration.toMillis(e.settings.renewDeadline)
    const now = yield* monotonicMillis
    if (now >= deadline) {
      yield* lose(e, `no renewal succeeded within ${Duration.format(e.settings.renewDeadline)}`)
      return { _tag: "Lost" } as const
    }
    const result = yield* attempt(e, true, deadline - now)
    if (result._tag === "HeldByOther") {
      yield* lose(e, `${result.holder} holds it now`)
      return { _tag: "Lost" } as const
    }
    if (result._tag === "Held") yield* Ref.set(renewedAt, result.writtenAt)
    return { _tag: "Renewing", waitMs: yield* waitFrom(e, yield* Ref.get(renewedAt)) } as const
  })

/** Waits as long as the last step said. */
const renewalSchedule = Schedule.identity<Renewal>().pipe(
  Schedule.addDelay((r) => Duration.millis(r._tag === "Renewing" ? r.waitMs : 0))
)

/**
 * Renews the Lease acquired by a write sent at `heldSince` (monotonic milliseconds) every retry period; returns,
 * after switching to standby, once the renew deadline has passed without a successful renewal or another replica
 * holds the Lease.
 */
export const keepRenewing = (e: Elector, heldSince: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    const renewedAt = yield* Ref.make(heldSince)
    yield* Effect.sleep(Duration.millis(yield* waitFrom(e, heldSince)))
    yield* renewStep(e, renewedAt).pipe(Effect.repeat({ schedule: renewalSchedule, until: (r) => r._tag === "Lost" }))
  })

/** client-go's release, over `lease` if this replica holds it; a lost race (a renewal sent just before) re-reads. */
const releaseOver = (e: Elector, lease: Lease, rereads: number): Effect.Effect<void, KubeApiError> =>
  lease.holderIdentity !== e.settings.identity
    ? Effect.void
    : Effect.gen(function* () {
        const written = yield* e.api.replace(e.ref, lease, released(lease, yield* Clock.currentTimeMillis))
        yield* observeLease(e, written, true)
        yield* Effect.logInfo("released the lease")
      }).pipe(
        Effect.catchIf(
          (error) => isConflict(error) && rereads > 0,
          () =>
            e.api
              .get(e.ref)
              .pipe(
                Effect.flatMap(
                  Option.match({ onNone: () => Effect.void, onSome: (current) => releaseOver(e, current, rereads - 1) })
                )
              )
        )
      )

/** Releases the Lease as last seen, within the renew deadline; a failure is logged. Leaves this replica standby. */
export const release = (e: Elector): Effect.Effect<void> =>
  Ref.get(e.observed).pipe(
    Effect.flatMap((seen) => (seen === undefined ? Effect.void : releaseOver(e, seen.lease, CONFLICT_REREADS))),
    Effect.timeoutFail({ duration: e.settings.renewDeadline, onTimeout: () => "no answer from the API server" }),
    Effect.catchAll((problem) =>
      Effect.logWarning(
        `could not release the lease: ${typeof problem === "string" ? problem : leaseFailure(e.ref, problem)}`
      )
    ),
    Effect.zipRight(setState(e, { role: "standby", holder: undefined })),
    Effect.zipRight(Ref.set(e.reportedLeader, ""))
  )

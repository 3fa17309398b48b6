/**
 * The rules of leader election, as client-go's `leaderelection` package has them, without the API server or a
 * clock: what the settings must satisfy, when a Lease held by another replica counts as expired (on this replica's
 * own monotonic clock, from when it saw the record change), what record a replica writes to acquire, renew or
 * release it, and how long a leader waits before its next renewal. Times are milliseconds: monotonic ones
 * (`Clock.currentTimeNanos`) for every comparison, wall-clock ones only for the times written into the record.
 */
import { Duration } from "effect"
import type { KubeApiError } from "../kube/KubeApiError.ts"
import type { Lease, LeaseRecord, LeaseRef } from "./LeaseApi.ts"

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

export type LeaseTiming = "leaseDuration" | "renewDeadline" | "retryPeriod"

const TIMINGS: ReadonlyArray<LeaseTiming> = ["leaseDuration", "renewDeadline", "retryPeriod"]

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

const namesProblems = (settings: LeaderElectionSettings): ReadonlyArray<string> => [
  ...(settings.namespace.trim() === "" ? ["the Lease namespace is empty"] : []),
  ...(settings.name.trim() === "" ? ["the Lease name is empty"] : []),
  ...(settings.identity.trim() === "" ? ["the identity is empty (set POD_NAME or give one)"] : [])
]

const durationProblems = (settings: LeaderElectionSettings): ReadonlyArray<string> =>
  TIMINGS.flatMap((timing) => {
    const d = settings[timing]
    return Duration.isFinite(d) && Duration.greaterThan(d, Duration.zero)
      ? []
      : [`the ${TIMING_LABEL[timing]} must be a positive, finite duration (got ${Duration.format(d)})`]
  })

/** Every problem with the settings, in words for the person who wrote them; empty when they are usable. */
export const settingsProblems = (settings: LeaderElectionSettings): ReadonlyArray<string> => {
  const problems = [...namesProblems(settings), ...durationProblems(settings)]
  if (problems.length > 0) return problems
  const fmt = Duration.format
  return brokenTimingRules(settings).map(
    (rule) =>
      `the ${TIMING_LABEL[rule.shorter]} (${fmt(settings[rule.shorter])}) must be shorter than ` +
      `the ${TIMING_LABEL[rule.longer]} (${fmt(settings[rule.longer])}): ${rule.why}`
  )
}

/** A Lease time as the API server writes it (`metav1.MicroTime`: exactly six fractional digits). */
export const microTime = (epochMillis: number): string => new Date(epochMillis).toISOString().replace(/Z$/, "000Z")

/** `spec.leaseDurationSeconds` as this replica writes it: the lease duration in whole seconds, rounded up. */
export const recordedSeconds = (leaseDuration: Duration.Duration): number =>
  Math.ceil(Duration.toMillis(leaseDuration) / 1000)

/** A record as last seen, and when it was first seen in that form. */
export interface Observation {
  readonly lease: Lease
  /** The fields of the record whose change restarts the holder's term: everything but `resourceVersion`. */
  readonly fingerprint: string
  /** Monotonic milliseconds at which this record was first seen. */
  readonly since: number
}

const fingerprintOf = (l: Lease): string =>
  JSON.stringify([l.holderIdentity, l.leaseDurationSeconds, l.acquireTime, l.renewTime, l.leaseTransitions])

/**
 * What is known after seeing `lease` at `now`: an unchanged record keeps the moment it was first seen (its
 * `resourceVersion` may differ: the holder's term is restarted by a renewal, not by any write), a changed one
 * starts counting from `now`.
 */
export const observe = (previous: Observation | undefined, lease: Lease, now: number): Observation => {
  const fingerprint = fingerprintOf(lease)
  return previous?.fingerprint === fingerprint ? { ...previous, lease } : { lease, fingerprint, since: now }
}

/**
 * When the observed holder's term ends on this replica's clock: `leaseDurationSeconds` after the record was first
 * seen, or `fallbackMs` (this replica's own lease duration) when the record states none. The Lease's own times are
 * never compared with this clock: they were written by another machine.
 */
export const expiresAt = (o: Observation, fallbackMs: number): number => {
  const seconds = o.lease.leaseDurationSeconds
  return o.since + (seconds !== undefined && seconds > 0 ? seconds * 1000 : fallbackMs)
}

/** Whether `identity` may write the Lease as observed: it is free, ours, or its holder's term has ended. */
export const mayWrite = (o: Observation, identity: string, now: number, fallbackMs: number): boolean =>
  o.lease.holderIdentity === "" || o.lease.holderIdentity === identity || now >= expiresAt(o, fallbackMs)

/**
 * The record `identity` writes over `current` (undefined: the Lease does not exist yet) at wall-clock `wallNow`:
 * a renewal keeps the acquire time and the transition count, an acquisition from another holder (or from nobody
 * after a release) sets the acquire time and counts one more transition.
 */
export const acquireOrRenew = (
  current: Lease | undefined,
  identity: string,
  leaseSeconds: number,
  wallNow: number
): LeaseRecord => {
  const t = microTime(wallNow)
  const renewing = current !== undefined && current.holderIdentity === identity
  return {
    holderIdentity: identity,
    leaseDurationSeconds: leaseSeconds,
    acquireTime: renewing ? (current.acquireTime ?? t) : t,
    renewTime: t,
    leaseTransitions: current === undefined ? 0 : renewing ? current.leaseTransitions : current.leaseTransitions + 1
  }
}

/** client-go's release: no holder and a one-second duration, so that a standby takes over at its next try. */
export const released = (current: Lease, wallNow: number): LeaseRecord => {
  const t = microTime(wallNow)
  return {
    holderIdentity: "",
    leaseDurationSeconds: 1,
    acquireTime: t,
    renewTime: t,
    leaseTransitions: current.leaseTransitions
  }
}

/**
 * How long a leader whose last successful write started at `renewedAt` waits at `now` before it acts again: a
 * retry period, cut short so that it notices the renew deadline the moment it passes.
 */
export const renewalDelay = (
  renewedAt: number,
  now: number,
  timings: { readonly renewDeadlineMs: number; readonly retryPeriodMs: number }
): number => Math.max(0, Math.min(timings.retryPeriodMs, renewedAt + timings.renewDeadlineMs - now))

/** client-go's `JitterFactor`: a standby waits between 1 and 1 + 1.2 retry periods between attempts. */
export const JITTER_FACTOR = 1.2

/** A failed call about the Lease, in words: which call, on which Lease, and what the API server said. */
export const leaseFailure = (ref: LeaseRef, error: KubeApiError): string => {
  const reason = error.statusReason ? ` ${error.statusReason}` : ""
  const status = error.status === undefined ? "" : ` with HTTP ${error.status}${reason}`
  return `${error.verb} of Lease ${ref.namespace}/${ref.name} failed${status}: ${error.explanation}`
}

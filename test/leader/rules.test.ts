/**
 * The rules of leader election as client-go's `leaderelection` has them: settings, expiry as observed locally,
 * the records written to acquire, renew and release, and the leader's wait between renewals.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import { KubeApiError } from "../../src/kube/KubeApiError.ts"
import type { Lease } from "../../src/leader/LeaseApi.ts"
import {
  acquireOrRenew,
  brokenTimingRules,
  expiresAt,
  leaseFailure,
  mayWrite,
  microTime,
  observe,
  recordedSeconds,
  released,
  renewalDelay,
  settingsProblems
} from "../../src/leader/rules.ts"
import { settings } from "./support.ts"

const lease = (fields: Partial<Omit<Lease, "object">> = {}): Lease => {
  const l = {
    resourceVersion: "7",
    holderIdentity: "pod-b",
    leaseDurationSeconds: 15,
    acquireTime: "2026-01-02T03:00:00.000000Z",
    renewTime: "2026-01-02T03:04:00.000000Z",
    leaseTransitions: 3,
    ...fields
  }
  return { ...l, object: { metadata: { resourceVersion: l.resourceVersion } } }
}

describe("settingsProblems", () => {
  it("accepts a lease duration above the renew deadline above the retry period", () => {
    expect(settingsProblems(settings("pod-a"))).toEqual([])
  })

  it.each([
    [
      { renewDeadline: Duration.millis(1500) },
      "the renew deadline (1s 500ms) must be shorter than the lease duration (1s 500ms): " +
        "a leader that cannot renew must stop before another replica may take the lease over"
    ],
    [
      { retryPeriod: Duration.seconds(2) },
      "the retry period (2s) must be shorter than the renew deadline (1s): " +
        "the leader must be able to retry a failed renewal before it gives the lease up"
    ]
  ])("says why a timing must be shorter than another: %o", (change, problem) => {
    expect(settingsProblems({ ...settings("pod-a"), ...change })).toEqual([problem])
  })

  it("lists every missing name and non-positive duration, before the orderings", () => {
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

  it("names the rules broken by the timings, in order", () => {
    const broken = brokenTimingRules({
      leaseDuration: Duration.seconds(1),
      renewDeadline: Duration.seconds(2),
      retryPeriod: Duration.seconds(3)
    })
    expect(broken.map((r) => `${r.shorter} < ${r.longer}`)).toEqual([
      "renewDeadline < leaseDuration",
      "retryPeriod < renewDeadline"
    ])
  })
})

describe("microTime and recordedSeconds", () => {
  it("writes six fractional digits, as the API server requires of a MicroTime", () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 123))).toBe("2026-01-02T03:04:05.123000Z")
  })

  it.each([
    [1500, 2],
    [15_000, 15],
    [1, 1]
  ])("records a lease duration of %i ms as %i s", (ms, seconds) => {
    expect(recordedSeconds(Duration.millis(ms))).toBe(seconds)
  })
})

describe("expiry, on this replica's clock from when it saw the record change", () => {
  it("starts counting when a record is first seen and keeps counting while it is unchanged", () => {
    const first = observe(undefined, lease(), 1000)
    // Another read of the same record, even under a new resourceVersion, changes nothing.
    const again = observe(first, lease({ resourceVersion: "8" }), 9000)
    expect(again.since).toBe(1000)
    expect(again.lease.resourceVersion).toBe("8")
    expect(expiresAt(again, 99_999)).toBe(16_000)
  })

  it.each([
    ["a renewal", { renewTime: "2026-01-02T03:04:02.000000Z" }],
    ["a new holder", { holderIdentity: "pod-c" }],
    ["a new duration", { leaseDurationSeconds: 30 }],
    ["a transition", { leaseTransitions: 4 }],
    ["a new acquire time", { acquireTime: "2026-01-02T03:04:02.000000Z" }]
  ])("restarts the count on %s", (_, change) => {
    const seen = observe(observe(undefined, lease(), 1000), lease(change), 5000)
    expect(seen.since).toBe(5000)
  })

  it("ignores the times the record states: only the local clock counts", () => {
    const seen = observe(undefined, lease({ renewTime: "1999-01-01T00:00:00.000000Z" }), 1000)
    expect(mayWrite(seen, "pod-a", 1000, 1500)).toBe(false)
  })

  it.each([
    // [holder, seconds in the record, now, may pod-a write?]
    ["pod-b", 15, 15_999, false],
    ["pod-b", 15, 16_000, true],
    ["", 15, 1000, true],
    ["pod-a", 15, 1000, true],
    // No duration in the record: this replica's own lease duration (1500 ms) is the term.
    ["pod-b", undefined, 2499, false],
    ["pod-b", undefined, 2500, true],
    ["pod-b", 0, 2500, true]
  ])("a Lease of %o for %o s first seen at 1000 ms: at %i ms pod-a may write it: %o", (holder, seconds, now, ok) => {
    const seen = observe(undefined, lease({ holderIdentity: holder, leaseDurationSeconds: seconds }), 1000)
    expect(mayWrite(seen, "pod-a", now, 1500)).toBe(ok)
  })
})

describe("the record written", () => {
  const wall = Date.UTC(2026, 0, 2, 3, 5, 0)
  const t = "2026-01-02T03:05:00.000000Z"

  it("creates the Lease: acquired now, no transitions", () => {
    expect(acquireOrRenew(undefined, "pod-a", 2, wall)).toEqual({
      holderIdentity: "pod-a",
      leaseDurationSeconds: 2,
      acquireTime: t,
      renewTime: t,
      leaseTransitions: 0
    })
  })

  it("renews its own: the acquire time and the transitions kept", () => {
    expect(acquireOrRenew(lease({ holderIdentity: "pod-a" }), "pod-a", 2, wall)).toEqual({
      holderIdentity: "pod-a",
      leaseDurationSeconds: 2,
      acquireTime: "2026-01-02T03:00:00.000000Z",
      renewTime: t,
      leaseTransitions: 3
    })
  })

  it.each([
    ["another holder's", "pod-b"],
    ["a released", ""]
  ])("takes over %s: acquired now, one more transition", (_, holder) => {
    expect(acquireOrRenew(lease({ holderIdentity: holder }), "pod-a", 2, wall)).toEqual({
      holderIdentity: "pod-a",
      leaseDurationSeconds: 2,
      acquireTime: t,
      renewTime: t,
      leaseTransitions: 4
    })
  })

  it("releases: no holder, one second, the transitions kept", () => {
    expect(released(lease({ holderIdentity: "pod-a" }), wall)).toEqual({
      holderIdentity: "",
      leaseDurationSeconds: 1,
      acquireTime: t,
      renewTime: t,
      leaseTransitions: 3
    })
  })
})

describe("renewalDelay", () => {
  const timings = { renewDeadlineMs: 1000, retryPeriodMs: 200 }
  it.each([
    // [last successful write sent at, now, wait]
    [0, 0, 200],
    [0, 700, 200],
    [0, 900, 100],
    [0, 1000, 0],
    [0, 1300, 0],
    [400, 1250, 150]
  ])("renewed at %i, at %i waits %i ms: a retry period, never past the deadline", (renewedAt, now, wait) => {
    expect(renewalDelay(renewedAt, now, timings)).toBe(wait)
  })
})

describe("leaseFailure", () => {
  const ref = { namespace: "collector", name: "k8s-event-collector" }
  it.each([
    [
      KubeApiError.refused("update", {
        status: 409,
        headers: {},
        text: JSON.stringify({ kind: "Status", code: 409, reason: "Conflict", message: "the object has been modified" })
      }),
      "update of Lease collector/k8s-event-collector failed with HTTP 409 Conflict: the object has been modified"
    ],
    [
      KubeApiError.transport("get", new Error("fetch failed", { cause: Object.assign(new Error("x"), { code: "E" }) })),
      "get of Lease collector/k8s-event-collector failed: fetch failed (E: x)"
    ]
  ])("names the call, the Lease and what the server said", (error, text) => {
    expect(leaseFailure(ref, error)).toBe(text)
  })
})

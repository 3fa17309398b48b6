import { describe, expect, it } from "vitest"
import { Either } from "effect"
import { decodeKubeEvent, type KubeEvent } from "../../src/domain/KubeEvent.ts"
import { OccurrenceWindow } from "../../src/pipeline/OccurrenceWindow.ts"

const event = (uid: string, rv: string, fields: Record<string, unknown> = {}): KubeEvent => {
  const decoded = decodeKubeEvent({
    metadata: { name: `e-${uid}`, namespace: "ns", uid, resourceVersion: rv },
    involvedObject: { kind: "Pod", name: "p" },
    ...fields
  })
  if (Either.isLeft(decoded)) throw decoded.left
  return decoded.right
}

describe("OccurrenceWindow", () => {
  const cases: ReadonlyArray<{ name: string; first: KubeEvent; next: KubeEvent; isNew: boolean }> = [
    {
      name: "the same resourceVersion again (relist, replay)",
      first: event("a", "1", { count: 1 }),
      next: event("a", "1", { count: 1 }),
      isNew: false
    },
    { name: "count raised", first: event("a", "1", { count: 1 }), next: event("a", "2", { count: 2 }), isNew: true },
    {
      name: "count unchanged, metadata touched",
      first: event("a", "1", { count: 3, lastTimestamp: "2024-01-01T00:00:00Z" }),
      next: event("a", "2", { count: 3, lastTimestamp: "2024-01-01T00:00:00Z" }),
      isNew: false
    },
    {
      name: "an older count arriving late",
      first: event("a", "5", { count: 4 }),
      next: event("a", "3", { count: 3 }),
      isNew: false
    },
    {
      name: "a series begins (no count, then series.count 2)",
      first: event("a", "1", { eventTime: "2024-01-01T00:00:00.000001Z" }),
      next: event("a", "2", {
        eventTime: "2024-01-01T00:00:00.000001Z",
        series: { count: 2, lastObservedTime: "2024-01-01T00:00:00.000001Z" }
      }),
      isNew: true
    },
    {
      name: "no count, observation time later",
      first: event("a", "1", { eventTime: "2024-01-01T00:00:00Z" }),
      next: event("a", "2", {
        eventTime: "2024-01-01T00:00:00Z",
        series: { lastObservedTime: "2024-01-01T00:00:05Z" }
      }),
      isNew: true
    },
    {
      name: "no count, same time",
      first: event("a", "1", { eventTime: "2024-01-01T00:00:00Z" }),
      next: event("a", "2", { eventTime: "2024-01-01T00:00:00Z" }),
      isNew: false
    },
    { name: "another event", first: event("a", "1", { count: 1 }), next: event("b", "1", { count: 1 }), isNew: true }
  ]
  it.each(cases)("$name → new: $isNew", ({ first, next, isNew }) => {
    const w = new OccurrenceWindow(10)
    expect(w.admit(first)).toBe(true)
    expect(w.isNew(next)).toBe(isNew)
  })

  it("forgets the least recently emitted uid once full", () => {
    const w = new OccurrenceWindow(2)
    w.admit(event("a", "1"))
    w.admit(event("b", "2"))
    w.admit(event("a", "3", { count: 2 }))
    w.admit(event("c", "4"))
    expect(w.size).toBe(2)
    expect(w.isNew(event("b", "2"))).toBe(true)
    expect(w.isNew(event("a", "3", { count: 2 }))).toBe(false)
  })
})

import * as v8 from "node:v8"
import { runInNewContext } from "node:vm"
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

describe("OccurrenceWindow: what it keeps per uid", () => {
  it("gives an evicted uid's slot to the next uid without mixing their occurrences", () => {
    const w = new OccurrenceWindow(2)
    w.admit(event("a", "10", { count: 7, lastTimestamp: "2024-01-01T00:00:09Z" }))
    w.admit(event("b", "11", { count: 1 }))
    // c takes a's place; what a was (count 7, rv 10) must not be what c is checked against.
    w.admit(event("c", "12", { count: 1, lastTimestamp: "2024-01-01T00:00:01Z" }))
    expect(w.size).toBe(2)
    expect(w.isNew(event("c", "10", { count: 1, lastTimestamp: "2024-01-01T00:00:01Z" }))).toBe(false)
    expect(w.isNew(event("c", "13", { count: 2, lastTimestamp: "2024-01-01T00:00:01Z" }))).toBe(true)
    expect(w.isNew(event("a", "10", { count: 7, lastTimestamp: "2024-01-01T00:00:09Z" }))).toBe(true)
  })

  it("evicts in the order of the last emission, across more uids than its first columns hold", () => {
    const n = 5000
    const w = new OccurrenceWindow(n)
    for (let i = 0; i < n; i++) w.admit(event(`u${i}`, String(i + 1), { count: 1 }))
    // u0 repeats: it becomes the newest, so the next uid evicts u1, not u0.
    expect(w.admit(event("u0", String(n + 1), { count: 2 }))).toBe(true)
    w.admit(event("new", String(n + 2), { count: 1 }))
    expect(w.size).toBe(n)
    expect(w.isNew(event("u0", String(n + 1), { count: 2 }))).toBe(false)
    expect(w.isNew(event("u1", "2", { count: 1 }))).toBe(true)
    for (const i of [2, 1023, 1024, 2048, n - 1]) {
      expect(w.isNew(event(`u${i}`, String(i + 1), { count: 1 }))).toBe(false)
      expect(w.isNew(event(`u${i}`, String(2 * n + i), { count: 2 }))).toBe(true)
    }
  })

  it("tells microseconds apart (MicroTime)", () => {
    const w = new OccurrenceWindow(10)
    const at = (rv: string, time: string) => event("a", rv, { eventTime: time, series: { lastObservedTime: time } })
    w.admit(at("1", "2024-01-01T00:00:00.000002Z"))
    expect(w.isNew(at("2", "2024-01-01T00:00:00.000001Z"))).toBe(false)
    expect(w.isNew(at("3", "2024-01-01T00:00:00.000003Z"))).toBe(true)
  })

  it("matches resourceVersions that are not decimals (an aggregated API server) as text", () => {
    const w = new OccurrenceWindow(10)
    w.admit(event("a", "abc/7"))
    expect(w.isNew(event("a", "abc/7"))).toBe(false)
    expect(w.isNew(event("a", "abc/8"))).toBe(true)
    // Replaced by a decimal version, the text one is forgotten.
    w.remember(event("a", "9"))
    expect(w.isNew(event("a", "abc/7"))).toBe(true)
    expect(w.isNew(event("a", "9"))).toBe(false)
    // Too long to be exact as a number: kept as text, and "...0" and "...1" stay different.
    w.remember(event("b", "12345678901234567890"))
    expect(w.isNew(event("b", "12345678901234567890"))).toBe(false)
    expect(w.isNew(event("b", "12345678901234567891"))).toBe(true)
  })

  it("seeded from the checkpoint: the same occurrence is old, a later one or a higher count new", () => {
    const w = new OccurrenceWindow(10)
    w.seed("a", 3, Date.parse("2024-01-01T00:00:05.250Z"))
    const a = (rv: string, count: number, time: string) => event("a", rv, { count, lastTimestamp: time })
    expect(w.isNew(a("40", 3, "2024-01-01T00:00:05Z"))).toBe(false)
    expect(w.isNew(a("40", 2, "2024-01-01T00:00:09Z"))).toBe(false)
    expect(w.isNew(a("41", 4, "2024-01-01T00:00:05Z"))).toBe(true)
    w.seed("b", 1, Date.parse("2024-01-01T00:00:00.500Z"))
    const b = (time: string) => event("b", "7", { eventTime: time })
    expect(w.isNew(b("2024-01-01T00:00:00.500000Z"))).toBe(false)
    // The checkpoint keeps milliseconds: the same eventTime with microseconds, listed again, is the same occurrence.
    w.seed("c", 1, Date.parse("2024-01-01T00:00:00.500Z"))
    expect(w.isNew(event("c", "8", { eventTime: "2024-01-01T00:00:00.500123Z" }))).toBe(false)
    expect(w.isNew(b("2024-01-01T00:00:00.501000Z"))).toBe(true)
  })

  it("of capacity 0 remembers nothing", () => {
    const w = new OccurrenceWindow(0)
    expect(w.admit(event("a", "1"))).toBe(true)
    expect(w.admit(event("a", "1"))).toBe(true)
    expect(w.size).toBe(0)
  })
})

describe("OccurrenceWindow: memory", () => {
  /** Bytes in use after full collections: V8's heap and the ArrayBuffers (the window's columns) outside it. */
  const inUse = (): number => {
    v8.setFlagsFromString("--expose-gc")
    const gc = runInNewContext("gc") as () => void
    gc()
    gc()
    const m = process.memoryUsage()
    return m.heapUsed + m.arrayBuffers
  }

  it("keeps about 60 bytes per remembered uid: no object and no string of the event", () => {
    const n = 50_000
    // Decoded one by one and dropped, as the pipeline does: what stays is what the window keeps.
    const before = inUse()
    const w = new OccurrenceWindow(n)
    for (let i = 0; i < n; i++) {
      const uid = `6f1c2e4a-0b3d-4c5e-9f70-${String(i).padStart(12, "0")}`
      w.admit(
        event(uid, String(1000 + i), {
          count: 1 + (i % 7),
          // A second apart, as events listed from a cluster are: no two share their time.
          lastTimestamp: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString()
        })
      )
    }
    const perUid = (inUse() - before) / n
    expect(w.size).toBe(n)
    // The uid's 16 bytes, its place in the index's table and eviction list, and four number columns. A Map of
    // uid strings took about 130 (the string alone is 56), an object per uid with its time and resourceVersion
    // about 290.
    expect(perUid).toBeLessThan(80)
  })
})

import { describe, expect, it } from "vitest"
import { Throttle } from "../../src/rules/throttle.ts"
import { coreEvent } from "./support.ts"

const MIN = 60_000

describe("Throttle", () => {
  it("passes 10 of 500 identical BackOff occurrences in one window and summarises the 490 others", () => {
    const t = new Throttle({ limit: 10, windowMs: MIN, maxKeys: 100 })
    const verdicts = Array.from({ length: 500 }, (_, i) =>
      t.admit(coreEvent({ resourceVersion: String(i) }), 1000 + i * 10)
    )
    expect(verdicts.filter((v) => v === "pass")).toHaveLength(10)
    expect(verdicts.filter((v) => v === "suppress")).toHaveLength(490)
    expect(verdicts.slice(0, 10).every((v) => v === "pass")).toBe(true)
    expect(t.due(1000 + MIN - 1)).toEqual([])
    expect(t.nextDueMs()).toBe(1000 + MIN)
    const [summary, ...rest] = t.due(1000 + MIN)
    expect(rest).toEqual([])
    expect(summary).toMatchObject({
      key: "prod-web/Pod/web-1/BackOff",
      suppressed: 490,
      passed: 10,
      firstSuppressedMs: 1100,
      lastSuppressedMs: 1000 + 499 * 10,
      windowStartMs: 1000,
      windowMs: MIN,
      closed: "ended"
    })
    expect(summary?.event.resourceVersion).toBe("499")
    expect(t.size).toBe(0)
    expect(t.nextDueMs()).toBeUndefined()
  })

  it("counts separate keys separately", () => {
    const t = new Throttle({ limit: 1, windowMs: MIN, maxKeys: 100 })
    expect(t.admit(coreEvent({ name: "a" }), 0)).toBe("pass")
    expect(t.admit(coreEvent({ name: "b" }), 0)).toBe("pass")
    expect(t.admit(coreEvent({ name: "a", reason: "Unhealthy" }), 0)).toBe("pass")
    expect(t.admit(coreEvent({ name: "a", namespace: "other" }), 0)).toBe("pass")
    expect(t.admit(coreEvent({ name: "a" }), 1)).toBe("suppress")
    // the message is not part of the default key
    expect(t.admit(coreEvent({ name: "b", message: "different" }), 1)).toBe("suppress")
    expect(t.size).toBe(4)
    expect(t.due(MIN).map((s) => [s.key, s.suppressed])).toEqual([
      ["prod-web/Pod/a/BackOff", 1],
      ["prod-web/Pod/b/BackOff", 1]
    ])
  })

  it("keys by the chosen fields", () => {
    const t = new Throttle({ limit: 1, windowMs: MIN, maxKeys: 100, key: ["reason", "message"] })
    expect(t.keyOf(coreEvent({ message: "a/b" }))).toBe("BackOff/a/b")
    expect(t.admit(coreEvent({ name: "a", message: "m" }), 0)).toBe("pass")
    expect(t.admit(coreEvent({ name: "b", message: "m" }), 0)).toBe("suppress")
    expect(t.admit(coreEvent({ name: "b", message: "n" }), 0)).toBe("pass")
  })

  it("keeps `a/b` + `c` apart from `a` + `b/c` even though both read a/b/c", () => {
    const t = new Throttle({ limit: 1, windowMs: MIN, maxKeys: 100, key: ["reason", "message"] })
    expect(t.admit(coreEvent({ reason: "a/b", message: "c" }), 0)).toBe("pass")
    expect(t.admit(coreEvent({ reason: "a", message: "b/c" }), 0)).toBe("pass")
  })

  it("opens a new window at the first occurrence after the last one ended, and summarises the ended one", () => {
    const t = new Throttle({ limit: 2, windowMs: MIN, maxKeys: 100 })
    const e = coreEvent()
    expect([0, 10, 20, 30].map((at) => t.admit(e, at))).toEqual(["pass", "pass", "suppress", "suppress"])
    // no due() call in between: the admit that rolls the window over keeps the old window's summary
    expect([MIN + 5, MIN + 6, MIN + 7].map((at) => t.admit(e, at))).toEqual(["pass", "pass", "suppress"])
    expect(t.nextDueMs()).toBe(MIN + 7)
    const first = t.due(MIN + 7)
    expect(first.map((s) => [s.windowStartMs, s.suppressed, s.passed])).toEqual([[0, 2, 2]])
    expect(t.nextDueMs()).toBe(2 * MIN + 5)
    const second = t.due(2 * MIN + 5)
    expect(second.map((s) => [s.windowStartMs, s.suppressed, s.firstSuppressedMs, s.lastSuppressedMs])).toEqual([
      [MIN + 5, 1, MIN + 7, MIN + 7]
    ])
  })

  it("forgets a window without suppressions silently", () => {
    const t = new Throttle({ limit: 5, windowMs: MIN, maxKeys: 100 })
    t.admit(coreEvent(), 0)
    expect(t.due(MIN)).toEqual([])
    expect(t.size).toBe(0)
  })

  it("returns the ended windows oldest first and leaves the others open", () => {
    const t = new Throttle({ limit: 1, windowMs: MIN, maxKeys: 100 })
    for (const [name, at] of [
      ["a", 0],
      ["b", 1000],
      ["c", 2000]
    ] as const) {
      t.admit(coreEvent({ name }), at)
      t.admit(coreEvent({ name }), at)
    }
    expect(t.due(MIN + 1000).map((s) => s.key)).toEqual(["prod-web/Pod/a/BackOff", "prod-web/Pod/b/BackOff"])
    expect(t.size).toBe(1)
    expect(t.nextDueMs()).toBe(MIN + 2000)
  })

  it("closes the oldest window early when maxKeys windows are open, with a summary", () => {
    const t = new Throttle({ limit: 1, windowMs: MIN, maxKeys: 2 })
    t.admit(coreEvent({ name: "a" }), 0)
    expect(t.admit(coreEvent({ name: "a" }), 1)).toBe("suppress")
    t.admit(coreEvent({ name: "b" }), 2)
    t.admit(coreEvent({ name: "c" }), 3)
    expect(t.size).toBe(2)
    expect(t.nextDueMs()).toBe(3)
    const [evicted, ...rest] = t.due(3)
    expect(rest).toEqual([])
    expect(evicted).toMatchObject({
      key: "prod-web/Pod/a/BackOff",
      suppressed: 1,
      passed: 1,
      windowStartMs: 0,
      closed: "evicted"
    })
    // a, come back, starts afresh (and evicts b, which had nothing suppressed)
    expect(t.admit(coreEvent({ name: "a" }), 4)).toBe("pass")
    expect(t.due(4)).toEqual([])
    expect(t.flush().map((s) => s.key)).toEqual([])
  })

  it("flushes every open window with suppressions, and is empty afterwards", () => {
    const t = new Throttle({ limit: 1, windowMs: MIN, maxKeys: 10 })
    for (const name of ["a", "b", "c"]) t.admit(coreEvent({ name }), 0)
    for (const name of ["a", "c"]) t.admit(coreEvent({ name }), 5)
    const flushed = t.flush()
    expect(flushed.map((s) => [s.key, s.suppressed, s.closed])).toEqual([
      ["prod-web/Pod/a/BackOff", 1, "flushed"],
      ["prod-web/Pod/c/BackOff", 1, "flushed"]
    ])
    expect(t.size).toBe(0)
    expect(t.flush()).toEqual([])
    expect(t.nextDueMs()).toBeUndefined()
  })

  it("does not reopen a window when the clock steps back", () => {
    const t = new Throttle({ limit: 1, windowMs: MIN, maxKeys: 10 })
    t.admit(coreEvent(), 10_000)
    expect(t.admit(coreEvent(), 5_000)).toBe("suppress")
    expect(t.due(1)).toEqual([])
    expect(t.due(10_000 + MIN)).toHaveLength(1)
  })

  it.each([
    [{ limit: 0, windowMs: MIN, maxKeys: 1 }],
    [{ limit: 1, windowMs: 0, maxKeys: 1 }],
    [{ limit: 1, windowMs: MIN, maxKeys: 0 }]
  ])("refuses settings %j", (settings) => {
    expect(() => new Throttle(settings)).toThrow(RangeError)
  })
})

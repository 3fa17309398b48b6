import { describe, expect, it } from "vitest"
import { BoundedMap } from "../../src/domain/BoundedMap.ts"

describe("BoundedMap", () => {
  it("drops the entry set longest ago once it holds more than its capacity", () => {
    const m = new BoundedMap<string, number>(2)
    m.set("a", 1)
    m.set("b", 2)
    m.set("c", 3)
    expect([...m.values()]).toEqual([2, 3])
    expect(m.get("a")).toBeUndefined()
  })

  it("moves a key set again, or used, to the newest place; a plain get leaves the order", () => {
    const m = new BoundedMap<string, number>(2)
    m.set("a", 1)
    m.set("b", 2)
    m.set("a", 10)
    m.set("c", 3)
    expect([...m.values()]).toEqual([10, 3])
    expect(m.use("a")).toBe(10)
    m.set("d", 4)
    expect([...m.values()]).toEqual([10, 4])
    expect(m.get("a")).toBe(10)
    m.set("e", 5)
    expect([...m.values()]).toEqual([4, 5])
  })

  it("holds nothing with a capacity of 0", () => {
    const m = new BoundedMap<string, number>(0)
    m.set("a", 1)
    expect(m.size).toBe(0)
  })

  it("keeps evicting oldest first across deletes, re-insertions and being emptied", () => {
    const m = new BoundedMap<number, number>(3)
    for (let i = 0; i < 10; i++) m.set(i, i)
    m.delete(8)
    m.set(7, 70)
    m.set(10, 10)
    expect([...m.values()]).toEqual([9, 70, 10])
    for (const k of [9, 7, 10]) m.delete(k)
    expect(m.size).toBe(0)
    for (let i = 20; i < 25; i++) m.set(i, i)
    expect([...m.values()]).toEqual([22, 23, 24])
    const none = new BoundedMap<number, number>(0)
    for (let i = 0; i < 3; i++) none.set(i, i)
    expect(none.size).toBe(0)
  })

  it("clear empties it, and evicts oldest first again after", () => {
    const m = new BoundedMap<string, number>(2)
    for (const [i, k] of ["a", "b", "c"].entries()) m.set(k, i)
    m.clear()
    expect(m.size).toBe(0)
    m.set("x", 1)
    m.set("y", 2)
    m.set("z", 3)
    expect([...m.values()]).toEqual([2, 3])
  })
})

import { describe, expect, it } from "@effect/vitest"
import { TokenBucket } from "../../src/enrich/TokenBucket.ts"
import { TtlCache } from "../../src/enrich/TtlCache.ts"

describe("TtlCache", () => {
  it("drops an entry at its expiry", () => {
    const cache = new TtlCache<string>(10)
    cache.set("a", "A", 1000)
    expect(cache.get("a", 999)).toBe("A")
    expect(cache.get("a", 1000)).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it("evicts the least recently used entry when full", () => {
    const cache = new TtlCache<number>(2)
    cache.set("a", 1, Infinity)
    cache.set("b", 2, Infinity)
    expect(cache.get("a", 0)).toBe(1)
    cache.set("c", 3, Infinity)
    expect(cache.get("b", 0)).toBeUndefined()
    expect(cache.get("a", 0)).toBe(1)
    expect(cache.get("c", 0)).toBe(3)
    cache.set("a", 4, Infinity)
    expect(cache.size).toBe(2)
    expect(cache.get("a", 0)).toBe(4)
  })
})

describe("TokenBucket", () => {
  it("lets a second's worth through at once, then spaces requests at the rate", () => {
    const bucket = new TokenBucket(4, 0)
    expect([0, 1, 2, 3].map(() => bucket.reserve(0))).toEqual([0, 0, 0, 0])
    expect(bucket.reserve(0)).toBe(250)
    expect(bucket.reserve(0)).toBe(500)
    // Reservations queue: after 500 ms the two queued ones are due, the next waits its turn.
    expect(bucket.reserve(500)).toBe(250)
    expect(bucket.reserve(10_000)).toBe(0)
  })

  it("has no limit for a rate of 0", () => {
    const bucket = new TokenBucket(0, 0)
    expect(Array.from({ length: 1000 }, () => bucket.reserve(0)).every((w) => w === 0)).toBe(true)
  })
})

/**
 * A `BoundedMap` read and set many times holds no more memory than its entries: the iterator it keeps for the
 * oldest key must not keep the tables the `Map` was rebuilt into (V8 moves an iterator to the new table only when
 * it is read). Measured with full garbage collections while the map is still in use.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { describe, expect, it } from "vitest"
import { BoundedMap } from "../../src/domain/BoundedMap.ts"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const KEYS = Array.from({ length: 100 }, (_, i) => `pods/namespace-${i}/pod-${i}`)
const SETS = 300_000

/** Heap growth in MB over `SETS` calls of `step`, the map still in use after the last measurement. */
const growthMb = (map: BoundedMap<string, { readonly n: number }>, step: (i: number) => void): number => {
  for (const k of KEYS) map.set(k, { n: 0 })
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < SETS; i++) step(i)
  gc()
  const after = process.memoryUsage().heapUsed
  expect(map.size).toBe(KEYS.length)
  return (after - before) / 2 ** 20
}

describe("BoundedMap's memory", () => {
  it(`stays flat over ${SETS} sets of the same keys, far below its capacity`, () => {
    const map = new BoundedMap<string, { readonly n: number }>(10_000)
    const key = (i: number) => KEYS[(i * 7919) % KEYS.length] ?? ""
    expect(growthMb(map, (i) => map.set(key(i), { n: i }))).toBeLessThan(2)
  })

  it(`stays flat over ${SETS} uses of a full map that evicts nothing`, () => {
    const map = new BoundedMap<string, { readonly n: number }>(KEYS.length)
    const key = (i: number) => KEYS[(i * 7919) % KEYS.length] ?? ""
    expect(growthMb(map, (i) => map.use(key(i)))).toBeLessThan(2)
  })
})

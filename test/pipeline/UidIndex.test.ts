import { readFileSync } from "node:fs"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { UidIndex } from "../../src/pipeline/UidIndex.ts"

/** What the index must behave as: a Map in order of last setting, the oldest out first once full. */
class Model {
  readonly slots = new Map<string, number>()
  /** Kept across evictions: a new iterator would step over every deleted entry before the first live one. */
  #oldest = this.slots.entries()
  readonly capacity: number
  constructor(capacity: number) {
    this.capacity = capacity
  }
  set(uid: string): { slot: number; known: boolean } {
    const known = this.slots.get(uid)
    if (known !== undefined) {
      this.slots.delete(uid)
      this.slots.set(uid, known)
      return { slot: known, known: true }
    }
    let slot = this.slots.size
    if (this.slots.size >= this.capacity) {
      let next = this.#oldest.next()
      if (next.done === true) {
        this.#oldest = this.slots.entries()
        next = this.#oldest.next()
      }
      const [oldest, oldSlot] = next.value as [string, number]
      this.slots.delete(oldest)
      slot = oldSlot
    }
    this.slots.set(uid, slot)
    return { slot, known: false }
  }
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0")
const uuid = (i: number) => `${hex((i * 2654435761) >>> 0, 8)}-0b3d-4c5e-9f70-${hex(i, 12)}`

/** Uids as clusters and dumps have them: UUIDs, the same in capitals (another text), and anything else. */
const uidArb = fc.oneof(
  fc.integer({ min: 0, max: 60 }).map(uuid),
  fc.integer({ min: 0, max: 5 }).map((i) => uuid(i).toUpperCase()),
  fc.constantFrom("", "abc", "0123456789abcdef0123456789abcdef0123", "6f1c2e4a-0b3d-4c5e-9f70-00000000000g")
)

describe("UidIndex", () => {
  it("gives the same slots and forgets the same uids as a Map in order of last setting", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(uidArb, { maxLength: 400 }), (capacity, uids) => {
        const index = new UidIndex(capacity)
        const model = new Model(capacity)
        for (const uid of uids) {
          expect(index.set(uid)).toEqual(model.set(uid))
          expect(index.size).toBe(model.slots.size)
        }
        for (const uid of new Set(uids)) expect(index.get(uid)).toBe(model.slots.get(uid))
      }),
      { numRuns: 300 }
    )
  })

  it("keeps 100 000 UUIDs and forgets the oldest first past its capacity", () => {
    const index = new UidIndex(100_000)
    for (let i = 0; i < 150_000; i++) index.set(uuid(i))
    expect(index.size).toBe(100_000)
    expect(index.get(uuid(49_999))).toBeUndefined()
    expect(index.get(uuid(50_000))).toBeDefined()
    expect(index.get(uuid(149_999))).toBeDefined()
    // Set again, the oldest becomes the newest: the next one out is the one after it.
    index.set(uuid(50_000))
    index.set(uuid(150_000))
    expect(index.get(uuid(50_000))).toBeDefined()
    expect(index.get(uuid(50_001))).toBeUndefined()
  })

  it("takes memory for the uids it holds, not for its capacity: 100 uids in an index of 10 million", () => {
    /** The process's resident set, from the kernel, in bytes. */
    const resident = () =>
      Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? NaN) * 1024
    const before = resident()
    // 368 MB of arrays (uid words 160, eviction list 80, hash table 128), each past glibc's largest mmap threshold.
    const index = new UidIndex(10_000_000)
    for (let i = 0; i < 100; i++) index.set(uuid(i))
    const grown = resident() - before
    expect(index.get(uuid(99))).toBe(99)
    expect(grown).toBeLessThan(16 * 2 ** 20)
  })

  it("agrees with the model over 300 000 settings of 200 000 UUIDs into 100 000 slots (collisions and shifts)", () => {
    const index = new UidIndex(100_000)
    const model = new Model(100_000)
    let x = 1
    for (let n = 0; n < 300_000; n++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0
      const uid = uuid(x % 200_000)
      const got = index.set(uid)
      const want = model.set(uid)
      if (got.slot !== want.slot || got.known !== want.known) expect({ n, uid, got }).toEqual({ n, uid, got: want })
    }
    for (let i = 0; i < 200_000; i++) {
      const got = index.get(uuid(i))
      if (got !== model.slots.get(uuid(i))) expect({ i, got }).toEqual({ i, got: model.slots.get(uuid(i)) })
    }
  })

  it("tells apart UUIDs that differ in any one digit, and a UUID from the same text in capitals", () => {
    const base = "6f1c2e4a-0b3d-4c5e-9f70-0123456789ab"
    const index = new UidIndex(100)
    index.set(base)
    for (let i = 0; i < base.length; i++) {
      if (base[i] === "-") continue
      const other = base.slice(0, i) + (base[i] === "0" ? "1" : "0") + base.slice(i + 1)
      expect(index.get(other), other).toBeUndefined()
    }
    expect(index.get(base.toUpperCase())).toBeUndefined()
    expect(index.set(base.toUpperCase()).known).toBe(false)
    expect(index.get(base)).toBe(0)
  })

  it("of capacity 0 keeps nothing", () => {
    const index = new UidIndex(0)
    expect(index.set(uuid(1))).toEqual({ slot: -1, known: false })
    expect(index.get(uuid(1))).toBeUndefined()
    expect(index.size).toBe(0)
  })
})

/**
 * Event uid → slot, for up to `capacity` uids, least recently set first out, in typed arrays only.
 *
 * Kubernetes uids are UUIDs: 36 characters, which as a JS string and a `Map` entry cost about 130 bytes a uid
 * and stay in the heap as long as the uid is known (100 000 of them in the once-only window). Here a lower-case
 * UUID is kept as its 16 bytes, in an open-addressed table of slot numbers (linear probing, deletion by shifting
 * back), about 30 bytes a uid, and no object the garbage collector has to trace. Any other uid text (a dump may
 * have anything) goes in a `Map` beside it. The eviction order is a doubly linked list through the slots.
 */
export class UidIndex {
  readonly #capacity: number
  #used = 0
  /** Slot → its uid's 16 bytes as four 32-bit words; the uid of a slot in `#texts` is there instead. */
  readonly #words: Int32Array
  /** Hash table of slot numbers plus one; 0 is empty. Never more than half full. */
  readonly #table: Int32Array
  readonly #mask: number
  readonly #texts = new Map<string, number>()
  readonly #textOfSlot = new Map<number, string>()
  /** Least recently set first: `#older`/`#newer` link the slots, -1 ends the list. */
  readonly #older: Int32Array
  readonly #newer: Int32Array
  #oldest = -1
  #newest = -1

  /**
   * The arrays are made once, at their full length: the system hands out zeroed pages that take memory only once
   * written, so the index costs what it holds, and never copies itself to grow (a copy the size of the window,
   * beside the old one until it is collected).
   */
  constructor(capacity: number) {
    this.#capacity = Math.max(0, Math.floor(capacity))
    this.#words = new Int32Array(this.#capacity * 4)
    this.#older = new Int32Array(this.#capacity)
    this.#newer = new Int32Array(this.#capacity)
    let size = MIN_TABLE
    while (size < this.#capacity * 2) size *= 2
    this.#table = new Int32Array(size)
    this.#mask = size - 1
  }

  get size(): number {
    return this.#used
  }

  /** The uid's slot, or `undefined`. */
  get(uid: string): number | undefined {
    return parseUuid(uid) ? this.#found() : this.#texts.get(uid)
  }

  /**
   * The uid's slot, now the newest: its own (`known`), a new one, or the oldest uid's, which is forgotten, once
   * the index is full. With a capacity of 0 nothing is kept: -1.
   */
  set(uid: string): { readonly slot: number; readonly known: boolean } {
    if (this.#capacity === 0) return { slot: -1, known: false }
    const uuid = parseUuid(uid)
    const known = uuid ? this.#found() : this.#texts.get(uid)
    if (known !== undefined) {
      this.#unlink(known)
      this.#append(known)
      return { slot: known, known: true }
    }
    let slot: number
    if (this.#used < this.#capacity) {
      slot = this.#used++
    } else {
      slot = this.#oldest
      this.#forget(slot)
    }
    if (uuid) this.#insert(slot)
    else {
      this.#texts.set(uid, slot)
      this.#textOfSlot.set(slot, uid)
    }
    this.#append(slot)
    return { slot, known: false }
  }

  /** The slot of the uid in `scratch`, or `undefined`. */
  #found(): number | undefined {
    const words = this.#words
    for (let at = hashOf(scratch, 0) & this.#mask; ; at = (at + 1) & this.#mask) {
      const entry = this.#table[at] ?? 0
      if (entry === 0) return undefined
      const slot = entry - 1
      const w = slot * 4
      if (
        words[w] === scratch[0] &&
        words[w + 1] === scratch[1] &&
        words[w + 2] === scratch[2] &&
        words[w + 3] === scratch[3]
      ) {
        return slot
      }
    }
  }

  /** Keeps the uid in `scratch` as the slot's. */
  #insert(slot: number): void {
    this.#words.set(scratch, slot * 4)
    this.#place(slot)
  }

  /** Puts a slot whose words are written at the first free position from its home. */
  #place(slot: number): void {
    let at = hashOf(this.#words, slot) & this.#mask
    while (this.#table[at] !== 0) at = (at + 1) & this.#mask
    this.#table[at] = slot + 1
  }

  /** Takes a slot's uid out of the index and the list. */
  #forget(slot: number): void {
    this.#unlink(slot)
    const text = this.#textOfSlot.get(slot)
    if (text !== undefined) {
      this.#texts.delete(text)
      this.#textOfSlot.delete(slot)
      return
    }
    let at = hashOf(this.#words, slot) & this.#mask
    while (this.#table[at] !== slot + 1) at = (at + 1) & this.#mask
    this.#remove(at)
  }

  /** Empties a table position, moving back the entries after it that probing would no longer reach. */
  #remove(at: number): void {
    const table = this.#table
    const mask = this.#mask
    let hole = at
    for (let next = (hole + 1) & mask; ; next = (next + 1) & mask) {
      const entry = table[next] ?? 0
      if (entry === 0) break
      const home = hashOf(this.#words, entry - 1) & mask
      // The entry stays unless the hole lies between its home and where it is (cyclically).
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        table[hole] = entry
        hole = next
      }
    }
    table[hole] = 0
  }

  #unlink(slot: number): void {
    const older = this.#older[slot] ?? -1
    const newer = this.#newer[slot] ?? -1
    if (older === -1) this.#oldest = newer
    else this.#newer[older] = newer
    if (newer === -1) this.#newest = older
    else this.#older[newer] = older
  }

  #append(slot: number): void {
    this.#older[slot] = this.#newest
    this.#newer[slot] = -1
    if (this.#newest === -1) this.#oldest = slot
    else this.#newer[this.#newest] = slot
    this.#newest = slot
  }
}

const MIN_TABLE = 1024

/** The words of the uid last parsed, which `#found` and `#insert` read. */
const scratch = new Int32Array(4)

/** The hash of the uid at `slot` of `words` (four words a uid; `scratch` is one slot long). */
const hashOf = (words: Int32Array, slot: number): number => {
  const w = slot * 4
  const a = words[w] ?? 0
  const b = Math.imul(words[w + 1] ?? 0, 0x85ebca6b)
  const c = Math.imul(words[w + 2] ?? 0, 0xc2b2ae35)
  const d = Math.imul(words[w + 3] ?? 0, 0x27d4eb2f)
  return Math.imul(a ^ b ^ c ^ d, 0x9e3779b1) >>> 0
}

/** A lower-case hex digit's value, or -1. */
const hexDigit = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1)

/** The uid `scratch` holds, and whether it is a UUID: the window asks `get` and then `set` for the same uid. */
let lastUid: string | undefined
let lastIsUuid = false

/**
 * Whether `uid` is a UUID in lower case (`8-4-4-4-12` hex digits), as the API server writes them; its 128 bits go
 * into `scratch`. Only that one spelling: a uid in capitals is another text, and is kept as text.
 */
const parseUuid = (uid: string): boolean => {
  if (uid !== lastUid) {
    lastUid = uid
    lastIsUuid = parseInto(uid)
  }
  return lastIsUuid
}

const parseInto = (uid: string): boolean => {
  if (uid.length !== 36) return false
  let word = 0
  let digits = 0
  for (let i = 0; i < 36; i++) {
    const c = uid.charCodeAt(i)
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false
      continue
    }
    const v = hexDigit(c)
    if (v === -1) return false
    word = (word << 4) | v
    if (++digits % 8 === 0) {
      scratch[digits / 8 - 1] = word
      word = 0
    }
  }
  return true
}

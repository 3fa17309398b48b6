/** The file store on a real file system: round trip, atomic replacement, failures named by path. */
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import { type CheckpointState, decodeState } from "../../src/checkpoint/CheckpointState.ts"
import { CheckpointStore, MemoryCheckpoints } from "../../src/checkpoint/CheckpointStore.ts"
import { randomOccurrences, T0 } from "./support.ts"

let dir = ""
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "checkpoint-"))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const state = (n: number, rv = "100"): CheckpointState => ({
  streams: { "core/v1/*": rv },
  occurrences: randomOccurrences(n),
  savedAtMs: T0 + n
})

const withStore = <A, E>(path: string, body: (store: CheckpointStore["Type"]) => Effect.Effect<A, E>) =>
  Effect.flatMap(CheckpointStore, body).pipe(Effect.provide(CheckpointStore.file(path)))

describe("CheckpointStore.file", () => {
  it.live("loads None when there is no file yet, and what was saved after", () =>
    withStore(join(dir, "sub", "checkpoint"), (store) =>
      Effect.gen(function* () {
        expect(store.describe).toBe(`file ${join(dir, "sub", "checkpoint")}`)
        expect(yield* store.load).toEqual(Option.none())
        const first = state(3, "1")
        yield* store.save(first)
        expect(yield* store.load).toEqual(Option.some(first))
        const second = state(1000, "2")
        yield* store.save(second)
        expect(yield* store.load).toEqual(Option.some(second))
      })
    )
  )

  it.live("replaces the file by a rename and leaves no temporary file behind", () =>
    Effect.gen(function* () {
      const path = join(dir, "checkpoint")
      yield* withStore(path, (store) => store.save(state(10)))
      const before = yield* Effect.promise(() => stat(path))
      yield* withStore(path, (store) => store.save(state(20)))
      const after = yield* Effect.promise(() => stat(path))
      // A new inode: the old file was never written in place.
      expect(after.ino).not.toBe(before.ino)
      expect(yield* Effect.promise(() => readdir(dir))).toEqual(["checkpoint"])
    })
  )

  it.live("concurrent saves leave one complete checkpoint, one of those saved", () =>
    Effect.gen(function* () {
      const path = join(dir, "checkpoint")
      const states = Array.from({ length: 20 }, (_, i) => state(200 + i, String(i)))
      // Two stores on the same file as well as concurrent saves on one.
      yield* Effect.all(
        [
          withStore(path, (store) => Effect.all(states.slice(0, 10).map(store.save), { concurrency: "unbounded" })),
          withStore(path, (store) => Effect.all(states.slice(10).map(store.save), { concurrency: "unbounded" }))
        ],
        { concurrency: "unbounded" }
      )
      const loaded = yield* withStore(path, (store) => store.load)
      expect(Option.isSome(loaded)).toBe(true)
      expect(states).toContainEqual(Option.getOrThrow(loaded))
      expect(yield* Effect.promise(() => readdir(dir))).toEqual(["checkpoint"])
    })
  )

  it.live("a corrupt file is a CheckpointError naming the path", () =>
    Effect.gen(function* () {
      const path = join(dir, "checkpoint")
      yield* Effect.promise(() => writeFile(path, '{"streams": {}}'))
      const error = yield* Effect.flip(withStore(path, (store) => store.load))
      expect(error._tag).toBe("CheckpointError")
      expect(error.operation).toBe("load")
      expect(error.message).toBe(
        `could not load the checkpoint (file ${path}): not a checkpoint: it does not start with the checkpoint signature "KECP"`
      )
      // The caller may start fresh and save over it.
      yield* withStore(path, (store) => store.save(state(1)))
      expect(Either.isRight(decodeState(yield* Effect.promise(() => readFile(path))))).toBe(true)
    })
  )

  it.live("an unreadable file is a CheckpointError naming the path", () =>
    Effect.gen(function* () {
      const path = join(dir, "checkpoint")
      // The directory appears after start-up, which refuses one.
      const error = yield* Effect.flip(
        withStore(path, (store) => Effect.promise(() => mkdir(path)).pipe(Effect.zipRight(store.load)))
      )
      expect(error.message).toContain(`could not load the checkpoint (file ${path}): reading the file failed: EISDIR`)
    })
  )

  it.live("a failed save says which step failed and removes its temporary file", () =>
    Effect.gen(function* () {
      const path = join(dir, "checkpoint")
      // A non-empty directory where the file should be, made after start-up: the rename over it fails.
      const occupy = Effect.promise(() => mkdir(join(path, "occupied"), { recursive: true }))
      const error = yield* Effect.flip(withStore(path, (store) => occupy.pipe(Effect.zipRight(store.save(state(5))))))
      expect(error.operation).toBe("save")
      expect(error.message).toMatch(
        new RegExp(
          `^could not save the checkpoint \\(file ${path}\\): renaming ${path}\\.tmp-${process.pid} to ${path} failed: E`
        )
      )
      expect(yield* Effect.promise(() => readdir(dir))).toEqual(["checkpoint"])
    })
  )
})

describe("CheckpointStore.file at start-up", () => {
  it.live("checks that the path can be written, and leaves nothing behind", () =>
    Effect.gen(function* () {
      const path = join(dir, "new", "sub", "checkpoint")
      yield* withStore(path, () => Effect.void)
      // The directories a save needs are made; no file is left, and no checkpoint is written before there is one.
      expect(yield* Effect.promise(() => readdir(join(dir, "new", "sub")))).toEqual([])
    })
  )

  it.live("refuses a path under a regular file, naming the step and the reason", () =>
    Effect.gen(function* () {
      yield* Effect.promise(() => writeFile(join(dir, "plain"), "x"))
      const path = join(dir, "plain", "checkpoint")
      const error = yield* Effect.flip(withStore(path, () => Effect.void))
      expect(error.operation).toBe("check")
      expect(error.message).toBe(
        `the checkpoint (file ${path}) cannot be written: creating the directory ${join(dir, "plain")} failed: ` +
          `EEXIST: file already exists, mkdir '${join(dir, "plain")}'`
      )
    })
  )

  it.live("refuses a directory where the file should be", () =>
    Effect.gen(function* () {
      const path = join(dir, "checkpoint")
      yield* Effect.promise(() => mkdir(path))
      const error = yield* Effect.flip(withStore(path, () => Effect.void))
      expect(error.message).toBe(
        `the checkpoint (file ${path}) cannot be written: ${path} is a directory; give the path of a file`
      )
    })
  )

  it.live("keeps an existing checkpoint as it is", () =>
    Effect.gen(function* () {
      const path = join(dir, "checkpoint")
      const saved = state(4)
      yield* withStore(path, (store) => store.save(saved))
      const before = yield* Effect.promise(() => readFile(path))
      expect(yield* withStore(path, (store) => store.load)).toEqual(Option.some(saved))
      expect(yield* Effect.promise(() => readFile(path))).toEqual(before)
      expect(yield* Effect.promise(() => readdir(dir))).toEqual(["checkpoint"])
    })
  )
})

describe("CheckpointStore.layerNoop and memory", () => {
  it.effect("none loads nothing and saves nowhere", () =>
    Effect.gen(function* () {
      const store = yield* CheckpointStore
      yield* store.save(state(3))
      expect(yield* store.load).toEqual(Option.none())
    }).pipe(Effect.provide(CheckpointStore.layerNoop))
  )

  it.effect("memory keeps what was saved, as it would be read back, and can be made to fail", () => {
    const checkpoints = new MemoryCheckpoints()
    return Effect.gen(function* () {
      const store = yield* CheckpointStore
      expect(yield* store.load).toEqual(Option.none())
      const s = { streams: { a: "1" }, occurrences: [{ uid: "x", count: 1.5, timeMs: 3.9 }], savedAtMs: 4 }
      yield* store.save(s)
      const readBack = { streams: { a: "1" }, occurrences: [{ uid: "x", count: 1, timeMs: 3 }], savedAtMs: 4 }
      expect(checkpoints.saved).toEqual([readBack])
      expect(yield* store.load).toEqual(Option.some(readBack))
      checkpoints.failing = "disk on fire"
      const error = yield* Effect.flip(store.save(s))
      expect(error.message).toBe("could not save the checkpoint (memory): disk on fire")
    }).pipe(Effect.provide(CheckpointStore.layerMemory(checkpoints)))
  })
})

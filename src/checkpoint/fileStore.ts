/**
 * The checkpoint in a local file (a volume of the pod, or a path on a VM). A save never leaves a half-written
 * file behind: it writes `PATH.tmp-<pid>` in the same directory, flushes it to disk, renames it over PATH (atomic
 * on POSIX file systems) and flushes the directory so that the rename itself survives a power loss.
 */
import { type FileHandle, mkdir, open, readFile, rename, rm, stat } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import { Effect, Either, Option } from "effect"
import { CheckpointError } from "./CheckpointError.ts"
import { type CheckpointState, decodeState, encodeState } from "./CheckpointState.ts"
import type { CheckpointStoreShape } from "./CheckpointStore.ts"

/** One writer at a time per file in this process: two saves would otherwise share the temporary file. */
const locks = new Map<string, Effect.Semaphore>()
const lockFor = (path: string): Effect.Semaphore => {
  let lock = locks.get(path)
  if (lock === undefined) {
    lock = Effect.unsafeMakeSemaphore(1)
    locks.set(path, lock)
  }
  return lock
}

const codeOf = (error: unknown): string | undefined =>
  error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined

const describeError = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Platforms and file systems that cannot fsync a directory say so with one of these; the rename is done anyway. */
const DIRECTORY_SYNC_UNSUPPORTED = new Set(["EISDIR", "EINVAL", "EPERM", "ENOTSUP", "EBADF"])

export interface FileStore extends CheckpointStoreShape {
  /** Fails when a save could not succeed (the directory cannot be made, no file can be created in it). */
  readonly check: Effect.Effect<void, CheckpointError>
}

export const makeFileStore = (path: string): FileStore => {
  const target = resolve(path)
  const directory = dirname(target)
  const temporary = `${target}.tmp-${process.pid}`
  const store = `file ${target}`
  const lock = lockFor(target)

  const step = <A>(operation: "save" | "check", what: string, run: () => Promise<A>) =>
    Effect.tryPromise({
      try: run,
      catch: (error) => new CheckpointError({ operation, store, detail: `${what} failed: ${describeError(error)}` })
    })
  const saveStep = <A>(what: string, run: () => Promise<A>) => step("save", what, run)
  const createDirectory = (operation: "save" | "check") =>
    step(operation, `creating the directory ${directory}`, () => mkdir(directory, { recursive: true }))
  const openTemporary = (operation: "save" | "check") =>
    step(operation, `creating ${temporary}`, () => open(temporary, "w", 0o644))
  const closeQuietly = (handle: FileHandle) => Effect.promise(() => handle.close().catch(() => undefined))

  const load = Effect.gen(function* () {
    const read = yield* Effect.either(Effect.tryPromise(() => readFile(target)))
    if (Either.isLeft(read)) {
      const cause = read.left.error
      if (codeOf(cause) === "ENOENT") return Option.none()
      return yield* new CheckpointError({
        operation: "load",
        store,
        detail: `reading the file failed: ${describeError(cause)}`
      })
    }
    const state = decodeState(read.right)
    if (Either.isLeft(state)) return yield* new CheckpointError({ operation: "load", store, detail: state.left })
    return Option.some(state.right)
  }).pipe(Effect.withSpan("CheckpointStore.file.load"))

  const syncDirectory = Effect.tryPromise(async () => {
    const handle = await open(directory, "r")
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }).pipe(
    Effect.catchAll((error) =>
      DIRECTORY_SYNC_UNSUPPORTED.has(codeOf(error.error) ?? "")
        ? Effect.void
        : new CheckpointError({
            operation: "save",
            store,
            detail: `flushing the directory ${directory} to disk after the rename failed: ${describeError(error.error)}`
          })
    )
  )

  const removeTemporary = Effect.promise(() => rm(temporary, { force: true }).catch(() => undefined))

  const write = (bytes: Uint8Array) =>
    Effect.gen(function* () {
      yield* createDirectory("save")
      yield* Effect.acquireUseRelease(
        openTemporary("save"),
        (handle) =>
          saveStep(`writing ${temporary}`, () => handle.writeFile(bytes)).pipe(
            Effect.zipRight(saveStep(`flushing ${temporary} to disk`, () => handle.sync()))
          ),
        closeQuietly
      )
      yield* saveStep(`renaming ${temporary} to ${target}`, () => rename(temporary, target))
      yield* syncDirectory
    }).pipe(Effect.onError(() => removeTemporary))

  const save = Effect.fn("CheckpointStore.file.save")(function* (state: CheckpointState) {
    const bytes = encodeState(state)
    yield* lock.withPermits(1)(write(bytes))
  })

  /**
   * What a save needs, tried once at start-up: the directory can be created, a file created in it, and the
   * path is not a directory. A checkpoint that can never be saved is a mistake to fix before the first event.
   */
  const check = Effect.gen(function* () {
    const existing = yield* Effect.promise(() => stat(target).catch(() => undefined))
    if (existing?.isDirectory() === true) {
      const detail = `${target} is a directory; give the path of a file`
      return yield* new CheckpointError({ operation: "check", store, detail })
    }
    yield* createDirectory("check")
    yield* Effect.acquireUseRelease(openTemporary("check"), () => Effect.void, closeQuietly)
    yield* removeTemporary
  }).pipe(Effect.uninterruptible) // a stop during the check leaves no temporary file behind

  return { describe: store, load, save, check }
}

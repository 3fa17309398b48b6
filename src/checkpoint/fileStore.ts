/**
 * The checkpoint in a local file (a volume of the pod, or a path on a VM). A save never leaves a half-written
 * file behind: it writes `PATH.tmp-<pid>` in the same directory, flushes it to disk, renames it over PATH (atomic
 * on POSIX file systems) and flushes the directory so that the rename itself survives a power loss.
 */
import { mkdir, open, readFile, rename, rm } from "node:fs/promises"
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

export const makeFileStore = (path: string): CheckpointStoreShape => {
  const target = resolve(path)
  const directory = dirname(target)
  const temporary = `${target}.tmp-${process.pid}`
  const store = `file ${target}`
  const lock = lockFor(target)

  const saveStep = <A>(what: string, run: () => Promise<A>) =>
    Effect.tryPromise({
      try: run,
      catch: (error) => new CheckpointError({ operation: "save", store, detail: `${what} failed: ${describeError(error)}` })
    })

  const load = Effect.gen(function*() {
    const read = yield* Effect.either(Effect.tryPromise(() => readFile(target)))
    if (Either.isLeft(read)) {
      const cause = read.left.error
      if (codeOf(cause) === "ENOENT") return Option.none()
      return yield* new CheckpointError({ operation: "load", store, detail: `reading the file failed: ${describeError(cause)}` })
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
    Effect.gen(function*() {
      yield* saveStep(`creating the directory ${directory}`, () => mkdir(directory, { recursive: true }))
      yield* Effect.acquireUseRelease(
        saveStep(`creating ${temporary}`, () => open(temporary, "w", 0o644)),
        (handle) =>
          saveStep(`writing ${temporary}`, () => handle.writeFile(bytes)).pipe(
            Effect.zipRight(saveStep(`flushing ${temporary} to disk`, () => handle.sync()))
          ),
        (handle) => Effect.promise(() => handle.close().catch(() => undefined))
      )
      yield* saveStep(`renaming ${temporary} to ${target}`, () => rename(temporary, target))
      yield* syncDirectory
    }).pipe(Effect.onError(() => removeTemporary))

  const save = Effect.fn("CheckpointStore.file.save")(function*(state: CheckpointState) {
    const bytes = encodeState(state)
    yield* lock.withPermits(1)(write(bytes))
  })

  return { describe: store, load, save }
}

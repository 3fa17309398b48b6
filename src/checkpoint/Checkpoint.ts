/**
 * The collector's checkpoint while it runs: where each watch stream has been acknowledged through, and the
 * recently exported occurrences. It only ever moves on when the sink reaches a marker, i.e. after the OTLP
 * backend acknowledged every record before it; saves are coalesced (one at a time, at most one per interval).
 */
import { Context, Duration, Effect, Layer, Option, Queue, Schedule } from "effect"
import { type CheckpointState, emptyState, type ExportedOccurrence, type Progress, prune } from "./CheckpointState.ts"
import { type CheckpointError, CheckpointStore } from "./CheckpointStore.ts"
import { Metrics } from "../observability/Metrics.ts"
import { BoundedMap } from "../domain/BoundedMap.ts"

export interface CheckpointSettings {
  /** Least time between two saves; 0 saves after every acknowledged batch (one save in flight at a time). */
  readonly interval: Duration.Duration
  readonly ttl: Duration.Duration
  readonly maxOccurrences: number
}

export interface CheckpointShape {
  /** The state loaded at start, pruned: where to resume and what was already exported. */
  readonly initial: CheckpointState
  readonly describe: string
  /** Records progress the backend has acknowledged; the save follows. */
  readonly acknowledged: (progress: Progress) => Effect.Effect<void>
  /** Saves what has been acknowledged now, and waits for it (on shutdown). */
  readonly commit: Effect.Effect<void>
  readonly current: Effect.Effect<CheckpointState>
}

/** How often the checkpoint-age gauge is set: it grows while nothing is saved. */
const AGE_PERIOD = Duration.seconds(1)

export class Checkpoint extends Context.Tag("Checkpoint")<Checkpoint, CheckpointShape>() {
  static readonly layer = (settings: CheckpointSettings) => Layer.scoped(Checkpoint, make(settings))
}

const make = (settings: CheckpointSettings) =>
  Effect.gen(function* () {
    const store = yield* CheckpointStore
    const metrics = yield* Metrics
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    const ttlMs = Duration.toMillis(settings.ttl)
    const pruned = (s: CheckpointState) => prune(s, { nowMs: now(), ttlMs, maxOccurrences: settings.maxOccurrences })
    const loaded = yield* store.load.pipe(
      Effect.catchAll((error) =>
        Effect.logError(
          `${error.message}; starting without it: events still on the server are listed and sent again`
        ).pipe(Effect.as(Option.none<CheckpointState>()))
      )
    )
    const initial = pruned(Option.getOrElse(loaded, () => emptyState))
    if (Option.isSome(loaded)) {
      const streams =
        Object.entries(initial.streams)
          .map(([k, v]) => `${k} at ${v}`)
          .join(", ") || "no streams"
      yield* Effect.logInfo(
        `resuming from the checkpoint in ${store.describe}: ${streams}, ` +
          `${initial.occurrences.length} recent occurrences`
      )
    }

    // Plain mutable state: updated in one synchronous step per acknowledgement, read by the save.
    let streams: Record<string, string> = { ...initial.streams }
    /** The latest exported occurrence per uid, in the order they were acknowledged (oldest first). */
    const occurrences = new BoundedMap<string, ExportedOccurrence>(settings.maxOccurrences)
    for (const o of initial.occurrences) occurrences.set(o.uid, o)
    let version = 0
    let savedVersion = 0
    let lastSavedMs = Option.isSome(loaded) ? initial.savedAtMs : now()
    // Set now and every second after, until the checkpoint stops: the age keeps growing while nothing is saved.
    const setAge = Effect.sync(() => metrics.checkpointAge.set((now() - lastSavedMs) / 1000))
    yield* setAge
    yield* Effect.forkScoped(Effect.schedule(setAge, Schedule.spaced(AGE_PERIOD)))
    const dirty = yield* Queue.sliding<void>(1)

    const snapshot = (): CheckpointState =>
      pruned({ streams: { ...streams }, occurrences: [...occurrences.values()], savedAtMs: now() })

    /** Saves that failed in a row: the first is reported, the rest only counted, until one succeeds again. */
    let failedSaves = 0
    const saved = (at: number) =>
      Effect.gen(function* () {
        savedVersion = at
        lastSavedMs = now()
        metrics.checkpointCommits.inc({ result: "success" })
        if (failedSaves > 0) {
          yield* Effect.logInfo(`the checkpoint is saved again (${store.describe}) after ${failedSaves} failed saves`)
          failedSaves = 0
        }
      })
    const failed = (error: CheckpointError) =>
      Effect.gen(function* () {
        metrics.checkpointCommits.inc({ result: "error" })
        failedSaves++
        yield* failedSaves === 1
          ? Effect.logWarning(
              `${error.message}; will try again with each acknowledgement, and say so when it works again`
            )
          : Effect.logDebug(error.message)
      })

    const save = Effect.gen(function* () {
      const at = version
      if (at === savedVersion) return
      yield* store.save(snapshot()).pipe(Effect.matchEffect({ onSuccess: () => saved(at), onFailure: failed }))
    })
    /** The last save, on shutdown: what it could not save is lost, and said so whether or not it was said before. */
    const commit = Effect.gen(function* () {
      yield* save
      if (failedSaves > 0) {
        yield* Effect.logError(
          `stopping without a saved checkpoint (${store.describe}): ${failedSaves} saves in a row failed; ` +
            "a restart sends again what was delivered since the last save"
        )
      }
    })

    // One save at a time; acknowledgements arriving meanwhile are folded into the next one.
    const lock = yield* Effect.makeSemaphore(1)
    const saveLocked = lock.withPermits(1)(save)
    yield* Effect.forkScoped(
      Effect.forever(
        Queue.take(dirty).pipe(Effect.zipRight(saveLocked), Effect.zipRight(Effect.sleep(settings.interval)))
      )
    )

    return Checkpoint.of({
      initial,
      describe: store.describe,
      acknowledged: (progress) =>
        Effect.suspend(() => {
          streams = { ...streams, ...progress.streams }
          // Bounded between saves too: the oldest go first, as the save's prune would drop them.
          for (const o of progress.occurrences) occurrences.set(o.uid, o)
          version++
          return Queue.offer(dirty, undefined).pipe(Effect.asVoid)
        }),
      commit: lock.withPermits(1)(commit),
      current: Effect.sync(snapshot)
    })
  })

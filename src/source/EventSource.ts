/**
 * The only code that reads events from the Kubernetes API: list (paged) then watch from the list's
 * resourceVersion with bookmarks, reconnecting from the last resourceVersion seen; relist on 410 Gone; a watch
 * that stays silent too long is restarted; failures are reported once and retried with capped, jittered
 * backoff. Or, in poll mode, a paged list every interval. Deduplication of what a relist repeats is the
 * pipeline's once-only window.
 */
import { Duration, Effect, Queue, Random, Schedule, Stream } from "effect"
import { type Change, decodeChange, resourceVersionOf } from "./Change.ts"
import {
  type Collection,
  eventCollection,
  KubeApi,
  type KubeApiShape,
  targetKey,
  type WatchEnd as KubeWatchEnd,
  type WatchEvent,
  type WatchHandle,
  type WatchTarget
} from "./KubeApi.ts"
import { KubeApiError } from "../kube/KubeApiError.ts"
import { ProblemReporter } from "./KubeProblems.ts"
import type { StreamPositions } from "../checkpoint/CheckpointState.ts"
import { Health, type HealthState } from "../observability/Health.ts"
import { type CollectorMetrics, Metrics } from "../observability/Metrics.ts"

export interface SourceSettings {
  readonly targets: ReadonlyArray<WatchTarget>
  readonly mode: "watch" | "poll"
  readonly pageSize: number
  /** Asked of the server per watch, stretched by a random 0-100 % so that replicas do not reconnect together. */
  readonly watchTimeout: Duration.Duration
  readonly watchIdleTimeout: Duration.Duration
  readonly retryInitial: Duration.Duration
  readonly retryMax: Duration.Duration
  readonly pollInterval: Duration.Duration
  /** Events read but not yet taken by the pipeline at which the watch stops reading until it catches up. */
  readonly highWater: number
  /** Where a previous run stopped, by stream key: watch from there instead of listing first. */
  readonly resumeFrom: StreamPositions
}

/**
 * Compares two resourceVersions as the API concepts page allows for kube-apiserver types: arbitrary-size
 * decimals. `undefined` when either is not a decimal (an aggregated server), where no order can be assumed.
 */
export const compareResourceVersions = (a: string, b: string): number | undefined => {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0
}

/** What a watch connection delivered, in order, until the source takes it: an event, or a line that is not one. */
type Arrival = WatchEvent | { readonly malformed: string }

/** The most arrivals the source takes at once: one pipeline chunk's worth. */
const MAX_TAKE = 4096

/** How a watch ended, and so what happens next. */
type WatchEnd =
  | { readonly _tag: "Closed"; readonly cause: "timeout" | "idle" }
  | { readonly _tag: "Expired" }
  | { readonly _tag: "Failed"; readonly error: KubeApiError; readonly cause: "dropped" | "error" }

const classifyEnd = (end: KubeWatchEnd): WatchEnd => {
  switch (end._tag) {
    case "Closed":
    case "Stopped":
      return { _tag: "Closed", cause: "timeout" }
    case "Idle":
      return { _tag: "Closed", cause: "idle" }
    case "Failed":
      if (end.error.reason === "Gone") return { _tag: "Expired" }
      return { _tag: "Failed", cause: end.error.reason === "Transport" ? "dropped" : "error", error: end.error }
  }
}

/** An `ERROR` watch event: its Status says why the watch ends (410: the resourceVersion is gone). */
const errorEventEnd = (object: unknown): WatchEnd => {
  const error = KubeApiError.errorEvent(object)
  return error.reason === "Gone" ? { _tag: "Expired" } : { _tag: "Failed", cause: "error", error }
}

/** Capped exponential backoff with jitter: [d/2, d) for d = initial·2^attempt, capped. */
export const backoffDelay = (settings: Pick<SourceSettings, "retryInitial" | "retryMax">, attempt: number) =>
  Effect.map(Random.next, (r) => {
    const d = Math.min(Duration.toMillis(settings.retryMax), Duration.toMillis(settings.retryInitial) * 2 ** attempt)
    return Duration.millis(d / 2 + (r * d) / 2)
  })

/**
 * Why a round of reading stopped short: the API failed, or a relist was answered with 410 again at once.
 * `progressed` when the round got something before (a list, an event): the backoff then starts over.
 */
type Setback =
  | { readonly _tag: "Failed"; readonly error: KubeApiError; readonly progressed: boolean }
  | { readonly _tag: "ExpiredAgain"; readonly progressed: boolean }

/**
 * The source's retry: exponential from `retryInitial`, capped at `retryMax`, each delay jittered into [d/2, d),
 * starting over after progress; a longer `Retry-After` from the server is waited out instead. Forever: the
 * source never gives up on the API server.
 */
const sourceRetry = (settings: Pick<SourceSettings, "retryInitial" | "retryMax">) =>
  Schedule.passthrough<readonly [Duration.Duration, number], Setback, never>(
    Schedule.jitteredWith(
      Schedule.union(Schedule.exponential(settings.retryInitial, 2), Schedule.spaced(settings.retryMax)),
      { min: 0.5, max: 1 }
    )
  ).pipe(
    Schedule.resetWhen((s) => s.progressed),
    Schedule.modifyDelay((s, delay) =>
      s._tag === "Failed" && s.error.retryAfterSeconds !== undefined
        ? Duration.max(delay, Duration.seconds(s.error.retryAfterSeconds))
        : delay
    )
  )

const where = (target: WatchTarget) => `${target.api} events ${target.namespace ?? "(all namespaces)"}`

/** The list's items above `watermark` (what was already passed on, in this run or before a restart). */
const newerThan = (items: ReadonlyArray<unknown>, watermark: string | undefined) =>
  watermark === undefined
    ? items
    : items.filter((object) => {
        const rv = resourceVersionOf(object)
        return rv === undefined || (compareResourceVersions(rv, watermark) ?? 1) > 0
      })

/**
 * A batch of arrivals as changes, how the watch ended if it did (an ERROR event, else `closed`, how the connection
 * ended if that came after the batch), and the last resourceVersion seen.
 */
const toChanges = (
  target: WatchTarget,
  stream: string,
  arrivals: ReadonlyArray<Arrival>,
  closed: KubeWatchEnd | undefined,
  lastRv: string
) => {
  const changes: Array<Change> = []
  let end: WatchEnd | undefined = closed === undefined ? undefined : classifyEnd(closed)
  let events = 0
  for (const item of arrivals) {
    if ("malformed" in item) {
      changes.push({ _tag: "Undecodable", message: `${where(target)}: ${item.malformed}; skipped`, stream })
      continue
    }
    events++
    if (item.type === "ERROR") {
      end = errorEventEnd(item.object)
      break
    }
    const rv = resourceVersionOf(item.object)
    if (rv !== undefined) lastRv = rv
    if (item.type === "ADDED" || item.type === "MODIFIED") {
      changes.push(decodeChange(item.type, item.object, target.api, stream))
    } else if (item.type === "BOOKMARK" && rv !== undefined) {
      changes.push({ _tag: "Bookmark", stream, resourceVersion: rv })
    }
  }
  return { changes, end, events, lastRv }
}

/** What every step of reading one target uses. */
interface Reader {
  readonly api: KubeApiShape
  readonly settings: SourceSettings
  readonly target: WatchTarget
  /** The target's stream key (`targetKey`), whose resourceVersion the checkpoint keeps. */
  readonly stream: string
  readonly collection: Collection
  readonly out: Queue.Enqueue<ReadonlyArray<Change>>
  readonly metrics: CollectorMetrics
  readonly health: HealthState
  readonly reporter: ProblemReporter
}

/** Counted, said once per kind, and the API marked unreachable; the retry waits. */
const report =
  (r: Reader) =>
  (setback: Setback): Effect.Effect<void> =>
    setback._tag === "ExpiredAgain"
      ? Effect.void
      : Effect.gen(function* () {
          const { error } = setback
          r.metrics.apiErrors.inc({ verb: error.verb, status: String(error.status ?? 0) })
          r.health.unreachable()
          yield* r.reporter.failed(error, r.target, r.api.server)
        })

/**
 * Lists every page into the pipeline; the resourceVersion to watch from. Starts over on an expired continue.
 * Items at or below `watermark` are left out.
 */
const listAll = (
  r: Reader,
  cause: "start" | "expired" | "poll",
  watermark: string | undefined
): Effect.Effect<string, KubeApiError> =>
  Effect.gen(function* () {
    const { api, target, stream, out } = r
    r.metrics.relists.inc({ cause })
    let continueToken: string | undefined
    for (;;) {
      const page = yield* api.list({ collection: r.collection, limit: r.settings.pageSize, continueToken }).pipe(
        Effect.catchIf(
          (e) => e.reason === "Gone" && continueToken !== undefined,
          () => Effect.succeed(undefined)
        )
      )
      if (page === undefined) {
        // The continue token outlived the server's window: a consistent list has to start over.
        yield* Effect.logInfo(
          `the list of events ${target.namespace ?? "(all namespaces)"} expired between pages; listing again`
        )
        continueToken = undefined
        continue
      }
      r.health.activity()
      const items = newerThan(page.items, watermark)
      if (items.length > 0) {
        yield* Queue.offer(
          out,
          items.map((object) => decodeChange("ADDED", object, target.api, stream))
        )
      }
      if (page.continueToken === undefined) {
        // The list's own resourceVersion is progress too: nothing at or below it is still to come.
        yield* Queue.offer(out, [{ _tag: "Bookmark", stream, resourceVersion: page.resourceVersion }])
        return page.resourceVersion
      }
      continueToken = page.continueToken
    }
  }).pipe(Effect.tap(() => r.reporter.succeeded("list", r.target)))

/**
 * One watch from `resourceVersion` until it ends: how it ended, the last resourceVersion seen, and how many
 * watch events came. What the connection delivered waits in an inbox until taken; past `highWater` the watch
 * stops reading its socket until the source catches up: the server waits, nothing is dropped or read twice.
 */
const watchOnce = (r: Reader, resourceVersion: string) =>
  Effect.gen(function* () {
    const { settings } = r
    // What arrived and is not yet taken, in order; the connection's end, which comes after all of it.
    let inbox: Array<Arrival> = []
    let closed: KubeWatchEnd | undefined
    let paused = false
    // Set while the source waits for an arrival: the first one wakes it, the others only join the inbox.
    let resumeTaking: (() => void) | undefined
    const wakeUp = () => {
      const resume = resumeTaking
      resumeTaking = undefined
      resume?.()
    }
    const arrived = (item: Arrival) => {
      inbox.push(item)
      if (inbox.length === 1) wakeUp()
    }
    const stretch = 1 + (yield* Random.next)
    const handle: WatchHandle = yield* r.api.watch(
      {
        collection: r.collection,
        resourceVersion,
        timeoutSeconds: Math.max(1, Math.round(Duration.toSeconds(settings.watchTimeout) * stretch)),
        idleTimeoutMs: Duration.toMillis(settings.watchIdleTimeout)
      },
      {
        onEvent: (event) => {
          arrived(event)
          if (inbox.length >= settings.highWater && !paused) {
            paused = true
            handle.pause()
          }
        },
        onMalformed: (detail) => arrived({ malformed: detail }),
        onEnd: (end) => {
          closed = end
          wakeUp()
        }
      }
    )
    yield* Effect.addFinalizer(() => Effect.sync(handle.stop))
    /** Done at once when something is waiting to be taken, else at the next arrival. */
    const arrival = Effect.async<void>((resume) => {
      if (inbox.length > 0 || closed !== undefined) resume(Effect.void)
      else resumeTaking = () => resume(Effect.void)
      return Effect.sync(() => {
        resumeTaking = undefined
      })
    })
    /** The oldest arrivals, up to one pipeline chunk's worth: a burst goes on as one array; the rest wait. */
    const take = (): ReadonlyArray<Arrival> => {
      if (inbox.length > MAX_TAKE) return inbox.splice(0, MAX_TAKE)
      const all = inbox
      inbox = []
      return all
    }
    let lastRv = resourceVersion
    let received = 0
    for (;;) {
      yield* arrival
      const arrivals = take()
      if (paused && inbox.length < settings.highWater) {
        paused = false
        handle.resume()
      }
      const taken = toChanges(r.target, r.stream, arrivals, inbox.length === 0 ? closed : undefined, lastRv)
      lastRv = taken.lastRv
      received += taken.events
      if (taken.events > 0) {
        r.health.activity()
        // Said as soon as a watch delivers after a failure, not when it ends (minutes later).
        yield* r.reporter.succeeded("watch", r.target)
      }
      if (taken.changes.length > 0) yield* Queue.offer(r.out, taken.changes)
      if (taken.end !== undefined) return { end: taken.end, resourceVersion: lastRv, received }
    }
  }).pipe(Effect.scoped)

/** Poll mode: a paged list every interval, of what is newer than the last list. */
const pollEvery = (r: Reader) =>
  Effect.gen(function* () {
    let watermark = r.settings.resumeFrom[r.stream]
    for (;;) {
      watermark = yield* listAll(r, "poll", watermark).pipe(
        Effect.mapError((error): Setback => ({ _tag: "Failed", error, progressed: false })),
        Effect.tapError(report(r)),
        Effect.retry(sourceRetry(r.settings))
      )
      yield* Effect.sleep(r.settings.pollInterval)
    }
  })

/**
 * Watch mode: list when there is nothing to watch from, watch, and again, for ever. Resuming, the watch starts
 * from where the last run stopped; the server says 410 if that is gone.
 */
const watchOnAndOn = (r: Reader) =>
  Effect.suspend(() => {
    const { metrics, health } = r
    let resourceVersion: string | undefined = r.settings.resumeFrom[r.stream]
    let watermark: string | undefined = resourceVersion
    let listCause: "start" | "expired" = "start"
    let expiredInARow = 0
    /** A list or a watch event since the last setback: the backoff starts over from there. */
    let progressed = false
    const setback = (s: Setback) => {
      progressed = false
      return Effect.fail(s)
    }

    /** How a watch's end is counted and what comes next: watch on, relist, or a setback for the retry. */
    const afterWatch = (end: WatchEnd): Effect.Effect<void, Setback> =>
      Effect.gen(function* () {
        switch (end._tag) {
          case "Closed":
            // The server ending a watch at its timeout is a sign of life; a watch we ended for silence is not.
            if (end.cause === "timeout") health.activity()
            metrics.watchRestarts.inc({ cause: end.cause })
            return
          case "Expired":
            metrics.watchRestarts.inc({ cause: "expired" })
            yield* Effect.logInfo(
              `resourceVersion ${resourceVersion} of ${where(r.target)} is gone (410); listing again`
            )
            resourceVersion = undefined
            listCause = "expired"
            // Relist at once the first time; a server that answers 410 again straight away gets backoff, not a loop.
            if (expiredInARow++ > 0) return yield* setback({ _tag: "ExpiredAgain", progressed })
            return
          case "Failed":
            metrics.watchRestarts.inc({ cause: end.cause })
            return yield* setback({ _tag: "Failed", error: end.error, progressed })
        }
      })

    const listThenWatch: Effect.Effect<void, Setback> = Effect.gen(function* () {
      if (resourceVersion === undefined) {
        resourceVersion = yield* listAll(r, listCause, watermark).pipe(
          Effect.catchAll((error) => setback({ _tag: "Failed", error, progressed }))
        )
        progressed = true
      }
      const watched = yield* watchOnce(r, resourceVersion)
      resourceVersion = watched.resourceVersion
      watermark = watched.resourceVersion
      if (watched.received > 0) {
        progressed = true
        expiredInARow = 0
      }
      yield* afterWatch(watched.end)
    })

    // Retried as a whole: the backoff carries over from one watch to the next until something is read.
    return Effect.forever(listThenWatch).pipe(Effect.tapError(report(r)), Effect.retry(sourceRetry(r.settings)))
  })

const readTarget = (
  api: KubeApiShape,
  settings: SourceSettings,
  target: WatchTarget,
  out: Queue.Enqueue<ReadonlyArray<Change>>
) =>
  Effect.gen(function* () {
    const reader: Reader = {
      api,
      settings,
      target,
      stream: targetKey(target),
      collection: eventCollection(target),
      out,
      metrics: yield* Metrics,
      health: yield* Health,
      reporter: new ProblemReporter()
    }
    return yield* settings.mode === "poll" ? pollEvery(reader) : watchOnAndOn(reader)
  })
/**
 * The changes of every target, merged, in the arrays they were read in. Never fails: every failure is reported and
 * retried.
 */
export const eventChanges = (settings: SourceSettings) =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const api = yield* KubeApi
      const streams = settings.targets.map((target) =>
        Stream.unwrapScoped(
          Effect.gen(function* () {
            const out = yield* Queue.bounded<ReadonlyArray<Change>>(2)
            yield* Effect.forkScoped(readTarget(api, settings, target, out))
            return Stream.fromQueue(out)
          })
        )
      )
      return streams.length === 1 && streams[0] !== undefined
        ? streams[0]
        : Stream.mergeAll(streams, { concurrency: "unbounded" })
    })
  )

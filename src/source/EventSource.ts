/**
 * The only code that reads events from the Kubernetes API: list (paged) then watch from the list's
 * resourceVersion with bookmarks, reconnecting from the last resourceVersion seen; relist on 410 Gone; a watch
 * that stays silent too long is restarted; failures are reported once and retried with capped, jittered
 * backoff. Or, in poll mode, a paged list every interval. Deduplication of what a relist repeats is the
 * pipeline's once-only window.
 */
import { Deferred, Duration, Effect, Exit, FiberId, Queue, Random, Stream } from "effect"
import { type Change, decodeChange, resourceVersionOf } from "./Change.ts"
import {
  decodeStatus,
  eventCollection,
  KubeApi,
  type KubeApiShape,
  KubeApiError,
  targetKey,
  type WatchEnd as KubeWatchEnd,
  type WatchHandle,
  type WatchTarget
} from "./KubeApi.ts"
import { ProblemReporter } from "./KubeProblems.ts"
import type { StreamPositions } from "../checkpoint/CheckpointState.ts"
import { Health } from "../observability/Health.ts"
import { Metrics } from "../observability/Metrics.ts"

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

type Inbox =
  | { readonly _tag: "Event"; readonly type: string; readonly object: unknown }
  | { readonly _tag: "Malformed"; readonly detail: string }
  | { readonly _tag: "End"; readonly end: KubeWatchEnd }

/** The most events the loop takes from the inbox at once: one pipeline chunk's worth. */
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
      if (end.error.status === 410) return { _tag: "Expired" }
      return { _tag: "Failed", cause: end.error.status === undefined ? "dropped" : "error", error: end.error }
  }
}

/** Capped exponential backoff with jitter: [d/2, d) for d = initial·2^attempt, capped. */
export const backoffDelay = (settings: Pick<SourceSettings, "retryInitial" | "retryMax">, attempt: number) =>
  Effect.map(Random.next, (r) => {
    const d = Math.min(Duration.toMillis(settings.retryMax), Duration.toMillis(settings.retryInitial) * 2 ** attempt)
    return Duration.millis(d / 2 + (r * d) / 2)
  })

const readTarget = (
  api: KubeApiShape,
  settings: SourceSettings,
  target: WatchTarget,
  out: Queue.Enqueue<ReadonlyArray<Change>>
) =>
  Effect.gen(function* () {
    const metrics = yield* Metrics
    const health = yield* Health
    const reporter = new ProblemReporter()
    const stream = targetKey(target)
    const collection = eventCollection(target)
    let attempt = 0

    const failed = (error: KubeApiError) =>
      Effect.gen(function* () {
        metrics.apiErrors.inc({ verb: error.verb, status: String(error.status ?? 0) })
        health.unreachable()
        yield* reporter.failed(error, target, api.server)
        const delay = yield* backoffDelay(settings, attempt++)
        const retryAfter = Duration.seconds(error.retryAfterSeconds ?? 0)
        yield* Effect.sleep(Duration.max(delay, retryAfter))
      })

    /**
     * Lists every page into the pipeline; the resourceVersion to watch from. Starts over on an expired continue.
     * Items at or below `watermark` (what was already passed on, in this run or before a restart) are left out.
     */
    const listAll = (
      cause: "start" | "expired" | "poll",
      watermark: string | undefined
    ): Effect.Effect<string, KubeApiError> =>
      Effect.gen(function* () {
        metrics.relists.inc({ cause })
        let continueToken: string | undefined
        for (;;) {
          const page = yield* api.list({ collection, limit: settings.pageSize, continueToken }).pipe(
            Effect.catchIf(
              (e) => e.status === 410 && continueToken !== undefined,
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
          health.activity()
          const items =
            watermark === undefined
              ? page.items
              : page.items.filter((object) => {
                  const rv = resourceVersionOf(object)
                  return rv === undefined || (compareResourceVersions(rv, watermark) ?? 1) > 0
                })
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
      }).pipe(Effect.tap(() => reporter.succeeded("list", target)))

    const watchOnce = (resourceVersion: string) =>
      Effect.gen(function* () {
        // What the connection delivered and the loop below has not taken yet. Past `highWater` the watch stops
        // reading its socket until the loop catches up: the server waits, nothing is dropped or read twice.
        let inbox: Array<Inbox> = []
        let wake: Deferred.Deferred<void> | undefined
        let paused = false
        const arrived = (item: Inbox) => {
          inbox.push(item)
          if (item._tag === "Event" && inbox.length >= settings.highWater && !paused) {
            paused = true
            handle.pause()
          }
          if (wake !== undefined) {
            Deferred.unsafeDone(wake, Exit.void)
            wake = undefined
          }
        }
        const stretch = 1 + (yield* Random.next)
        const handle: WatchHandle = yield* api.watch(
          {
            collection,
            resourceVersion,
            timeoutSeconds: Math.max(1, Math.round(Duration.toSeconds(settings.watchTimeout) * stretch)),
            idleTimeoutMs: Duration.toMillis(settings.watchIdleTimeout)
          },
          {
            onEvent: (type, object) => arrived({ _tag: "Event", type, object }),
            onMalformed: (detail) => arrived({ _tag: "Malformed", detail }),
            onEnd: (end) => arrived({ _tag: "End", end })
          }
        )
        yield* Effect.addFinalizer(() => Effect.sync(handle.stop))
        let lastRv = resourceVersion
        let received = 0
        for (;;) {
          if (inbox.length === 0) {
            wake = Deferred.unsafeMake<void>(FiberId.none)
            yield* Deferred.await(wake)
            continue
          }
          const items = inbox.length <= MAX_TAKE ? inbox : inbox.splice(0, MAX_TAKE)
          if (items === inbox) inbox = []
          if (paused && inbox.length < settings.highWater) {
            paused = false
            handle.resume()
          }
          const changes: Array<Change> = []
          let end: WatchEnd | undefined
          let events = 0
          for (const item of items) {
            if (item._tag === "End") {
              end = classifyEnd(item.end)
              break
            }
            if (item._tag === "Malformed") {
              const where = `${target.api} events ${target.namespace ?? "(all namespaces)"}`
              changes.push({ _tag: "Undecodable", message: `${where}: ${item.detail}; skipped`, stream })
              continue
            }
            received++
            events++
            const rv = resourceVersionOf(item.object)
            if (item.type === "ERROR") {
              const status = decodeStatus(item.object)
              const code = status._tag === "Some" ? status.value.code : undefined
              end =
                code === 410
                  ? { _tag: "Expired" }
                  : {
                      _tag: "Failed",
                      cause: "error",
                      error: new KubeApiError({
                        verb: "watch",
                        ...(code === undefined ? {} : { status: code }),
                        detail: status._tag === "Some" ? (status.value.message ?? "error event") : "error event"
                      })
                    }
              break
            }
            if (rv !== undefined) lastRv = rv
            if (item.type === "ADDED" || item.type === "MODIFIED") {
              changes.push(decodeChange(item.type, item.object, target.api, stream))
            } else if (item.type === "BOOKMARK" && rv !== undefined) {
              changes.push({ _tag: "Bookmark", stream, resourceVersion: rv })
            }
          }
          if (events > 0) {
            health.activity()
            // Said as soon as a watch delivers after a failure, not when it ends (minutes later).
            yield* reporter.succeeded("watch", target)
          }
          if (changes.length > 0) yield* Queue.offer(out, changes)
          if (end !== undefined) return { end, resourceVersion: lastRv, received }
        }
      }).pipe(Effect.scoped)

    const resumed = settings.resumeFrom[stream]
    if (settings.mode === "poll") {
      let watermark = resumed
      for (;;) {
        const listed = yield* Effect.either(listAll("poll", watermark))
        if (listed._tag === "Left") yield* failed(listed.left)
        else {
          attempt = 0
          watermark = listed.right
          yield* Effect.sleep(settings.pollInterval)
        }
      }
    }

    // Resuming, the watch starts from where the last run stopped; the server says 410 if that is gone.
    let resourceVersion: string | undefined = resumed
    let watermark: string | undefined = resumed
    let listCause: "start" | "expired" = "start"
    let expiredInARow = 0
    for (;;) {
      if (resourceVersion === undefined) {
        const listed = yield* Effect.either(listAll(listCause, watermark))
        if (listed._tag === "Left") {
          yield* failed(listed.left)
          continue
        }
        attempt = 0
        resourceVersion = listed.right
      }
      const { end, resourceVersion: next, received } = yield* watchOnce(resourceVersion)
      resourceVersion = next
      watermark = next
      if (received > 0) {
        attempt = 0
        expiredInARow = 0
      }
      switch (end._tag) {
        case "Closed":
          // The server ending a watch at its timeout is a sign of life; a watch we ended for silence is not.
          if (end.cause === "timeout") health.activity()
          metrics.watchRestarts.inc({ cause: end.cause })
          break
        case "Expired":
          metrics.watchRestarts.inc({ cause: "expired" })
          yield* Effect.logInfo(
            `resourceVersion ${resourceVersion} of ${target.api} events ${target.namespace ?? "(all namespaces)"} ` +
              "is gone (410); listing again"
          )
          resourceVersion = undefined
          listCause = "expired"
          // Relist at once the first time; a server that answers 410 again straight away gets backoff, not a loop.
          if (expiredInARow++ > 0) yield* Effect.sleep(yield* backoffDelay(settings, attempt++))
          break
        case "Failed":
          metrics.watchRestarts.inc({ cause: end.cause })
          yield* failed(end.error)
          break
      }
    }
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

/**
 * List+watch of one collection, the one way the collector follows one (the event source, the enricher's caches),
 * as the API concepts page asks of a client: list in pages (`limit`, `continue`; an expired continue token lists
 * from the start), then watch from the list's resourceVersion with bookmarks and go on watching from the last
 * resourceVersion seen; a 410 Gone (the watch refused, or an `ERROR` event) lists again, at once the first time
 * and after a backoff when the fresh list's version is gone too; a watch silent for `watchIdleTimeout`, not even
 * a bookmark, is taken for dead and started again. Failures are passed on as `Failed` and retried with capped,
 * jittered exponential backoff, starting over after progress and when the kind of failure changes, a longer
 * `Retry-After` waited out (up to `API_RETRY_AFTER_CAP`). A 401 or 403 from an API server that could not be
 * reached just before is its start-up (`STARTING_GRACE`): retried every `STARTING_RETRY`, passed on as `Starting`.
 *
 * The stream never fails: what was read and what happened come in order as `Observation`s. Time is the `Clock`'s.
 */
import { Chunk, Clock, Duration, Effect, Option, Random, Schedule, Stream } from "effect"
import type { Collection, KubeApiShape } from "./KubeApi.ts"
import type { KubeApiError } from "./KubeApiError.ts"
import { resourceVersionOf } from "./resourceVersion.ts"
import { MalformedLine, type WatchLine } from "./watchStream.ts"

/** What the source and the caches share of how to list and watch. */
export interface ListWatchOptions {
  readonly pageSize: number
  /** Asked of the server per watch, stretched by a random 0-100 % so that replicas do not reconnect together. */
  readonly watchTimeout: Duration.Duration
  /** A watch that delivers nothing, not even a bookmark, for this long is ended and started again. */
  readonly watchIdleTimeout: Duration.Duration
  readonly retryInitial: Duration.Duration
  readonly retryMax: Duration.Duration
}

export interface ListWatchRequest extends ListWatchOptions {
  readonly collection: Collection
  /** Watch from here first instead of listing (where a previous run stopped); a 410 lists then. */
  readonly resumeFrom?: string | undefined
  /** Watch lines read ahead of the consumer at which reading stops until it catches up (default 10 000). */
  readonly readAhead?: number | undefined
}

const DEFAULT_READ_AHEAD = 10_000

/**
 * The longest `Retry-After` of the API server (429, 503, `details.retryAfterSeconds`) waited out: a longer one is cut
 * to this, so that one answer cannot hold a collection back for longer.
 */
export const API_RETRY_AFTER_CAP = Duration.seconds(30)

/**
 * How long a 401 or 403 that follows a failed connection is taken for the API server's start-up, from the first
 * one: a restarted kube-apiserver answers so for a second or two while its authenticator and RBAC caches fill.
 * Within it the refusal is passed on with reason `Starting` and tried again every `STARTING_RETRY`; after it, it is
 * the refusal it says it is.
 */
export const STARTING_GRACE = Duration.seconds(30)

/** The wait between two calls to an API server that is starting. */
export const STARTING_RETRY = Duration.millis(200)

/** The longest wait after no answer (a refused or cut connection): the backoff grows no further for those. */
const TRANSPORT_RETRY_MAX = Duration.seconds(1)

/** Why a list starts: the first one, after a 410, a poll, or again because its continue token expired. */
export type ListCause = "start" | "expired" | "poll" | "continueExpired"

/**
 * Why a watch ended without failing: the server ended it (its `timeoutSeconds`), it was silent too long, or its
 * resourceVersion is gone (410) and a list follows.
 */
export type WatchEndCause = "timeout" | "idle" | "expired"

/** What list+watch observes of a collection, in order. */
export type Observation =
  /** A list starts: the pages that follow replace all that was known of the collection. */
  | { readonly _tag: "Listing"; readonly cause: ListCause }
  /** One page of the list, its raw items. */
  | { readonly _tag: "Page"; readonly items: ReadonlyArray<unknown> }
  /** The list is complete: the collection as of `resourceVersion`, which the watch starts from. */
  | { readonly _tag: "Listed"; readonly resourceVersion: string }
  /** Lines of the watch, in the arrays they were read in: events and `BOOKMARK`s, and lines that are not events. */
  | { readonly _tag: "Watched"; readonly lines: ReadonlyArray<WatchLine> }
  /** The watch ended; `resourceVersion` is the last one seen. */
  | { readonly _tag: "WatchEnded"; readonly cause: WatchEndCause; readonly resourceVersion: string }
  /** A list or a watch failed; it is tried again after a backoff. */
  | { readonly _tag: "Failed"; readonly error: KubeApiError }

/** A relist answered with 410 again at once: backed off like a failure, but nothing to say. */
interface ExpiredAgain {
  readonly _tag: "ExpiredAgain"
}
const EXPIRED_AGAIN: ExpiredAgain = { _tag: "ExpiredAgain" }

/** Why a round of reading stopped short. */
type Setback = KubeApiError | ExpiredAgain

/** Where the next watch starts, and what the last ones said: carried from each round to the next. */
class Position {
  /** `undefined`: list first. */
  resourceVersion: string | undefined
  listCause: "start" | "expired" = "start"
  /** 410s since the last watch event: from the second on, the list waits for the backoff. */
  expiredInARow = 0

  constructor(resourceVersion: string | undefined) {
    this.resourceVersion = resourceVersion
  }

  listed(o: Observation): Observation {
    if (o._tag === "Listed") this.resourceVersion = o.resourceVersion
    return o
  }

  /** The watch goes on from the last resourceVersion among `lines`. */
  watched(lines: ReadonlyArray<WatchLine>): Observation {
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i]
      if (line === undefined || line instanceof MalformedLine) continue
      this.expiredInARow = 0
      const rv = resourceVersionOf(line.object)
      if (rv !== undefined) {
        this.resourceVersion = rv
        break
      }
    }
    return { _tag: "Watched", lines }
  }

  ended(cause: WatchEndCause): Observation {
    return { _tag: "WatchEnded", cause, resourceVersion: this.resourceVersion ?? "" }
  }

  /** 410: list again, at once the first time; a fresh list's version gone again straight away is a setback. */
  expired(): Stream.Stream<Observation, Setback> {
    const ended = this.ended("expired")
    this.resourceVersion = undefined
    this.listCause = "expired"
    const again = this.expiredInARow++ > 0
    return again ? Stream.concat(Stream.make(ended), Stream.fail(EXPIRED_AGAIN)) : Stream.make(ended)
  }
}

/** The continue token of a list's next page (`undefined`: its first), or `"done"` after its last. */
type NextPage = { readonly continueToken: string | undefined } | "done"

/**
 * The pages of one list, one request at a time; an expired continue token lists from the start (`Listing` again).
 * One flat stream, not a stream per page: nested per page, each level kept the page it emitted until the list
 * ended, i.e. the whole collection in memory.
 */
const pages = (api: KubeApiShape, request: ListWatchRequest): Stream.Stream<Observation, KubeApiError> =>
  Stream.unfoldChunkEffect<NextPage, Observation, KubeApiError, never>({ continueToken: undefined }, (next) => {
    if (next === "done") return Effect.succeedNone
    const { continueToken } = next
    return api.list({ collection: request.collection, limit: request.pageSize, continueToken }).pipe(
      Effect.map((page) => {
        const items: Observation = { _tag: "Page", items: page.items }
        if (page.continueToken !== undefined) {
          return Option.some([Chunk.of(items), { continueToken: page.continueToken }] as const)
        }
        const listed: Observation = { _tag: "Listed", resourceVersion: page.resourceVersion }
        return Option.some([Chunk.make(items, listed), "done"] as const)
      }),
      Effect.catchIf(
        (e) => e.reason === "Gone" && continueToken !== undefined,
        // The continue token outlived the server's window: a consistent list has to start over.
        () => {
          const again: Observation = { _tag: "Listing", cause: "continueExpired" }
          return Effect.succeed(Option.some([Chunk.of(again), { continueToken: undefined }] as const))
        }
      )
    )
  })

/** One list, every page: `Listing`, then `Page`s, then `Listed`. */
const listPages = (api: KubeApiShape, request: ListWatchRequest, cause: ListCause) =>
  Stream.concat(Stream.succeed<Observation>({ _tag: "Listing", cause }), pages(api, request))

/** One watch from where `position` is, until it ends. */
const watchFrom = (api: KubeApiShape, request: ListWatchRequest, position: Position) =>
  Effect.map(Random.next, (r) =>
    api
      .watch({
        collection: request.collection,
        resourceVersion: position.resourceVersion ?? "",
        timeoutSeconds: Math.max(1, Math.round(Duration.toSeconds(request.watchTimeout) * (1 + r))),
        readAhead: request.readAhead ?? DEFAULT_READ_AHEAD,
        idleTimeout: request.watchIdleTimeout
      })
      .pipe(
        Stream.map((lines) => position.watched(lines)),
        Stream.concat(Stream.sync(() => position.ended("timeout"))),
        Stream.catchAll((e): Stream.Stream<Observation, Setback> =>
          e.reason === "Idle"
            ? Stream.make(position.ended("idle"))
            : e.reason === "Gone"
              ? position.expired()
              : Stream.fail(e)
        )
      )
  ).pipe(Stream.unwrap)

/** The wait after `s` with `delay` as the backoff has it. */
const delayAfter = (s: Setback, delay: Duration.Duration): Duration.Duration => {
  if (s._tag !== "KubeApiError") return delay
  if (s.reason === "Starting") return STARTING_RETRY
  // No answer costs the server nothing: a server back up is asked again within a second, whatever the outage.
  if (s.reason === "Transport") return Duration.min(delay, TRANSPORT_RETRY_MAX)
  if (s.retryAfterSeconds === undefined) return delay
  return Duration.max(delay, Duration.min(Duration.seconds(s.retryAfterSeconds), API_RETRY_AFTER_CAP))
}

/**
 * Capped exponential backoff with jitter: [d/2, d) for d = initial·2^n, capped; a longer `Retry-After`, up to
 * `API_RETRY_AFTER_CAP`, instead. An API server that is starting is asked again after `STARTING_RETRY`. Whole
 * milliseconds, as the clock counts them.
 */
const backoff = (options: ListWatchOptions) =>
  Schedule.passthrough<readonly [Duration.Duration, number], Setback, never>(
    Schedule.jitteredWith(
      Schedule.union(Schedule.exponential(options.retryInitial, 2), Schedule.spaced(options.retryMax)),
      { min: 0.5, max: 1 }
    )
  ).pipe(Schedule.modifyDelay((s, delay) => Duration.millis(Math.ceil(Duration.toMillis(delayAfter(s, delay))))))

const isProgress = (o: Observation) => o._tag === "Page" || o._tag === "Listed" || o._tag === "Watched"

const isRefusal = (e: KubeApiError) => e.reason === "Unauthorized" || e.reason === "Forbidden"

/**
 * The setbacks since the last progress: the kind of the last one (a new kind starts the backoff over), and whether
 * the API server is starting (a 401 or 403 after a failed connection, for `STARTING_GRACE` from the first).
 */
class Setbacks {
  #lastKind: string | undefined
  #connectionFailed = false
  #startingSince: number | undefined

  progressed(): void {
    this.#lastKind = undefined
    this.#connectionFailed = false
    this.#startingSince = undefined
  }

  /** `setback` as it is passed on and waited for, and whether the backoff starts over for it. */
  next(setback: Setback, now: number): { readonly setback: Setback; readonly fresh: boolean } {
    let seen = setback
    if (seen._tag === "KubeApiError" && isRefusal(seen)) {
      if (this.#connectionFailed && this.#startingSince === undefined) this.#startingSince = now
      const since = this.#startingSince
      if (since !== undefined && now - since < Duration.toMillis(STARTING_GRACE)) seen = seen.startingUp()
    } else if (seen._tag === "KubeApiError" && seen.reason === "Transport") {
      this.#connectionFailed = true
    }
    const kind = seen._tag === "KubeApiError" ? seen.reason : seen._tag
    const fresh = kind !== this.#lastKind
    this.#lastKind = kind
    return { setback: seen, fresh }
  }
}

/**
 * `rounds` again after each setback, for ever, once the backoff has passed; a failure is passed on as `Failed`
 * first. The backoff grows from one setback to the next of the same kind until something is read.
 */
const retrying = (options: ListWatchOptions, rounds: Stream.Stream<Observation, Setback>): Stream.Stream<Observation> =>
  Effect.map(Schedule.driver(backoff(options)), (driver) => {
    const setbacks = new Setbacks()
    const after = (raw: Setback) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const { setback, fresh } = setbacks.next(raw, now)
        const wait = Effect.zipRight(fresh ? driver.reset : Effect.void, Effect.ignore(driver.next(setback)))
        return Stream.concat(
          setback._tag === "KubeApiError"
            ? Stream.succeed<Observation>({ _tag: "Failed", error: setback })
            : Stream.empty,
          Stream.execute(wait)
        )
      }).pipe(Stream.unwrap)
    const attempt: Stream.Stream<Observation> = rounds.pipe(
      Stream.map((o) => {
        if (isProgress(o)) setbacks.progressed()
        return o
      }),
      Stream.catchAll((setback) =>
        Stream.concat(
          after(setback),
          Stream.suspend(() => attempt)
        )
      )
    )
    return attempt
  }).pipe(Stream.unwrap)

/** Lists `request.collection` (unless resuming), watches it, and on and on; see the top of this file. */
export const listWatch = (api: KubeApiShape, request: ListWatchRequest): Stream.Stream<Observation> =>
  Stream.suspend(() => {
    const position = new Position(request.resumeFrom)
    const watch = Stream.suspend(() => watchFrom(api, request, position))
    const round = Stream.suspend(() =>
      position.resourceVersion === undefined
        ? Stream.concat(listPages(api, request, position.listCause).pipe(Stream.map((o) => position.listed(o))), watch)
        : watch
    )
    return retrying(request, Stream.forever(round))
  })

/** Poll mode: the whole list every `interval`, retried like `listWatch`. */
export const listEvery = (
  api: KubeApiShape,
  request: ListWatchRequest,
  interval: Duration.Duration
): Stream.Stream<Observation> =>
  retrying(
    request,
    Stream.forever(Stream.concat(listPages(api, request, "poll"), Stream.execute(Effect.sleep(interval))))
  )

/**
 * List+watch of one collection, the one way the collector follows one (the event source, the enricher's caches),
 * as the API concepts page asks of a client: list in pages (`limit`, `continue`; an expired continue token lists
 * from the start), then watch from the list's resourceVersion with bookmarks and go on watching from the last
 * resourceVersion seen; a 410 Gone (the watch refused, or an `ERROR` event) lists again, at once the first time
 * and after a backoff when the fresh list's version is gone too; a watch silent for `watchIdleTimeout`, not even
 * a bookmark, is taken for dead and started again. Failures are passed on as `Failed` and retried with capped,
 * jittered exponential backoff, starting over after progress, a longer `Retry-After` waited out.
 *
 * The stream never fails: what was read and what happened come in order as `Observation`s. Time is the `Clock`'s.
 */
import { Duration, Effect, Random, Schedule, Stream } from "effect"
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

/** The pages of one list from `continueToken` on; an expired continue token lists from the start. */
const pagesFrom = (
  api: KubeApiShape,
  request: ListWatchRequest,
  continueToken: string | undefined
): Stream.Stream<Observation, KubeApiError> =>
  api.list({ collection: request.collection, limit: request.pageSize, continueToken }).pipe(
    Effect.map((page) => {
      const items: Observation = { _tag: "Page", items: page.items }
      if (page.continueToken !== undefined) {
        return Stream.concat(Stream.succeed(items), pagesFrom(api, request, page.continueToken))
      }
      const listed: Observation = { _tag: "Listed", resourceVersion: page.resourceVersion }
      return Stream.fromIterable([items, listed])
    }),
    Effect.catchIf(
      (e) => e.reason === "Gone" && continueToken !== undefined,
      // The continue token outlived the server's window: a consistent list has to start over.
      () => Effect.succeed(listPages(api, request, "continueExpired"))
    ),
    Stream.unwrap
  )

/** One list, every page: `Listing`, then `Page`s, then `Listed`. */
const listPages = (api: KubeApiShape, request: ListWatchRequest, cause: ListCause) =>
  Stream.concat(Stream.succeed<Observation>({ _tag: "Listing", cause }), pagesFrom(api, request, undefined))

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

/** Capped exponential backoff with jitter: [d/2, d) for d = initial·2^n, capped; a longer `Retry-After` instead. */
const backoff = (options: ListWatchOptions) =>
  Schedule.passthrough<readonly [Duration.Duration, number], Setback, never>(
    Schedule.jitteredWith(
      Schedule.union(Schedule.exponential(options.retryInitial, 2), Schedule.spaced(options.retryMax)),
      { min: 0.5, max: 1 }
    )
  ).pipe(
    Schedule.modifyDelay((s, delay) =>
      s._tag === "KubeApiError" && s.retryAfterSeconds !== undefined
        ? Duration.max(delay, Duration.seconds(s.retryAfterSeconds))
        : delay
    )
  )

const isProgress = (o: Observation) => o._tag === "Page" || o._tag === "Listed" || o._tag === "Watched"

/**
 * `rounds` again after each setback, for ever, once the backoff has passed; a failure is passed on as `Failed`
 * first. The backoff grows from one setback to the next until something is read.
 */
const retrying = (options: ListWatchOptions, rounds: Stream.Stream<Observation, Setback>): Stream.Stream<Observation> =>
  Effect.map(Schedule.driver(backoff(options)), (driver) => {
    let progressed = false
    const wait = (setback: Setback) =>
      Effect.suspend(() => {
        const reset = progressed ? driver.reset : Effect.void
        progressed = false
        return Effect.zipRight(reset, Effect.ignore(driver.next(setback)))
      })
    const attempt: Stream.Stream<Observation> = rounds.pipe(
      Stream.map((o) => {
        if (isProgress(o)) progressed = true
        return o
      }),
      Stream.catchAll((setback) =>
        Stream.concat(
          setback._tag === "KubeApiError"
            ? Stream.succeed<Observation>({ _tag: "Failed", error: setback })
            : Stream.empty,
          Stream.execute(wait(setback))
        ).pipe(Stream.concat(Stream.suspend(() => attempt)))
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

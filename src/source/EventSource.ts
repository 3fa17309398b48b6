/**
 * The only code that reads events from the Kubernetes API: each target followed by `listWatch` (or, in poll
 * mode, listed every interval by `listEvery`), what it observes turned into decoded `Change`s; failures counted,
 * said once and marked on the readiness probe. A list leaves out what is at or below the last resourceVersion
 * passed on, and of a list that started over, what an earlier attempt passed on (`ListProgress`); the pipeline's
 * once-only window is the second guard.
 */
import { Duration, Effect, Stream } from "effect"
import { type Change, decodeChange } from "./Change.ts"
import { KubeApi, type KubeApiShape } from "../kube/KubeApi.ts"
import type { KubeApiError } from "../kube/KubeApiError.ts"
import {
  type ListCause,
  listEvery,
  type ListWatchRequest,
  listWatch,
  type Observation,
  type WatchEndCause
} from "../kube/listWatch.ts"
import { resourceVersionOf } from "../kube/resourceVersion.ts"
import { MalformedLine, type WatchLine } from "../kube/watchStream.ts"
import { eventCollection, targetKey, type WatchTarget } from "./WatchTarget.ts"
import { ListProgress } from "./ListProgress.ts"
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

const where = (target: WatchTarget) => `${target.api} events ${target.namespace ?? "(all namespaces)"}`

/** A watch's lines as changes; how many were events, and the last resourceVersion among them. */
const watchedChanges = (target: WatchTarget, stream: string, lines: ReadonlyArray<WatchLine>) => {
  const changes: Array<Change> = []
  let events = 0
  let lastRv: string | undefined
  for (const line of lines) {
    if (line instanceof MalformedLine) {
      changes.push({ _tag: "Undecodable", message: `${where(target)}: ${line.detail}; skipped`, stream })
      continue
    }
    events++
    const rv = resourceVersionOf(line.object)
    if (rv !== undefined) lastRv = rv
    if (line.type === "ADDED" || line.type === "MODIFIED") {
      changes.push(decodeChange(line.type, line.object, target.api, stream))
    } else if (line.type === "BOOKMARK" && rv !== undefined) {
      changes.push({ _tag: "Bookmark", stream, resourceVersion: rv })
    }
  }
  return { changes, events, lastRv }
}

const NONE: ReadonlyArray<Change> = []

/** What reading every target uses. */
interface Parts {
  readonly api: KubeApiShape
  readonly metrics: CollectorMetrics
  readonly health: HealthState
}

/**
 * Turns what list+watch observes of one target into its changes: list items not yet passed on and watch events
 * decoded, the list's own resourceVersion and bookmarks as `Bookmark`s; the rest is counted, logged and reported.
 */
class TargetChanges {
  readonly #target: WatchTarget
  readonly #parts: Parts
  /** The target's stream key, whose resourceVersion the checkpoint keeps. */
  readonly #stream: string
  readonly #reporter = new ProblemReporter()
  /** The last resourceVersion passed on: a relist leaves out what is at or below it. */
  #watermark: string | undefined
  readonly #list = new ListProgress()

  constructor(target: WatchTarget, parts: Parts, resumeFrom: string | undefined) {
    this.#target = target
    this.#parts = parts
    this.#stream = targetKey(target)
    this.#watermark = resumeFrom
  }

  changesOf(o: Observation): Effect.Effect<ReadonlyArray<Change>> {
    switch (o._tag) {
      case "Listing":
        this.#list.listing()
        return this.#listing(o.cause)
      case "Page":
        this.#parts.health.activity()
        // No stream position: a list's items come in key order, not in resourceVersion order, so a checkpoint
        // taken half-way through must stay where it was (the list's own resourceVersion moves it, at its end).
        return Effect.succeed(
          this.#list
            .page(o.items, this.#watermark)
            .map((object) => decodeChange("ADDED", object, this.#target.api, undefined))
        )
      case "Listed": {
        // The list's own resourceVersion is progress too: nothing at or below it is still to come.
        this.#list.listed()
        this.#watermark = o.resourceVersion
        const bookmark: Change = { _tag: "Bookmark", stream: this.#stream, resourceVersion: o.resourceVersion }
        return Effect.as(this.#reporter.succeeded("list", this.#target), [bookmark])
      }
      case "Watched":
        return this.#watched(o.lines)
      case "WatchEnded":
        return this.#watchEnded(o.cause, o.resourceVersion)
      case "Failed":
        return Effect.as(this.#failed(o.error), NONE)
    }
  }

  #listing(cause: ListCause): Effect.Effect<ReadonlyArray<Change>> {
    if (cause === "continueExpired") {
      const namespace = this.#target.namespace ?? "(all namespaces)"
      return Effect.as(Effect.logInfo(`the list of events ${namespace} expired between pages; listing again`), NONE)
    }
    this.#parts.metrics.relists.inc({ cause })
    return Effect.succeed(NONE)
  }

  #watched(lines: ReadonlyArray<WatchLine>): Effect.Effect<ReadonlyArray<Change>> {
    const { changes, events, lastRv } = watchedChanges(this.#target, this.#stream, lines)
    if (lastRv !== undefined) this.#watermark = lastRv
    if (events === 0) return Effect.succeed(changes)
    this.#parts.health.activity()
    // Said as soon as a watch delivers after a failure, not when it ends (minutes later).
    return Effect.as(this.#reporter.succeeded("watch", this.#target), changes)
  }

  #watchEnded(cause: WatchEndCause, resourceVersion: string): Effect.Effect<ReadonlyArray<Change>> {
    this.#parts.metrics.watchRestarts.inc({ cause })
    // The server ending a watch at its timeout is a sign of life; a watch ended for silence is not.
    if (cause === "timeout") this.#parts.health.activity()
    if (cause !== "expired") return Effect.succeed(NONE)
    const text = `resourceVersion ${resourceVersion} of ${where(this.#target)} is gone (410); listing again`
    return Effect.as(Effect.logInfo(text), NONE)
  }

  /** Counted, said once per kind, and the API marked unreachable; list+watch retries after its backoff. */
  #failed(error: KubeApiError): Effect.Effect<void> {
    const { metrics, health, api } = this.#parts
    if (error.verb === "watch") metrics.watchRestarts.inc({ cause: error.reason === "Transport" ? "dropped" : "error" })
    metrics.apiErrors.inc({ verb: error.verb, status: String(error.status ?? 0) })
    health.unreachable()
    return this.#reporter.failed(error, this.#target, api.server)
  }
}

/** The changes of one target: list+watch (or a list every interval) as `TargetChanges` turns it into changes. */
const targetChanges = (settings: SourceSettings, target: WatchTarget, parts: Parts) =>
  Stream.suspend(() => {
    const resumeFrom = settings.resumeFrom[targetKey(target)]
    const changes = new TargetChanges(target, parts, resumeFrom)
    const request: ListWatchRequest = {
      collection: eventCollection(target),
      pageSize: settings.pageSize,
      watchTimeout: settings.watchTimeout,
      watchIdleTimeout: settings.watchIdleTimeout,
      retryInitial: settings.retryInitial,
      retryMax: settings.retryMax,
      resumeFrom,
      readAhead: settings.highWater
    }
    const observations =
      settings.mode === "poll" ? listEvery(parts.api, request, settings.pollInterval) : listWatch(parts.api, request)
    return observations.pipe(
      Stream.mapEffect((o) => changes.changesOf(o)),
      Stream.filter((c) => c.length > 0)
    )
  })

/**
 * The changes of every target, merged, in the arrays they were read in. Never fails: every failure is reported and
 * retried. Read as the pipeline pulls: the watch reads its socket ahead up to `highWater` events meanwhile.
 */
export const eventChanges = (
  settings: SourceSettings
): Stream.Stream<ReadonlyArray<Change>, never, KubeApi | Metrics | Health> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const parts: Parts = { api: yield* KubeApi, metrics: yield* Metrics, health: yield* Health }
      const streams = settings.targets.map((target) => targetChanges(settings, target, parts))
      return streams.length === 1 && streams[0] !== undefined
        ? streams[0]
        : Stream.mergeAll(streams, { concurrency: "unbounded" })
    })
  )

import { Clock, Context, Deferred, Duration, Effect, Fiber, Layer, Option, Queue, Ref, Schedule } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { Metrics } from "../observability/Metrics.ts"
import { type Accepted, type ExportFailed, LogExporter } from "./LogExporter.ts"

/**
 * Whether a failed export is worth another attempt: no answer, or trouble the backend calls passing (408, 429,
 * 5xx). A batch the backend rejected (any other 4xx) or answered oddly is dropped at once.
 */
const isRetryable = (e: ExportFailed): boolean => {
  switch (e.reason) {
    case "Transport":
    case "Timeout":
    case "RequestTimeout":
    case "TooManyRequests":
    case "ServerError":
      return true
    case "Rejected":
    case "StatusCode":
      return false
  }
}

/**
 * The longest `Retry-After` of the backend waited out: a longer one (an hour from a misconfigured proxy) is cut to
 * this, so that one answer cannot stall delivery for longer.
 */
export const RETRY_AFTER_CAP = Duration.minutes(5)

/** Why records were given up on: the `reason` label of the dropped-records counter, the key of `SinkStats.dropped`. */
type DropCause = "older_than_ttl" | "rejected_by_backend" | "retries_exhausted" | "shutdown"

export interface SinkSettings {
  readonly queueSize: number
  readonly batchSize: number
  /**
   * The longest a record waits for its batch to fill. A batch lingers only while an export is in flight or while
   * records arrive fast enough to fill it within this time; otherwise it goes at once (`nextBatch`).
   */
  readonly linger: Duration.Duration
  /**
   * Batches exported at once. A batch's markers still run only after it and every batch before it are done, so
   * the checkpoint never passes a record the backend does not have.
   */
  readonly concurrency: number
  /** First retry delay; doubles each attempt up to `retryMax`, jittered. */
  readonly retryInitial: Duration.Duration
  readonly retryMax: Duration.Duration
  /**
   * Give up on a batch this long after its first attempt started, the attempt in flight included; `undefined`
   * retries for ever (the daemon's choice).
   */
  readonly retryGiveUpAfter: Duration.Duration | undefined
  /**
   * A record whose occurrence is older than this when it could finally be sent is dropped (reason
   * `older_than_ttl`): the API server has deleted the event by then. `undefined` keeps every record (a dump).
   */
  readonly maxRecordAge: Duration.Duration | undefined
}

/**
 * What flows through the queue: records, and markers that run once every record offered before them has been
 * acknowledged or dropped. Markers are how the checkpoint and `flush` learn what the backend has.
 */
type Item =
  | { readonly _tag: "Records"; readonly records: ReadonlyArray<ReadableLogRecord> }
  | { readonly _tag: "Marker"; readonly reached: Effect.Effect<void> }
  /** The last export in flight ended: a batch lingering for it goes now. Carries nothing. */
  | { readonly _tag: "Idle" }

const idle: Item = { _tag: "Idle" }

/**
 * Counts what arrives over a sliding window of `windowMs`, estimated from two fixed windows (the current one,
 * and the previous one weighted by how much of it the sliding window still covers).
 */
const slidingCount = (windowMs: number) => {
  let start = 0
  let current = 0
  let previous = 0
  const roll = (now: number) => {
    if (now - start < windowMs) return
    previous = now - start < 2 * windowMs ? current : 0
    current = 0
    start = windowMs === 0 ? now : now - ((now - start) % windowMs)
  }
  return {
    add: (count: number, now: number) => {
      roll(now)
      current += count
    },
    recent: (now: number) => {
      if (windowMs === 0) return 0
      roll(now)
      return current + previous * (1 - (now - start) / windowMs)
    }
  }
}

export interface SinkStats {
  readonly exported: number
  readonly dropped: Readonly<Record<string, number>>
  readonly lastError: string | undefined
}

export interface RecordSinkShape {
  /** Enqueues a record; suspends while the queue is full, which is how backpressure reaches the source. */
  readonly offer: (record: ReadableLogRecord) => Effect.Effect<void>
  /** The array is the sink's from then on: the caller does not change it. */
  readonly offerAll: (records: ReadonlyArray<ReadableLogRecord>) => Effect.Effect<void>
  /** Runs `reached` once every record offered before it has been acknowledged or dropped. */
  readonly mark: (reached: Effect.Effect<void>) => Effect.Effect<void>
  /** Waits until every record offered so far has been acknowledged or dropped. */
  readonly flush: Effect.Effect<void>
  /**
   * Stopping: flushes for at most `timeout`, then stops exporting and counts what is still unacknowledged as
   * dropped (reason `shutdown`); returns how many. Markers of those records never run. The sink is done after it.
   */
  readonly drain: (timeout: Duration.Duration) => Effect.Effect<number>
  readonly stats: Effect.Effect<SinkStats>
}

export class RecordSink extends Context.Tag("RecordSink")<RecordSink, RecordSinkShape>() {
  static readonly layer = (settings: SinkSettings) => Layer.scoped(RecordSink, make(settings))
}

const make = (settings: SinkSettings) =>
  Effect.gen(function* () {
    const exporter = yield* LogExporter
    const metrics = yield* Metrics
    // Records go in as the arrays they were offered in (no effect per record); the bound counts records: an offer
    // takes one permit per record, given back when the record is taken into a batch.
    const queue = yield* Queue.unbounded<Item>()
    const room = yield* Effect.makeSemaphore(settings.queueSize)
    let queued = 0
    /** Records taken into the queue so far: those neither exported nor dropped are still on their way. */
    let offered = 0
    const stats = yield* Ref.make<SinkStats>({ exported: 0, dropped: {}, lastError: undefined })
    /** Texts already logged, for those logged once each (a backend's partial-success message); bounded. */
    const logged = new Set<string>()
    const firstTime = (text: string) => {
      if (logged.has(text)) return false
      if (logged.size >= 1000) logged.clear()
      logged.add(text)
      return true
    }

    const drop = (
      cause: DropCause,
      count: number,
      detail: string,
      log: "every time" | "once per text" = "every time"
    ) =>
      Effect.gen(function* () {
        metrics.recordsDropped.inc({ reason: cause }, count)
        yield* Ref.update(stats, (s) => ({
          ...s,
          dropped: { ...s.dropped, [cause]: (s.dropped[cause] ?? 0) + count },
          lastError: detail
        }))
        if (log === "once per text" && !firstTime(`${cause}\n${detail}`)) return
        const more = log === "once per text" ? " (logged once: later drops for the same reason are only counted)" : ""
        yield* Effect.logError(`dropped ${count} records: ${cause}: ${detail}${more}`).pipe(
          Effect.annotateLogs({ dropped: count, reason: cause })
        )
      })

    const maxAgeMs = settings.maxRecordAge === undefined ? undefined : Duration.toMillis(settings.maxRecordAge)
    /** Takes out the records too old to be worth sending now, dropping them as `older_than_ttl`. */
    const withoutExpired = (records: ReadonlyArray<ReadableLogRecord>) =>
      Effect.gen(function* () {
        if (maxAgeMs === undefined) return records
        const oldest = ((yield* Clock.currentTimeMillis) - maxAgeMs) / 1000
        const fresh = records.filter((r) => r.hrTime[0] + r.hrTime[1] / 1e9 >= oldest)
        if (fresh.length < records.length) {
          yield* drop(
            "older_than_ttl",
            records.length - fresh.length,
            `the occurrence is older than ${Duration.format(Duration.millis(maxAgeMs))}`
          )
        }
        return fresh
      })

    const attempt = (records: ReadonlyArray<ReadableLogRecord>): Effect.Effect<Accepted, ExportFailed> =>
      exporter.export(records).pipe(
        Effect.timed,
        Effect.map(([d, accepted]) => {
          metrics.exportDuration.observe(Duration.toSeconds(d))
          return accepted
        }),
        Effect.tapError((e) =>
          Effect.sync(() => metrics.exportBatches.inc({ outcome: isRetryable(e) ? "retry" : "rejected" })).pipe(
            Effect.zipRight(
              isRetryable(e)
                ? Effect.logWarning(`export of ${records.length} records failed, will retry: ${e.message}`)
                : Effect.void
            )
          )
        )
      )

    // `union` takes the shorter delay of the two: exponential growth, capped at `retryMax`; a longer `Retry-After`
    // from the backend is waited out instead, up to `RETRY_AFTER_CAP`. Whole milliseconds, as the clock counts them.
    const backoff = Schedule.jittered(
      Schedule.union(Schedule.exponential(settings.retryInitial, 2), Schedule.spaced(settings.retryMax))
    )
    const schedule = Schedule.passthrough(Schedule.whileInput(backoff, isRetryable)).pipe(
      Schedule.modifyDelay((e, delay) => {
        const wait =
          e.retryAfter === undefined ? delay : Duration.max(delay, Duration.min(e.retryAfter, RETRY_AFTER_CAP))
        return Duration.millis(Math.ceil(Duration.toMillis(wait)))
      })
    )
    const giveUp = settings.retryGiveUpAfter

    /** Counts what the backend took; what a partial success rejected is dropped, the backend's message logged once. */
    const acknowledged = (records: ReadonlyArray<ReadableLogRecord>, accepted: Accepted) =>
      Effect.gen(function* () {
        const rejected = Math.min(accepted.rejected, records.length)
        const taken = records.length - rejected
        metrics.exportBatches.inc({ outcome: "success" })
        metrics.recordsExported.inc(taken)
        yield* Ref.update(stats, (s) => ({ ...s, exported: s.exported + taken }))
        const message = Option.getOrElse(accepted.rejectionMessage, () => "no reason given")
        if (rejected > 0) yield* drop("rejected_by_backend", rejected, `partial success: ${message}`, "once per text")
        else if (Option.isSome(accepted.rejectionMessage) && firstTime(message)) {
          yield* Effect.logWarning(`the backend accepted every record with a warning: ${message}`)
        }
      })

    const exportBatch = (batch: ReadonlyArray<ReadableLogRecord>) =>
      Effect.gen(function* () {
        let records = batch
        let lastError = "no attempt finished"
        // Each attempt first leaves out what has become too old while the backend was failing.
        const once = Effect.gen(function* () {
          records = yield* withoutExpired(records)
          return records.length === 0 ? undefined : yield* attempt(records)
        }).pipe(Effect.tapError((e) => Effect.sync(() => (lastError = e.message))))
        const retried = once.pipe(Effect.retry(schedule))
        // The give-up time bounds the whole retry: the attempt in flight is abandoned when it runs out.
        const bounded = giveUp === undefined ? Effect.asSome(retried) : Effect.timeoutOption(retried, giveUp)
        // Counted together with the answer: a stop between the two must not count a batch twice or not at all.
        yield* Effect.uninterruptibleMask((restore) =>
          restore(bounded).pipe(
            Effect.matchEffect({
              onSuccess: Option.match({
                onNone: () => {
                  const after = Duration.format(giveUp ?? Duration.zero)
                  return drop("retries_exhausted", records.length, `gave up after ${after}: ${lastError}`)
                },
                onSome: (accepted) => (accepted === undefined ? Effect.void : acknowledged(records, accepted))
              }),
              onFailure: (e) =>
                drop(isRetryable(e) ? "retries_exhausted" : "rejected_by_backend", records.length, e.message)
            })
          )
        )
      })

    /** Records taken from the queue that did not fit into the last batch: the next batch starts with them. */
    let carry: ReadonlyArray<ReadableLogRecord> = []
    /** Exports started and not yet done with (acknowledged, dropped or given up on). */
    let inFlight = 0
    /** Whether `nextBatch` is waiting for more: the end of the last export in flight then wakes it (`Idle`). */
    let lingering = false
    const lingerMs = Duration.toMillis(settings.linger)
    // A batch holds its records' room until it is taken: one larger than the queue could never fill.
    const batchSize = Math.max(1, Math.min(settings.batchSize, settings.queueSize))
    /** Records offered over the last linger time: how fast a batch fills. */
    const arrivals = slidingCount(lingerMs)

    /**
     * Whether a batch holding `taken` records waits `left` ms more: only while an export is in flight (its answer
     * sends the batch, as TCP's Nagle rule does), or while records arrive fast enough to fill it by then.
     */
    const worthWaiting = (taken: number, left: number, now: number) =>
      taken > 0 && (inFlight > 0 || (batchSize - taken) * lingerMs <= arrivals.recent(now) * left)

    const exportEnded = Effect.suspend(() => {
      inFlight -= 1
      return inFlight === 0 && lingering ? Queue.offer(queue, idle) : Effect.void
    })

    /** The next item with records or a marker (an `Idle` left over from a batch that stopped waiting is skipped). */
    const takeWork = Queue.take(queue).pipe(Effect.repeat({ until: (item) => item._tag !== "Idle" }))

    /**
     * Takes the next batch: at least one item and whatever is queued behind it, up to the size; then, only if
     * `worthWaiting`, what arrives within the linger time. An array that does not fit is split and the batch ends
     * there, so a marker never runs before records offered ahead of it.
     */
    const nextBatch = Effect.gen(function* () {
      const records: Array<ReadableLogRecord> = []
      const markers: Array<Effect.Effect<void>> = []
      let full = false
      const add = (item: Item) => {
        if (item._tag === "Idle") return
        if (item._tag === "Marker") {
          markers.push(item.reached)
          return
        }
        const space = batchSize - records.length
        if (item.records.length <= space) {
          for (const r of item.records) records.push(r)
        } else {
          for (const r of item.records.slice(0, space)) records.push(r)
          carry = item.records.slice(space)
          full = true
        }
        if (records.length >= batchSize) full = true
      }
      if (carry.length > 0) {
        const first = carry
        carry = []
        add({ _tag: "Records", records: first })
      } else add(yield* takeWork)
      const deadline = (yield* Clock.currentTimeMillis) + lingerMs
      while (!full) {
        const more = yield* Queue.poll(queue)
        if (Option.isSome(more)) {
          add(more.value)
          continue
        }
        const now = yield* Clock.currentTimeMillis
        const left = deadline - now
        if (left <= 0 || !worthWaiting(records.length, left, now)) break
        lingering = true
        const next = yield* Queue.take(queue).pipe(
          Effect.timeout(Duration.millis(left)),
          Effect.option,
          Effect.ensuring(Effect.sync(() => (lingering = false)))
        )
        if (Option.isNone(next)) break
        add(next.value)
      }
      // Taken out of the queue: their room goes to the next offers (a batch lingering for more must not wait on
      // room that only it holds).
      queued -= records.length
      yield* room.release(records.length)
      return { records, markers }
    })

    /** The batches taken and not yet done with, in order: each one's export, then its markers. */
    const pending = yield* Queue.unbounded<{
      readonly exported: Fiber.Fiber<void>
      readonly markers: ReadonlyArray<Effect.Effect<void>>
    }>()
    const slots = yield* Effect.makeSemaphore(Math.max(1, settings.concurrency))

    const process = Effect.gen(function* () {
      const { records, markers } = yield* nextBatch
      metrics.queueDepth.set(queued)
      yield* slots.take(1)
      if (records.length > 0) inFlight += 1
      const exported = yield* Effect.fork(
        records.length > 0 ? Effect.ensuring(exportBatch(records), exportEnded) : Effect.void
      )
      yield* Queue.offer(pending, { exported, markers })
    })

    // Markers in order: a batch's wait until its export and the exports of all batches before it are done.
    const complete = Effect.gen(function* () {
      const batch = yield* Queue.take(pending)
      yield* Fiber.join(batch.exported)
      for (const reached of batch.markers) yield* reached
      yield* slots.release(1)
    })

    const workers = [
      yield* Effect.forkScoped(Effect.forever(complete)),
      yield* Effect.forkScoped(Effect.forever(process))
    ]

    const mark = (reached: Effect.Effect<void>) => Queue.offer(queue, { _tag: "Marker", reached }).pipe(Effect.asVoid)
    // Offers go in pieces of at most a batch: each piece waits only for its own room (a whole chunk waiting for a
    // queue's worth of room would stall the pipeline until the queue was empty), and makes one batch.
    const piece = batchSize
    const offerAll = (records: ReadonlyArray<ReadableLogRecord>) =>
      Effect.gen(function* () {
        for (let at = 0; at < records.length; at += piece) {
          const part = at === 0 && records.length <= piece ? records : records.slice(at, at + piece)
          yield* room.take(part.length)
          queued += part.length
          offered += part.length
          arrivals.add(part.length, yield* Clock.currentTimeMillis)
          yield* Queue.offer(queue, { _tag: "Records", records: part })
        }
      })
    const flush = Effect.gen(function* () {
      const done = yield* Deferred.make<void>()
      yield* mark(Deferred.succeed(done, undefined))
      yield* Deferred.await(done)
    })

    // Interruptible even when called from a finalizer (a stop on SIGTERM runs in one), so the timeout ends it.
    const drain = (timeout: Duration.Duration) =>
      Effect.gen(function* () {
        const flushed = yield* flush.pipe(Effect.interruptible, Effect.timeout(timeout), Effect.option)
        if (Option.isSome(flushed)) return 0
        // The exports in flight are children of the batching fiber: they stop with it.
        yield* Fiber.interruptAll(workers)
        const s = yield* Ref.get(stats)
        const left = offered - s.exported - Object.values(s.dropped).reduce((a, b) => a + b, 0)
        const why = `not acknowledged within the shutdown timeout of ${Duration.format(timeout)}`
        if (left > 0) yield* drop("shutdown", left, why)
        return left
      })

    return RecordSink.of({
      offer: (record) => offerAll([record]),
      offerAll,
      mark,
      flush,
      drain,
      stats: Ref.get(stats)
    })
  })

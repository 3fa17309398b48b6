import { Context, Deferred, Duration, Effect, Fiber, Layer, Option, Queue, Ref, Schedule } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { Metrics } from "../observability/Metrics.ts"
import { LogExporter } from "./LogExporter.ts"

export interface SinkSettings {
  readonly queueSize: number
  readonly batchSize: number
  readonly linger: Duration.Duration
  /**
   * Batches exported at once. A batch's markers still run only after it and every batch before it are done, so
   * the checkpoint never passes a record the backend does not have.
   */
  readonly concurrency: number
  /** First retry delay; doubles each attempt up to `retryMax`, jittered. */
  readonly retryInitial: Duration.Duration
  readonly retryMax: Duration.Duration
  /** Give up on a batch after retrying this long; `undefined` retries for ever (the daemon's choice). */
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
  readonly stats: Effect.Effect<SinkStats>
}

export class RecordSink extends Context.Tag("RecordSink")<RecordSink, RecordSinkShape>() {
  static readonly layer = (settings: SinkSettings) => Layer.scoped(RecordSink, make(settings))
}

const make = (settings: SinkSettings) =>
  Effect.gen(function*() {
    const exporter = yield* LogExporter
    const metrics = yield* Metrics
    // Records go in as the arrays they were offered in (no effect per record); the bound counts records: an offer
    // takes one permit per record, given back when the record is taken into a batch.
    const queue = yield* Queue.unbounded<Item>()
    const room = yield* Effect.makeSemaphore(settings.queueSize)
    let queued = 0
    const stats = yield* Ref.make<SinkStats>({ exported: 0, dropped: {}, lastError: undefined })

    const drop = (reason: string, count: number, why: string) =>
      Effect.gen(function*() {
        metrics.recordsDropped.inc({ reason }, count)
        yield* Ref.update(stats, (s) => ({
          ...s,
          dropped: { ...s.dropped, [reason]: (s.dropped[reason] ?? 0) + count },
          lastError: why
        }))
        yield* Effect.logError(`dropped ${count} records: ${reason}: ${why}`)
      })

    const maxAgeMs = settings.maxRecordAge === undefined ? undefined : Duration.toMillis(settings.maxRecordAge)
    /** Takes out the records too old to be worth sending now, dropping them with their reason. */
    const withoutExpired = (records: ReadonlyArray<ReadableLogRecord>) =>
      Effect.gen(function*() {
        if (maxAgeMs === undefined) return records
        const oldest = (Date.now() - maxAgeMs) / 1000
        const fresh = records.filter((r) => r.hrTime[0] + r.hrTime[1] / 1e9 >= oldest)
        if (fresh.length < records.length) {
          yield* drop("older_than_ttl", records.length - fresh.length, `the occurrence is older than ${Duration.format(Duration.millis(maxAgeMs))}`)
        }
        return fresh
      })

    const attempt = (records: ReadonlyArray<ReadableLogRecord>) =>
      exporter.export(records).pipe(
        Effect.timed,
        Effect.tap(([d]) => Effect.sync(() => metrics.exportDuration.observe(Duration.toSeconds(d)))),
        Effect.tapError((e) =>
          Effect.sync(() => metrics.exportBatches.inc({ outcome: e.retryable ? "retry" : "rejected" })).pipe(
            Effect.zipRight(
              e.retryable
                ? Effect.logWarning(`export of ${records.length} records failed, will retry: ${e.message}`)
                : Effect.void
            )
          )
        )
      )

    // `union` takes the shorter delay of the two: exponential growth, capped at `retryMax`.
    const backoff = Schedule.asVoid(
      Schedule.jittered(Schedule.union(Schedule.exponential(settings.retryInitial, 2), Schedule.spaced(settings.retryMax)))
    )
    const schedule = settings.retryGiveUpAfter === undefined
      ? backoff
      : Schedule.upTo(backoff, settings.retryGiveUpAfter)

    const exportBatch = (batch: ReadonlyArray<ReadableLogRecord>) =>
      Effect.gen(function*() {
        let records = batch
        // Each attempt first leaves out what has become too old while the backend was failing.
        const once = Effect.gen(function*() {
          records = yield* withoutExpired(records)
          if (records.length > 0) yield* attempt(records)
        })
        yield* once.pipe(
          Effect.retry({ schedule, while: (e) => e.retryable }),
          Effect.matchEffect({
            onSuccess: () =>
              records.length === 0 ? Effect.void : Effect.sync(() => {
                metrics.exportBatches.inc({ outcome: "success" })
                metrics.recordsExported.inc(records.length)
              }).pipe(Effect.zipRight(Ref.update(stats, (s) => ({ ...s, exported: s.exported + records.length })))),
            onFailure: (e) => drop(e.retryable ? "retries_exhausted" : "rejected_by_backend", records.length, e.message)
          })
        )
      })

    /** Records taken from the queue that did not fit into the last batch: the next batch starts with them. */
    let carry: ReadonlyArray<ReadableLogRecord> = []

    /**
     * Takes the next batch: at least one item, then whatever arrives within the linger time, up to the size. An
     * array that does not fit is split and the batch ends there, so a marker never runs before records offered
     * ahead of it.
     */
    const nextBatch = Effect.gen(function*() {
      const records: Array<ReadableLogRecord> = []
      const markers: Array<Effect.Effect<void>> = []
      let full = false
      const add = (item: Item) => {
        if (item._tag === "Marker") {
          markers.push(item.reached)
          return
        }
        const space = settings.batchSize - records.length
        if (item.records.length <= space) {
          for (const r of item.records) records.push(r)
        } else {
          for (const r of item.records.slice(0, space)) records.push(r)
          carry = item.records.slice(space)
          full = true
        }
        if (records.length >= settings.batchSize) full = true
      }
      if (carry.length > 0) {
        const first = carry
        carry = []
        add({ _tag: "Records", records: first })
      } else add(yield* Queue.take(queue))
      const deadline = Date.now() + Duration.toMillis(settings.linger)
      while (!full) {
        const more = yield* Queue.poll(queue)
        if (Option.isSome(more)) {
          add(more.value)
          continue
        }
        const left = deadline - Date.now()
        if (left <= 0) break
        const next = yield* Queue.take(queue).pipe(Effect.timeout(Duration.millis(left)), Effect.option)
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

    const process = Effect.gen(function*() {
      const { records, markers } = yield* nextBatch
      metrics.queueDepth.set(queued)
      yield* slots.take(1)
      const exported = yield* Effect.fork(records.length > 0 ? exportBatch(records) : Effect.void)
      yield* Queue.offer(pending, { exported, markers })
    })

    // Markers in order: a batch's wait until its export and the exports of all batches before it are done.
    const complete = Effect.gen(function*() {
      const batch = yield* Queue.take(pending)
      yield* Fiber.join(batch.exported)
      for (const reached of batch.markers) yield* reached
      yield* slots.release(1)
    })

    yield* Effect.forkScoped(Effect.forever(complete))
    yield* Effect.forkScoped(Effect.forever(process))

    const mark = (reached: Effect.Effect<void>) => Queue.offer(queue, { _tag: "Marker", reached }).pipe(Effect.asVoid)
    // Offers go in pieces of at most a batch: each piece waits only for its own room (a whole chunk waiting for a
    // queue's worth of room would stall the pipeline until the queue was empty), and makes one batch.
    const piece = Math.max(1, Math.min(settings.batchSize, settings.queueSize))
    const offerAll = (records: ReadonlyArray<ReadableLogRecord>) =>
      Effect.gen(function*() {
        for (let at = 0; at < records.length; at += piece) {
          const part = at === 0 && records.length <= piece ? records : records.slice(at, at + piece)
          yield* room.take(part.length)
          queued += part.length
          yield* Queue.offer(queue, { _tag: "Records", records: part })
        }
      })
    return RecordSink.of({
      offer: (record) => offerAll([record]),
      offerAll,
      mark,
      flush: Effect.gen(function*() {
        const done = yield* Deferred.make<void>()
        yield* mark(Deferred.succeed(done, undefined))
        yield* Deferred.await(done)
      }),
      stats: Ref.get(stats)
    })
  })

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
  | { readonly _tag: "Record"; readonly record: ReadableLogRecord }
  | { readonly _tag: "Marker"; readonly reached: Effect.Effect<void> }

export interface SinkStats {
  readonly exported: number
  readonly dropped: Readonly<Record<string, number>>
  readonly lastError: string | undefined
}

export interface RecordSinkShape {
  /** Enqueues a record; suspends while the queue is full, which is how backpressure reaches the source. */
  readonly offer: (record: ReadableLogRecord) => Effect.Effect<void>
  readonly offerAll: (records: Iterable<ReadableLogRecord>) => Effect.Effect<void>
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
    // Markers take queue slots too; the bound is what matters, not its exact unit.
    const queue = yield* Queue.bounded<Item>(settings.queueSize)
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

    /** Takes the next batch: at least one item, then whatever arrives within the linger time, up to the size. */
    const nextBatch = Effect.gen(function*() {
      const items: Array<Item> = [...(yield* Queue.takeBetween(queue, 1, settings.batchSize))]
      const deadline = Date.now() + Duration.toMillis(settings.linger)
      let records = items.filter((i) => i._tag === "Record").length
      while (records < settings.batchSize) {
        const more = yield* Queue.takeUpTo(queue, settings.batchSize - records)
        if (more.length > 0) {
          for (const i of more) {
            items.push(i)
            if (i._tag === "Record") records++
          }
          continue
        }
        const left = deadline - Date.now()
        if (left <= 0) break
        const next = yield* Queue.take(queue).pipe(Effect.timeout(Duration.millis(left)), Effect.option)
        if (Option.isNone(next)) break
        items.push(next.value)
        if (next.value._tag === "Record") records++
      }
      return items
    })

    /** The batches taken and not yet done with, in order: each one's export, then its markers. */
    const pending = yield* Queue.unbounded<{ readonly exported: Fiber.Fiber<void>; readonly markers: ReadonlyArray<Effect.Effect<void>> }>()
    const slots = yield* Effect.makeSemaphore(Math.max(1, settings.concurrency))

    const process = Effect.gen(function*() {
      const items = yield* nextBatch
      metrics.queueDepth.set(yield* Queue.size(queue))
      const records: Array<ReadableLogRecord> = []
      const markers: Array<Effect.Effect<void>> = []
      for (const i of items) {
        if (i._tag === "Record") records.push(i.record)
        else markers.push(i.reached)
      }
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
    return RecordSink.of({
      offer: (record) => Queue.offer(queue, { _tag: "Record", record }).pipe(Effect.asVoid),
      offerAll: (records) =>
        Queue.offerAll(queue, Array.from(records, (record): Item => ({ _tag: "Record", record }))).pipe(Effect.asVoid),
      mark,
      flush: Effect.gen(function*() {
        const done = yield* Deferred.make<void>()
        yield* mark(Deferred.succeed(done, undefined))
        yield* Deferred.await(done)
      }),
      stats: Ref.get(stats)
    })
  })

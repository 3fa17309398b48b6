/** `--source file:PATH`: export every event of the dump once, wait for the backend's acks, report. */
import { Effect, Stream } from "effect"
import { Metrics } from "../observability/Metrics.ts"
import { runPipeline } from "../pipeline/pipeline.ts"
import { DeliveryFailed } from "../sink/DeliveryFailed.ts"
import { RecordSink } from "../sink/RecordSink.ts"
import type { Change } from "../source/Change.ts"
import { readDump } from "../source/FileSource.ts"
import { FileLive } from "./layers.ts"
import type { FileSettings } from "./settings.ts"
import { deliverQueued, reportStop, whenStopped } from "./stop.ts"

/** Changes of a file go through the pipeline this many at a time. */
const FILE_CHUNK = 4096

export const runFile = (settings: FileSettings) =>
  Effect.gen(function* () {
    const { path } = settings
    const changes = yield* readDump(path)
    yield* Effect.logInfo(`read ${changes.length} objects from ${path}`)
    const chunks: Array<ReadonlyArray<Change>> = []
    for (let at = 0; at < changes.length; at += FILE_CHUNK) chunks.push(changes.slice(at, at + FILE_CHUNK))
    const sink = yield* RecordSink
    let allRead = false
    const stopped = Effect.gen(function* () {
      if (!allRead) yield* Effect.logWarning(`stopped before all of ${path} was read: what was not read is not counted`)
      yield* reportStop(sink, yield* deliverQueued(sink, settings.shutdownTimeout))
    })
    // The once-only window holds the whole dump.
    const pipeline = { ...settings.pipeline, windowSize: Math.max(changes.length, 1) }
    yield* runPipeline(Stream.fromIterable(chunks), pipeline).pipe(
      Effect.tap(() => Effect.sync(() => (allRead = true))),
      Effect.zipRight(sink.flush),
      whenStopped(stopped)
    )
    const stats = yield* sink.stats
    const metrics = yield* Metrics
    const decodeFailures = (yield* Effect.promise(() => metrics.decodeFailures.get())).values[0]?.value ?? 0
    yield* Effect.logInfo(`exported ${stats.exported} records from ${path}`).pipe(
      Effect.annotateLogs({ exported: stats.exported, skipped_undecodable: decodeFailures })
    )
    if (Object.keys(stats.dropped).length > 0) {
      return yield* DeliveryFailed.fromStats(stats)
    }
  }).pipe(Effect.provide(FileLive(settings)))

/**
 * Turns a loaded configuration into the layers of one run and the effect that runs it. The exit code is the
 * result: 0 done, 1 records could not be delivered, 2 invalid configuration or input.
 */
import { Duration, Effect, Layer, Logger, LogLevel, Schema, Stream } from "effect"
import { Metrics } from "../observability/Metrics.ts"
import { runPipeline } from "../pipeline/pipeline.ts"
import { consoleLayer } from "../sink/console.ts"
import { LogExporter } from "../sink/LogExporter.ts"
import { otlpLayer } from "../sink/otlp.ts"
import { RecordSink } from "../sink/RecordSink.ts"
import { readDump } from "../source/FileSource.ts"
import { baseAttributes, Translator } from "../translate/Translator.ts"
import type { OptionValues } from "./options.ts"

/** Some records were not delivered; the run must not look successful. */
export class DeliveryFailed extends Schema.TaggedError<DeliveryFailed>()("DeliveryFailed", {
  dropped: Schema.Record({ key: Schema.String, value: Schema.Number }),
  lastError: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const total = Object.values(this.dropped).reduce((a, b) => a + b, 0)
    const reasons = Object.entries(this.dropped).map(([r, n]) => `${n} ${r}`).join(", ")
    return `${total} records could not be delivered (${reasons})${this.lastError ? `; last error: ${this.lastError}` : ""}`
  }
}

const LOG_LEVELS = { debug: LogLevel.Debug, info: LogLevel.Info, warn: LogLevel.Warning, error: LogLevel.Error } as const

/** The collector's own logs: structured, on stderr (stdout belongs to the console exporter). */
export const loggingLayer = (values: Pick<OptionValues, "logFormat" | "logLevel">) =>
  Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.withConsoleError(values.logFormat === "logfmt" ? Logger.logfmtLogger : Logger.jsonLogger)
    ),
    Logger.minimumLogLevel(LOG_LEVELS[values.logLevel])
  )

export const exporterLayer = (values: OptionValues): Layer.Layer<LogExporter> => {
  switch (values.exporter) {
    case "none":
      return LogExporter.none
    case "console":
      return consoleLayer()
    case "otlp":
      return otlpLayer({
        endpoint: values.otlpEndpoint,
        protocol: values.otlpProtocol,
        headers: values.otlpHeaders,
        compression: values.otlpCompression,
        timeoutMs: Duration.toMillis(values.otlpTimeout)
      })
  }
}

/** Everything a pipeline needs: metrics, translation and the sink in front of the chosen exporter. */
export const pipelineLayer = (values: OptionValues, retryGiveUp: Duration.Duration | undefined) =>
  Layer.mergeAll(
    RecordSink.layer({
      queueSize: values.queueSize,
      batchSize: values.batchSize,
      linger: values.batchLinger,
      retryInitial: values.retryInitial,
      retryMax: values.retryMax,
      retryGiveUpAfter: values.retryGiveUp ?? retryGiveUp
    }).pipe(Layer.provide(exporterLayer(values))),
    Translator.layer({ baseAttributes: baseAttributes(values), resourceCacheSize: 10_000 })
  ).pipe(Layer.provideMerge(Metrics.layer))

/** `--source file:PATH`: export every event of the dump once, wait for the backend's acks, report. */
export const runFile = (path: string, values: OptionValues) =>
  Effect.gen(function*() {
    const changes = yield* readDump(path)
    yield* Effect.logInfo(`read ${changes.length} objects from ${path}`)
    yield* runPipeline(Stream.fromIterable(changes), { windowSize: Math.max(changes.length, 1) })
    const sink = yield* RecordSink
    yield* sink.flush
    const stats = yield* sink.stats
    const metrics = yield* Metrics
    const decodeFailures = (yield* Effect.promise(() => metrics.decodeFailures.get())).values[0]?.value ?? 0
    yield* Effect.logInfo(`exported ${stats.exported} records from ${path}`).pipe(
      Effect.annotateLogs({ exported: stats.exported, skipped_undecodable: decodeFailures })
    )
    if (Object.keys(stats.dropped).length > 0) {
      return yield* new DeliveryFailed({ dropped: stats.dropped, ...(stats.lastError ? { lastError: stats.lastError } : {}) })
    }
  }).pipe(Effect.provide(pipelineLayer(values, Duration.minutes(2))))

/** Runs the configured command; failures are logged here and become the exit code. */
export const runCommand = (values: OptionValues): Effect.Effect<number> => {
  const source = values.source
  const run = source.kind === "file"
    ? runFile(source.path, values)
    : Effect.fail(new DeliveryFailed({ dropped: {}, lastError: "the kube source is not available in this build" }))
  return run.pipe(
    Effect.as(0),
    Effect.catchTags({
      DumpError: (e) => Effect.logError(e.message).pipe(Effect.as(2)),
      DeliveryFailed: (e) => Effect.logError(e.message).pipe(Effect.as(1))
    }),
    Effect.provide(loggingLayer(values))
  )
}

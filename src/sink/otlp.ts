import { Clock, Duration, Effect, Either, Layer, Option, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { Agent as HttpAgent, request as httpRequest } from "node:http"
import { Agent as HttpsAgent, request as httpsRequest } from "node:https"
import { promisify } from "node:util"
import { gzip } from "node:zlib"
import { JsonLogsSerializer, ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import {
  type Accepted,
  allAccepted,
  ExportFailed,
  type ExportFailureReason,
  LogExporter,
  type LogExporterShape
} from "./LogExporter.ts"
import { encodeLogsRequest } from "./otlpProtobuf.ts"
import { redactUrl } from "../observability/redact.ts"

type OtlpProtocol = "http/protobuf" | "http/json"

/** The TLS files could not be read: start-up stops with the path and the reason. */
export class ExporterSetupError extends Schema.TaggedError<ExporterSetupError>()("ExporterSetupError", {
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

export interface OtlpTlsFiles {
  readonly ca: string | undefined
  readonly cert: string | undefined
  readonly key: string | undefined
}

export interface OtlpSettings {
  /** The full logs URL, `.../v1/logs`. */
  readonly endpoint: string
  readonly protocol: OtlpProtocol
  readonly headers: Readonly<Record<string, string>>
  readonly compression: "gzip" | "none"
  readonly timeoutMs: number
  /** Exports the sink may have in flight at once (`--export-concurrency`). */
  readonly concurrency: number
  /** PEM contents (not paths) of the CA and the client certificate and key. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string }
}

/** Reads the TLS files named by the options, failing with the option and path of any that cannot be read. */
export const readTlsFiles = (files: OtlpTlsFiles) =>
  Effect.gen(function* () {
    const read = (option: string, path: string | undefined) =>
      path === undefined
        ? Effect.succeed(undefined)
        : Effect.tryPromise({
            try: () => readFile(path, "utf8"),
            catch: (e) =>
              new ExporterSetupError({
                detail: `${option} ${path}: cannot read it: ${e instanceof Error ? e.message : String(e)}`
              })
          })
    const [ca, cert, key] = yield* Effect.all(
      [
        read("--otlp-certificate", files.ca),
        read("--otlp-client-certificate", files.cert),
        read("--otlp-client-key", files.key)
      ],
      { concurrency: "unbounded" }
    )
    if ((cert === undefined) !== (key === undefined)) {
      return yield* new ExporterSetupError({
        detail: "--otlp-client-certificate and --otlp-client-key go together: give both or neither"
      })
    }
    return {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key })
    }
  })

/**
 * A failing status as the kind of failure it is. The OTLP/HTTP spec calls 429, 502, 503 and 504 retryable; 408 and
 * any other 5xx are a backend's passing trouble too (the sink decides what to retry); any other 4xx rejects the data.
 */
const reasonOfStatus = (status: number): ExportFailureReason => {
  if (status === 408) return "RequestTimeout"
  if (status === 429) return "TooManyRequests"
  if (status >= 500) return "ServerError"
  return status >= 400 && status <= 499 ? "Rejected" : "StatusCode"
}

/** The most of a response body read: a partial success or an error text, never a large document. */
const MAX_RESPONSE_BYTES = 64 * 1024

/** A `Retry-After` value (delay-seconds or an HTTP-date) as a wait from `nowMs`; undefined when it is neither. */
export const parseRetryAfter = (value: string | undefined, nowMs: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Duration.seconds(Number(text))
  // An HTTP-date in any of its three forms starts with the day's name.
  const at = /^[A-Za-z]{3}/.test(text) ? Date.parse(text) : NaN
  return Number.isNaN(at) ? undefined : Duration.millis(Math.max(0, at - nowMs))
}

/** What may come back with a 2xx: OTLP/JSON writes the int64 count as a string, protobuf as a number. */
const ExportResponse = Schema.Struct({
  partialSuccess: Schema.optional(
    Schema.Struct({
      rejectedLogRecords: Schema.optional(Schema.Union(Schema.Number, Schema.NumberFromString)),
      errorMessage: Schema.optional(Schema.String)
    })
  )
})
const decodeExportResponse = Schema.decodeUnknownOption(ExportResponse)

interface Answer {
  readonly status: number
  readonly statusText: string
  readonly retryAfter: string | undefined
  readonly body: Buffer
}

/** The backend's answer as the sink needs it: what it accepted, or why it did not. */
export const judgeAnswer = (
  answer: Answer,
  deserialize: (body: Uint8Array) => unknown,
  nowMs: number
): Effect.Effect<Accepted, ExportFailed> => {
  const { status, body } = answer
  if (status >= 200 && status <= 299) {
    // An answer that does not decode is a plain success: the backend took the request.
    const decoded = Option.flatMap(Either.getRight(Either.try(() => deserialize(body))), decodeExportResponse)
    const partial = Option.flatMap(decoded, (r) => Option.fromNullable(r.partialSuccess))
    if (Option.isNone(partial)) return Effect.succeed(allAccepted)
    const message = partial.value.errorMessage
    return Effect.succeed({
      rejected: Math.max(0, Math.floor(partial.value.rejectedLogRecords ?? 0)),
      rejectionMessage: message === undefined || message === "" ? Option.none() : Option.some(message)
    })
  }
  const text = body.toString("utf8", 0, Math.min(body.length, 500)).trim()
  const description = [answer.statusText, text].filter((p) => p !== "").join(": ") || "export failed"
  const retryAfter = parseRetryAfter(answer.retryAfter, nowMs)
  return Effect.fail(
    new ExportFailed({
      reason: reasonOfStatus(status),
      status,
      description,
      ...(retryAfter === undefined ? {} : { retryAfter })
    })
  )
}

const gzipped = promisify(gzip)

/** No answer: the connection failed or was cut. */
const transportFailure = (error: Error) =>
  new ExportFailed({ reason: "Transport", description: error.message || "export failed", cause: error })

/**
 * An OTLP/HTTP logs exporter: one POST per batch, bounded by `timeoutMs` and abandoned when interrupted. It does
 * not retry: the sink does, so that `--retry-give-up` and shutdown bound every attempt, and it reports the status,
 * the `Retry-After` and any partial success, which the SDK's exporter keeps to itself.
 */
const makeOtlpExporter = (settings: OtlpSettings): LogExporterShape => {
  const url = new URL(settings.endpoint)
  const https = url.protocol === "https:"
  const tls = settings.tls ?? {}
  const agent = https
    ? new HttpsAgent({ keepAlive: true, maxSockets: settings.concurrency, ...tls })
    : new HttpAgent({ keepAlive: true, maxSockets: settings.concurrency })
  const send = https ? httpsRequest : httpRequest
  const serializer = settings.protocol === "http/json" ? JsonLogsSerializer : ProtobufLogsSerializer
  // Protobuf bodies are the collector's own encoding (./otlpProtobuf.ts), the same message the exporter's
  // serializer writes for less work; JSON stays the exporter's.
  const encode =
    settings.protocol === "http/json"
      ? (batch: ReadonlyArray<ReadableLogRecord>) => serializer.serializeRequest([...batch])
      : encodeLogsRequest
  const headers = {
    ...settings.headers,
    "content-type": settings.protocol === "http/json" ? "application/json" : "application/x-protobuf",
    ...(settings.compression === "gzip" ? { "content-encoding": "gzip" } : {})
  }
  const timeout = Duration.millis(settings.timeoutMs)

  const post = (body: Uint8Array) =>
    Effect.async<Answer, ExportFailed>((resume) => {
      let settled = false
      const settle = (result: Effect.Effect<Answer, ExportFailed>) => {
        if (settled) return
        settled = true
        resume(result)
      }
      const failed = (error: Error) => settle(Effect.fail(transportFailure(error)))
      const options = { method: "POST", headers: { ...headers, "content-length": body.length }, agent }
      const req = send(url, options, (res) => {
        const chunks: Array<Buffer> = []
        let size = 0
        res.on("data", (chunk: Buffer) => {
          size += chunk.length
          if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk)
        })
        res.on("error", failed)
        res.on("end", () =>
          settle(
            Effect.succeed({
              status: res.statusCode ?? 0,
              statusText: res.statusMessage ?? "",
              retryAfter: res.headers["retry-after"],
              body: Buffer.concat(chunks)
            })
          )
        )
      })
      req.on("error", failed)
      req.end(body)
      return Effect.sync(() => req.destroy())
    })

  return {
    name: `otlp ${settings.protocol} ${redactUrl(settings.endpoint)}`,
    export: (batch) =>
      Effect.gen(function* () {
        const request = encode(batch)
        if (request === undefined) return allAccepted
        const body = settings.compression === "gzip" ? yield* Effect.promise(() => gzipped(request)) : request
        const answer = yield* post(body).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () =>
              new ExportFailed({ reason: "Timeout", description: `no answer within ${Duration.format(timeout)}` })
          })
        )
        return yield* judgeAnswer(answer, (b) => serializer.deserializeResponse(b), yield* Clock.currentTimeMillis)
      }),
    shutdown: Effect.sync(() => agent.destroy())
  }
}

export const otlpLayer = (settings: OtlpSettings) =>
  Layer.scoped(
    LogExporter,
    Effect.acquireRelease(
      Effect.sync(() => makeOtlpExporter(settings)),
      (e) => e.shutdown
    )
  )

/**
 * How the OTLP/HTTP exporter reads the backend's answer: `Retry-After` in both of RFC 9110's forms, partial
 * success in both encodings (proto3 JSON writes an int64 as a string), and the kind of each failure: the status's
 * (OTLP/HTTP spec: 429, 502, 503, 504 retryable; 408 and other 5xx passing trouble; any other 4xx rejects the
 * data), no answer in time, no backend at all.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Option, TestClock } from "effect"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { LogExporter } from "../../src/sink/LogExporter.ts"
import { judgeAnswer, otlpLayer, parseRetryAfter } from "../../src/sink/otlp.ts"
import { startOtlpReceiver } from "../support/otlp-receiver.ts"

const NOW = Date.parse("2015-10-21T07:27:55Z")

describe("parseRetryAfter", () => {
  it("reads delay-seconds and an HTTP-date (RFC 9110, 10.2.3), and nothing else", () => {
    expect(parseRetryAfter("120", NOW)).toEqual(Duration.seconds(120))
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", NOW)).toEqual(Duration.millis(5_000))
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", NOW)).toEqual(Duration.zero)
    expect(parseRetryAfter("soon", NOW)).toBeUndefined()
    expect(parseRetryAfter("-1", NOW)).toBeUndefined()
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined()
  })
})

const json = (value: unknown) => Buffer.from(JSON.stringify(value))
const parseJson = (body: Uint8Array): unknown => JSON.parse(Buffer.from(body).toString("utf8"))
const answer = (status: number, body: Buffer = Buffer.alloc(0), retryAfter?: string) => ({
  status,
  statusText: "",
  retryAfter,
  body
})

describe("judgeAnswer", () => {
  it.effect("takes a partial success's count as a JSON string or a number, with its message", () =>
    Effect.gen(function* () {
      for (const rejectedLogRecords of ["5", 5]) {
        const body = json({ partialSuccess: { rejectedLogRecords, errorMessage: "too old" } })
        const accepted = yield* judgeAnswer(answer(200, body), parseJson, NOW)
        expect(accepted).toEqual({ rejected: 5, rejectionMessage: Option.some("too old") })
      }
    })
  )

  it.effect("reads an empty body, an empty partialSuccess and an unreadable body as everything accepted", () =>
    Effect.gen(function* () {
      for (const body of [Buffer.alloc(0), json({}), json({ partialSuccess: {} }), Buffer.from("<html>")]) {
        expect(yield* judgeAnswer(answer(200, body), parseJson, NOW)).toEqual({
          rejected: 0,
          rejectionMessage: Option.none()
        })
      }
    })
  )

  it.effect("classifies a failing status: 408, 429, 5xx with the Retry-After; other 4xx as rejected data", () =>
    Effect.gen(function* () {
      const expected = [
        [408, "RequestTimeout"],
        [429, "TooManyRequests"],
        [500, "ServerError"],
        [502, "ServerError"],
        [503, "ServerError"],
        [504, "ServerError"]
      ] as const
      for (const [status, reason] of expected) {
        const failed = yield* Effect.flip(judgeAnswer(answer(status, Buffer.from("busy"), "30"), parseJson, NOW))
        expect(failed.reason, String(status)).toBe(reason)
        expect(failed.status, String(status)).toBe(status)
        expect(failed.retryAfter, String(status)).toEqual(Duration.seconds(30))
        expect(failed.message, String(status)).toBe(`HTTP ${status} (Retry-After 30s): busy`)
      }
      for (const status of [400, 401, 403, 404, 413]) {
        const failed = yield* Effect.flip(judgeAnswer(answer(status), parseJson, NOW))
        expect(failed.reason, String(status)).toBe("Rejected")
      }
      const redirected = yield* Effect.flip(judgeAnswer(answer(302), parseJson, NOW))
      expect(redirected.reason).toBe("StatusCode")
      expect(redirected.message).toBe("HTTP 302: export failed")
    })
  )
})

const record: ReadableLogRecord = {
  hrTime: [1_700_000_000, 0],
  hrTimeObserved: [1_700_000_000, 0],
  resource: resourceFromAttributes({}),
  instrumentationScope: { name: "test" },
  attributes: {},
  droppedAttributesCount: 0
}

const TIMEOUT = Duration.seconds(5)

/** One export to `endpoint` by the collector's OTLP exporter, failed. */
const failedExport = (endpoint: string) =>
  Effect.flatMap(LogExporter, (exporter) => Effect.flip(exporter.export([record]))).pipe(
    Effect.provide(
      otlpLayer({
        endpoint,
        protocol: "http/protobuf",
        headers: {},
        compression: "none",
        timeoutMs: Duration.toMillis(TIMEOUT),
        concurrency: 1
      })
    )
  )

describe("otlpLayer", () => {
  it.scoped("a backend that does not answer within the timeout is a Timeout, on the clock", () =>
    Effect.gen(function* () {
      const receiver = yield* Effect.acquireRelease(
        Effect.promise(() => startOtlpReceiver({ behaviour: { delayMs: 60_000 } })),
        (r) => Effect.promise(() => r.close())
      )
      const fiber = yield* Effect.fork(failedExport(receiver.logsUrl))
      // The request is out once the timeout's sleep is on the clock.
      while (Chunk.isEmpty(yield* TestClock.sleeps()) && Option.isNone(yield* Fiber.poll(fiber))) {
        yield* Effect.yieldNow()
      }
      yield* TestClock.adjust(TIMEOUT)
      const failed = yield* Fiber.join(fiber)
      expect(failed.reason).toBe("Timeout")
      expect(failed.message).toBe("no answer within 5s")
    })
  )

  it.effect("no backend at all is a Transport failure, with the network error as its cause", () =>
    Effect.gen(function* () {
      const failed = yield* failedExport("http://127.0.0.1:1/v1/logs")
      expect(failed.reason).toBe("Transport")
      expect(failed.status).toBeUndefined()
      expect(failed.cause).toBeInstanceOf(Error)
      expect(failed.message).toMatch(/ECONNREFUSED/)
    })
  )
})

/**
 * How the OTLP/HTTP exporter reads the backend's answer: `Retry-After` in both of RFC 9110's forms, partial
 * success in both encodings (proto3 JSON writes an int64 as a string), and which statuses are worth a retry
 * (OTLP/HTTP spec: 429, 502, 503, 504; 408 and other 5xx as passing trouble; any other 4xx rejects the data).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Option } from "effect"
import { judgeAnswer, parseRetryAfter } from "../../src/sink/otlp.ts"

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

  it.effect("retries 408, 429, 502, 503, 504 and other 5xx with the Retry-After; rejects any other status", () =>
    Effect.gen(function* () {
      for (const status of [408, 429, 500, 502, 503, 504]) {
        const failed = yield* Effect.either(judgeAnswer(answer(status, Buffer.from("busy"), "30"), parseJson, NOW))
        expect(Either.isLeft(failed) && failed.left.retryable, String(status)).toBe(true)
        expect(Either.isLeft(failed) ? failed.left.message : "", String(status)).toBe(
          `HTTP ${status} (Retry-After 30s): busy`
        )
      }
      for (const status of [400, 401, 403, 404, 413]) {
        const failed = yield* Effect.either(judgeAnswer(answer(status), parseJson, NOW))
        expect(Either.isLeft(failed) && !failed.left.retryable, String(status)).toBe(true)
      }
    })
  )
})

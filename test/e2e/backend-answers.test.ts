/**
 * What the OTLP backend answers, seen by a user of the real CLI (`--source file`) against the test receiver:
 * partial success in either encoding, 503 with a Retry-After beyond --otlp-timeout, and an answer that never comes.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { FIXTURES, runCli } from "../support/cli.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"

const AWS = join(FIXTURES, "openshift-mgc-aws.json")
const eventsInDump = (JSON.parse(readFileSync(AWS, "utf8")) as ReadonlyArray<unknown>).length

let receiver: OtlpReceiver
beforeEach(async () => {
  receiver = await startOtlpReceiver()
})
afterEach(async () => {
  await receiver.close()
})

const exportDump = (extra: ReadonlyArray<string>) =>
  runCli(["--source", `file:${AWS}`, "--otlp-endpoint", receiver.url, "--retry-initial", "100ms", ...extra])

const linesMatching = (text: string, pattern: RegExp) => text.split("\n").filter((l) => pattern.test(l))

describe("OTLP partial success", () => {
  for (const protocol of ["http/protobuf", "http/json"]) {
    it(`counts the rejected records as dropped, logs the backend's message once and exits 1 (${protocol})`, async () => {
      const errorMessage = "log record timestamp too far in the past"
      receiver.setBehaviour({ partialSuccess: { rejectedLogRecords: 5, errorMessage } })
      const result = await exportDump(["--otlp-protocol", protocol, "--batch-size", "50"])
      // Every request was answered 200 with the same partial success: 5 of its records rejected.
      const answered = receiver.requests.filter((q) => q.status === 200).length
      expect(answered).toBeGreaterThanOrEqual(4)
      const rejected = 5 * answered
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(new RegExp(`exported ${eventsInDump - rejected} records`))
      expect(result.stderr).toMatch(
        new RegExp(`${rejected} records could not be delivered \\(${rejected} rejected_by_backend\\)`)
      )
      expect(linesMatching(result.stderr, /dropped \d+ records: rejected_by_backend: partial success/)).toHaveLength(1)
      expect(result.stderr).toMatch(/"reason":"rejected_by_backend"/)
    })
  }
})

describe("failed exports", () => {
  it("logs a 503's status and Retry-After, and waits it out even beyond --otlp-timeout", async () => {
    receiver.setBehaviour({ status: 503, retryAfter: "3", times: 1 })
    const result = await exportDump(["--otlp-timeout", "1s", "--batch-size", "500"])
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/HTTP 503 \(Retry-After 3s\)/)
    const [refused, accepted] = receiver.requests
    expect(refused?.status).toBe(503)
    expect(accepted?.status).toBe(200)
    expect((accepted?.atMs ?? 0) - (refused?.atMs ?? 0)).toBeGreaterThanOrEqual(2_900)
    expect(receiver.records).toHaveLength(eventsInDump)
  }, 30_000)

  it("gives up at --retry-give-up, the attempt still waiting for its answer included", async () => {
    receiver.setBehaviour({ delayMs: 60_000 })
    const started = Date.now()
    const result = await exportDump(["--otlp-timeout", "30s", "--retry-give-up", "2s", "--batch-size", "500"])
    const firstRequestAt = receiver.requests[0]?.atMs ?? started
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      new RegExp(`${eventsInDump} records could not be delivered \\(${eventsInDump} retries_exhausted\\)`)
    )
    // From the first request to the end of the process: the give-up time, and a second for the report and exit.
    expect((Date.now() - firstRequestAt) / 1000).toBeLessThanOrEqual(2 + 1)
  }, 30_000)
})

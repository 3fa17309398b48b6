/** /metrics and /healthz of the probe server, started as the collector starts it, on a free loopback port. */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, TestClock } from "effect"
import { Health, type HealthState } from "../../src/observability/Health.ts"
import { httpServerLayer } from "../../src/observability/HttpServer.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { samples } from "../support/prometheusText.ts"

const STALL = Duration.minutes(1)

interface Probe {
  readonly health: HealthState
  readonly get: (path: string) => Effect.Effect<{ readonly status: number; readonly text: string }>
}

/** Runs `use` against a probe server listening on 127.0.0.1, with its own health state and registry. */
const withServer = <A, E>(use: (probe: Probe) => Effect.Effect<A, E>) => {
  const logs: Array<string> = []
  const logger = Logger.make(({ message }) => logs.push(Array.isArray(message) ? message.join(" ") : String(message)))
  const server = httpServerLayer({ host: "127.0.0.1", port: 0, stallMs: Duration.toMillis(STALL) }).pipe(
    Layer.provideMerge(Layer.merge(Health.layer, Metrics.layer))
  )
  return Effect.gen(function* () {
    const health = yield* Health
    const base = logs.map((l) => /serving (http:\/\/\S+)\/metrics/.exec(l)?.[1]).find((b) => b !== undefined)
    if (base === undefined) throw new Error(`the server did not say where it listens: ${logs.join("\n")}`)
    const get = (path: string) =>
      Effect.promise(async () => {
        const res = await fetch(`${base}${path}`)
        return { status: res.status, text: await res.text() }
      })
    return yield* use({ health, get })
  }).pipe(Effect.provide(server), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
}

const LAST_ACTIVITY = "k8s_event_collector_source_last_activity_timestamp_seconds"

describe("/metrics", () => {
  it.effect("serves the source's last sign of life as the health state holds it when scraped", () =>
    withServer(({ health, get }) =>
      Effect.gen(function* () {
        const scrape = Effect.map(get("/metrics"), (r) => {
          expect(r.status).toBe(200)
          return samples(r.text)
        })
        yield* TestClock.setTime(1_700_000_123_456)
        health.activity()
        expect((yield* scrape).get(LAST_ACTIVITY)).toBe(1_700_000_123.456)
        // Nothing but the health state moved: the next scrape reads it again.
        yield* TestClock.setTime(1_700_000_200_000)
        health.activity()
        expect((yield* scrape).get(LAST_ACTIVITY)).toBe(1_700_000_200)
      })
    )
  )
})

describe("/healthz", () => {
  it.effect("fails once the leader has heard nothing from the API for the stall timeout, by the clock", () =>
    withServer(({ health, get }) =>
      Effect.gen(function* () {
        health.elected("leader", "me")
        health.activity()
        yield* TestClock.adjust(STALL)
        expect(yield* get("/healthz")).toMatchObject({ status: 200 })
        yield* TestClock.adjust(Duration.seconds(1))
        const stalled = yield* get("/healthz")
        expect(stalled.status).toBe(503)
        expect(JSON.parse(stalled.text)).toMatchObject({ status: "stalled", lastActivitySecondsAgo: 61 })
        health.activity()
        expect(yield* get("/healthz")).toMatchObject({ status: 200 })
      })
    )
  )
})

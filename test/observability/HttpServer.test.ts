/** /metrics of the probe server, started as the collector starts it, on a free loopback port. */
import { Effect, Layer, Logger } from "effect"
import { describe, expect, it } from "vitest"
import { Health, type HealthState } from "../../src/observability/Health.ts"
import { httpServerLayer } from "../../src/observability/HttpServer.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { samples } from "../support/prometheusText.ts"

/** Runs `use` against a probe server listening on 127.0.0.1, with its own health state and registry. */
const withServer = <A>(use: (scrape: () => Promise<Map<string, number>>, health: HealthState) => Promise<A>) => {
  const logs: Array<string> = []
  const logger = Logger.make(({ message }) => logs.push(Array.isArray(message) ? message.join(" ") : String(message)))
  const server = httpServerLayer({ host: "127.0.0.1", port: 0, stallMs: 60_000 }).pipe(
    Layer.provideMerge(Layer.merge(Health.layer, Metrics.layer))
  )
  return Effect.runPromise(
    Effect.gen(function* () {
      const health = yield* Health
      const base = logs.map((l) => /serving (http:\/\/\S+)\/metrics/.exec(l)?.[1]).find((b) => b !== undefined)
      if (base === undefined) throw new Error(`the server did not say where it listens: ${logs.join("\n")}`)
      const scrape = async () => {
        const res = await fetch(`${base}/metrics`)
        expect(res.status).toBe(200)
        return samples(await res.text())
      }
      return yield* Effect.promise(() => use(scrape, health))
    }).pipe(Effect.provide(server), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  )
}

const LAST_ACTIVITY = "k8s_event_collector_source_last_activity_timestamp_seconds"

describe("/metrics", () => {
  it("serves the source's last sign of life as the health state holds it when scraped", async () => {
    await withServer(async (scrape, health) => {
      health.activity(1_700_000_123_456)
      expect((await scrape()).get(LAST_ACTIVITY)).toBe(1_700_000_123.456)
      // Nothing but the health state moved: the next scrape reads it again.
      health.activity(1_700_000_200_000)
      expect((await scrape()).get(LAST_ACTIVITY)).toBe(1_700_000_200)
    })
  })
})

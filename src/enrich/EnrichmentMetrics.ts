import { Counter, Gauge, type Registry } from "prom-client"

const PREFIX = "k8s_event_collector_"

/** How one object lookup of one event ended. */
export const LOOKUP_RESULTS = ["hit", "miss", "not_found", "forbidden", "error", "timeout"] as const
export type LookupResult = (typeof LOOKUP_RESULTS)[number]

/** How one GET to the API server ended. */
export type RequestOutcome = "found" | "not_found" | "forbidden" | "error"

/** Registers a counter, or returns the one already registered under that name (a second Enricher on one registry). */
const counter = <L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: ReadonlyArray<L>
): Counter<L> => {
  const existing = registry.getSingleMetric(name)
  if (existing instanceof Counter) return existing
  return new Counter({ name, help, labelNames, registers: [registry] })
}

const gauge = <L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: ReadonlyArray<L>
): Gauge<L> => {
  const existing = registry.getSingleMetric(name)
  if (existing instanceof Gauge) return existing
  return new Gauge({ name, help, labelNames, registers: [registry] })
}

/** The enricher's counters, registered in the collector's registry. */
export class EnrichmentMetrics {
  /**
   * One per object an event needed: `hit` (from the cache), `miss` (read from the API in time), `not_found`
   * (404, or another object now has that name), `forbidden` (403), `error`, `timeout` (not known within
   * the lookup timeout; the event went without).
   */
  readonly lookups: Counter<"kind" | "result">
  /** GETs sent to the API server, by kind and outcome: how well the cache, coalescing and rate limit work. */
  readonly requests: Counter<"kind" | "outcome">
  /** Objects held by the list+watch caches, by kind. */
  readonly cachedObjects: Gauge<"kind">

  constructor(registry: Registry) {
    this.lookups = counter(
      registry,
      `${PREFIX}enrichment_lookups_total`,
      "Owner-chain lookups of events, by object kind and result",
      ["kind", "result"]
    )
    this.requests = counter(
      registry,
      `${PREFIX}enrichment_requests_total`,
      "GET requests for owner-chain objects, by object kind and outcome",
      ["kind", "outcome"]
    )
    this.cachedObjects = gauge(
      registry,
      `${PREFIX}enrichment_cached_objects`,
      "Objects held by the list+watch caches of the owner chain, by kind",
      ["kind"]
    )
  }
}

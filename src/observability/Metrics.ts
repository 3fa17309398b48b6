import { Context, Layer } from "effect"
import { Counter, Gauge, Histogram, Registry } from "prom-client"

const PREFIX = "k8s_event_collector_"

/** The collector's own metrics, in one registry per process (a fresh one per test). */
export class CollectorMetrics {
  readonly registry = new Registry()
  readonly eventsReceived = new Counter({
    name: `${PREFIX}events_received_total`,
    help: "Event objects received from the source, by API and watch type",
    labelNames: ["api", "type"] as const,
    registers: [this.registry]
  })
  readonly decodeFailures = new Counter({
    name: `${PREFIX}decode_failures_total`,
    help: "Objects that could not be decoded as an Event and were skipped",
    registers: [this.registry]
  })
  readonly recordsExported = new Counter({
    name: `${PREFIX}records_exported_total`,
    help: "Log records acknowledged by the OTLP backend",
    registers: [this.registry]
  })
  readonly recordsDropped = new Counter({
    name: `${PREFIX}records_dropped_total`,
    help: "Log records given up on, by reason",
    labelNames: ["reason"] as const,
    registers: [this.registry]
  })
  readonly exportBatches = new Counter({
    name: `${PREFIX}export_batches_total`,
    help: "Export attempts, by outcome (success, retry, rejected)",
    labelNames: ["outcome"] as const,
    registers: [this.registry]
  })
  readonly exportDuration = new Histogram({
    name: `${PREFIX}export_duration_seconds`,
    help: "Time of one export attempt",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry]
  })
  readonly watchRestarts = new Counter({
    name: `${PREFIX}watch_restarts_total`,
    help: "Watches started again, by cause (timeout, idle, dropped, expired, error)",
    labelNames: ["cause"] as const,
    registers: [this.registry]
  })
  readonly relists = new Counter({
    name: `${PREFIX}relists_total`,
    help: "Full lists of the events, by cause (start, expired, poll)",
    labelNames: ["cause"] as const,
    registers: [this.registry]
  })
  readonly apiErrors = new Counter({
    name: `${PREFIX}api_errors_total`,
    help: "Failed calls to the Kubernetes API, by verb and HTTP status (0 when unreachable)",
    labelNames: ["verb", "status"] as const,
    registers: [this.registry]
  })
  readonly recordsFiltered = new Counter({
    name: `${PREFIX}records_filtered_total`,
    help: "Occurrences left out on purpose, by the rule that left them out",
    labelNames: ["rule"] as const,
    registers: [this.registry]
  })
  readonly recordsSuppressed = new Counter({
    name: `${PREFIX}records_suppressed_total`,
    help: "Occurrences held back by noise control (each is counted in a summary record)",
    registers: [this.registry]
  })
  readonly lastEventTimestamp = new Gauge({
    name: `${PREFIX}last_event_timestamp_seconds`,
    help: "Occurrence time of the newest event exported",
    registers: [this.registry]
  })
  readonly leader = new Gauge({
    name: `${PREFIX}leader`,
    help: "1 while this replica holds the lease (or runs alone), 0 on standby",
    registers: [this.registry]
  })
  readonly checkpointCommits = new Counter({
    name: `${PREFIX}checkpoint_commits_total`,
    help: "Checkpoint saves, by result (success, error)",
    labelNames: ["result"] as const,
    registers: [this.registry]
  })
  readonly checkpointAge = new Gauge({
    name: `${PREFIX}checkpoint_age_seconds`,
    help: "Seconds since the checkpoint was last saved",
    registers: [this.registry]
  })
  readonly queueDepth = new Gauge({
    name: `${PREFIX}queue_depth`,
    help: "Records waiting in the sink queue",
    registers: [this.registry]
  })
  /** Set from `HealthState.lastActivityMs` when /metrics is scraped, not on the watch path. */
  readonly sourceLastActivity = new Gauge({
    name: `${PREFIX}source_last_activity_timestamp_seconds`,
    help:
      "Last sign of a working watch or list: an event, a bookmark, a list page, a watch the server ended " +
      "(the process start until then)",
    registers: [this.registry]
  })
}

export class Metrics extends Context.Tag("Metrics")<Metrics, CollectorMetrics>() {
  static readonly layer = Layer.sync(Metrics, () => new CollectorMetrics())
}

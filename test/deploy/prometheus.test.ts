/**
 * Events as metrics: Prometheus (grafana/prometheus.yaml) scrapes the counter the OpenTelemetry Collector's
 * `count` connector makes of the event records, and grafana/prometheus-rules.yaml records its rates over 5
 * minutes, 1 hour and 1 day for the dashboard. Checked statically; `promtool check config` accepts both files.
 */
import { describe, expect, it } from "vitest"
import {
  arr,
  at,
  EVENTS_COUNTER,
  hostPort,
  isObj,
  loadCommandLine,
  obj,
  readYaml,
  str,
  strings,
  text
} from "./support.ts"

const prometheus = readYaml("grafana/prometheus.yaml")
const otelConfig = readYaml("otel-collector.yaml")
const compose = readYaml("docker-compose.yml")

const jobs = arr(at(prometheus, "scrape_configs"))
const eventsJob = jobs.find((j) =>
  arr(at(j, "static_configs")).some((sc) =>
    strings(at(sc, "targets")).some((t) => {
      const { host, port } = hostPort(t)
      return host === "otel-collector" && port === EVENTS_COUNTER.port
    })
  )
)

/** Prometheus' duration syntax, as far as these files use it. */
const seconds = (d: string): number => {
  const m = /^(\d+)([smhd])$/.exec(d)
  if (m === null) throw new Error(`not a duration: ${d}`)
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "s" | "m" | "h" | "d"]
}

interface Recorded {
  readonly record: string
  readonly level: string
  readonly metric: string
  readonly window: string
  readonly by: ReadonlyArray<string>
  readonly counter: string
  readonly exprWindow: string
  readonly interval: string
}

const RULE = /^sum by \(([^)]*)\) \(rate\(([a-zA-Z_:][a-zA-Z0-9_:]*)\[([0-9]+[smhd])\]\)\)$/

const recorded: ReadonlyArray<Recorded> = arr(at(readYaml("grafana/prometheus-rules.yaml"), "groups")).flatMap((g) =>
  arr(at(g, "rules")).map((r) => {
    const record = text(at(r, "record"), "record")
    const expr = text(at(r, "expr"), record).replace(/\s+/g, " ").trim()
    const m = RULE.exec(expr)
    if (m === null) throw new Error(`${record}: expected sum by (...) (rate(counter[window])), got ${expr}`)
    const [level = "", metric = "", operation = ""] = record.split(":")
    return {
      record,
      level,
      metric,
      window: operation.replace(/^rate/, ""),
      by: (m[1] ?? "").split(",").map((l) => l.trim()),
      counter: m[2] ?? "",
      exprWindow: m[3] ?? "",
      interval: str(at(g, "interval")) ?? text(at(prometheus, "global", "evaluation_interval"), "evaluation_interval")
    }
  })
)

describe("the scrape of the events the Collector counts", () => {
  it(`scrapes otel-collector:${EVENTS_COUNTER.port}, where the Collector's prometheus exporter serves it`, () => {
    expect(eventsJob, "a scrape job for the counter").toBeDefined()
    expect(str(at(eventsJob, "metrics_path")) ?? "/metrics").toBe("/metrics")
  })

  it("names the demo's cluster on them, as the collector names it on its records, unless the counter does", () => {
    const svc = obj(at(compose, "services", "k8s-event-collector"), "k8s-event-collector")
    const env = obj(svc["environment"], "environment")
    const collector = loadCommandLine(
      strings(svc["command"]),
      Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]))
    )
    const labels = arr(at(eventsJob, "static_configs")).map((sc) => at(sc, "labels"))
    expect(labels.map((l) => at(l, "k8s_cluster_name"))).toEqual([collector.values.clusterName])
    expect(at(eventsJob, "honor_labels")).toBe(true)
  })

  // otel-collector.yaml's count connector makes the counter the dashboard and the recording rules read.
  const count = Object.entries(isObj(at(otelConfig, "connectors")) ? obj(at(otelConfig, "connectors"), "c") : {}).find(
    ([id]) => id.split("/")[0] === "count"
  )
  it("is the metric otel-collector.yaml's count connector makes", () => {
    expect(count, "a count connector in otel-collector.yaml").toBeDefined()
    const promName = (n: string) => n.replace(/[^a-zA-Z0-9_:]/g, "_")
    const metrics = Object.entries(isObj(at(count?.[1], "logs")) ? obj(at(count?.[1], "logs"), "logs") : {})
    const metric = metrics.find(([name]) => `${promName(name)}_total` === EVENTS_COUNTER.name)
    expect(metric, `a logs metric named ${EVENTS_COUNTER.name} in Prometheus`).toBeDefined()
    const keys = arr(at(metric?.[1], "attributes")).map((a) => promName(text(at(a, "key"), "key")))
    expect([...keys].sort()).toEqual([...EVENTS_COUNTER.labels].sort())
    const exporters = Object.entries(obj(at(otelConfig, "exporters"), "exporters"))
    const ports = exporters
      .filter(([id]) => id.split("/")[0] === "prometheus")
      .map(([id, e]) => hostPort(text(at(e, "endpoint"), id)).port)
    expect(ports).toContain(EVENTS_COUNTER.port)
  })
})

describe("grafana/prometheus-rules.yaml", () => {
  it("records the event rate over 5 minutes, 1 hour and 1 day", () => {
    expect(recorded.map((r) => r.window).sort()).toEqual(["1d", "1h", "5m"])
    expect(new Set(recorded.map((r) => r.record)).size).toBe(recorded.length)
  })

  it("names each rule level:metric:operation after what it computes", () => {
    for (const r of recorded) {
      expect(r.counter, r.record).toBe(EVENTS_COUNTER.name)
      expect(r.metric, r.record).toBe(EVENTS_COUNTER.name.replace(/_total$/, ""))
      expect(r.exprWindow, r.record).toBe(r.window)
      // The level lists the labels kept, by their last word (k8s_namespace_name -> namespace).
      expect(r.level.split("_"), r.record).toEqual(
        r.by.map((l) =>
          l
            .replace(/_name$/, "")
            .split("_")
            .pop()
        )
      )
    }
  })

  it("keeps every label of the counter, and the cluster, so the dashboard can filter and group by any", () => {
    for (const r of recorded)
      expect([...r.by].sort(), r.record).toEqual([...EVENTS_COUNTER.labels, "k8s_cluster_name"].sort())
  })

  it("rates over at least four scrapes, and evaluates each rule more often than its window", () => {
    const scrape = seconds(
      str(at(eventsJob, "scrape_interval")) ?? text(at(prometheus, "global", "scrape_interval"), "")
    )
    for (const r of recorded) {
      expect(seconds(r.window), r.record).toBeGreaterThanOrEqual(4 * scrape)
      expect(seconds(r.interval), r.record).toBeLessThan(seconds(r.window))
    }
  })
})

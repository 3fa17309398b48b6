/**
 * Grafana's provisioning: the data sources, the dashboard and the alert rules parse, refer to each other, and
 * query what k8s-event-collector's records really are in Loki and what Prometheus really has. The records come
 * from the real translator (fixture events through the default severity rules, the enricher's owner chain,
 * toLogRecord and the OTLP/JSON serializer) and are stored the way Loki documents its OTLP ingestion
 * (test/deploy/loki.ts) under grafana/loki.yaml; every Loki query is run against them and against an
 * application's log record from the same pod, so a query that stops selecting the events, or starts reading
 * other applications' logs, fails here.
 */
import { readdirSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { CRITICAL_REASONS } from "../fixtures/expectations.ts"
import { CollectorMetrics } from "../../src/observability/Metrics.ts"
import {
  APP_RECORD,
  CLUSTER,
  EVENT_RECORDS,
  filterNames,
  interpolate,
  type LogQuery,
  logQueries,
  lokiEntry,
  lokiSettings,
  NAMESPACE,
  nonEmptyMatchers,
  POD,
  selects
} from "./loki.ts"
import {
  arr,
  at,
  collect,
  EVENTS_COUNTER,
  logQlNames,
  lokiName,
  lokiNames,
  type Obj,
  obj,
  promMetricNames,
  readJson,
  readYaml,
  str,
  strings,
  text
} from "./support.ts"

const settings = lokiSettings(readYaml("grafana/loki.yaml"))

/** The index label only event records carry (grafana/loki.yaml indexes k8s.object.kind for it). */
const EVENTS_LABEL = lokiName("k8s.object.kind")

type Name = keyof typeof EVENT_RECORDS
const events = (Object.keys(EVENT_RECORDS) as ReadonlyArray<Name>).map((name) => ({
  name,
  record: EVENT_RECORDS[name],
  entry: lokiEntry(settings, EVENT_RECORDS[name])
}))
const app = lokiEntry(settings, APP_RECORD)
const INDEX_LABELS = new Set(events.flatMap(({ entry }) => Object.keys(entry.stream)))
const FIELDS = new Set(events.flatMap(({ entry }) => [...Object.keys(entry.stream), ...Object.keys(entry.metadata)]))

/** OpenTelemetry's severity numbers (the log data model): the first of the WARN and ERROR ranges. */
const WARN = 13
const ERROR = 17

const datasources = arr(at(readYaml("grafana/provisioning/datasources/datasources.yaml"), "datasources")).map((d) =>
  obj(d, "datasource")
)
const uidOfType = (type: string): string =>
  text(datasources.find((d) => d["type"] === type)?.["uid"], `${type} datasource uid`)
const LOKI = uidOfType("loki")
const PROMETHEUS = uidOfType("prometheus")

const metrics = new CollectorMetrics().registry.getMetricsAsArray()
const METRIC_NAMES = new Set(metrics.map((m) => m.name))
const HISTOGRAMS = new Set(metrics.filter((m) => String(m.type) === "histogram").map((m) => m.name))

/** The events the OpenTelemetry Collector counts: the counter's labels, plus the cluster the scrape job names. */
const COUNTER = EVENTS_COUNTER.name
const COUNTER_LABELS: ReadonlyArray<string> = EVENTS_COUNTER.labels
const eventsJob = arr(at(readYaml("grafana/prometheus.yaml"), "scrape_configs")).find((j) =>
  arr(at(j, "static_configs")).some((sc) =>
    strings(at(sc, "targets")).some((t) => t.endsWith(`:${EVENTS_COUNTER.port}`))
  )
)
const EVENT_SERIES_LABELS = new Set([
  ...COUNTER_LABELS,
  ...arr(at(eventsJob, "static_configs")).flatMap((sc) => Object.keys(obj(at(sc, "labels") ?? {}, "labels")))
])
/** Recorded series of grafana/prometheus-rules.yaml, with the labels each keeps. */
const RECORDED = new Map(
  arr(at(readYaml("grafana/prometheus-rules.yaml"), "groups"))
    .flatMap((g) => arr(at(g, "rules")))
    .map((r) => [text(at(r, "record"), "record"), new Set(logQlNames(text(at(r, "expr"), "expr")).groupings)] as const)
)
const eventSeriesIn = (expr: string): ReadonlyArray<string> =>
  [...expr.matchAll(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b/g)].map(([n]) => n).filter((n) => n === COUNTER || RECORDED.has(n))

const DASHBOARD_FILES = readdirSync(new URL("../../charts/k8s-event-collector/dashboards/", import.meta.url)).filter(
  (f) => f.endsWith(".json")
)
const dashboards = DASHBOARD_FILES.map((f) => ({
  file: f,
  json: obj(readJson(`charts/k8s-event-collector/dashboards/${f}`), f)
}))
const alerting = readYaml("grafana/provisioning/alerting/k8s-event-alerts.yaml")
const rules = arr(at(alerting, "groups"))
  .flatMap((g) => arr(at(g, "rules")))
  .map((r) => obj(r, "alert rule"))

/** The names of the events a log query returns. */
const selected = (q: LogQuery): ReadonlyArray<Name> =>
  events.filter(({ entry }) => selects(q, entry)).map((e) => e.name)

/**
 * Checks one LogQL expression (variables already replaced): it selects the event streams by the events label,
 * uses only names the records have in Loki (index labels in the selector), never the severity text, and never
 * returns the application's log. Returns its log queries.
 */
const checkLogQl = (expr: string, where: string): ReadonlyArray<LogQuery> => {
  const queries = logQueries(expr)
  expect(queries.length, where).toBeGreaterThan(0)
  for (const q of queries) {
    expect(nonEmptyMatchers(q, EVENTS_LABEL).length, `${where}: {${EVENTS_LABEL}=~".+", ...}`).toBeGreaterThan(0)
    for (const m of q.selector) expect(INDEX_LABELS, `${where}: {${m.name}=...} needs an index label`).toContain(m.name)
    for (const n of filterNames(q)) expect(FIELDS, `${where}: | ${n}`).toContain(n)
    expect(filterNames(q), `${where}: severity by its number`).not.toContain("severity_text")
    expect(selects(q, app), `${where}: an application's log`).toBe(false)
  }
  for (const n of logQlNames(expr).groupings) {
    expect(FIELDS, `${where}: by (${n})`).toContain(n)
    expect(n, `${where}: severity by its number`).not.toBe("severity_text")
  }
  return queries
}

describe("the names the records have in Loki", () => {
  it("include every name support.ts derives from the same translator", () => {
    const derived = lokiNames()
    for (const n of derived.all) expect(FIELDS, n).toContain(n)
    expect(FIELDS).toContain(EVENTS_LABEL)
    expect(INDEX_LABELS).toContain(EVENTS_LABEL)
  })
})

describe("data sources", () => {
  it("have unique uids, and Loki is the default", () => {
    const uids = datasources.map((d) => d["uid"])
    expect(new Set(uids).size).toBe(uids.length)
    expect(datasources.filter((d) => d["isDefault"] === true).map((d) => d["type"])).toEqual(["loki"])
  })

  describe("Tempo's trace-to-logs link (its query: test/deploy/loki.test.ts)", () => {
    const tempo = datasources.find((d) => d["type"] === "tempo")
    const link = obj(at(tempo, "jsonData", "tracesToLogsV2"), "tracesToLogsV2")
    const tags = arr(link["tags"]).map((t) => ({
      key: text(at(t, "key"), "tag key"),
      value: text(at(t, "value"), "tag value")
    }))

    it("opens the Loki data source", () => {
      expect(link["datasourceUid"]).toBe(LOKI)
      expect(at(tempo, "jsonData", "lokiSearch", "datasourceUid") ?? LOKI).toBe(LOKI)
    })

    it("shows on spans that name a pod or its namespace, the attributes the collector's pod events carry", () => {
      expect(tags.map((t) => t.key)).toEqual(["k8s.namespace.name", "k8s.pod.name"])
      const pod = lokiEntry(settings, EVENT_RECORDS.podBackOff)
      for (const { key, value } of tags) {
        expect(value, key).toBe(lokiName(key))
        expect({ ...pod.stream, ...pod.metadata }[value], `a pod event carries ${key}`).toBeDefined()
      }
    })

    it("does not filter on a trace id (events have none)", () => {
      expect(link["filterByTraceID"]).toBe(false)
      expect(link["filterBySpanID"]).toBe(false)
      expect(str(link["query"])).not.toContain("trace")
    })
  })
})

describe("dashboards", () => {
  const provider = arr(at(readYaml("grafana/provisioning/dashboards/dashboards.yaml"), "providers"))[0]

  it("are loaded from the directory docker-compose.yml mounts the chart's dashboards/ at", () => {
    const grafana = obj(at(readYaml("docker-compose.yml"), "services", "grafana"), "grafana service")
    const mount = strings(grafana["volumes"]).find((v) => v.startsWith("./charts/k8s-event-collector/dashboards:"))
    expect(mount?.split(":")[1]).toBe(at(provider, "options", "path"))
    expect(dashboards.length).toBeGreaterThan(0)
  })

  for (const { file, json } of dashboards) {
    describe(file, () => {
      const panels = collect(json["panels"], "type").filter((p) => p["type"] !== "row")
      const targets = panels.flatMap((p) =>
        arr(p["targets"]).map((t) => ({
          panel: text(p["title"], "title"),
          type: text(p["type"], "type"),
          target: obj(t, "target"),
          ds: p["datasource"]
        }))
      )
      const lokiTargets = targets.filter((t) => at(t.target, "datasource", "uid") === LOKI || at(t.ds, "uid") === LOKI)
      const promTargets = targets.filter(
        (t) => at(t.target, "datasource", "uid") === PROMETHEUS || at(t.ds, "uid") === PROMETHEUS
      )
      const variables = arr(at(json, "templating", "list")).map((v) => obj(v, "variable"))
      const variable = (name: string): Obj | undefined => variables.find((v) => v["name"] === name)
      /** Every variable at "All" (a textbox at its default). */
      const ALL = Object.fromEntries(
        variables.map((v) => [
          text(v["name"], "name"),
          text(v["type"] === "textbox" ? v["query"] : v["allValue"], `${String(v["name"])}'s all value`)
        ])
      )
      const ONE_POD = { cluster: CLUSTER, namespace: NAMESPACE, kind: "Pod", reason: ".*", object: POD }
      const lokiExpr = (t: Obj, values: Readonly<Record<string, string>> = ALL) =>
        interpolate(text(t["expr"], "expr"), values)

      it("has a uid and refers only to provisioned data sources", () => {
        expect(typeof json["uid"]).toBe("string")
        const uids = new Set(datasources.map((d) => d["uid"]))
        for (const ref of collect(json, "datasource").map((o) => o["datasource"])) {
          if (typeof ref === "object" && ref !== null) expect(uids.has(at(ref, "uid")), JSON.stringify(ref)).toBe(true)
        }
        expect(lokiTargets.length + promTargets.length).toBe(targets.length)
      })

      it("selects the event streams by k8s_object_kind in every Loki query, with the names the records have", () => {
        expect(lokiTargets.length).toBeGreaterThan(0)
        for (const { panel, target } of lokiTargets) {
          const queries = checkLogQl(lokiExpr(target), panel)
          expect(
            queries.some((q) => selected(q).length > 0),
            `${panel} selects some events`
          ).toBe(true)
        }
      })

      it("has variables for cluster, namespace, kind and reason, and every query follows them", () => {
        for (const name of ["cluster", "namespace", "kind", "reason"]) expect(variable(name), name).toBeDefined()
        for (const { panel, target } of lokiTargets) {
          for (const name of ["cluster", "namespace", "kind", "reason"])
            expect(text(target["expr"], panel), `${panel} follows $${name}`).toContain(`$${name}`)
          // Another cluster's events are not this one's.
          const elsewhere = logQueries(lokiExpr(target, { ...ALL, cluster: "another" }))
          for (const q of elsewhere) expect(selected(q), panel).toEqual([])
        }
        for (const { panel, target } of promTargets.filter((t) => eventSeriesIn(text(t.target["expr"], "")).length)) {
          for (const name of ["cluster", "namespace", "kind", "reason"])
            expect(text(target["expr"], panel), `${panel} follows $${name}`).toContain(`$${name}`)
        }
      })

      it("fills its Loki variables with index labels of the event streams, the reason from the counter", () => {
        for (const v of variables.filter((v) => at(v, "datasource", "uid") === LOKI)) {
          const label = text(at(v, "query", "label"), "label")
          expect(INDEX_LABELS, label).toContain(label)
          checkLogQl(interpolate(text(at(v, "query", "stream"), "stream"), ALL), `variable ${String(v["name"])}`)
        }
        const reason = text(variable("reason")?.["query"], "reason query")
        expect(at(variable("reason"), "datasource", "uid")).toBe(PROMETHEUS)
        expect(reason).toMatch(new RegExp(`^label_values\\(${COUNTER}\\{.*\\}, k8s_event_reason\\)$`))
        for (const n of logQlNames(reason).selectors) expect(EVENT_SERIES_LABELS, n).toContain(n)
      })

      it("lists the Warning events and those a rule raised, by severity number, and no Normal one", () => {
        const warnings = lokiTargets.filter(
          (t) =>
            t.type === "logs" && logQlNames(lokiExpr(t.target)).filterValues.some((f) => f.name === "severity_number")
        )
        expect(warnings.length).toBeGreaterThan(0)
        for (const { panel, target } of warnings) {
          const f = logQlNames(lokiExpr(target)).filterValues.find((f) => f.name === "severity_number")
          expect([f?.op, Number(f?.value)], panel).toEqual([">=", WARN])
          const [q] = logQueries(lokiExpr(target))
          expect(q === undefined ? [] : [...selected(q)].sort(), panel).toEqual(
            [
              "podBackOff",
              "podFailed",
              "siblingUnhealthy",
              "samePodNameElsewhere",
              "nodeOom",
              "nodeNotReady",
              "jobFailed"
            ].sort()
          )
        }
      })

      it("has a timeline of one object: its events, oldest first", () => {
        const timeline = lokiTargets.filter(
          (t) =>
            t.type === "logs" && logQueries(lokiExpr(t.target)).some((q) => filterNames(q).includes("k8s_object_name"))
        )
        expect(timeline).toHaveLength(1)
        const [t] = timeline
        const panel = panels.find((p) => p["title"] === t?.panel)
        expect(at(panel, "options", "sortOrder")).toBe("Ascending")
        const [q] = logQueries(lokiExpr(t?.target ?? {}, ONE_POD))
        expect(q === undefined ? [] : [...selected(q)].sort()).toEqual(["podBackOff", "podFailed", "podPulled"])
        const [backOff] = logQueries(lokiExpr(t?.target ?? {}, { ...ONE_POD, reason: "BackOff" }))
        expect(backOff === undefined ? [] : selected(backOff)).toEqual(["podBackOff"])
      })

      it("counts the events per object and the noisiest objects from Loki (the counter has no object label)", () => {
        const perObject = lokiTargets.filter((t) =>
          logQlNames(lokiExpr(t.target)).groupings.includes(lokiName("k8s.object.name"))
        )
        expect(perObject.length).toBeGreaterThan(0)
        expect(lokiTargets.some(({ target }) => /\btopk\s*\(/.test(text(target["expr"], "expr")))).toBe(true)
      })

      it("draws the event rates by reason and by severity from Prometheus, through the recording rules", () => {
        const rates = promTargets.filter((t) => eventSeriesIn(text(t.target["expr"], t.panel)).length > 0)
        const grouped = (n: string) => rates.some((t) => logQlNames(text(t.target["expr"], "")).groupings.includes(n))
        expect(grouped("k8s_event_reason"), "by reason").toBe(true)
        expect(grouped("severity"), "by severity").toBe(true)
        for (const { panel, target } of rates) {
          const expr = text(target["expr"], panel)
          const series = eventSeriesIn(expr)
          // A recorded series where the rules are loaded, the counter itself where they are not (a Helm user's
          // Prometheus): `recorded or counter`.
          expect(series.filter((s) => RECORDED.has(s)).length, `${panel} reads a recording rule`).toBeGreaterThan(0)
          expect(series, `${panel} falls back to the counter`).toContain(COUNTER)
          for (const s of series.filter((s) => RECORDED.has(s))) {
            const kept = RECORDED.get(s) ?? new Set()
            for (const n of [...logQlNames(expr).selectors, ...logQlNames(expr).groupings])
              expect(kept, `${panel}: ${s} keeps ${n}`).toContain(n)
          }
          for (const n of [...logQlNames(expr).selectors, ...logQlNames(expr).groupings])
            expect(EVENT_SERIES_LABELS, `${panel}: ${n}`).toContain(n)
        }
        // No event-rate panel counts log lines.
        for (const { panel, target } of lokiTargets.filter((t) => t.type === "timeseries"))
          expect(text(target["expr"], panel)).not.toMatch(/count_over_time|rate\(/)
      })

      it("uses the long-range recording rules for its long-range panels", () => {
        const used = new Set(promTargets.flatMap((t) => eventSeriesIn(text(t.target["expr"], t.panel))))
        for (const window of ["5m", "1h", "1d"])
          expect(
            [...used].some((s) => s.endsWith(`:rate${window}`)),
            window
          ).toBe(true)
      })

      it("shows the collector's health from metrics it really exports", () => {
        const health = promTargets.filter((t) => eventSeriesIn(text(t.target["expr"], t.panel)).length === 0)
        expect(health.length).toBeGreaterThan(0)
        for (const { panel, target } of health) {
          const used = promMetricNames(text(target["expr"], panel), HISTOGRAMS)
          expect(used.length, panel).toBeGreaterThan(0)
          for (const m of used) expect(METRIC_NAMES, `${panel}: ${m}`).toContain(m)
        }
      })
    })
  }
})

describe("alert rules", () => {
  const exprOf = (rule: Obj): string => {
    const query = arr(rule["data"]).find((d) => at(d, "datasourceUid") === LOKI)
    return text(at(query, "model", "expr"), `${String(rule["title"])}: Loki query`)
  }
  const reasonOf = (rule: Obj): string | undefined =>
    logQlNames(exprOf(rule)).filterValues.find((f) => f.name === lokiName("k8s.event.reason") && f.op === "=")?.value
  const perReason = rules.filter((r) => reasonOf(r) !== undefined)
  const bySeverity = rules.filter((r) => reasonOf(r) === undefined)
  const selectedBy = (rule: Obj): ReadonlyArray<Name> => logQueries(exprOf(rule)).flatMap((q) => selected(q))

  it("one per critical reason, each selecting that reason's events and no others", () => {
    expect(perReason.map(reasonOf).sort()).toEqual([...CRITICAL_REASONS].sort())
    for (const r of perReason) {
      const reason = reasonOf(r)
      const expected = events.filter((e) => e.record.attributes["k8s.event.reason"] === reason).map((e) => e.name)
      expect(selectedBy(r), String(r["title"])).toEqual(expected)
    }
  })

  it("one more for any other event a rule raised to ERROR, by its severity number", () => {
    expect(bySeverity).toHaveLength(1)
    const [r] = bySeverity
    const f = logQlNames(r === undefined ? "" : exprOf(r)).filterValues.find((f) => f.name === "severity_number")
    expect([f?.op, Number(f?.value)]).toEqual([">=", ERROR])
    // Pod `Failed` is raised to ERROR by a default rule and has no rule of its own.
    expect(r === undefined ? [] : selectedBy(r)).toEqual(["podFailed"])
    // It leaves out exactly the reasons that have a rule of their own.
    const excluded = logQlNames(r === undefined ? "" : exprOf(r)).filterValues.filter(
      (f) => f.name === lokiName("k8s.event.reason") && f.op === "!~"
    )
    expect(excluded).toHaveLength(1)
    const re = new RegExp(`^(?:${excluded[0]?.value ?? ""})$`)
    for (const reason of CRITICAL_REASONS) expect(re.test(reason), reason).toBe(true)
    for (const reason of ["Failed", "Unhealthy", "BackOff", "FailedCreate"]) expect(re.test(reason), reason).toBe(false)
  })

  it("together alert once on every event at ERROR or above", () => {
    for (const e of events.filter((e) => (e.record.severityNumber ?? 0) >= ERROR)) {
      expect(rules.filter((r) => selectedBy(r).includes(e.name)).length, e.name).toBe(1)
    }
  })

  it("have unique uids, valid data references and a condition among their queries", () => {
    const uids = rules.map((r) => r["uid"])
    expect(new Set(uids).size).toBe(uids.length)
    for (const r of rules) {
      const data = arr(r["data"])
      const refIds = data.map((d) => at(d, "refId"))
      expect(refIds, String(r["title"])).toContain(r["condition"])
      for (const d of data) expect([LOKI, "__expr__"]).toContain(at(d, "datasourceUid"))
      for (const d of data.filter((d) => at(d, "datasourceUid") === "__expr__"))
        expect(refIds).toContain(at(d, "model", "expression"))
    }
  })

  it("select the event streams by k8s_object_kind, with the names the collector's records have", () => {
    for (const r of rules) checkLogQl(exprOf(r), String(r["title"]))
  })

  it("name in their annotations only labels their query keeps", () => {
    for (const r of rules) {
      const grouping = new Set(logQlNames(exprOf(r)).groupings)
      const templated = Object.values(obj(r["annotations"], "annotations")).flatMap((a) =>
        [...String(a).matchAll(/\.Labels\.([a-zA-Z0-9_]+)/g)].map((m) => m[1])
      )
      for (const l of templated) expect(grouping, String(r["title"])).toContain(l)
    }
  })

  it("use no `$`, which Grafana's provisioning would take for an environment variable", () => {
    for (const r of rules) expect(JSON.stringify(r)).not.toContain("$")
  })
})

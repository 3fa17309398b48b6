/**
 * Grafana's provisioning: the data sources, the dashboard and the alert rules parse, refer to each other, and
 * query the label and field names that k8s-event-collector's records really have in Loki. The names come from
 * the real translator (a fixture event through toLogRecord and the OTLP/JSON serializer) mapped the way Loki's
 * OTLP ingestion maps them, so renaming an attribute in the translator breaks this test.
 */
import { readdirSync } from "node:fs"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { describe, expect, it } from "vitest"
import { CRITICAL_REASONS } from "../fixtures/expectations.ts"
import { CollectorMetrics } from "../../src/observability/Metrics.ts"
import {
  arr,
  at,
  collect,
  LOKI_DEFAULT_INDEX_ATTRIBUTES,
  logQlNames,
  lokiName,
  lokiNames,
  type Obj,
  obj,
  POD_WARNING,
  promMetricNames,
  readJson,
  readYaml,
  str,
  strings,
  text,
  wireRecord
} from "./support.ts"

const names = lokiNames()
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

/** Checks one LogQL expression against the names the records have in Loki; returns what it used. */
const checkLogQl = (expr: string, where: string) => {
  const used = logQlNames(expr)
  for (const n of used.selectors) expect(names.indexLabels, `${where}: {${n}=...} needs an index label`).toContain(n)
  for (const n of [...used.filters, ...used.groupings]) expect(names.all, `${where}: ${n}`).toContain(n)
  for (const f of used.filterValues) {
    if (f.name === "scope_name")
      expect(f.value, `${where}: the translator's instrumentation scope`).toBe(names.scopeName)
    if (f.name === "severity_number") {
      expect(f.op, where).toBe(">=")
      expect(Number(f.value), `${where}: WARN, the severity of a Warning event`).toBe(
        wireRecord(POD_WARNING).severityNumber
      )
    }
  }
  return used
}

describe("data sources", () => {
  it("have unique uids, and Loki is the default", () => {
    const uids = datasources.map((d) => d["uid"])
    expect(new Set(uids).size).toBe(uids.length)
    expect(datasources.filter((d) => d["isDefault"] === true).map((d) => d["type"])).toEqual(["loki"])
  })

  describe("Tempo's trace-to-logs link", () => {
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

    it("is keyed by the pod: k8s.namespace.name and k8s.pod.name", () => {
      expect(tags.map((t) => t.key)).toEqual(["k8s.namespace.name", "k8s.pod.name"])
    })

    it("maps each span attribute to the Loki label the collector's pod events get", () => {
      const pod = wireRecord(POD_WARNING)
      for (const { key, value } of tags) {
        expect(pod.resourceAttributes, `a pod event carries ${key}`).toContain(key)
        expect(value, key).toBe(lokiName(key))
        // A stream selector: the label must be indexed, not structured metadata.
        expect(LOKI_DEFAULT_INDEX_ATTRIBUTES.has(key), `${key} is one of Loki's default index labels`).toBe(true)
        expect(names.indexLabels).toContain(value)
      }
    })

    it("does not filter on a trace id (events have none)", () => {
      expect(link["filterByTraceID"]).toBe(false)
      expect(link["customQuery"] ?? false).toBe(false)
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
          target: obj(t, "target"),
          ds: p["datasource"]
        }))
      )
      const lokiExprs = targets.filter((t) => at(t.target, "datasource", "uid") === LOKI || at(t.ds, "uid") === LOKI)
      const promExprs = targets.filter(
        (t) => at(t.target, "datasource", "uid") === PROMETHEUS || at(t.ds, "uid") === PROMETHEUS
      )

      it("has a uid and refers only to provisioned data sources", () => {
        expect(typeof json["uid"]).toBe("string")
        const uids = new Set(datasources.map((d) => d["uid"]))
        for (const ref of collect(json, "datasource").map((o) => o["datasource"])) {
          if (typeof ref === "object" && ref !== null) expect(uids.has(at(ref, "uid")), JSON.stringify(ref)).toBe(true)
        }
        expect(lokiExprs.length + promExprs.length).toBe(targets.length)
      })

      it("queries Loki with the names the collector's records have there", () => {
        expect(lokiExprs.length).toBeGreaterThan(0)
        for (const { panel, target } of lokiExprs) checkLogQl(text(target["expr"], panel), panel)
      })

      it("shows events over time by reason and by severity, warnings, and the noisiest objects", () => {
        const byPanel = new Map(lokiExprs.map(({ panel, target }) => [panel, logQlNames(text(target["expr"], panel))]))
        const grouped = (n: string) => [...byPanel.values()].some((u) => u.groupings.includes(n))
        expect(grouped(lokiName("k8s.event.reason")), "by reason").toBe(true)
        expect(grouped("severity_text"), "by severity").toBe(true)
        expect(grouped(lokiName("k8s.object.name")), "per object").toBe(true)
        expect(
          [...byPanel.values()].some((u) => u.filterValues.some((f) => f.name === "severity_number")),
          "warnings"
        ).toBe(true)
        expect(
          [...lokiExprs].some(({ target }) => /\btopk\s*\(/.test(text(target["expr"], "expr"))),
          "top noisy objects"
        ).toBe(true)
      })

      it("its template variables use index labels", () => {
        for (const v of arr(at(json, "templating", "list"))) {
          const label = str(at(v, "query", "label"))
          if (label !== undefined) expect(names.indexLabels).toContain(label)
        }
      })

      it("shows the collector's health from metrics it really exports", () => {
        expect(promExprs.length).toBeGreaterThan(0)
        for (const { panel, target } of promExprs) {
          const used = promMetricNames(text(target["expr"], panel), HISTOGRAMS)
          expect(used.length, panel).toBeGreaterThan(0)
          for (const m of used) expect(METRIC_NAMES, `${panel}: ${m}`).toContain(m)
        }
      })
    })
  }
})

describe("alert rules", () => {
  const CRITICAL = CRITICAL_REASONS
  const exprOf = (rule: Obj): string => {
    const query = arr(rule["data"]).find((d) => at(d, "datasourceUid") === LOKI)
    return text(at(query, "model", "expr"), `${String(rule["title"])}: Loki query`)
  }

  it("one per critical reason, each matching that reason in k8s_event_reason", () => {
    const reasons = rules.map((r) => {
      const used = logQlNames(exprOf(r)).filterValues.filter((f) => f.name === lokiName("k8s.event.reason"))
      expect(used, String(r["title"])).toHaveLength(1)
      return used[0]?.value
    })
    expect([...reasons].sort()).toEqual([...CRITICAL].sort())
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

  it("query Loki with the names the collector's records have there", () => {
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

describe("the translator's side of the contract", () => {
  it("a Warning event is WARN, so `severity_number >= 13` and Loki's detected_level=warn select it", () => {
    expect(wireRecord(POD_WARNING).severityNumber).toBe(SeverityNumber.WARN)
    expect(wireRecord(POD_WARNING).severityText).toBe("Warning")
  })
})

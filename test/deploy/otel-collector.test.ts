/**
 * otel-collector.yaml: every pipeline refers to defined components and every defined component is used (what the
 * Collector itself checks at start-up, checked here without it), the routing connector joins two pipelines, and
 * its WARN threshold is the severity the translator gives a Warning; the count connector makes the event counter
 * with bounded labels only, on a copy of the records, for Prometheus on :8889; the README's VictoriaLogs example
 * replaces only Loki's exporter and keeps its queue. (npm run test:real runs both files in a real Collector.)
 */
import { SeverityNumber } from "@opentelemetry/api-logs"
import { describe, expect, it } from "vitest"
import {
  arr,
  at,
  EVENTS_COUNTER,
  hostPort,
  isObj,
  type Obj,
  obj,
  POD_NORMAL,
  POD_WARNING,
  readYaml,
  str,
  strings,
  text,
  wireRecord
} from "./support.ts"

const config = obj(readYaml("otel-collector.yaml"), "otel-collector.yaml")
const section = (name: string): Obj =>
  config[name] === undefined || config[name] === null ? {} : obj(config[name], name)
const receivers = section("receivers")
const processors = section("processors")
const exporters = section("exporters")
const connectors = section("connectors")
const extensions = section("extensions")
const service = obj(config["service"], "service")
const pipelines = obj(service["pipelines"], "service.pipelines")

interface Pipeline {
  readonly id: string
  readonly signal: string
  readonly receivers: ReadonlyArray<string>
  readonly processors: ReadonlyArray<string>
  readonly exporters: ReadonlyArray<string>
}
const PIPELINES: ReadonlyArray<Pipeline> = Object.entries(pipelines).map(([id, p]) => ({
  id,
  signal: id.split("/")[0] ?? id,
  receivers: strings(at(p, "receivers")),
  processors: strings(at(p, "processors")),
  exporters: strings(at(p, "exporters"))
}))

/** A component id is `type` or `type/name`. */
const typeOf = (id: string): string => id.split("/")[0] ?? id
const idsOfType = (components: Obj, type: string): ReadonlyArray<string> =>
  Object.keys(components).filter((id) => typeOf(id) === type)
const only = <A>(items: ReadonlyArray<A>, what: string): A => {
  expect(items, what).toHaveLength(1)
  const [item] = items
  if (item === undefined) throw new Error(what)
  return item
}

describe("pipelines and components", () => {
  it("has pipelines of known signals, each with a receiver and an exporter", () => {
    expect(PIPELINES.length).toBeGreaterThan(0)
    for (const p of PIPELINES) {
      expect(["logs", "traces", "metrics"], p.id).toContain(p.signal)
      expect(p.receivers.length, `${p.id} receivers`).toBeGreaterThan(0)
      expect(p.exporters.length, `${p.id} exporters`).toBeGreaterThan(0)
    }
  })

  it("every pipeline refers only to defined receivers, processors, exporters and connectors", () => {
    for (const p of PIPELINES) {
      for (const r of p.receivers) expect(r in receivers || r in connectors, `${p.id}: receiver ${r}`).toBe(true)
      for (const pr of p.processors) expect(pr in processors, `${p.id}: processor ${pr}`).toBe(true)
      for (const e of p.exporters) expect(e in exporters || e in connectors, `${p.id}: exporter ${e}`).toBe(true)
    }
  })

  it("every defined component is used", () => {
    const used = (pick: (p: Pipeline) => ReadonlyArray<string>) => new Set(PIPELINES.flatMap(pick))
    for (const id of Object.keys(receivers)) expect(used((p) => p.receivers).has(id), `receiver ${id}`).toBe(true)
    for (const id of Object.keys(processors)) expect(used((p) => p.processors).has(id), `processor ${id}`).toBe(true)
    for (const id of Object.keys(exporters)) expect(used((p) => p.exporters).has(id), `exporter ${id}`).toBe(true)
    for (const id of Object.keys(connectors)) {
      expect(used((p) => p.exporters).has(id), `connector ${id} as an exporter`).toBe(true)
      expect(used((p) => p.receivers).has(id), `connector ${id} as a receiver`).toBe(true)
    }
    expect([...strings(service["extensions"])].sort()).toEqual(Object.keys(extensions).sort())
  })

  it("the memory limiter comes first wherever data enters from a receiver", () => {
    for (const p of PIPELINES.filter((p) => p.receivers.some((r) => r in receivers))) {
      expect(p.processors[0] === undefined ? undefined : typeOf(p.processors[0]), p.id).toBe("memory_limiter")
    }
  })

  it("uses no removed or deprecated component types", () => {
    // `loki` was removed in favour of Loki's OTLP endpoint; `otlphttp` and `otlp` are aliases of otlp_http/otlp_grpc.
    for (const id of Object.keys(exporters)) expect(["loki", "otlphttp", "otlp", "logging"]).not.toContain(typeOf(id))
    for (const id of Object.keys(processors)) expect(["batch", "routing"]).not.toContain(typeOf(id))
  })

  it("receives OTLP over HTTP (4318, k8s-event-collector) and gRPC (4317) from other containers", () => {
    const otlp = only(idsOfType(receivers, "otlp"), "one OTLP receiver")
    expect(hostPort(text(at(receivers, otlp, "protocols", "http", "endpoint"), "http endpoint"))).toEqual({
      host: "0.0.0.0",
      port: 4318
    })
    expect(hostPort(text(at(receivers, otlp, "protocols", "grpc", "endpoint"), "grpc endpoint"))).toEqual({
      host: "0.0.0.0",
      port: 4317
    })
  })

  it("has the health_check extension enabled", () => {
    expect(strings(service["extensions"]).some((id) => typeOf(id) === "health_check")).toBe(true)
  })
})

describe("logs: everything to Loki, WARN and above also to a second pipeline", () => {
  const routingId = only(idsOfType(connectors, "routing"), "one routing connector")
  const routing = obj(connectors[routingId], routingId)
  const table = arr(routing["table"]).map((r) => obj(r, "routing table entry"))
  const lokiExporter = only(
    idsOfType(exporters, "otlp_http").filter((id) => str(at(exporters, id, "endpoint"))?.includes("loki") === true),
    "one Loki exporter"
  )
  const lokiPipelines = PIPELINES.filter((p) => p.exporters.includes(lokiExporter))

  it("the routing connector ends the logs input pipeline and starts the routed ones", () => {
    const input = PIPELINES.filter((p) => p.exporters.includes(routingId))
    expect(input.map((p) => p.signal)).toEqual(["logs"])
    expect(input[0]?.receivers.every((r) => r in receivers)).toBe(true)
    const routedTo = new Set([
      ...strings(routing["default_pipelines"]),
      ...table.flatMap((r) => strings(r["pipelines"]))
    ])
    for (const id of routedTo) {
      const target = PIPELINES.find((p) => p.id === id)
      expect(target, `routed-to pipeline ${id}`).toBeDefined()
      expect(target?.receivers, id).toContain(routingId)
      expect(target?.signal, id).toBe("logs")
    }
    for (const p of PIPELINES.filter((p) => p.receivers.includes(routingId)))
      expect(routedTo.has(p.id), p.id).toBe(true)
  })

  it("sends every record to Loki: by default, and from the WARN route too", () => {
    const loki = only(lokiPipelines, "one pipeline exports to Loki").id
    expect(strings(routing["default_pipelines"])).toContain(loki)
    for (const route of table) expect(strings(route["pipelines"])).toContain(loki)
    const others = new Set(table.flatMap((r) => strings(r["pipelines"])).filter((id) => id !== loki))
    expect(others.size, "a second pipeline for warnings").toBe(1)
  })

  it("routes on the log record's severity_number at WARN (13), the severity the translator gives a Warning", () => {
    const route = only(table, "one route")
    expect(route["context"]).toBe("log")
    const condition = text(route["condition"] ?? route["statement"], "route condition")
    const m = /^\s*(?:log\.)?severity_number\s*>=\s*(SEVERITY_NUMBER_[A-Z0-9]+|\d+)\s*$/.exec(condition)
    expect(m, condition).not.toBeNull()
    const raw = m?.[1] ?? ""
    // OTTL's SEVERITY_NUMBER_WARN is the OpenTelemetry SeverityNumber WARN.
    const named = Object.entries(SeverityNumber).find(([name]) => `SEVERITY_NUMBER_${name}` === raw)?.[1]
    const threshold = /^\d+$/.test(raw) ? Number(raw) : named
    if (typeof threshold !== "number") throw new Error(`unknown severity in ${condition}`)
    expect(threshold).toBe(SeverityNumber.WARN)
    const warning = wireRecord(POD_WARNING).severityNumber ?? 0
    const normal = wireRecord(POD_NORMAL).severityNumber ?? 0
    expect(warning >= threshold, "a Warning event is routed").toBe(true)
    expect(normal >= threshold, "a Normal event is not").toBe(false)
  })

  it("exports to Loki's native OTLP endpoint with a persistent, batching sending queue", () => {
    const loki = obj(exporters[lokiExporter], lokiExporter)
    expect(loki["endpoint"]).toBe("http://loki:3100/otlp")
    const storage = text(at(loki, "sending_queue", "storage"), "sending_queue.storage")
    expect(typeOf(storage)).toBe("file_storage")
    expect(storage in extensions).toBe(true)
    expect(strings(service["extensions"])).toContain(storage)
    expect(at(loki, "sending_queue", "enabled")).not.toBe(false)
    expect(isObj(at(loki, "sending_queue", "batch")), "exporter-side batching").toBe(true)
  })
})

describe("traces", () => {
  it("go from OTLP to Tempo over plain gRPC", () => {
    const tempo = only(idsOfType(exporters, "otlp_grpc"), "one OTLP/gRPC exporter")
    expect(hostPort(text(at(exporters, tempo, "endpoint"), "tempo endpoint"))).toEqual({ host: "tempo", port: 4317 })
    expect(at(exporters, tempo, "tls", "insecure")).toBe(true)
    const traces = PIPELINES.filter((p) => p.signal === "traces")
    expect(traces.map((p) => p.exporters)).toEqual([[tempo]])
    expect(traces[0]?.receivers.every((r) => typeOf(r) === "otlp")).toBe(true)
  })
})

describe("events as metrics: count connector → prometheus exporter", () => {
  const countId = only(idsOfType(connectors, "count"), "one count connector")
  const metrics = obj(at(connectors, countId, "logs"), `${countId}.logs`)
  const [metricName, metric] = only(Object.entries(metrics), "one metric made of logs")
  const countPipeline = only(
    PIPELINES.filter((p) => p.exporters.includes(countId)),
    "one pipeline feeds the count connector"
  )
  const transforms = countPipeline.processors.filter((id) => typeOf(id) === "transform")
  const transformId = only(transforms, "one transform processor before the count connector")
  const logStatements = arr(at(processors, transformId, "log_statements")).map((g) => obj(g, "statement group"))
  const statementsOf = (ctx: string) =>
    logStatements.filter((g) => g["context"] === ctx).flatMap((g) => strings(g["statements"]))
  const prometheusId = only(idsOfType(exporters, "prometheus"), "one prometheus exporter")
  const prometheus = obj(exporters[prometheusId], prometheusId)
  /** The Prometheus name the exporter makes of an OpenTelemetry one (UnderscoreEscapingWithSuffixes). */
  const promName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, "_")

  it("counts event records into k8s.events with four bounded labels, each defaulted so no record is skipped", () => {
    expect(metricName).toBe("k8s.events")
    expect(strings(at(metric, "conditions"))).toEqual(['event_name == "k8s.event"'])
    const attributes = arr(at(metric, "attributes")).map((a) => obj(a, "attribute"))
    const keys = attributes.map((a) => text(a["key"], "attribute key"))
    expect(keys).toEqual(["k8s.namespace.name", "k8s.object.kind", "k8s.event.reason", "severity"])
    // The connector skips a record that lacks an attribute with no default: a Node's event has no namespace.
    for (const a of attributes) expect("default_value" in a, String(a["key"])).toBe(true)
    expect(keys.map(promName)).toEqual([...EVENTS_COUNTER.labels])
    // Never a per-object value: a label per pod, object or event would make a series each.
    for (const key of ["k8s.pod.name", "k8s.object.name", "k8s.object.uid", "k8s.event.name", "log.record.uid"])
      expect(keys).not.toContain(key)
  })

  it("is fed by a logs pipeline of its own from the OTLP receiver; the stores' pipelines change no record", () => {
    expect(countPipeline.signal).toBe("logs")
    expect(countPipeline.receivers.every((r) => typeOf(r) === "otlp")).toBe(true)
    expect(countPipeline.exporters).toEqual([countId])
    expect(countPipeline.processors[0] === undefined ? undefined : typeOf(countPipeline.processors[0])).toBe(
      "memory_limiter"
    )
    // The transform runs on that pipeline's copy only: no other pipeline uses a processor that edits records.
    for (const p of PIPELINES.filter((p) => p.id !== countPipeline.id))
      expect(p.processors.map(typeOf), p.id).toEqual(p.processors.length === 0 ? [] : ["memory_limiter"])
  })

  it("names the severity from its number by the OpenTelemetry ranges, TRACE to FATAL, the highest met winning", () => {
    const rules = statementsOf("log").flatMap((st) => {
      const m = /^set\(log\.attributes\["severity"\], "([A-Z]+)"\) where log\.severity_number >= (\S+)$/.exec(st)
      return m === null ? [] : [{ label: m[1] ?? "", from: m[2] ?? "" }]
    })
    // Each statement overrides the one before, so they go from the lowest threshold up.
    expect(rules.map((r) => r.label)).toEqual(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"])
    const value = (name: string): number | undefined => {
      const found = Object.entries(SeverityNumber).find(([n]) => `SEVERITY_NUMBER_${n}` === name)?.[1]
      return typeof found === "number" ? found : undefined
    }
    expect(rules.map((r) => value(r.from))).toEqual([1, 5, 9, 13, 17, 21])
    // A Warning event is WARN, a Normal one INFO.
    const labelOf = (n: number) => rules.filter((r) => (value(r.from) ?? 99) <= n).at(-1)?.label
    expect(labelOf(wireRecord(POD_WARNING).severityNumber ?? 0)).toBe("WARN")
    expect(labelOf(wireRecord(POD_NORMAL).severityNumber ?? 0)).toBe("INFO")
    // What the connector counts a record with no severity as.
    const severity = arr(at(metric, "attributes")).find((a) => at(a, "key") === "severity")
    expect(at(severity, "default_value")).toBe("UNSPECIFIED")
  })

  it("copies the namespace and kind onto the record and empties the resource: no job, instance or target_info", () => {
    const log = statementsOf("log")
    for (const key of ["k8s.namespace.name", "k8s.object.kind"]) {
      expect(log).toContain(`set(log.attributes["${key}"], resource.attributes["${key}"])`)
    }
    expect(statementsOf("resource")).toEqual(['delete_matching_keys(resource.attributes, ".*")'])
    // The records' time is one fixed instant, so that each count continues the one before (see the file).
    expect(log.filter((st) => st.startsWith("set(log.time"))).toEqual(["set(log.time_unix_nano, 1)"])
    expect(at(processors, transformId, "error_mode")).toBe("ignore")
  })

  it("serves the counter for Prometheus on 0.0.0.0:8889 as k8s_events_total, scope labels off, one consumer", () => {
    const metricsPipeline = only(
      PIPELINES.filter((p) => p.receivers.includes(countId)),
      "one pipeline takes the counts"
    )
    expect(metricsPipeline.signal).toBe("metrics")
    expect(metricsPipeline.exporters).toEqual([prometheusId])
    expect(hostPort(text(prometheus["endpoint"], "endpoint"))).toEqual({ host: "0.0.0.0", port: EVENTS_COUNTER.port })
    expect(prometheus["translation_strategy"]).toBe("UnderscoreEscapingWithSuffixes")
    expect(`${promName(metricName)}_total`).toBe(EVENTS_COUNTER.name)
    expect(prometheus["without_scope_info"]).toBe(true)
    expect(at(prometheus, "sending_queue", "enabled")).toBe(true)
    expect(at(prometheus, "sending_queue", "num_consumers")).toBe(1)
    // Not the Collector's own metrics port.
    const own = arr(at(service, "telemetry", "metrics", "readers")).map((r) => at(r, "pull", "exporter", "prometheus"))
    for (const reader of own) expect(at(reader, "port")).not.toBe(EVENTS_COUNTER.port)
  })
})

describe("examples/otel-collector-victorialogs.yaml, given after otel-collector.yaml", () => {
  const example = obj(readYaml("examples/otel-collector-victorialogs.yaml"), "the example")
  /** How the Collector merges its --config files: maps key by key, anything else replaced by the later file. */
  const merge = (base: unknown, over: unknown): unknown =>
    isObj(base) && isObj(over)
      ? Object.fromEntries(
          [...new Set([...Object.keys(base), ...Object.keys(over)])].map((k) => [
            k,
            k in over ? merge(base[k], over[k]) : base[k]
          ])
        )
      : over
  const merged = obj(merge(config, example), "merged")
  const lokiPipeline = obj(at(merged, "service", "pipelines", "logs/loki"), "logs/loki")
  const exporterId = only(strings(lokiPipeline["exporters"]), "one exporter of logs/loki")
  const exporter = obj(at(merged, "exporters", exporterId), exporterId)
  const lokiExporter = obj(exporters["otlp_http/loki"], "otlp_http/loki")

  it("replaces only the Loki pipeline's exporter: routing, the counter and the traces stay as shipped", () => {
    expect(Object.keys(example).sort()).toEqual(["exporters", "service"])
    expect(Object.keys(obj(example["service"], "service"))).toEqual(["pipelines"])
    expect(Object.keys(obj(at(example, "service", "pipelines"), "pipelines"))).toEqual(["logs/loki"])
    expect(Object.keys(obj(example["exporters"], "exporters"))).toEqual([exporterId])
    expect(exporterId in exporters, "a new exporter, not a change of a shipped one").toBe(false)
    // The pipeline itself (its receiver, the routing connector) is the shipped one.
    expect({ ...lokiPipeline, exporters: at(pipelines, "logs/loki", "exporters") }).toEqual(pipelines["logs/loki"])
  })

  it("sends OTLP/HTTP protobuf to VictoriaLogs' /insert/opentelemetry (the exporter adds /v1/logs)", () => {
    expect(typeOf(exporterId)).toBe("otlp_http")
    expect(new URL(text(exporter["endpoint"], "endpoint")).pathname).toBe("/insert/opentelemetry")
    // VictoriaLogs refuses JSON; protobuf is the exporter's default.
    expect(exporter["encoding"] ?? "proto").toBe("proto")
  })

  it("streams on the cluster, namespace and kind only, never on a per-object field", () => {
    const fields = text(at(exporter, "headers", "VL-Stream-Fields"), "VL-Stream-Fields").split(",")
    expect(fields).toEqual(["k8s.cluster.name", "k8s.namespace.name", "k8s.object.kind"])
  })

  it("keeps the Loki exporter's persistent queue and retries, on a storage the shipped file enables", () => {
    expect(exporter["sending_queue"]).toEqual(lokiExporter["sending_queue"])
    expect(exporter["retry_on_failure"]).toEqual(lokiExporter["retry_on_failure"])
    expect(strings(service["extensions"])).toContain(at(exporter, "sending_queue", "storage"))
  })
})

/**
 * otel-collector.yaml: every pipeline refers to defined components and every defined component is used (what the
 * Collector itself checks at start-up, checked here without it), the routing connector joins two pipelines, and
 * its WARN threshold is the severity the translator gives a Warning.
 */
import { SeverityNumber } from "@opentelemetry/api-logs"
import { describe, expect, it } from "vitest"
import {
  arr,
  at,
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

/**
 * docker-compose.yml and the files it mounts: every mounted file is in the repository, every configuration path a
 * service is given is mounted, images are pinned, and the services find each other on the ports their
 * configurations listen on. (There is no Docker engine here: this checks the files, not a running stack.)
 */
import { describe, expect, it } from "vitest"
import {
  arr,
  at,
  hostPort,
  isDirectory,
  isFile,
  isObj,
  loadCommandLine,
  type Obj,
  obj,
  readText,
  readYaml,
  str,
  strings,
  text
} from "./support.ts"
import { lokiSettings } from "./loki.ts"

const compose = obj(readYaml("docker-compose.yml"), "docker-compose.yml")
const services = obj(compose["services"], "services")
const service = (name: string): Obj => obj(services[name], `service ${name}`)
const declaredVolumes = new Set(Object.keys(isObj(compose["volumes"]) ? compose["volumes"] : {}))
const otelConfig = readYaml("otel-collector.yaml")
const lokiConfig = readYaml("grafana/loki.yaml")
const tempoConfig = readYaml("grafana/tempo.yaml")
const prometheusConfig = readYaml("grafana/prometheus.yaml")

interface Mount {
  readonly source: string
  readonly target: string
  readonly bind: boolean
}
const mountsOf = (svc: Obj): ReadonlyArray<Mount> =>
  arr(svc["volumes"]).map((v) => {
    if (typeof v === "string") {
      const [source = "", target = ""] = v.split(":")
      return { source, target, bind: source.startsWith(".") || source.startsWith("/") || source.startsWith("~") }
    }
    const source = text(at(v, "source"), "volume source")
    return { source, target: text(at(v, "target"), "volume target"), bind: at(v, "type") === "bind" }
  })

/** The repository file a container path is mounted from, when a bind mount covers it. */
const hostPathOf = (svc: Obj, containerPath: string): string | undefined => {
  for (const m of mountsOf(svc).filter((m) => m.bind)) {
    if (containerPath === m.target) return m.source
    if (containerPath.startsWith(`${m.target}/`)) return `${m.source}/${containerPath.slice(m.target.length + 1)}`
  }
  return undefined
}

/** Configuration files a service is told to read: -config.file=X, --config.file=X, --config=X, --config X. */
const configPathsOf = (svc: Obj): ReadonlyArray<string> => {
  const command = strings(svc["command"])
  const paths: Array<string> = []
  command.forEach((arg, i) => {
    const inline = /^--?config(?:\.file)?=(.+)$/.exec(arg)
    if (inline?.[1] !== undefined) paths.push(inline[1])
    else if (/^--?config(?:\.file)?$/.test(arg) && command[i + 1] !== undefined) paths.push(command[i + 1] ?? "")
  })
  return paths
}

const environmentOf = (svc: Obj): Record<string, string> => {
  const env = svc["environment"]
  if (Array.isArray(env)) {
    return Object.fromEntries(strings(env).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]))
  }
  return Object.fromEntries(Object.entries(isObj(env) ? env : {}).map(([k, v]) => [k, String(v)]))
}

const collectorService = service("k8s-event-collector")
const collector = loadCommandLine(strings(collectorService["command"]), environmentOf(collectorService))

describe("services and their files", () => {
  it("has the collector, the OpenTelemetry Collector, Loki, Tempo, Prometheus and Grafana", () => {
    for (const name of ["k8s-event-collector", "otel-collector", "loki", "tempo", "prometheus", "grafana"]) {
      expect(Object.keys(services)).toContain(name)
    }
  })

  it("every bind-mounted file or directory exists in the repository", () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const m of mountsOf(obj(svc, name)).filter((m) => m.bind)) {
        expect(m.source.startsWith("./"), `${name}: ${m.source} is relative to the repository`).toBe(true)
        const target = m.target.split("/").pop() ?? ""
        const ok = /\.(ya?ml|json)$/.test(target) ? isFile(m.source) : isFile(m.source) || isDirectory(m.source)
        expect(ok, `${name}: ${m.source}`).toBe(true)
      }
    }
  })

  it("every named volume is declared", () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const m of mountsOf(obj(svc, name)).filter((m) => !m.bind))
        expect(declaredVolumes.has(m.source), `${name}: ${m.source}`).toBe(true)
    }
  })

  it("every configuration path a service is given is mounted from a file that parses", () => {
    let checked = 0
    for (const [name, svc] of Object.entries(services)) {
      const s = obj(svc, name)
      const paths = [...configPathsOf(s), ...Object.values(environmentOf(s)).filter((v) => v.startsWith("/etc/"))]
      for (const path of paths) {
        const host = hostPathOf(s, path)
        expect(host, `${name}: ${path} is mounted`).toBeDefined()
        expect(isFile(host ?? ""), `${name}: ${host}`).toBe(true)
        const content = readText(host ?? "")
        expect(
          () => (host?.endsWith(".json") === true ? JSON.parse(content) : readYaml(host ?? "")),
          `${name}: ${host}`
        ).not.toThrow()
        checked++
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5)
  })

  it("mounts otel-collector.yaml into the contrib Collector", () => {
    const svc = service("otel-collector")
    expect(text(svc["image"], "image")).toMatch(/^otel\/opentelemetry-collector-contrib:/)
    expect(configPathsOf(svc).map((p) => hostPathOf(svc, p))).toEqual(["./otel-collector.yaml"])
  })

  it("pins every image to a version", () => {
    for (const [name, svc] of Object.entries(services)) {
      const image = str(at(svc, "image"))
      if (at(svc, "build") !== undefined) continue
      expect(image, `${name} has an image`).toBeDefined()
      const tag = (image ?? "").split(":")[1] ?? ""
      expect(tag, `${name}: ${image}`).toMatch(/^v?\d+(\.\d+)+/)
    }
  })

  it("depends only on services that exist; waits for one-shot services to complete", () => {
    for (const [name, svc] of Object.entries(services)) {
      const deps = at(svc, "depends_on")
      const entries = Array.isArray(deps)
        ? strings(deps).map((d) => [d, undefined] as const)
        : Object.entries(isObj(deps) ? deps : {})
      for (const [dep, cond] of entries) {
        expect(Object.keys(services), `${name} depends on ${dep}`).toContain(dep)
        if (at(cond, "condition") === "service_completed_successfully") expect(at(services, dep, "restart")).toBe("no")
      }
    }
  })
})

describe("k8s-event-collector", () => {
  it("is built from the repository's Dockerfile", () => {
    expect(at(collectorService, "build", "context")).toBe(".")
    expect(isFile(str(at(collectorService, "build", "dockerfile")) ?? "Dockerfile")).toBe(true)
  })

  it("runs the demo by default, with options the collector accepts", () => {
    expect(strings(collectorService["command"])[0]).toBe("demo")
    expect(collector.command).toBe("demo")
  })

  it("exports to the OpenTelemetry Collector's OTLP/HTTP receiver", () => {
    const endpoint = hostPort(String(collector.values.otlpEndpoint))
    expect(endpoint.host).toBe("otel-collector")
    const receiver = text(at(otelConfig, "receivers", "otlp", "protocols", "http", "endpoint"), "OTLP/HTTP endpoint")
    expect(endpoint.port).toBe(hostPort(receiver).port)
  })

  it("publishes the port it listens on, and Prometheus scrapes it there", () => {
    const port = collector.values.listen?.port
    expect(strings(collectorService["ports"]).map((p) => Number(p.split(":").pop()))).toContain(port)
    const jobs = arr(at(prometheusConfig, "scrape_configs"))
    const job = jobs.find((j) =>
      arr(at(j, "static_configs")).some((sc) => strings(at(sc, "targets")).includes(`k8s-event-collector:${port}`))
    )
    expect(job, "a scrape job for k8s-event-collector").toBeDefined()
    expect(str(at(job, "metrics_path")) ?? "/metrics").toBe("/metrics")
    for (const j of jobs) {
      for (const sc of arr(at(j, "static_configs"))) {
        for (const t of strings(at(sc, "targets"))) expect(Object.keys(services), t).toContain(hostPort(t).host)
      }
    }
  })

  it("runs read-only, without capabilities, with a tmpfs /tmp", () => {
    expect(collectorService["read_only"]).toBe(true)
    expect(strings(collectorService["cap_drop"])).toEqual(["ALL"])
    expect(strings(collectorService["tmpfs"])).toContain("/tmp")
  })

  it("shows, commented out, how to run against a real cluster with a read-only kubeconfig", () => {
    const compose = readText("docker-compose.yml")
    const commented = /^\s*#\s*command:\s*(\[.*\])\s*$/m.exec(compose)
    expect(commented, "a commented command").not.toBeNull()
    const argv: unknown = JSON.parse(commented?.[1] ?? "[]")
    const real = loadCommandLine(strings(argv), {})
    expect(real.command).toBe("run")
    const kubeconfig = real.values.kubeconfig
    expect(kubeconfig).toBeDefined()
    expect(compose).toMatch(new RegExp(`^\\s*#\\s*-\\s*\\S+:${kubeconfig}:ro\\s*$`, "m"))
  })
})

describe("the backends' configurations agree with each other", () => {
  const exporterEndpoint = (type: string, host: string) => {
    const exporters = obj(at(otelConfig, "exporters"), "exporters")
    const found = Object.entries(exporters).find(
      ([id, e]) => id.split("/")[0] === type && hostPort(text(at(e, "endpoint"), id)).host === host
    )
    return hostPort(text(at(found?.[1], "endpoint"), `${type} exporter to ${host}`))
  }

  it("Loki: single binary, schema v13 on TSDB, filesystem storage, structured metadata, valid OTLP rules", () => {
    const schemas = arr(at(lokiConfig, "schema_config", "configs"))
    const latest = schemas[schemas.length - 1]
    expect(at(latest, "schema")).toBe("v13")
    expect(at(latest, "store")).toBe("tsdb")
    expect(at(latest, "object_store")).toBe("filesystem")
    expect(at(lokiConfig, "common", "storage", "filesystem")).toBeDefined()
    expect(at(lokiConfig, "limits_config", "allow_structured_metadata")).toBe(true)
    // Each otlp_config rule has a known action, index_label only for resource attributes, and either attributes or
    // a regex (what Loki refuses at start-up); test/deploy/loki.test.ts checks what the rules do.
    expect(() => lokiSettings(lokiConfig)).not.toThrow()
    expect(lokiSettings(lokiConfig).resourceRules.length).toBeGreaterThan(0)
    expect(at(lokiConfig, "server", "http_listen_port")).toBe(exporterEndpoint("otlp_http", "loki").port)
  })

  it("Prometheus: every rule file its configuration lists is mounted beside it from the repository, and parses", () => {
    const svc = service("prometheus")
    const [config] = strings(svc["command"])
      .map((arg) => /^--config\.file=(.+)$/.exec(arg)?.[1])
      .filter((p): p is string => p !== undefined)
    expect(config).toBeDefined()
    const dir = (config ?? "").slice(0, (config ?? "").lastIndexOf("/"))
    const ruleFiles = strings(at(prometheusConfig, "rule_files"))
    expect(ruleFiles.length).toBeGreaterThan(0)
    for (const f of ruleFiles) {
      // Prometheus resolves a relative rule file against the directory of its configuration file.
      const host = hostPathOf(svc, f.startsWith("/") ? f : `${dir}/${f}`)
      expect(host, `${f} is mounted`).toBeDefined()
      expect(isFile(host ?? ""), `${host}`).toBe(true)
      expect(arr(at(readYaml(host ?? ""), "groups")).length, `${host} has rule groups`).toBeGreaterThan(0)
    }
  })

  it("Tempo: receives OTLP/gRPC on the port the Collector sends to", () => {
    const grpc = text(
      at(tempoConfig, "distributor", "receivers", "otlp", "protocols", "grpc", "endpoint"),
      "Tempo OTLP/gRPC endpoint"
    )
    expect(hostPort(grpc).port).toBe(exporterEndpoint("otlp_grpc", "tempo").port)
    expect(at(tempoConfig, "storage", "trace", "backend")).toBe("local")
  })

  it("Grafana's data sources point at the services, on the ports they listen on", () => {
    const datasources = arr(at(readYaml("grafana/provisioning/datasources/datasources.yaml"), "datasources"))
    const expected: Record<string, { host: string; port: number }> = {
      loki: { host: "loki", port: Number(at(lokiConfig, "server", "http_listen_port")) },
      tempo: { host: "tempo", port: Number(at(tempoConfig, "server", "http_listen_port")) },
      prometheus: { host: "prometheus", port: 9090 }
    }
    for (const ds of datasources) {
      const type = text(at(ds, "type"), "datasource type")
      expect(hostPort(text(at(ds, "url"), "url")), type).toEqual(expected[type])
    }
    expect(datasources.map((d) => at(d, "type")).sort()).toEqual(Object.keys(expected).sort())
  })
})

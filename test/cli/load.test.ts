import { describe, expect, it } from "vitest"
import { Duration, Either } from "effect"
import { loadConfig, type Loaded } from "../../src/cli/load.ts"
import { renderConfig, renderHelp } from "../../src/cli/help.ts"
import { OPTIONS } from "../../src/cli/options.ts"

const files = (map: Record<string, string>) => (path: string) => {
  const text = map[path]
  if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`)
  return text
}

const load = (argv: ReadonlyArray<string>, env: Record<string, string> = {}, fileMap: Record<string, string> = {}) =>
  loadConfig({ argv, env, readText: files(fileMap) })

const ok = (r: Either.Either<Loaded, { problems: ReadonlyArray<string> }>): Loaded => {
  if (Either.isLeft(r)) throw new Error(`unexpected problems: ${r.left.problems.join("; ")}`)
  return r.right
}
const problems = (r: Either.Either<Loaded, { problems: ReadonlyArray<string> }>): ReadonlyArray<string> => {
  if (Either.isRight(r)) throw new Error("expected problems, got a configuration")
  return r.left.problems
}

describe("loadConfig", () => {
  it("takes on/off as YAML 1.1 writers (Helm, kustomize) emit them: booleans", () => {
    const file = { "/c.yaml": "enrichment: false\nenrichmentWatch: true\n" }
    const { values } = ok(load(["--config", "/c.yaml"], {}, file))
    expect(values.enrichment).toBe(false)
    expect(values.enrichmentWatch).toBe(true)
    expect(problems(load(["--config", "/c.yaml"], {}, { "/c.yaml": "enrichment: maybe\n" }))[0]).toContain(
      "must be one of on, off"
    )
  })

  it("gives the documented defaults", () => {
    const { values, command } = ok(load([]))
    expect(command).toBe("run")
    expect(values.source).toEqual({ kind: "kube" })
    expect(values.exporter).toBe("otlp")
    expect(values.otlpEndpoint).toBe("http://localhost:4318/v1/logs")
    expect(values.otlpProtocol).toBe("http/protobuf")
    expect(values.otlpCompression).toBe("gzip")
    expect(Duration.toMillis(values.otlpTimeout)).toBe(10_000)
    expect(values.batchSize).toBe(512)
    expect(Duration.toMillis(values.batchLinger)).toBe(200)
    expect(values.queueSize).toBe(2_000)
    expect(values.clusterName).toBeUndefined()
  })

  it("takes flags over the environment over the file", () => {
    const file = "batchSize: 10\nqueueSize: 20\nclusterName: from-file\nbatchLinger: 1s\n"
    const { values, origins } = ok(
      load(
        ["--config", "c.yaml", "--batch-size", "30"],
        { K8S_EVENT_COLLECTOR_BATCH_SIZE: "40", K8S_EVENT_COLLECTOR_QUEUE_SIZE: "50" },
        { "c.yaml": file }
      )
    )
    expect(values.batchSize).toBe(30)
    expect(origins.batchSize).toBe("--batch-size")
    expect(values.queueSize).toBe(50)
    expect(origins.queueSize).toBe("env K8S_EVENT_COLLECTOR_QUEUE_SIZE")
    expect(values.clusterName).toBe("from-file")
    expect(origins.clusterName).toBe("c.yaml: clusterName")
    expect(Duration.toMillis(values.batchLinger)).toBe(1000)
  })

  it("reads the config path from the environment too", () => {
    const { values } = ok(load([], { K8S_EVENT_COLLECTOR_CONFIG: "c.yaml" }, { "c.yaml": "exporter: console\n" }))
    expect(values.exporter).toBe("console")
  })

  it("follows the OTLP environment variables: the logs endpoint as is, the base endpoint with /v1/logs", () => {
    expect(ok(load([], { OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel:4318/" })).values.otlpEndpoint).toBe(
      "https://otel:4318/v1/logs"
    )
    expect(ok(load([], { OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel:4318/base" })).values.otlpEndpoint).toBe(
      "http://otel:4318/base/v1/logs"
    )
    expect(
      ok(
        load([], {
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:4318",
          OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: "http://otel:9999/custom"
        })
      ).values.otlpEndpoint
    ).toBe("http://otel:9999/custom")
    expect(ok(load(["--otlp-endpoint", "http://c:4318"])).values.otlpEndpoint).toBe("http://c:4318/v1/logs")
    expect(ok(load(["--otlp-endpoint", "http://c:4318/v1/logs"])).values.otlpEndpoint).toBe("http://c:4318/v1/logs")
    const env = { OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: "http/protobuf" }
    expect(ok(load([], env)).values.otlpProtocol).toBe("http/protobuf")
    expect(ok(load([], { OTEL_EXPORTER_OTLP_TIMEOUT: "2500" })).values.otlpTimeout).toEqual(Duration.millis(2500))
    expect(ok(load([], { OTEL_EXPORTER_OTLP_HEADERS: "a=1,b=x%20y" })).values.otlpHeaders).toEqual({ a: "1", b: "x y" })
    expect(ok(load([], { OTEL_LOGS_EXPORTER: "console" })).values.exporter).toBe("console")
  })

  it("merges OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME and the cluster name", () => {
    const { values } = ok(
      load(["--cluster-name", "prod-eu"], {
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod,team=sre",
        OTEL_SERVICE_NAME: "events"
      })
    )
    expect(values.resourceAttributes).toEqual({ "deployment.environment": "prod", team: "sre" })
    expect(values.serviceName).toBe("events")
    expect(values.clusterName).toBe("prod-eu")
  })

  it("parses every documented option from the file", () => {
    const file = [
      "source: file:/tmp/x.json",
      "kubeconfig: /k/config",
      "context: prod",
      "namespaces: [a, b]",
      "api: events.k8s.io/v1",
      "mode: poll",
      "pollInterval: 2m",
      "listPageSize: 100",
      "watchTimeout: 10m",
      "watchIdleTimeout: 25m",
      "stallTimeout: 30m",
      "listen: 127.0.0.1:9090",
      "apiRetryInitial: 2s",
      "apiRetryMax: 1m",
      "shutdownTimeout: 5s",
      "consoleFormat: text",
      "exporter: none",
      "checkpoint: configmap:obs/kec-checkpoint",
      "checkpointInterval: 0s",
      "leaderElect: true",
      "lease: obs/kec",
      "leaseDuration: 20s",
      "leaseRenewDeadline: 12s",
      "leaseRetryPeriod: 3s",
      "eventTtl: 3h",
      "otlpCertificate: /tls/ca.crt",
      "otlpClientCertificate: /tls/client.crt",
      "otlpClientKey: /tls/client.key",
      "enrichment: off",
      "podLabels: [team, tier]",
      "serviceNameFromLabels: true",
      "enrichmentCacheSize: 500",
      "enrichmentCacheTtl: 1m",
      "enrichmentTimeout: 250ms",
      "enrichmentQps: 7",
      "enrichmentWatch: off",
      "otlpEndpoint: http://h:1/v1/logs",
      "otlpProtocol: http/json",
      "otlpHeaders: {authorization: Bearer t}",
      "otlpUsername: u",
      "otlpPassword: p",
      "otlpCompression: none",
      "otlpTimeout: 3s",
      "clusterName: c",
      "resourceAttributes: {a: b}",
      "serviceName: s",
      "batchSize: 7",
      "batchLinger: 50ms",
      "exportConcurrency: 3",
      "queueSize: 99",
      "retryInitial: 10ms",
      "retryMax: 1m",
      "retryGiveUp: 1h30m",
      "logLevel: debug",
      "logFormat: logfmt",
      "printConfig: true"
    ].join("\n")
    const { values } = ok(load(["--config", "all.yaml"], {}, { "all.yaml": file }))
    expect(values).toMatchObject({
      source: { kind: "file", path: "/tmp/x.json" },
      kubeconfig: "/k/config",
      context: "prod",
      namespaces: ["a", "b"],
      api: "events.k8s.io/v1",
      mode: "poll",
      listPageSize: 100,
      consoleFormat: "text",
      exporter: "none",
      checkpoint: { _tag: "ConfigMap", namespace: "obs", name: "kec-checkpoint" },
      leaderElect: true,
      lease: { namespace: "obs", name: "kec" },
      otlpCertificate: "/tls/ca.crt",
      otlpClientCertificate: "/tls/client.crt",
      otlpClientKey: "/tls/client.key",
      enrichment: false,
      podLabels: ["team", "tier"],
      serviceNameFromLabels: true,
      enrichmentCacheSize: 500,
      enrichmentQps: 7,
      enrichmentWatch: false,
      otlpEndpoint: "http://h:1/v1/logs",
      otlpProtocol: "http/json",
      otlpHeaders: { authorization: "Bearer t" },
      otlpUsername: "u",
      otlpPassword: "p",
      otlpCompression: "none",
      clusterName: "c",
      resourceAttributes: { a: "b" },
      serviceName: "s",
      batchSize: 7,
      exportConcurrency: 3,
      queueSize: 99,
      logLevel: "debug",
      logFormat: "logfmt",
      printConfig: true
    })
    expect(Duration.toMillis(values.retryGiveUp ?? Duration.zero)).toBe(5_400_000)
    expect(Duration.toMillis(values.retryMax)).toBe(60_000)
    expect(Duration.toMillis(values.pollInterval)).toBe(120_000)
    expect(Duration.toMillis(values.watchTimeout)).toBe(600_000)
    expect(Duration.toMillis(values.watchIdleTimeout)).toBe(1_500_000)
    expect(Duration.toMillis(values.stallTimeout)).toBe(1_800_000)
    expect(values.listen).toEqual({ host: "127.0.0.1", port: 9090 })
    expect(Duration.toMillis(values.apiRetryInitial)).toBe(2_000)
    expect(Duration.toMillis(values.apiRetryMax)).toBe(60_000)
    expect(Duration.toMillis(values.shutdownTimeout)).toBe(5_000)
    expect(Duration.toMillis(values.checkpointInterval)).toBe(0)
    expect(Duration.toMillis(values.leaseDuration)).toBe(20_000)
    expect(Duration.toMillis(values.leaseRenewDeadline)).toBe(12_000)
    expect(Duration.toMillis(values.leaseRetryPeriod)).toBe(3_000)
    expect(Duration.toMillis(values.eventTtl)).toBe(10_800_000)
    // The file above sets every option but --config itself and those the file writes in its own sections.
    const inSections = Object.values(OPTIONS).filter((o) => "fileSection" in o && o.fileSection !== undefined).length
    expect(file.split("\n")).toHaveLength(Object.keys(OPTIONS).length - 1 - inSections)
  })

  it("reads filters, severity rules and noise control from the file's sections; their flags override them", () => {
    const file = [
      "filters:",
      "  include: [{namespace: 'prod-*', type: Warning}]",
      "  exclude: [{reason: Pulled}, {reason: '/^Back/', kind: Pod}]",
      "  minSeverity: warn",
      "  maxEventAge: 10m",
      "severity:",
      "  defaults: false",
      "  rules: [{reason: BackOff, severity: error}]",
      "throttle:",
      "  enabled: true",
      "  limit: 5",
      "  window: 30s"
    ].join("\n")
    const fromFile = ok(load(["--config", "r.yaml"], {}, { "r.yaml": file })).rules
    expect(fromFile.filters.include).toHaveLength(1)
    expect(fromFile.filters.exclude).toHaveLength(2)
    expect(fromFile.filters.minSeverity).toBe(13)
    expect(fromFile.filters.maxEventAgeMs).toBe(600_000)
    expect(fromFile.severity).toMatchObject({ defaults: false, rules: [{ severity: "error" }] })
    expect(fromFile.throttle).toMatchObject({ enabled: true, limit: 5, windowMs: 30_000 })
    const flags = ok(
      load(
        [
          "--config",
          "r.yaml",
          "--exclude",
          "reason=Killing",
          "--exclude",
          "namespace=kube-*",
          "--min-severity",
          "error",
          "--throttle",
          "off"
        ],
        { K8S_EVENT_COLLECTOR_INCLUDE: "type=Warning;kind=Node" },
        { "r.yaml": file }
      )
    ).rules
    expect(flags.filters.include).toHaveLength(2)
    expect(flags.filters.exclude).toHaveLength(2)
    expect(flags.filters.minSeverity).toBe(17)
    expect(flags.filters.maxEventAgeMs).toBe(600_000)
    expect(flags.throttle.enabled).toBe(false)
    expect(ok(load(["--throttle", "20/2m"])).rules.throttle).toMatchObject({
      enabled: true,
      limit: 20,
      windowMs: 120_000
    })
  })

  it("lists all five mistakes of a file, each with its path", () => {
    const file = [
      "batchSize: zero",
      "include: [{reason: x}]",
      "filters:",
      "  exclude: [{reason: a}, {reason: b}, {reason: '/(/'}]",
      "severity:",
      "  rules: [{reason: OOMKilling, severity: loud}]",
      "throttle:",
      "  limit: 0"
    ].join("\n")
    const found = problems(load(["--config", "five.yaml"], {}, { "five.yaml": file }))
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^five\.yaml: batchSize: must be a whole number/),
        expect.stringMatching(/^five\.yaml: include: write it as filters\.include in the file/),
        expect.stringMatching(/^five\.yaml: filters\.exclude\[2\]\.reason: invalid regex/),
        expect.stringMatching(/^five\.yaml: severity\.rules\[0\]\.severity: /),
        expect.stringMatching(/^five\.yaml: throttle\.limit: /)
      ])
    )
    expect(found).toHaveLength(5)
  })

  it("lists every problem at once, each with where it came from", () => {
    const file = "batchSize: lots\nbogus: 1\notlpProtocol: grpc\n"
    const found = problems(
      load(
        ["--config", "c.yaml", "--queue-size", "-3", "--batch-linger", "soon", "--frobnicate", "--exporter"],
        { OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://nope" },
        { "c.yaml": file }
      )
    )
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^c\.yaml: batchSize: must be a whole number/),
        expect.stringMatching(/^c\.yaml: bogus: not an option/),
        expect.stringMatching(/^c\.yaml: otlpProtocol: grpc is not supported/),
        expect.stringMatching(/^--queue-size: must be a whole number from 1/),
        expect.stringMatching(/^--batch-linger: must be a duration/),
        expect.stringMatching(/^--frobnicate: unknown option/),
        expect.stringMatching(/^--exporter: needs a value/),
        expect.stringMatching(/^env OTEL_EXPORTER_OTLP_ENDPOINT: must be an http/)
      ])
    )
    expect(found).toHaveLength(8)
  })

  it("reports an unreadable or malformed config file with its position", () => {
    expect(problems(load(["--config", "missing.yaml"]))[0]).toMatch(
      /missing\.yaml: cannot read the configuration file: ENOENT/
    )
    expect(problems(load(["--config", "bad.yaml"], {}, { "bad.yaml": "batchSize: [1,\n" }))[0]).toMatch(
      /^bad\.yaml:\d+:\d+: invalid YAML/
    )
    expect(problems(load(["--config", "list.yaml"], {}, { "list.yaml": "- a\n- b\n" }))[0]).toMatch(/must be a mapping/)
  })

  it("checks the rules between options: leader election needs a lease, sane timings and a shared checkpoint", () => {
    expect(problems(load(["--leader-elect"]))).toEqual(["--leader-elect: needs --lease NAMESPACE/NAME"])
    const found = problems(
      load([
        "--leader-elect",
        "--lease",
        "obs/kec",
        "--lease-duration",
        "10s",
        "--lease-renew-deadline",
        "10s",
        "--lease-retry-period",
        "20s",
        "--checkpoint",
        "file:/tmp/cp"
      ])
    )
    expect(found).toEqual([
      expect.stringMatching(/^--lease-renew-deadline: must be shorter than --lease-duration/),
      expect.stringMatching(/^--lease-retry-period: must be shorter than --lease-renew-deadline/),
      expect.stringMatching(/^--checkpoint file:\.\.\.: replicas under --leader-elect need a shared checkpoint/)
    ])
    expect(problems(load(["--lease", "Bad/Name!"]))[0]).toMatch(/^--lease: must be NAMESPACE\/NAME/)
    expect(problems(load(["--checkpoint", "s3:bucket"]))[0]).toMatch(/^--checkpoint: /)
  })

  it("takes only namespace names the API server accepts (DNS-1123 labels), each once, and never an empty list", () => {
    // The rule, from the Kubernetes API conventions: at most 63 characters of [a-z0-9-], alphanumeric at both ends.
    expect(problems(load(["--namespaces", "Foo_Bar,a b,../x,ok-1"]))).toEqual([
      `--namespaces: not valid namespace names (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters): "Foo_Bar", "a b", "../x"`
    ])
    const tooLong = "a".repeat(64)
    expect(problems(load(["--namespaces", `-a,b-,${tooLong},x.y`]))[0]).toContain(`"-a", "b-", "${tooLong}", "x.y"`)
    expect(ok(load(["--namespaces", `a,a, b ,a,${"z".repeat(63)}`])).values.namespaces).toEqual([
      "a",
      "b",
      "z".repeat(63)
    ])
    expect(problems(load(["--namespaces", ""]))).toEqual([
      "--namespaces: names no namespace; leave the option out to watch all of them"
    ])
    expect(problems(load(["--namespaces", " , "]))).toHaveLength(1)
    expect(problems(load(["--config", "c.yaml"], {}, { "c.yaml": "namespaces: []\n" }))).toEqual([
      "c.yaml: namespaces: names no namespace; leave the option out to watch all of them"
    ])
    expect(problems(load([], { K8S_EVENT_COLLECTOR_NAMESPACES: "prod,Prod" }))).toEqual([
      expect.stringMatching(/^env K8S_EVENT_COLLECTOR_NAMESPACES: not valid namespace names .*: "Prod"$/)
    ])
    expect(ok(load([])).values.namespaces).toEqual([])
  })

  it("checks the namespace and name of the lease and of a ConfigMap checkpoint by the same rules", () => {
    expect(ok(load(["--lease", "obs/kec.lease-1"])).values.lease).toEqual({ namespace: "obs", name: "kec.lease-1" })
    expect(problems(load(["--lease", "Obs/kec"]))).toEqual([
      `--lease: must be NAMESPACE/NAME of a coordination.k8s.io/v1 Lease; "Obs/kec" names the namespace "Obs", which is not a valid namespace (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`
    ])
    expect(problems(load(["--lease", "obs/kec_1"]))[0]).toMatch(
      /names the coordination\.k8s\.io\/v1 Lease "kec_1", which is not a valid name/
    )
    expect(problems(load(["--lease", "obs.x/kec"]))[0]).toMatch(/names the namespace "obs\.x"/)
    expect(problems(load(["--checkpoint", "configmap:a_b/cp"]))[0]).toMatch(
      /names the namespace "a_b", which is not a valid namespace/
    )
    expect(problems(load(["--checkpoint", `configmap:obs/${"c".repeat(254)}`]))[0]).toMatch(/which is not a valid name/)
  })

  it("keeps the watch, idle and stall timeouts in the order that makes them work", () => {
    expect(problems(load(["--watch-timeout", "10m"]))).toEqual([
      expect.stringMatching(/^--watch-idle-timeout: must be longer than twice --watch-timeout/)
    ])
    expect(problems(load(["--stall-timeout", "5m"]))).toEqual([
      expect.stringMatching(/^--stall-timeout: must be longer/)
    ])
    expect(ok(load(["--listen", "off"])).values.listen).toBeUndefined()
    expect(ok(load(["--listen", ":9000"])).values.listen).toEqual({ host: "0.0.0.0", port: 9000 })
    expect(problems(load(["--listen", "localhost"]))[0]).toMatch(/^--listen: must be HOST:PORT/)
  })

  it("suggests the flag that was meant", () => {
    expect(problems(load(["--batchsize", "3"]))[0]).toMatch(/did you mean --batch-size\?/)
    expect(problems(load(["--sorce", "kube"]))).toEqual(["--sorce: unknown option (did you mean --source?)"])
    expect(problems(load(["--otlp-endpiont", "http://h:4318"]))).toEqual([
      "--otlp-endpiont: unknown option (did you mean --otlp-endpoint?)"
    ])
  })

  it("suggests the configuration key that was meant, by the same measure as flags", () => {
    const found = problems(load(["--config", "c.yaml"], {}, { "c.yaml": "batchSzie: 5\nnamespace: [a]\nfilter: {}\n" }))
    expect(found).toEqual([
      "c.yaml: batchSzie: not an option (did you mean batchSize?)",
      "c.yaml: namespace: not an option (did you mean namespaces?)",
      "c.yaml: filter: not an option (did you mean filters?)"
    ])
  })

  it("knows the commands", () => {
    expect(ok(load(["demo"])).command).toBe("demo")
    expect(ok(load(["--help"])).command).toBe("help")
    expect(ok(load(["--version"])).command).toBe("version")
    expect(problems(load(["deploy"]))[0]).toMatch(/unknown command "deploy"/)
  })
})

describe("help and --print-config", () => {
  it("documents every option with its environment variables", () => {
    const help = renderHelp("1.2.3")
    for (const spec of Object.values(OPTIONS)) {
      expect(help).toContain(`--${spec.flag}`)
      for (const env of spec.env ?? []) expect(help).toContain(env.name)
    }
  })

  it("redacts secrets and names where each value came from", () => {
    const { values, origins, rules } = ok(
      load(["--batch-size", "9", "--exclude", "reason=Pulled"], {
        OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20s3cret"
      })
    )
    const text = renderConfig(values, origins, rules)
    expect(text).toMatch(/filters:\n {2}include: \[\]\n {2}exclude:\n {4}- reason: Pulled/)
    expect(text).not.toContain("s3cret")
    expect(text).toContain("authorization: <redacted>")
    expect(text).toContain("batchSize: 9  # from --batch-size")
    expect(text).toContain("batchLinger: 200ms")
  })

  it("never shows the credentials of a URL, in --print-config or in a problem", () => {
    const { values, origins, rules } = ok(load(["--otlp-endpoint", "https://tenant-1:s3cret@otel.example:4318"]))
    expect(values.otlpEndpoint).toBe("https://tenant-1:s3cret@otel.example:4318/v1/logs")
    const text = renderConfig(values, origins, rules)
    expect(text).toContain("otlpEndpoint: https://<redacted>@otel.example:4318/v1/logs  # from --otlp-endpoint")
    expect(text).not.toMatch(/s3cret|tenant-1/)
    // A raw '@' in the password: the user-info ends at the last '@' before the host, as the URL parser reads it.
    const raw = ok(load([], { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: "http://u:p@ss@h:4318/v1/logs" }))
    expect(renderConfig(raw.values, raw.origins, raw.rules)).toContain("otlpEndpoint: http://<redacted>@h:4318/v1/logs")
    const found = problems(load(["--otlp-endpoint", "ftp://tenant-1:s3cret@otel.example/x"]))
    expect(found).toEqual([
      '--otlp-endpoint: must be an http:// or https:// URL; got "ftp://<redacted>@otel.example/x"'
    ])
  })
})

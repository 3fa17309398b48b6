import { Duration, Either } from "effect"
import { describe, expect, it } from "vitest"
import { checkpointSettings, commandSettings, exportHeaders } from "../../src/app/settings.ts"
import { loadConfig, type Loaded } from "../../src/cli/load.ts"

const load = (argv: ReadonlyArray<string>): Loaded => {
  const loaded = loadConfig({ argv: [...argv], env: {}, readText: () => "" })
  if (Either.isLeft(loaded)) throw new Error(loaded.left.message)
  return loaded.right
}

const cut = (argv: ReadonlyArray<string>) => {
  const loaded = load(argv)
  if (loaded.command !== "run" && loaded.command !== "demo") throw new Error(`not a run: ${loaded.command}`)
  return commandSettings({ ...loaded, command: loaded.command })
}

const kube = (argv: ReadonlyArray<string>) => {
  const settings = cut(argv)
  if (settings.command !== "kube") throw new Error(`not a cluster run: ${settings.command}`)
  return settings
}

describe("checkpointSettings", () => {
  it("keeps the latest 10 000 occurrences to save with a checkpoint store, and none without one", () => {
    expect(checkpointSettings(load(["--checkpoint", "file:/tmp/k8s-event-collector.json"]).values).maxOccurrences).toBe(
      10_000
    )
    expect(checkpointSettings(load([]).values).maxOccurrences).toBe(0)
  })
})

describe("basic authentication", () => {
  it("needs both the user name and the password", () => {
    for (const argv of [
      ["--otlp-username", "a"],
      ["--otlp-password", "b"]
    ]) {
      const loaded = loadConfig({ argv, env: {}, readText: () => "" })
      expect(Either.isLeft(loaded) ? loaded.left.message : "accepted").toContain(
        "--otlp-username and --otlp-password: basic authentication needs both"
      )
    }
  })

  it("is sent as the Authorization header, which wins over one of --otlp-headers", () => {
    const { values } = load([
      "--otlp-username",
      "user",
      "--otlp-password",
      "pä:ss",
      "--otlp-headers",
      "authorization=x,a=1"
    ])
    // RFC 7617: the password in UTF-8 (ä is C3 A4), then base64.
    expect(exportHeaders(values)).toEqual({ a: "1", Authorization: `Basic ${btoa("user:p\u00c3\u00a4:ss")}` })
    const { exporter } = kube(["--otlp-username", "user", "--otlp-password", "pä:ss"]).settings
    expect(exporter.kind === "otlp" ? exporter.otlp.headers : {}).toHaveProperty("Authorization")
  })
})

describe("commandSettings", () => {
  it("cuts a cluster run into each part's settings", () => {
    const { kubeconfig, settings } = kube([
      "--kubeconfig",
      "/k/config",
      "--namespaces",
      "a,b",
      "--api",
      "events.k8s.io/v1",
      "--leader-elect",
      "--lease",
      "obs/kec",
      "--checkpoint",
      "configmap:obs/cp",
      "--listen",
      "off",
      "--otlp-certificate",
      "/tls/ca.crt",
      "--enrichment-watch",
      "off"
    ])
    expect(kubeconfig).toEqual({ path: "/k/config", context: undefined })
    expect(settings.source.targets.map((t) => [t.api, t.namespace])).toEqual([
      ["events.k8s.io/v1", "a"],
      ["events.k8s.io/v1", "b"]
    ])
    expect(settings.source.highWater).toBe(2_000)
    expect(settings.pipeline.windowSize).toBe(100_000)
    expect(settings.pipeline.labelsKnown).toBe(true)
    expect(settings.election).toMatchObject({ namespace: "obs", name: "kec", leaseDuration: Duration.seconds(15) })
    expect(settings.checkpoint.store).toEqual({ _tag: "ConfigMap", namespace: "obs", name: "cp" })
    expect(settings.checkpoint.settings.maxOccurrences).toBe(10_000)
    expect(settings.probes).toBeUndefined()
    expect(settings.enrichment.listWatch).toBeUndefined()
    expect(settings.sink.retryGiveUpAfter).toBeUndefined()
    expect(settings.sink.maxRecordAge).toEqual(Duration.hours(1))
    expect(settings.exporter).toMatchObject({
      kind: "otlp",
      otlp: { endpoint: "http://localhost:4318/v1/logs", timeoutMs: 10_000, concurrency: 4 },
      tlsFiles: { ca: "/tls/ca.crt", cert: undefined, key: undefined }
    })
  })

  it("elects no leader without --leader-elect, and serves the probes where --listen says", () => {
    const { settings } = kube(["--listen", ":9000", "--stall-timeout", "20m"])
    expect(settings.election).toBeUndefined()
    expect(settings.probes).toEqual({ host: "0.0.0.0", port: 9000, stallMs: 1_200_000 })
  })

  it("cuts a dump: batches given up after 2 minutes, every record kept, no checkpoint", () => {
    const settings = cut(["--source", "file:/tmp/events.json", "--exporter", "console"])
    if (settings.command !== "file") throw new Error(settings.command)
    expect(settings.settings.path).toBe("/tmp/events.json")
    expect(settings.settings.sink.retryGiveUpAfter).toEqual(Duration.minutes(2))
    expect(settings.settings.sink.maxRecordAge).toBeUndefined()
    expect(settings.settings.checkpoint).toEqual({ interval: Duration.zero, ttl: Duration.hours(1), maxOccurrences: 0 })
    expect(settings.settings.pipeline.labelsKnown).toBe(false)
    expect(settings.settings.exporter).toEqual({ kind: "console", format: "json" })
  })

  it("gives the demo its own defaults: text on the console, probes on loopback, no traces", () => {
    const settings = cut(["demo"])
    if (settings.command !== "demo") throw new Error(settings.command)
    expect(settings.settings.kube.exporter).toEqual({ kind: "console", format: "text" })
    expect(settings.settings.kube.probes).toMatchObject({ host: "127.0.0.1", port: 0 })
    expect(settings.settings.traces).toBeUndefined()
  })

  it("sends the demo's records and traces where an endpoint was chosen; keeps what was asked for", () => {
    const chosen = cut(["demo", "--otlp-endpoint", "http://otel:4318", "--cluster-name", "demo", "--listen", ":9000"])
    if (chosen.command !== "demo") throw new Error(chosen.command)
    expect(chosen.settings.kube.exporter).toMatchObject({
      kind: "otlp",
      otlp: { endpoint: "http://otel:4318/v1/logs" }
    })
    expect(chosen.settings.traces).toEqual({ endpoint: "http://otel:4318/v1/traces", clusterName: "demo" })
    expect(chosen.settings.kube.probes).toMatchObject({ host: "0.0.0.0", port: 9000 })
    const json = cut(["demo", "--console-format", "json"])
    if (json.command !== "demo") throw new Error(json.command)
    expect(json.settings.kube.exporter).toEqual({ kind: "console", format: "json" })
    const none = cut(["demo", "--exporter", "none"])
    if (none.command !== "demo") throw new Error(none.command)
    expect(none.settings.kube.exporter).toEqual({ kind: "none" })
    expect(none.settings.traces).toBeUndefined()
  })
})

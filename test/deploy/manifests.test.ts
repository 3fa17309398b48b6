/**
 * deploy/: the Namespace and the chart's default rendering, each a well-formed Kubernetes object, and a
 * Deployment that runs the collector with a configuration the collector's own loader accepts. (That the rendering
 * is what `helm template` makes of the chart today is checked in npm run test:real, where helm is built.)
 */
import { readdirSync } from "node:fs"
import { Duration } from "effect"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { OPTIONS } from "../../src/cli/options.ts"
import {
  arr,
  at,
  DEPLOY_FILES,
  deployManifests,
  deployObject,
  loadCommandLine,
  obj,
  readJson,
  readYaml,
  str,
  strings,
  text
} from "./support.ts"

const MANIFESTS = deployManifests()
const one = deployObject
const namespace = text(at(one("Namespace"), "metadata", "name"), "Namespace name")

const deployment = one("Deployment")
const podSpec = obj(at(deployment, "spec", "template", "spec"), "pod spec")
const podLabels = obj(at(deployment, "spec", "template", "metadata", "labels"), "pod labels")
const containers = arr(podSpec["containers"]).map((c) => obj(c, "container"))
const container = containers[0] ?? {}
const configMap = one("ConfigMap")

/** The container's command line and files, as the collector would see them in the pod. */
const mountedFiles = (): Record<string, string> => {
  const files: Record<string, string> = {}
  for (const mount of arr(container["volumeMounts"])) {
    const volume = arr(podSpec["volumes"]).find((v) => at(v, "name") === at(mount, "name"))
    const cmName = str(at(volume, "configMap", "name"))
    if (cmName === undefined) continue
    expect(cmName, "the mounted ConfigMap is in deploy/").toBe(at(configMap, "metadata", "name"))
    for (const [key, value] of Object.entries(obj(configMap["data"], "ConfigMap data"))) {
      files[`${text(at(mount, "mountPath"), "mountPath")}/${key}`] = text(value, key)
    }
  }
  return files
}
const env = (): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const e of arr(container["env"])) {
    const name = text(at(e, "name"), "env name")
    // A downward-API value stands for what the kubelet fills in.
    out[name] = str(at(e, "value")) ?? `<${str(at(e, "valueFrom", "fieldRef", "fieldPath")) ?? "from the pod"}>`
  }
  return out
}
const args = strings(container["args"])
const loaded = loadCommandLine(args, env(), mountedFiles())

describe("deploy/", () => {
  it("holds the Namespace and the chart's rendering, nothing else", () => {
    const files = readdirSync(new URL("../../deploy/", import.meta.url)).map((f) => `deploy/${f}`)
    expect(files.sort()).toEqual([...DEPLOY_FILES].sort())
  })

  it("every manifest parses as Kubernetes objects with apiVersion, kind and metadata.name", () => {
    expect(MANIFESTS.length).toBeGreaterThanOrEqual(DEPLOY_FILES.length)
    for (const { file, object } of MANIFESTS) {
      expect(typeof object["apiVersion"], file).toBe("string")
      expect(typeof object["kind"], file).toBe("string")
      expect(typeof at(object, "metadata", "name"), file).toBe("string")
      expect(text(at(object, "metadata", "name"), file)).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
    }
  })

  it("puts every namespaced object in the Namespace deploy/ creates", () => {
    const clusterScoped = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding"])
    for (const { file, object } of MANIFESTS.filter((m) => !clusterScoped.has(text(m.object["kind"], "kind")))) {
      expect(at(object, "metadata", "namespace"), file).toBe(namespace)
    }
  })

  it("runs the image of this version: the chart's appVersion is package.json's", () => {
    const version = text(at(readJson("package.json"), "version"), "package.json version")
    expect(at(readYaml("charts/k8s-event-collector/Chart.yaml"), "appVersion")).toBe(version)
    for (const c of containers) expect(text(c["image"], "image")).toBe(`k8s-event-collector:${version}`)
  })
})

describe("the collector's configuration", () => {
  it("the container's arguments are options the collector defines", () => {
    const flags = new Set(Object.values(OPTIONS).map((o) => `--${o.flag}`))
    for (const a of args.filter((a) => a.startsWith("--"))) expect(flags.has(a.split("=")[0] ?? a), a).toBe(true)
    expect(args).toContain("--config")
  })

  it("the ConfigMap's keys are option names (camelCase), and --config points at it", () => {
    const file = args[args.indexOf("--config") + 1] ?? ""
    const content = mountedFiles()[file]
    expect(content, `${file} is mounted from the ConfigMap`).toBeDefined()
    const keys = Object.keys(obj(parse(content ?? ""), "config.yaml"))
    // An option is written under its own name, or inside the section it names (`filters: {include: ...}`).
    const allowed = Object.entries(OPTIONS).flatMap(([key, spec]) => {
      const section = str(at(spec, "fileSection"))
      return key === "config" ? [] : [section === undefined ? key : (section.split(".")[0] ?? key)]
    })
    for (const key of keys) expect(allowed, key).toContain(key)
  })

  it("is accepted by the collector's own loader: leader election with a ConfigMap checkpoint, both in this namespace", () => {
    expect(loaded.command).toBe("run")
    expect(loaded.values.leaderElect).toBe(true)
    expect(loaded.values.lease).toEqual({ namespace, name: expect.any(String) })
    expect(loaded.values.checkpoint).toEqual({ _tag: "ConfigMap", namespace, name: expect.any(String) })
    expect(loaded.values.source).toEqual({ kind: "kube" })
    expect(String(loaded.values.otlpEndpoint)).toMatch(/^https?:\/\//)
  })

  it("gets its leader election identity from the downward API", () => {
    const pod = arr(container["env"]).find((e) => at(e, "name") === "POD_NAME")
    expect(at(pod, "valueFrom", "fieldRef", "fieldPath")).toBe("metadata.name")
  })
})

describe("Deployment", () => {
  const listenPort = loaded.values.listen?.port
  const containerPort = arr(container["ports"]).find((p) => at(p, "containerPort") === listenPort)

  it("runs two replicas, one of them a standby", () => {
    expect(at(deployment, "spec", "replicas")).toBe(2)
    const matchLabels = Object.entries(obj(at(deployment, "spec", "selector", "matchLabels"), "matchLabels"))
    expect(matchLabels.length).toBeGreaterThan(0)
    for (const [k, v] of matchLabels) expect(podLabels[k], `the pods carry ${k}`).toBe(v)
  })

  it("probes /healthz and /readyz on the port the collector listens on", () => {
    expect(listenPort).toBe(8080)
    expect(containerPort, "a container port for --listen").toBeDefined()
    const portName = str(at(containerPort, "name"))
    for (const [probe, path] of [
      ["livenessProbe", "/healthz"],
      ["readinessProbe", "/readyz"]
    ] as const) {
      expect(at(container, probe, "httpGet", "path"), probe).toBe(path)
      expect([portName, listenPort], probe).toContain(at(container, probe, "httpGet", "port"))
    }
  })

  it("requests CPU and memory and limits memory (a CPU limit would only throttle the bursts of a relist)", () => {
    for (const kind of ["cpu", "memory"]) expect(at(container, "resources", "requests", kind), kind).toBeDefined()
    expect(at(container, "resources", "limits", "memory")).toBeDefined()
  })

  it("runs as non-root on a read-only root filesystem, without privileges or capabilities, under RuntimeDefault seccomp", () => {
    expect(at(podSpec, "securityContext", "runAsNonRoot")).toBe(true)
    expect(Number(at(podSpec, "securityContext", "runAsUser"))).toBeGreaterThan(0)
    expect(at(podSpec, "securityContext", "seccompProfile", "type")).toBe("RuntimeDefault")
    const sc = obj(container["securityContext"], "container securityContext")
    expect(sc["readOnlyRootFilesystem"]).toBe(true)
    expect(sc["allowPrivilegeEscalation"]).toBe(false)
    expect(sc["runAsNonRoot"]).toBe(true)
    expect(strings(at(sc, "capabilities", "drop"))).toEqual(["ALL"])
    expect(at(sc, "capabilities", "add")).toBeUndefined()
    expect(at(sc, "seccompProfile", "type")).toBe("RuntimeDefault")
  })

  it("mounts an emptyDir at /tmp, the only writable place", () => {
    const tmp = arr(container["volumeMounts"]).find((m) => at(m, "mountPath") === "/tmp")
    const volume = arr(podSpec["volumes"]).find((v) => at(v, "name") === at(tmp, "name"))
    expect(at(volume, "emptyDir")).toBeDefined()
    for (const m of arr(container["volumeMounts"]).filter((m) => at(m, "mountPath") !== "/tmp"))
      expect(at(m, "readOnly")).toBe(true)
  })

  it("gives the collector time to deliver its queue on SIGTERM", () => {
    const shutdownSeconds = Duration.toSeconds(loaded.values.shutdownTimeout)
    expect(Number(podSpec["terminationGracePeriodSeconds"])).toBeGreaterThan(shutdownSeconds)
  })
})

describe("PodDisruptionBudget and Service", () => {
  const selects = (selector: unknown) => Object.entries(obj(selector, "selector")).every(([k, v]) => podLabels[k] === v)

  it("the PodDisruptionBudget keeps one replica through a drain", () => {
    const pdb = one("PodDisruptionBudget")
    expect(at(pdb, "spec", "minAvailable")).toBe(1)
    expect(selects(at(pdb, "spec", "selector", "matchLabels"))).toBe(true)
  })

  it("the metrics Service selects the pods, on port 8080 named metrics, with prometheus.io annotations", () => {
    const svc = one("Service")
    expect(selects(at(svc, "spec", "selector"))).toBe(true)
    const port = arr(at(svc, "spec", "ports")).find((p) => at(p, "name") === "metrics")
    expect(at(port, "port")).toBe(8080)
    const target = at(port, "targetPort")
    expect([at(arr(container["ports"])[0], "name"), loaded.values.listen?.port]).toContain(target)
    expect(at(svc, "metadata", "annotations")).toEqual({
      "prometheus.io/scrape": "true",
      "prometheus.io/port": "8080",
      "prometheus.io/path": "/metrics"
    })
  })
})

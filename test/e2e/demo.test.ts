/** The demo and the kube source as a user runs them: real processes, stopped with a signal. */
import { spawn } from "node:child_process"
import { createServer, type Server } from "node:http"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { KUBE_SYSTEM_UID, type SimServer, simKubeConfigYaml, startSimServer } from "@k8s-event-collector/sim"
import { cleanEnv, MAIN, REPO_ROOT } from "../support/cli.ts"
import { startOtlpReceiver } from "../support/otlp-receiver.ts"
import { eventually } from "../support/collector.ts"

const spawnCli = (args: ReadonlyArray<string>, env: Record<string, string> = cleanEnv()) => {
  const child = spawn(process.execPath, [MAIN, ...args], { env, cwd: REPO_ROOT })
  const out = { stdout: "", stderr: "" }
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out.stdout += d))
  child.stderr.setEncoding("utf8").on("data", (d: string) => (out.stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  return { child, out, exited }
}

describe("k8s-event-collector demo", () => {
  it("shows the scenario's events within seconds and exits cleanly on Ctrl-C", async () => {
    const started = Date.now()
    const { child, out, exited } = spawnCli(["demo"])
    await eventually(() => {
      expect(out.stdout).toMatch(/Normal +shop\/Deployment\/checkout ScalingReplicaSet/)
      // Failed on a Pod is raised to ERROR by a default rule, and the text names the level (DESIGN §3).
      expect(out.stdout).toMatch(/ERROR +shop\/Pod\/payments-\S+ Failed: Failed to pull image/)
    }, 15_000)
    expect(Date.now() - started).toBeLessThan(15_000)
    child.kill("SIGINT")
    expect(await exited).toBe(0)
    expect(out.stderr).toMatch(/stopped after exporting \d+ records/)
  }, 30_000)
})

/** Holds 127.0.0.1:8080 for the test, unless something else already does: either way the port is taken. */
const occupyPort8080 = () =>
  new Promise<Server | undefined>((resolve, reject) => {
    const server = createServer()
    server.once("error", (e: NodeJS.ErrnoException) => (e.code === "EADDRINUSE" ? resolve(undefined) : reject(e)))
    server.listen(8080, "127.0.0.1", () => resolve(server))
  })

describe("k8s-event-collector demo with port 8080 taken and no --listen", () => {
  it("serves /metrics on 127.0.0.1 on a free port and says where", async () => {
    const blocker = await occupyPort8080()
    try {
      const env = cleanEnv()
      delete env["K8S_EVENT_COLLECTOR_LISTEN"]
      const { child, out, exited } = spawnCli(["demo"], env)
      let url = ""
      await eventually(() => {
        url = /serving (http:\/\/\S+\/metrics)/.exec(out.stderr)?.[1] ?? ""
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
      }, 15_000)
      expect(url).not.toContain(":8080/")
      const metrics = await fetch(url)
      expect(metrics.status).toBe(200)
      expect(await metrics.text()).toMatch(/^# TYPE k8s_event_collector_records_exported_total counter$/m)
      child.kill("SIGINT")
      expect(await exited).toBe(0)
    } finally {
      blocker?.close()
    }
  }, 30_000)
})

describe("k8s-event-collector demo with an OTLP endpoint", () => {
  it("exports the scenario's records and the traces of the simulated requests", async () => {
    const receiver = await startOtlpReceiver()
    try {
      // Credentials in the URL are sent (as HTTP basic authentication) and never logged.
      const endpoint = receiver.url.replace("http://", "http://tenant-1:s3cret@")
      const { child, out, exited } = spawnCli(["demo", "--otlp-endpoint", endpoint, "--cluster-name", "demo"])
      await eventually(
        () => {
          expect(
            receiver.records.some(
              (r) => r.attributes["k8s.event.reason"] === "BackOff" && r.resource["k8s.deployment.name"] === "cart"
            )
          ).toBe(true)
          expect(
            receiver.requests.some((q) => q.path === "/v1/traces" && q.contentType === "application/x-protobuf")
          ).toBe(true)
        },
        20_000,
        200
      )
      expect(receiver.records.every((r) => r.resource["k8s.cluster.name"] === "demo")).toBe(true)
      // The simulated cluster's kube-system namespace names it, as a real cluster's does.
      expect(receiver.records.every((r) => r.resource["k8s.cluster.uid"] === KUBE_SYSTEM_UID)).toBe(true)
      const basic = `Basic ${Buffer.from("tenant-1:s3cret").toString("base64")}`
      expect(
        receiver.requests.filter((q) => q.path === "/v1/logs").every((q) => q.headers["authorization"] === basic)
      ).toBe(true)
      child.kill("SIGTERM")
      expect(await exited).toBe(0)
      expect(out.stderr).toMatch(
        /sending traces of the simulated requests to http:\/\/<redacted>@127\.0\.0\.1:\d+\/v1\/traces/
      )
      expect(out.stderr + out.stdout).not.toMatch(/s3cret|tenant-1/)
    } finally {
      await receiver.close()
    }
  }, 30_000)
})

describe("--source kube as a process", () => {
  it("reads through a kubeconfig file, and on SIGTERM delivers what it read and exits 0", async () => {
    const sim: SimServer = await startSimServer()
    const receiver = await startOtlpReceiver()
    try {
      const dir = mkdtempSync(join(tmpdir(), "kec-kube-"))
      const kubeconfig = join(dir, "config")
      writeFileSync(kubeconfig, simKubeConfigYaml(sim.url))
      sim.events.bulkLoad(50)
      // A slow backend: records are still queued when SIGTERM arrives.
      receiver.setBehaviour({ delayMs: 300 })
      const { child, out, exited } = spawnCli([
        "--kubeconfig",
        kubeconfig,
        "--otlp-endpoint",
        receiver.url,
        "--batch-size",
        "10",
        "--batch-linger",
        "10ms"
      ])
      await eventually(() => expect(receiver.requests.length).toBeGreaterThan(0), 15_000)
      child.kill("SIGTERM")
      expect(await exited).toBe(0)
      expect(out.stderr).toMatch(/stopping: delivering queued records/)
      expect(new Set(receiver.records.map((r) => r.attributes["log.record.uid"])).size).toBe(50)
      expect(receiver.records).toHaveLength(50)
      // This simulated cluster has no kube-system namespace: said once, and the records go without a uid.
      expect(out.stderr.match(/records carry no k8s\.cluster\.uid/g)).toHaveLength(1)
      expect(out.stderr).toMatch(/could not get namespace kube-system .*: the API server has no such namespace/)
      expect(receiver.records.filter((r) => r.resource["k8s.cluster.uid"] !== undefined)).toEqual([])
    } finally {
      await sim.close()
      await receiver.close()
    }
  }, 30_000)

  it("refuses a kubeconfig context that does not exist, naming the ones that do", async () => {
    const sim = await startSimServer()
    try {
      const dir = mkdtempSync(join(tmpdir(), "kec-kube-"))
      const kubeconfig = join(dir, "config")
      writeFileSync(kubeconfig, simKubeConfigYaml(sim.url))
      const { out, exited } = spawnCli(["--kubeconfig", kubeconfig, "--context", "prod"])
      expect(await exited).toBe(2)
      expect(out.stderr).toMatch(/--context prod: no such context in the kubeconfig \(it has: sim\)/)
    } finally {
      await sim.close()
    }
  })
})

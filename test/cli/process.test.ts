/** Start-up checks as a user meets them: the real CLI in a child process, its exit code and what it printed. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { startSimServer } from "@k8s-event-collector/sim"
import { runCli } from "../support/cli.ts"
import { eventually } from "../support/collector.ts"
import { type CollectorProcess, EventGenerator, sleep, spawnCollector, writeKubeconfig } from "../support/processes.ts"

describe("start-up checks of the command line", () => {
  it("--print-config shows the OTLP endpoint without the credentials in its URL", async () => {
    const result = await runCli(["--print-config", "--otlp-endpoint", "http://user:pass@host:4318"])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("otlpEndpoint: http://<redacted>@host:4318/v1/logs  # from --otlp-endpoint")
    expect(result.stdout).not.toMatch(/pass|user:/)
  })

  it("refuses namespaces the API server would refuse, listing every one, with exit code 2", async () => {
    const result = await runCli(["--namespaces", "Foo_Bar,a b,../x,good"])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`--namespaces: not valid namespace names`)
    expect(result.stderr).toContain(`"Foo_Bar", "a b", "../x"`)
    expect(result.stderr).not.toContain(`"good"`)
  })

  it("refuses an empty --namespaces instead of watching every namespace", async () => {
    const result = await runCli(["--namespaces", ""])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("--namespaces: names no namespace")
  })

  it("names the option that was meant, and takes the word after an unknown flag for its value", async () => {
    const result = await runCli(["--sorce", "file:/tmp/events.json"])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("--sorce: unknown option (did you mean --source?)")
    expect(result.stderr).not.toContain("unknown command")
  })
})

describe("start-up checks of what the collector will write", () => {
  it("refuses a checkpoint file that cannot be written, before reading any event, with exit code 2", async () => {
    const sim = await startSimServer()
    try {
      const dir = mkdtempSync(join(tmpdir(), "kec-checkpoint-"))
      writeFileSync(join(dir, "plain"), "a file, not a directory")
      const path = join(dir, "plain", "checkpoint")
      const started = Date.now()
      const result = await runCli(
        ["--kubeconfig", writeKubeconfig(sim), "--exporter", "none", "--checkpoint", `file:${path}`],
        { timeoutMs: 20_000 }
      )
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(
        `the checkpoint (file ${path}) cannot be written: creating the directory ${join(dir, "plain")} failed`
      )
      expect(result.stderr).not.toMatch(/reading core\/v1 events/)
      expect(Date.now() - started).toBeLessThan(15_000)
    } finally {
      await sim.close()
    }
  })
})

describe("a checkpoint file that stops being writable during the run", () => {
  it("is reported once while saves fail, and once when they work again, however many saves fail", async () => {
    const sim = await startSimServer()
    const generator = new EventGenerator(sim)
    const started: Array<CollectorProcess> = []
    try {
      const dir = join(mkdtempSync(join(tmpdir(), "kec-checkpoint-")), "state")
      const path = join(dir, "checkpoint")
      generator.step()
      const collector = spawnCollector([
        "--kubeconfig",
        writeKubeconfig(sim),
        "--exporter",
        "none",
        "--checkpoint",
        `file:${path}`,
        "--checkpoint-interval",
        "0s"
      ])
      started.push(collector)
      await eventually(() => expect(existsSync(path)).toBe(true), 20_000)
      // The directory becomes a plain file: every save fails at its first step.
      rmSync(dir, { recursive: true })
      writeFileSync(dir, "not a directory")
      generator.start(2, 100)
      await eventually(() => expect(collector.output.stderr).toMatch(/could not save the checkpoint/), 20_000)
      await sleep(3_000)
      const warnings = () =>
        collector.output.stderr.split("\n").filter((l) => l.includes("could not save the checkpoint"))
      expect(warnings()).toHaveLength(1)
      rmSync(dir)
      mkdirSync(dir)
      const savedAgain = /the checkpoint is saved again \(file [^)]+\) after (\d+) failed saves/
      await eventually(() => expect(collector.output.stderr).toMatch(savedAgain), 20_000)
      expect(Number(savedAgain.exec(collector.output.stderr)?.[1])).toBeGreaterThanOrEqual(5)
      expect(existsSync(path)).toBe(true)
      generator.stop()
      collector.child.kill("SIGTERM")
      expect(await collector.exited).toBe(0)
      expect(warnings()).toHaveLength(1)
      expect(collector.output.stderr).not.toMatch(/stopping without a saved checkpoint/)
    } finally {
      generator.stop()
      for (const p of started) if (p.child.exitCode === null) p.child.kill("SIGKILL")
      await sim.close()
    }
  }, 60_000)
})

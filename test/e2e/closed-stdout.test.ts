/**
 * `k8s-event-collector ... | head`: the reader closes the pipe after a few lines. The collector must then end
 * quietly, as any Unix tool does, with exit code 0 and no stack trace (not an unhandled EPIPE).
 */
import { spawn } from "node:child_process"
import { describe, expect, it } from "vitest"
import { cleanEnv, FIXTURES, MAIN, REPO_ROOT } from "../support/cli.ts"

/** Runs the CLI, closes the read end of its stdout as soon as it printed something, and waits for it to end. */
const runUntilStdoutCloses = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; msAfterClose: number }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, [MAIN, ...args], { env: cleanEnv(), cwd: REPO_ROOT })
      let stderr = ""
      let closedAt = 0
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
      child.stdout.once("data", () => {
        closedAt = Date.now()
        child.stdout.destroy()
      })
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
        reject(new Error(`still running 20 s after its stdout was closed\nstderr:\n${stderr}`))
      }, 20_000)
      child.on("close", (code, signal) => {
        clearTimeout(timer)
        resolve({ code, signal, stderr, msAfterClose: Date.now() - closedAt })
      })
    }
  )

describe("a closed stdout", () => {
  it("ends --exporter console quietly with exit code 0", async () => {
    // 188 records as OTLP/JSON lines: far more than a pipe holds, so writes are still pending when it closes.
    const result = await runUntilStdoutCloses([
      "--source",
      `file:${FIXTURES}openshift-mgc-aws.json`,
      "--exporter",
      "console",
      "--batch-size",
      "10"
    ])
    expect(result.stderr).not.toMatch(/EPIPE|Error:|    at /)
    expect(result).toMatchObject({ code: 0, signal: null })
  }, 30_000)

  it("ends the demo quietly with exit code 0 soon after", async () => {
    const result = await runUntilStdoutCloses(["demo"])
    expect(result.stderr).not.toMatch(/EPIPE|Error:|    at /)
    expect(result).toMatchObject({ code: 0, signal: null })
    expect(result.msAfterClose).toBeLessThan(15_000)
  }, 30_000)
})

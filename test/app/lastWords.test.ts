/**
 * No exit without a reason: real processes that load the collector's last words, then fail as a bug would, and
 * the real CLI stopped by SIGHUP. Each must leave a last log line that says why and the documented exit code.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { startSimServer } from "@k8s-event-collector/sim"
import { REPO_ROOT, runProcess } from "../support/cli.ts"
import { eventually } from "../support/collector.ts"
import { spawnCollector, writeKubeconfig } from "../support/processes.ts"

const LAST_WORDS = join(REPO_ROOT, "src/app/lastWords.ts")

/** Runs a module that imports the last words first, then does `body`; its exit and its last stderr line. */
const runFailing = async (body: string) => {
  const dir = mkdtempSync(join(tmpdir(), "kec-last-words-"))
  const script = join(dir, "failing.ts")
  writeFileSync(script, `import ${JSON.stringify(LAST_WORDS)}\n${body}\n`)
  const result = await runProcess(process.execPath, [script], { timeoutMs: 20_000 })
  const lines = result.stderr.trim().split("\n")
  return { code: result.code, last: JSON.parse(lines[lines.length - 1] ?? "{}") as Record<string, unknown> }
}

describe("last words", () => {
  it("an exception nothing caught: a FATAL line with the error and its stack, exit code 70", async () => {
    const { code, last } = await runFailing(`setTimeout(() => { throw new Error("the cache is inconsistent") }, 1)`)
    expect(code).toBe(70)
    expect(last["logLevel"]).toBe("FATAL")
    expect(last["message"]).toBe("an exception nothing caught; exiting with code 70")
    expect(String(last["cause"])).toMatch(/^Error: the cache is inconsistent\n\s+at /)
  })

  it("a rejected promise nothing awaits: a FATAL line with the reason, exit code 70", async () => {
    const { code, last } = await runFailing(`void Promise.reject(new RangeError("offset out of range"))`)
    expect(code).toBe(70)
    expect(last["message"]).toBe("a promise rejected with nothing to catch it; exiting with code 70")
    expect(String(last["cause"])).toContain("RangeError: offset out of range")
  })

  it("SIGHUP stops the collector as SIGTERM does, and says so: exit code 0", async () => {
    const sim = await startSimServer()
    try {
      const collector = spawnCollector(["--kubeconfig", writeKubeconfig(sim), "--exporter", "none"])
      await eventually(() => expect(sim.requests.count({ verb: "watch", resource: "events" })).toBe(1), 20_000)
      collector.child.kill("SIGHUP")
      expect(await collector.exited).toBe(0)
      expect(collector.output.stderr).toContain("SIGHUP: stopping as on SIGTERM")
      expect(collector.output.stderr).toMatch(/stopped after exporting 0 records/)
    } finally {
      await sim.close()
    }
  }, 30_000)
})

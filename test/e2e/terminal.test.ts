/**
 * The demo as a person sees it in a terminal (a pseudo-terminal from util-linux `script`) and as a log shipper sees
 * it through pipes: readable own logs and coloured severities only in the first case, and no colour with NO_COLOR.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { afterEach, describe, expect, it } from "vitest"
import { cleanEnv, MAIN, REPO_ROOT } from "../support/cli.ts"
import { eventually } from "../support/collector.ts"

const quoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
const running: Array<{ child: ChildProcess; closed: Promise<unknown> }> = []

afterEach(async () => {
  for (const r of running) r.child.kill("SIGTERM")
  await Promise.all(running.splice(0).map((r) => r.closed))
})

/** Starts the demo with stdout and stderr on a terminal (both arrive on `script`'s stdout), or on pipes. */
const startDemo = (how: "terminal" | "pipes", extraEnv: Record<string, string> = {}) => {
  const env = cleanEnv(extraEnv)
  const demo = [process.execPath, MAIN, "demo"]
  const child =
    how === "terminal"
      ? spawn("script", ["-qfec", `exec ${demo.map(quoted).join(" ")}`, "/dev/null"], { env, cwd: REPO_ROOT })
      : spawn(demo[0] ?? "", demo.slice(1), { env, cwd: REPO_ROOT })
  const out = { stdout: "", stderr: "" }
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out.stdout += d))
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (out.stderr += d))
  running.push({ child, closed: new Promise((resolve) => child.on("close", resolve)) })
  return out
}

const TIME = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`

describe("the demo in a terminal", () => {
  it("writes its own logs as time, level, message lines and colours warnings yellow", async () => {
    const out = startDemo("terminal")
    await eventually(
      () => {
        expect(out.stdout).toMatch(
          new RegExp(`^${TIME} INFO  demo: simulated Kubernetes API at http://127\\.0\\.0\\.1:\\d+`, "m")
        )
        expect(out.stdout).toMatch(new RegExp(`^${TIME} \u001b\\[33mWarning\u001b\\[39m shop/Pod/`, "m"))
      },
      25_000,
      200
    )
    expect(out.stdout).not.toContain(`{"message"`)
    expect(out.stdout).toMatch(new RegExp(`^${TIME} Normal  shop/`, "m"))
  }, 40_000)

  it("uses no colour at all when NO_COLOR is set", async () => {
    const out = startDemo("terminal", { NO_COLOR: "1" })
    await eventually(() => expect(out.stdout).toMatch(new RegExp(`^${TIME} Warning shop/Pod/`, "m")), 25_000, 200)
    expect(out.stdout).not.toContain("\u001b")
    expect(out.stdout).toMatch(new RegExp(`^${TIME} INFO  demo: simulated`, "m"))
  }, 40_000)
})

describe("the demo through pipes", () => {
  it("keeps JSON own logs for a log shipper and prints no colour", async () => {
    const out = startDemo("pipes")
    await eventually(() => expect(out.stdout).toMatch(new RegExp(`^${TIME} Warning shop/Pod/`, "m")), 25_000, 200)
    expect(out.stdout).not.toContain("\u001b")
    const first = out.stderr.split("\n")[0] ?? ""
    expect(JSON.parse(first)).toMatchObject({
      message: expect.stringMatching(/^demo: simulated Kubernetes API/),
      logLevel: "INFO"
    })
  }, 40_000)
})

/**
 * The artifact the image ships: `npm run build`'s bundle and its launcher (scripts/build.ts), built into a
 * temporary directory and run for real from there, where no node_modules can be found: everything it needs at
 * run time has to be inside the bundle.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildCollector, type Built, LAUNCHER, NODE_ENV_DEFAULTS, NODE_FLAGS } from "../../scripts/build.ts"
import { renderHelp } from "../../src/cli/help.ts"
import { cleanEnv, REPO_ROOT, runProcess } from "../support/cli.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"

const EXAMPLE = join(REPO_ROOT, "examples/kubectl-events.json")
interface ExampleEvent {
  readonly metadata: { readonly uid: string; readonly resourceVersion: string }
  readonly message: string
}
const exampleEvents: ReadonlyArray<ExampleEvent> = (JSON.parse(readFileSync(EXAMPLE, "utf8")) as { items: ReadonlyArray<ExampleEvent> }).items

let work: string
let built: Built
let receiver: OtlpReceiver

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "k8s-event-collector-bundle-"))
  built = await buildCollector(join(work, "dist"))
  receiver = await startOtlpReceiver()
})
afterAll(async () => {
  await receiver?.close()
  if (work !== undefined) rmSync(work, { recursive: true, force: true })
})

/** Runs the launcher from the temporary directory, with this test's Node first on PATH (the launcher runs `node`). */
const runLauncher = (args: ReadonlyArray<string>) =>
  runProcess(built.launcher, args, {
    env: cleanEnv({ PATH: `${dirname(process.execPath)}${delimiter}${process.env["PATH"] ?? ""}` }),
    cwd: work,
    timeoutMs: 20_000
  })

describe("the bundle (npm run build)", () => {
  it("is run by its launcher with the V8 flags and environment of scripts/build.ts, from a directory without node_modules", () => {
    const launcher = readFileSync(built.launcher, "utf8")
    expect(launcher).toContain(`exec node ${NODE_FLAGS.join(" ")} "$(dirname "$0")/main.mjs" "$@"`)
    for (const [k, v] of Object.entries(NODE_ENV_DEFAULTS)) expect(launcher).toContain(`export ${k}="\${${k}:-${v}}"`)
    expect(built.launcher).toBe(join(work, "dist", LAUNCHER))
    for (let dir = work; ; dir = dirname(dir)) {
      expect(existsSync(join(dir, "node_modules")), `${dir}/node_modules`).toBe(false)
      if (dirname(dir) === dir) break
    }
  })

  it("replays a dump to an OTLP/HTTP receiver (protobuf, gzip) and exits 0", async () => {
    const result = await runLauncher(["--source", `file:${EXAMPLE}`, "--otlp-endpoint", receiver.url, "--listen", "off"])
    expect(result.stderr).not.toMatch(/"logLevel":"(ERROR|WARN)"/)
    expect(result.code).toBe(0)
    expect(receiver.records).toHaveLength(exampleEvents.length)
    const bodies = new Map(receiver.records.map((r) => [r.attributes["log.record.uid"], r.body]))
    for (const e of exampleEvents) expect(bodies.get(`${e.metadata.uid}:${e.metadata.resourceVersion}`)).toBe(e.message)
    expect(receiver.requests.every((q) => q.contentType === "application/x-protobuf" && q.contentEncoding === "gzip")).toBe(true)
  })

  it("is described with the launcher's settings as scripts/build.ts has them", () => {
    const env = Object.entries(NODE_ENV_DEFAULTS).map(([k, v]) => `${k}=${v}`).join(" ")
    for (const doc of ["README.md", "docs/PERFORMANCE.md"]) {
      const text = readFileSync(join(REPO_ROOT, doc), "utf8").replace(/\s+/g, " ")
      expect(text, doc).toContain(NODE_FLAGS.join(" "))
      expect(text, doc).toContain(env)
    }
  })

  it("prints the same --help as the sources", async () => {
    const result = await runLauncher(["--help"])
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(renderHelp("0.1.0"))
  })
})

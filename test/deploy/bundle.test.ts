/**
 * The artifact the image ships: `npm run build`'s bundle and its launcher (scripts/build.ts), built into a
 * temporary directory and run for real from there, where no node_modules can be found: everything it needs at
 * run time has to be inside the bundle.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildCollector, type Built, LAUNCHER, NODE_ENV_DEFAULTS, NODE_FLAGS } from "../../scripts/build.ts"
import { renderHelp } from "../../src/cli/help.ts"
import { cleanEnv, REPO_ROOT, runProcess } from "../support/cli.ts"
import { eventually } from "../support/collector.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"

const EXAMPLE = join(REPO_ROOT, "examples/kubectl-events.json")
/** What package.json declares, read here as text: the bundle must carry it without reading package.json itself. */
const VERSION = String(JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version)
interface ExampleEvent {
  readonly metadata: { readonly uid: string; readonly resourceVersion: string }
  readonly message: string
}
const exampleEvents: ReadonlyArray<ExampleEvent> = (
  JSON.parse(readFileSync(EXAMPLE, "utf8")) as { items: ReadonlyArray<ExampleEvent> }
).items

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

/** The environment of the launcher: this test's Node first on PATH (the launcher runs `node`). */
const launcherEnv = () => cleanEnv({ PATH: `${dirname(process.execPath)}${delimiter}${process.env["PATH"] ?? ""}` })

/** Runs the launcher from the temporary directory. */
const runLauncher = (args: ReadonlyArray<string>) =>
  runProcess(built.launcher, args, { env: launcherEnv(), cwd: work, timeoutMs: 20_000 })

/**
 * Strings found only in the simulator (packages/sim): the flow-schema UID its API server answers 429 with
 * (src/server.ts) and the trace SDK's tracer provider, which only the demo's traces (src/traces.ts) use.
 */
const SIMULATOR_ONLY = ["5d8e1c3a-0b9f-4a57-9d2e-6c1f7b3a8e40", "BasicTracerProvider"]
const SIM_SOURCES = "packages/sim/src"

/** Relative module paths a bundle file imports: statically, or with `import(...)` when `dynamic` is set. */
const importsOf = (file: string, dynamic: boolean): ReadonlyArray<string> => {
  const text = readFileSync(file, "utf8")
  const pattern = dynamic ? /\bimport\("(\.[^"]+)"\)/g : /(?:\bimport|\bfrom)\s*"(\.[^"]+)"/g
  return [...text.matchAll(pattern)].map((m) => join(dirname(file), m[1] as string))
}

/**
 * What a collector that reads a cluster or a dump loads: main.mjs, the entry chunk it imports once its signal
 * handlers are in place, and every module those import statically. Modules behind any other `import()` (the
 * demo's simulator, a platform's machine-id reader) are loaded only when that code runs.
 */
const loadedByRun = (): ReadonlySet<string> => {
  const seen = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    for (const next of importsOf(file, false)) visit(next)
  }
  visit(built.main)
  for (const entry of importsOf(built.main, true)) visit(entry)
  return seen
}

const filesIn = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? filesIn(join(dir, d.name)) : d.name.endsWith(".mjs") ? [join(dir, d.name)] : []
  )

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

  it("is ASCII only, so that V8 holds each chunk's source at one byte per character; the licences are kept beside", () => {
    const chunks = filesIn(built.outdir)
    for (const file of chunks) {
      const bytes = readFileSync(file)
      expect(
        bytes.findIndex((b) => b >= 0x80),
        file
      ).toBe(-1)
    }
    const licences = readdirSync(join(built.outdir, "chunks")).filter((f) => f.endsWith(".LEGAL.txt"))
    expect(licences.length).toBeGreaterThan(0)
    const text = licences.map((f) => readFileSync(join(built.outdir, "chunks", f), "utf8")).join("\n")
    // The licence comments of the bundled dependencies (undici's among them), moved out of the chunks.
    expect(text).toContain("undici")
  })

  it("replays a dump to an OTLP/HTTP receiver (protobuf, gzip) and exits 0", async () => {
    const result = await runLauncher([
      "--source",
      `file:${EXAMPLE}`,
      "--otlp-endpoint",
      receiver.url,
      "--listen",
      "off"
    ])
    expect(result.stderr).not.toMatch(/"logLevel":"(ERROR|WARN)"/)
    expect(result.code).toBe(0)
    expect(receiver.records).toHaveLength(exampleEvents.length)
    // The instrumentation scope names the collector and the version package.json declares, embedded in the bundle.
    for (const r of receiver.records) expect(r.scope).toMatchObject({ name: "k8s-event-collector", version: VERSION })
    const bodies = new Map(receiver.records.map((r) => [r.attributes["log.record.uid"], r.body]))
    for (const e of exampleEvents) expect(bodies.get(`${e.metadata.uid}:${e.metadata.resourceVersion}`)).toBe(e.message)
    expect(
      receiver.requests.every((q) => q.contentType === "application/x-protobuf" && q.contentEncoding === "gzip")
    ).toBe(true)
  })

  it("is described with the launcher's settings as scripts/build.ts has them", () => {
    const env = Object.entries(NODE_ENV_DEFAULTS)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")
    for (const doc of ["README.md", "docs/PERFORMANCE.md"]) {
      const text = readFileSync(join(REPO_ROOT, doc), "utf8").replace(/\s+/g, " ")
      expect(text, doc).toContain(NODE_FLAGS.join(" "))
      expect(text, doc).toContain(env)
    }
  })

  it("does not load the simulator or the trace SDK unless the command is demo", () => {
    for (const s of SIMULATOR_ONLY) {
      const sources = ["server.ts", "traces.ts"].map((f) => readFileSync(join(REPO_ROOT, SIM_SOURCES, f), "utf8"))
      expect(
        sources.some((text) => text.includes(s)),
        `${s} in ${SIM_SOURCES}`
      ).toBe(true)
    }
    const run = loadedByRun()
    expect(run.size).toBeGreaterThan(2)
    for (const file of run) {
      const text = readFileSync(file, "utf8")
      for (const s of SIMULATOR_ONLY) expect(text.includes(s), `${s} in ${file}`).toBe(false)
    }
    const demoOnly = filesIn(built.outdir).filter((f) => !run.has(f))
    for (const s of SIMULATOR_ONLY) {
      expect(
        demoOnly.some((f) => readFileSync(f, "utf8").includes(s)),
        `${s} in a chunk only demo loads`
      ).toBe(true)
    }
  })

  it("runs the demo, which loads the simulator, and stops cleanly on Ctrl-C", async () => {
    const child = spawn(built.launcher, ["demo"], { env: launcherEnv(), cwd: work })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
    try {
      await eventually(() => expect(stdout).toMatch(/Normal +shop\/Deployment\/checkout ScalingReplicaSet/), 15_000)
    } finally {
      child.kill("SIGINT")
    }
    expect(await exited, stderr).toBe(0)
    expect(stderr).toMatch(/stopped after exporting \d+ records/)
  }, 30_000)

  it("prints the same --help as the sources, and package.json's version for --version", async () => {
    const result = await runLauncher(["--help"])
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(renderHelp(VERSION))
    expect(result.stdout).toContain(`k8s-event-collector ${VERSION}:`)
    const version = await runLauncher(["--version"])
    expect(version.code).toBe(0)
    expect(version.stdout).toBe(`${VERSION}\n`)
  })
})

/**
 * The Dockerfile and .dockerignore, read as text (there is no Docker engine to build with here): a multi-stage
 * build on the Node 24 slim image whose runtime stage holds only the bundle `npm run build` makes (test/deploy/
 * bundle.test.ts builds and runs that bundle), a non-root user, and the entry point, port and health check the rest
 * of the deployment relies on.
 */
import { describe, expect, it } from "vitest"
import { LAUNCHER } from "../../scripts/build.ts"
import { loadCommandLine, isDirectory, isFile, readJson, readText, at, str } from "./support.ts"

interface Instruction {
  readonly keyword: string
  readonly args: string
}

/** Instructions with line continuations joined and comments dropped, split into build stages. */
const stages = (source: string): ReadonlyArray<ReadonlyArray<Instruction>> => {
  const instructions: Array<Instruction> = []
  let pending = ""
  for (const raw of source.split("\n")) {
    const line = raw.trim()
    if (line.startsWith("#") || (line === "" && pending === "")) continue
    pending += pending === "" ? line : ` ${line}`
    if (pending.endsWith("\\")) {
      pending = pending.slice(0, -1).trimEnd()
      continue
    }
    const m = /^(\S+)\s*(.*)$/.exec(pending)
    if (m?.[1] !== undefined) instructions.push({ keyword: m[1].toUpperCase(), args: m[2] ?? "" })
    pending = ""
  }
  const out: Array<Array<Instruction>> = [[]]
  for (const i of instructions) {
    if (i.keyword === "FROM") out.push([])
    out[out.length - 1]?.push(i)
  }
  return out
}

const all = stages(readText("Dockerfile"))
const globalArgs = all[0] ?? []
const buildStages = all.slice(1)
const runtime = buildStages[buildStages.length - 1] ?? []
const args = (stage: ReadonlyArray<Instruction>, keyword: string) =>
  stage.filter((i) => i.keyword === keyword).map((i) => i.args)
const argDefault = (name: string) =>
  globalArgs.map((i) => new RegExp(`^${name}=(\\S+)$`).exec(i.args)?.[1]).find((v) => v !== undefined)
const expand = (s: string) => s.replace(/\$\{(\w+)\}/g, (_, n: string) => argDefault(n) ?? `\${${n}}`)
const exec = (json: string): ReadonlyArray<string> => {
  const parsed: unknown = JSON.parse(json)
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === "string"))
    throw new Error(`not an exec form: ${json}`)
  return parsed
}

describe("Dockerfile", () => {
  it("is a multi-stage build on node:24 slim, the Node the project develops and tests on", () => {
    expect(buildStages.length).toBeGreaterThanOrEqual(2)
    const devNode = str(at(readJson("package.json"), "devDependencies", "node"))?.replace(/^[\^~]/, "")
    for (const stage of buildStages) {
      const from = expand(args(stage, "FROM")[0] ?? "")
      const m = /^node:(\d+)(?:\.(\d+)\.(\d+))?-slim(?:\s+AS\s+\S+)?$/i.exec(from)
      expect(m, from).not.toBeNull()
      expect(m?.[1]).toBe("24")
      if (m?.[2] !== undefined) expect(`${m[1]}.${m[2]}.${m[3]}`, "the node devDependency's version").toBe(devNode)
    }
  })

  const build = buildStages.slice(0, -1)
  const buildWorkdir = args(build[build.length - 1] ?? [], "WORKDIR").pop() ?? ""

  it("installs from the lock file, then runs `npm run build` on the sources and the build script", () => {
    const run = build.flatMap((s) => args(s, "RUN")).join(" && ")
    expect(run).toMatch(/\bnpm ci\b[^&]*--ignore-scripts\b/)
    expect(run).toMatch(/\bnpm run build\b/)
    expect(run.indexOf("npm ci")).toBeLessThan(run.indexOf("npm run build"))
    expect(str(at(readJson("package.json"), "scripts", "build"))).toBe("node scripts/build.ts")
    const copies = build.flatMap((s) => args(s, "COPY")).join("\n")
    const sim = ["packages/sim/package.json", "packages/sim/src"]
    for (const f of ["src", "scripts", "tsconfig.json", "package.json", "package-lock.json", ...sim]) {
      expect(copies).toMatch(new RegExp(`(^|\\s)${f.replace(".", "\\.")}(\\s|$)`, "m"))
    }
    expect(isDirectory("src") && isFile("scripts/build.ts") && isFile("tsconfig.json")).toBe(true)
    expect(args(runtime, "RUN"), "nothing is installed in the runtime stage").toEqual([])
  })

  it("copies only the bundle into the runtime stage: no node_modules, no sources", () => {
    const copies = args(runtime, "COPY")
    expect(copies).toEqual([`--from=build ${buildWorkdir}/dist ./dist`])
    expect(args(build[build.length - 1] ?? [], "FROM")[0]).toMatch(/\s+AS\s+build$/i)
  })

  it("runs as a numeric non-root user", () => {
    const user = args(runtime, "USER").pop() ?? ""
    const uid = user.split(":")[0] ?? ""
    expect(uid).toMatch(/^\d+$/)
    expect(Number(uid)).toBeGreaterThan(0)
  })

  it("starts the bundle's launcher (node with the shipped V8 flags), whose arguments go to the collector", () => {
    const workdir = args(runtime, "WORKDIR").pop() ?? ""
    expect(exec(args(runtime, "ENTRYPOINT").pop() ?? "[]")).toEqual([`${workdir}/dist/${LAUNCHER}`])
    expect(args(runtime, "CMD"), "arguments come from the user (demo, --config ...)").toEqual([])
  })

  it("writes nothing outside /tmp: HOME and TMPDIR point there", () => {
    const env = args(runtime, "ENV").join(" ")
    expect(env).toMatch(/\bHOME=\/tmp\b/)
    expect(env).toMatch(/\bTMPDIR=\/tmp\b/)
  })

  it("exposes the default --listen port and checks /healthz there with node", () => {
    const port = loadCommandLine([], {}).values.listen?.port
    expect(args(runtime, "EXPOSE")).toEqual([String(port)])
    const healthcheck = args(runtime, "HEALTHCHECK").pop() ?? ""
    const cmd = /\bCMD\s+(\[.*\])\s*$/.exec(healthcheck)?.[1]
    const argv = exec(cmd ?? "[]")
    expect(argv[0]).toBe("node")
    expect(argv.join(" ")).toContain(`http://127.0.0.1:${port}/healthz`)
    expect(argv.join(" ")).not.toMatch(/\b(curl|wget)\b/)
  })
})

describe(".dockerignore", () => {
  /** Docker's rule: the last pattern that matches a path (or one of its parent directories) decides. */
  const patterns = readText(".dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
  const matches = (pattern: string, path: string) => {
    const p = pattern.replace(/\/$/, "")
    if (p === "*" || p === "**") return true
    const parts = path.split("/")
    return parts.some((_, i) => parts.slice(0, i + 1).join("/") === p)
  }
  const ignored = (path: string) =>
    patterns.reduce(
      (acc, pattern) =>
        pattern.startsWith("!") ? (matches(pattern.slice(1), path) ? false : acc) : matches(pattern, path) ? true : acc,
      false
    )

  it("sends what the image copies", () => {
    for (const path of [
      "src/main.ts",
      "src/app/entry.ts",
      "packages/sim/package.json",
      "packages/sim/src/index.ts",
      "scripts/build.ts",
      "tsconfig.json",
      "package.json",
      "package-lock.json"
    ]) {
      expect(ignored(path), path).toBe(false)
    }
  })

  it("keeps node_modules, .git and the tests out of the build context", () => {
    for (const path of [
      "node_modules/effect/package.json",
      "dist/main.mjs",
      ".git/HEAD",
      "test/deploy/rbac.test.ts",
      "packages/sim/test/list.test.ts",
      "deploy/deployment.yaml"
    ]) {
      expect(ignored(path), path).toBe(true)
    }
  })
})

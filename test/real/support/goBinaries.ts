/**
 * The real components `npm run test:real` runs against, built from the Go modules under `test/real/<module>/`.
 *
 * A module's binaries are its `cmd/<name>/main.go` files and the packages named by the `tool` lines of its go.mod
 * (`go get -tool`, so a released command is built as it ships, with no main.go of ours; the binary is named after the
 * package, e.g. `helm`, `promtool`). `go build` puts them into a per-machine cache keyed by the module's go.mod,
 * go.sum, sources, `ldflags` and `tags` files, so a machine builds each set once; Go's own build cache makes a rebuild
 * after a change cheap. The envtest convention overrides the build: `KUBEBUILDER_ASSETS` (a folder with
 * `kube-apiserver` and `etcd`, and any other binary of the kube module), `OTELCOL_BIN`, `HELM_BIN`, `PROMTOOL_BIN`,
 * `VICTORIALOGS_BIN` and `JAEGER_BIN`.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs"
import { homedir } from "node:os"
import { join, relative } from "node:path"
import { REPO_ROOT } from "../../support/cli.ts"

const REAL_DIR = join(REPO_ROOT, "test", "real")

/** Where built binaries are kept: `$K8S_EVENT_COLLECTOR_REAL_CACHE`, else `~/.cache/k8s-event-collector/real`. */
const cacheRoot = (): string =>
  process.env["K8S_EVENT_COLLECTOR_REAL_CACHE"] ?? join(homedir(), ".cache", "k8s-event-collector", "real")

const modulesDirs = (): ReadonlyArray<string> =>
  readdirSync(REAL_DIR)
    .map((name) => join(REAL_DIR, name))
    .filter((dir) => existsSync(join(dir, "go.mod")))

/** The import paths of go.mod's `tool` directives, in both the one-line and the block form. */
const toolsOf = (moduleDir: string): ReadonlyArray<string> => {
  const lines = readFileSync(join(moduleDir, "go.mod"), "utf8")
    .split("\n")
    .map((line) => line.replace(/\/\/.*/, "").trim())
  const tools: Array<string> = []
  let inBlock = false
  for (const line of lines) {
    if (inBlock) {
      if (line === ")") inBlock = false
      else if (line !== "") tools.push(line)
    } else if (/^tool\s*\($/.test(line)) inBlock = true
    else if (/^tool\s+\S+$/.test(line)) tools.push(line.split(/\s+/)[1] as string)
  }
  return tools
}

/** `go build` names a binary after the package's last path element, skipping a major version suffix (`/v2`). */
const binaryNameOf = (importPath: string): string => {
  const elements = importPath.split("/")
  const last = elements.at(-1) as string
  return /^v[0-9]+$/.test(last) && elements.length > 1 ? (elements.at(-2) as string) : last
}

/** Every binary of a module, by name, with the package `go build` builds it from. */
const binariesOf = (moduleDir: string): ReadonlyMap<string, string> => {
  const cmdDir = join(moduleDir, "cmd")
  const commands = existsSync(cmdDir)
    ? readdirSync(cmdDir).filter((name) => statSync(join(cmdDir, name)).isDirectory())
    : []
  return new Map([
    ...commands.map((name): [string, string] => [name, `./cmd/${name}`]),
    ...toolsOf(moduleDir).map((pkg): [string, string] => [binaryNameOf(pkg), pkg])
  ])
}

const filesOf = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesOf(join(dir, entry.name)) : [join(dir, entry.name)]
  )

/** A hash of everything that decides the module's binaries: go.mod, go.sum, every Go source, `ldflags`, `tags`. */
const moduleKey = (moduleDir: string): string => {
  const hash = createHash("sha256")
  for (const file of filesOf(moduleDir)
    .filter((f) => /(\.go|\/go\.mod|\/go\.sum|\/ldflags|\/tags)$/.test(f))
    .sort()) {
    hash.update(relative(moduleDir, file)).update("\0").update(readFileSync(file)).update("\0")
  }
  return hash.digest("hex").slice(0, 16)
}

const binDirOf = (moduleDir: string): string =>
  join(cacheRoot(), `${relative(REAL_DIR, moduleDir)}-${moduleKey(moduleDir)}`)

/** The variables that name one binary each; any other binary is looked for in `KUBEBUILDER_ASSETS`. */
const OVERRIDE_VARIABLES: { readonly [name: string]: string } = {
  otelcol: "OTELCOL_BIN",
  helm: "HELM_BIN",
  promtool: "PROMTOOL_BIN",
  "victoria-logs": "VICTORIALOGS_BIN",
  jaeger: "JAEGER_BIN"
}

/** The binary that overrides a built one, by the envtest convention, if one is set and exists. */
const overrideOf = (name: string): string | undefined => {
  const variable = OVERRIDE_VARIABLES[name]
  const assets = process.env["KUBEBUILDER_ASSETS"]
  const candidate =
    variable !== undefined ? process.env[variable] : assets === undefined ? undefined : join(assets, name)
  return candidate !== undefined && existsSync(candidate) ? candidate : undefined
}

/** Extra `-ldflags` of a module, from its optional `ldflags` file (e.g. the version a binary reports). */
const ldflagsOf = (moduleDir: string): string => {
  const file = join(moduleDir, "ldflags")
  return existsSync(file) ? readFileSync(file, "utf8").trim() : ""
}

/** Build tags of a module, from its optional `tags` file (e.g. leaving out code the tests never run). */
const tagsOf = (moduleDir: string): ReadonlyArray<string> => {
  const file = join(moduleDir, "tags")
  return existsSync(file)
    ? readFileSync(file, "utf8")
        .split(/[\s,]+/)
        .filter((tag) => tag !== "")
    : []
}

/**
 * Builds every binary of every module that no override replaces and that is not in the cache yet. Runs once,
 * in vitest's global setup, so no test's timeout pays for a build; prints what it built and how long it took.
 * Given `names`, it builds only the modules that hold one of them, so a script that needs one tool does not wait for
 * a control plane; a module is still built whole, as its cache folder is replaced whole.
 */
export const buildGoBinaries = (names?: ReadonlyArray<string>): void => {
  for (const moduleDir of modulesDirs()) {
    const missing = [...binariesOf(moduleDir)].filter(([name]) => overrideOf(name) === undefined)
    if (names !== undefined && !missing.some(([name]) => names.includes(name))) continue
    const binDir = binDirOf(moduleDir)
    if (missing.every(([name]) => existsSync(join(binDir, name)))) continue
    const staging = `${binDir}.partial-${process.pid}`
    rmSync(staging, { recursive: true, force: true })
    mkdirSync(staging, { recursive: true })
    const started = Date.now()
    const tags = tagsOf(moduleDir)
    console.log(
      `[test:real] building ${missing.map(([name]) => name).join(", ")} from ${relative(REPO_ROOT, moduleDir)} ...`
    )
    execFileSync(
      "go",
      [
        "build",
        "-trimpath",
        `-ldflags=-s -w ${ldflagsOf(moduleDir)}`.trim(),
        ...(tags.length > 0 ? [`-tags=${tags.join(",")}`] : []),
        "-o",
        staging,
        ...missing.map(([, pkg]) => pkg)
      ],
      { cwd: moduleDir, stdio: "inherit", env: { ...process.env, CGO_ENABLED: "0" } }
    )
    rmSync(binDir, { recursive: true, force: true })
    renameSync(staging, binDir)
    console.log(`[test:real] built into ${binDir} in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  }
}

/** The path of a real component's binary: its override, else the built one (built by `buildGoBinaries`). */
export const goBinary = (name: string): string => {
  const override = overrideOf(name)
  if (override !== undefined) return override
  const moduleDir = modulesDirs().find((dir) => binariesOf(dir).has(name))
  if (moduleDir === undefined) throw new Error(`no Go module under test/real has cmd/${name} or a tool named ${name}`)
  const path = join(binDirOf(moduleDir), name)
  if (!existsSync(path)) throw new Error(`${path} is missing: run the tests through \`npm run test:real\``)
  return path
}

/**
 * The real components `npm run test:real` runs against, built from the Go modules under `test/real/<module>/`.
 *
 * Each module holds one `cmd/<name>/main.go` per binary. `go build` puts the binaries into a per-machine cache
 * keyed by the module's go.mod, go.sum, sources and `ldflags`, so a machine builds each set once; Go's own build
 * cache makes a rebuild after a change cheap. The envtest convention overrides the build: `KUBEBUILDER_ASSETS` (a folder
 * with `kube-apiserver` and `etcd`, and any other binary of the kube module) and `OTELCOL_BIN`.
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

const commandsOf = (moduleDir: string): ReadonlyArray<string> =>
  readdirSync(join(moduleDir, "cmd")).filter((name) => statSync(join(moduleDir, "cmd", name)).isDirectory())

const filesOf = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesOf(join(dir, entry.name)) : [join(dir, entry.name)]
  )

/** A hash of everything that decides the module's binaries: go.mod, go.sum, every Go source and `ldflags`. */
const moduleKey = (moduleDir: string): string => {
  const hash = createHash("sha256")
  for (const file of filesOf(moduleDir)
    .filter((f) => /(\.go|\/go\.mod|\/go\.sum|\/ldflags)$/.test(f))
    .sort()) {
    hash.update(relative(moduleDir, file)).update("\0").update(readFileSync(file)).update("\0")
  }
  return hash.digest("hex").slice(0, 16)
}

const binDirOf = (moduleDir: string): string =>
  join(cacheRoot(), `${relative(REAL_DIR, moduleDir)}-${moduleKey(moduleDir)}`)

/** The binary that overrides a built one, by the envtest convention, if one is set and exists. */
const overrideOf = (name: string): string | undefined => {
  const candidate =
    name === "otelcol"
      ? process.env["OTELCOL_BIN"]
      : process.env["KUBEBUILDER_ASSETS"] === undefined
        ? undefined
        : join(process.env["KUBEBUILDER_ASSETS"], name)
  return candidate !== undefined && existsSync(candidate) ? candidate : undefined
}

/** Extra `-ldflags` of a module, from its optional `ldflags` file (e.g. the version a binary reports). */
const ldflagsOf = (moduleDir: string): string => {
  const file = join(moduleDir, "ldflags")
  return existsSync(file) ? readFileSync(file, "utf8").trim() : ""
}

/**
 * Builds every binary of every module that no override replaces and that is not in the cache yet. Runs once,
 * in vitest's global setup, so no test's timeout pays for a build; prints what it built and how long it took.
 */
export const buildGoBinaries = (): void => {
  for (const moduleDir of modulesDirs()) {
    const missing = commandsOf(moduleDir).filter((name) => overrideOf(name) === undefined)
    const binDir = binDirOf(moduleDir)
    if (missing.every((name) => existsSync(join(binDir, name)))) continue
    const staging = `${binDir}.partial-${process.pid}`
    rmSync(staging, { recursive: true, force: true })
    mkdirSync(staging, { recursive: true })
    const started = Date.now()
    console.log(`[test:real] building ${missing.join(", ")} from ${relative(REPO_ROOT, moduleDir)} ...`)
    execFileSync(
      "go",
      [
        "build",
        "-trimpath",
        `-ldflags=-s -w ${ldflagsOf(moduleDir)}`.trim(),
        "-o",
        staging,
        ...missing.map((name) => `./cmd/${name}`)
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
  const moduleDir = modulesDirs().find((dir) => commandsOf(dir).includes(name))
  if (moduleDir === undefined) throw new Error(`no Go module under test/real has cmd/${name}`)
  const path = join(binDirOf(moduleDir), name)
  if (!existsSync(path)) throw new Error(`${path} is missing: run the tests through \`npm run test:real\``)
  return path
}

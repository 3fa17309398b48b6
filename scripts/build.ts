/**
 * `npm run build`: what the image ships. esbuild bundles src/main.ts and everything it imports (the production
 * dependencies included) into ES modules in dist/, and writes dist/k8s-event-collector, a launcher that runs the
 * bundle with the V8 flags and the environment below. The bundle reads nothing from node_modules at run time.
 *
 *   npm run build                          # into dist/
 *   node scripts/build.ts --outdir DIR     # elsewhere (the bench and the tests do this)
 *
 * NODE_FLAGS and NODE_ENV_DEFAULTS are the one place the runtime settings are written: the Dockerfile runs the
 * launcher, the bench and the bundle test import them from here. docs/PERFORMANCE.md ("Peak RSS") says how they
 * were chosen.
 */
import { build, type Plugin } from "esbuild"
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const REPO = fileURLToPath(new URL("..", import.meta.url))

/**
 * The V8 flags the shipped collector runs with: semi-spaces of 4 MB instead of up to 64 MB (V8 sizes them from the
 * machine's memory; with 8 MB the peak with 200 000 live events was 5–8 MB higher), and an old generation capped at
 * 128 MB, above the largest live heap measured (74 MB, a 100 000-event watch burst with the default --queue-size).
 * A larger --queue-size needs a larger cap.
 */
export const NODE_FLAGS: ReadonlyArray<string> = ["--max-semi-space-size=4", "--max-old-space-size=128"]

/**
 * Environment the launcher sets when it is not set already (the caller's value wins). glibc's malloc: at most two
 * arenas instead of eight per core, and requests of 32 KB or more mmap'ed (so given back when freed) instead of
 * kept in the heap: V8 takes about 50 MB of such blocks once, to parse and compile the bundle at start-up.
 */
export const NODE_ENV_DEFAULTS: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: "32768"
}

/** The launcher's name inside the output directory; the bundle's entry is `main.mjs` beside it. */
export const LAUNCHER = "k8s-event-collector"
export const MAIN = "main.mjs"

export interface Built {
  readonly outdir: string
  /** The bundle's entry module: run it with `node ...NODE_FLAGS <main>` and NODE_ENV_DEFAULTS. */
  readonly main: string
  /** The shell script that does exactly that with the `node` on PATH. */
  readonly launcher: string
}

const launcherScript = (): string =>
  [
    "#!/bin/sh",
    "# Written by scripts/build.ts: runs the bundle beside this file with the collector's V8 flags and environment",
    "# (NODE_FLAGS and NODE_ENV_DEFAULTS there).",
    "# exec: node replaces the shell, so it gets the signals (and is PID 1 in a container).",
    ...Object.entries(NODE_ENV_DEFAULTS).map(([k, v]) => `export ${k}="\${${k}:-${v}}"`),
    `exec node ${NODE_FLAGS.join(" ")} "$(dirname "$0")/${MAIN}" "$@"`,
    ""
  ].join("\n")

const CLIENT_NODE = "@kubernetes/client-node"
/** Marks the plugin's own resolution of a path, which it leaves to esbuild. */
const RESOLVING = Symbol("resolving")

/**
 * The collector uses `KubeConfig` alone of `@kubernetes/client-node`, whose index re-exports the whole generated
 * API (every model and API class, about a third of the bundle). Its modules have no side effects at import, but
 * the package does not say so (`sideEffects` in package.json); said here, esbuild leaves out what nothing uses.
 */
const clientNodeWithoutSideEffects: Plugin = {
  name: "client-node-without-side-effects",
  setup(b) {
    b.onResolve({ filter: /./ }, async (args) => {
      if (args.pluginData === RESOLVING) return undefined
      const inPackage = args.path.startsWith(CLIENT_NODE) || args.importer.includes(`/node_modules/${CLIENT_NODE}/`)
      if (!inPackage) return undefined
      const { path, errors } = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: RESOLVING
      })
      return errors.length === 0 && path.includes(`/node_modules/${CLIENT_NODE}/dist/`)
        ? { path, sideEffects: false }
        : undefined
    })
  }
}
/** Bundles the collector into `outdir` (emptied first). */
export const buildCollector = async (outdir: string = join(REPO, "dist")): Promise<Built> => {
  rmSync(outdir, { recursive: true, force: true })
  mkdirSync(outdir, { recursive: true })
  await build({
    absWorkingDir: REPO,
    // The simulator (packages/sim), which `demo` alone imports, with import(), is an entry of its own only to be
    // named chunks/sim.mjs: as a plain chunk it would take the name of its index.ts's directory, `src`.
    entryPoints: [
      { in: "src/main.ts", out: "main" },
      { in: "@k8s-event-collector/sim", out: "chunks/sim" }
    ],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    outdir,
    outExtension: { ".js": ".mjs" },
    // main.ts installs its early signal handlers, then imports the rest dynamically: with splitting the rest is a
    // chunk of its own, so the handlers are in place before the bulk of the code is even parsed.
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    // CommonJS dependencies call require() (of Node's built-in modules only); an ES module has to provide it.
    banner: {
      js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);"
    },
    // The licences in a file of their own beside each chunk: one non-ASCII character among them (there is one)
    // makes V8 hold the whole chunk's source as UTF-16, twice its size in the heap (3.3 MB instead of 1.7).
    legalComments: "external",
    // Shorter source for V8 to hold and parse (the idle process is 7 MB smaller); names are kept for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: "warning",
    plugins: [clientNodeWithoutSideEffects]
  })
  const launcher = join(outdir, LAUNCHER)
  writeFileSync(launcher, launcherScript())
  chmodSync(launcher, 0o755)
  return { outdir, main: join(outdir, MAIN), launcher }
}

if (import.meta.main) {
  const i = process.argv.indexOf("--outdir")
  const outdir = i >= 0 && process.argv[i + 1] !== undefined ? resolve(process.argv[i + 1] as string) : undefined
  const built = await buildCollector(outdir)
  process.stdout.write(`built ${built.main} and ${built.launcher} (node ${NODE_FLAGS.join(" ")})\n`)
}

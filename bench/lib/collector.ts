/**
 * The collector as its own child process (so that its RSS and CPU time are its own), and what /proc says about it.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { simKubeConfigYaml } from "@k8s-event-collector/sim"

export const REPO = fileURLToPath(new URL("../..", import.meta.url))

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (`getconf CLK_TCK`; 100 on Linux). */
const CLK_TCK = 100

export interface ProcSample {
  /** utime + stime, seconds. */
  readonly cpuS: number
  readonly rssMb: number
  /** VmHWM: the peak resident set so far. */
  readonly peakRssMb: number
}

/** CPU seconds and RSS of a live process; undefined once it is gone. */
const procSample = (pid: number): ProcSample | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN)
    return { cpuS: (utime + stime) / CLK_TCK, rssMb: kb("VmRSS") / 1024, peakRssMb: kb("VmHWM") / 1024 }
  } catch (e) {
    procError = e instanceof Error ? e.message : String(e)
    return undefined
  }
}

let procError: string | undefined
/** Why the last read of a process's /proc entry failed (its message), for a scenario's error. */
export const lastProcError = (): string | undefined => procError

let workDir: string | undefined
/** One scratch directory per bench run, for kubeconfigs, checkpoints and profiles. */
export const scratch = (): string => (workDir ??= mkdtempSync(join(tmpdir(), "k8s-event-collector-bench-")))

export const writeKubeconfig = (simUrl: string, name = "kubeconfig"): string => {
  const path = join(scratch(), `${name}-${simUrl.replace(/\W+/g, "_")}.yaml`)
  writeFileSync(path, simKubeConfigYaml(simUrl))
  return path
}

/** How a collector process is started: the entry module, the Node/V8 flags before it, and its environment. */
export interface Runtime {
  /** An absolute path, or one relative to the repository. */
  readonly entry: string
  readonly nodeArgs: ReadonlyArray<string>
  /** Set unless the bench's own environment sets them (as the launcher does). */
  readonly envDefaults?: Readonly<Record<string, string>>
}

/** `node src/main.ts`: the sources, run by Node's type stripping, with V8's default heap sizes. */
export const SOURCES: Runtime = { entry: "src/main.ts", nodeArgs: [] }

/**
 * What every collector of this bench run is started with unless a scenario says otherwise. bench/run.ts sets the
 * runtime to the shipped one (the bundle built by scripts/build.ts, with its NODE_FLAGS) unless `--sources`;
 * `--node-options` replaces the runtime's flags, `--collector-args` adds collector flags.
 */
export const collectorDefaults: { runtime: Runtime; args: ReadonlyArray<string> } = {
  runtime: SOURCES,
  args: []
}

export interface CollectorOptions {
  readonly simUrl: string
  readonly otlpUrl: string
  /** Collector flags beyond kubeconfig, endpoint, listen and log level. */
  readonly args?: ReadonlyArray<string>
  /** Node flags added to the runtime's, e.g. --cpu-prof. */
  readonly nodeArgs?: ReadonlyArray<string>
  /** Instead of collectorDefaults.runtime (the footprint scenario compares runtimes). */
  readonly runtime?: Runtime
}

/** A process to measure: what to run, with which arguments and environment. */
export interface Command {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly env: NodeJS.ProcessEnv
  readonly cwd: string
}

const TAIL_CHARS = 4000

/** A collector (ours, or a peer) as a child process of its own, so that /proc measures it alone. */
export class CollectorProcess {
  readonly child: ChildProcess
  readonly spawnedAtMs: number
  /** The start of what it wrote on stderr, and a rolling tail, so that its last words are kept however long it ran. */
  readonly #head: Array<string> = []
  #tail = ""
  readonly exited: Promise<number | null>

  constructor(command: Command) {
    this.spawnedAtMs = Date.now()
    this.child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      stdio: ["ignore", "ignore", "pipe"]
    })
    this.child.stderr?.setEncoding("utf8")
    this.child.stderr?.on("data", (s: string) => {
      if (this.#head.length < 20) this.#head.push(s)
      else this.#tail = (this.#tail + s).slice(-TAIL_CHARS)
    })
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)))
  }

  get pid(): number {
    const pid = this.child.pid
    if (pid === undefined) throw new Error("the collector did not start")
    return pid
  }

  /** CPU time and RSS now; undefined once the process is gone. A failed read is tried twice more at once. */
  sample(): ProcSample | undefined {
    for (let attempt = 0; attempt < 3; attempt++) {
      const s = procSample(this.pid)
      if (s !== undefined) return s
    }
    return undefined
  }

  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`). */
  async stop(graceMs = 30_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode
    this.child.kill("SIGTERM")
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }

  /** How it ended (exit code or signal, if it has), then what it wrote on stderr: for a failure message. */
  get log(): string {
    const { exitCode, signalCode } = this.child
    const ended = signalCode !== null ? `killed by ${signalCode}\n` : exitCode !== null ? `exit code ${exitCode}\n` : ""
    const head = this.#head.join("").slice(0, TAIL_CHARS)
    return `${ended}${head}${this.#tail === "" ? "" : `\n[...]\n${this.#tail}`}`
  }
}

/** Our collector's command line: the runtime's Node flags, its entry, the simulator's kubeconfig, the receiver. */
const collectorCommand = (options: CollectorOptions): Command => {
  const runtime = options.runtime ?? collectorDefaults.runtime
  return {
    file: process.execPath,
    args: [
      ...runtime.nodeArgs,
      ...(options.nodeArgs ?? []),
      runtime.entry,
      "--kubeconfig",
      writeKubeconfig(options.simUrl),
      "--otlp-endpoint",
      options.otlpUrl,
      "--listen",
      "off",
      "--log-level",
      "warn",
      ...collectorDefaults.args,
      ...(options.args ?? [])
    ],
    env: { ...runtime.envDefaults, ...process.env },
    cwd: REPO
  }
}

/** Starts a collector: ours (`startCollector`) or a peer (bench/lib/peer.ts), from the same options. */
export type Launch = (options: CollectorOptions) => CollectorProcess

export const startCollector: Launch = (options) => new CollectorProcess(collectorCommand(options))

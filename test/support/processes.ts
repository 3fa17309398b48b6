/** Collector child processes, a kubeconfig for the simulated server, and an event generator for long tests. */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type SimServer, simKubeConfigYaml, type StoredKubeObject } from "@k8s-event-collector/sim"
import { cleanEnv, MAIN, REPO_ROOT } from "./cli.ts"

export interface CollectorProcess {
  readonly child: ChildProcess
  readonly output: { stdout: string; stderr: string }
  readonly exited: Promise<number | null>
  /** Peak resident set size so far, in MB (VmHWM). */
  readonly peakRssMb: () => number | undefined
  /** Resident set size now, in MB (VmRSS). */
  readonly rssMb: () => number | undefined
}

export const spawnCollector = (args: ReadonlyArray<string>, env: Record<string, string> = {}): CollectorProcess => {
  const child = spawn(process.execPath, [MAIN, ...args], { env: cleanEnv(env), cwd: REPO_ROOT })
  const output = { stdout: "", stderr: "" }
  child.stdout.setEncoding("utf8").on("data", (d: string) => (output.stdout += d))
  child.stderr.setEncoding("utf8").on("data", (d: string) => (output.stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  const statusMb = (field: "VmHWM" | "VmRSS") => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8")
      const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]
      return kb === undefined ? undefined : Number(kb) / 1024
    } catch {
      return undefined
    }
  }
  return { child, output, exited, peakRssMb: () => statusMb("VmHWM"), rssMb: () => statusMb("VmRSS") }
}

/** The base URL of the process's probe server, from its start-up log line; undefined until it listens. */
export const probeBaseUrl = (p: CollectorProcess): string | undefined =>
  /serving (http:\/\/[^/"\s]+)\/metrics/.exec(p.output.stderr)?.[1]

export const writeKubeconfig = (sim: SimServer): string => {
  const dir = mkdtempSync(join(tmpdir(), "kec-kubeconfig-"))
  const path = join(dir, "config")
  writeFileSync(path, simKubeConfigYaml(sim.url))
  return path
}

/**
 * Creates and repeats events at a steady rate and remembers every occurrence it produced, as
 * `uid:resourceVersion`, the way the collector names them in `log.record.uid`.
 */
export class EventGenerator {
  readonly occurrences = new Set<string>()
  readonly #sim: SimServer
  readonly #live: Array<StoredKubeObject> = []
  #timer: NodeJS.Timeout | undefined
  #n = 0

  constructor(sim: SimServer) {
    this.#sim = sim
  }

  /** `perTick` changes every `everyMs`: about one new event for two repeats of a recent one. */
  start(perTick: number, everyMs: number): void {
    this.#timer = setInterval(() => {
      for (let i = 0; i < perTick; i++) this.step()
    }, everyMs)
  }

  step(): void {
    const n = ++this.#n
    const repeat = this.#live.length > 0 && n % 3 !== 0
    let o: StoredKubeObject
    if (repeat) {
      const target = this.#live[n % this.#live.length]
      if (target === undefined) return
      o = this.#sim.events.repeat(target.metadata.uid)
    } else {
      const ns = `team-${n % 4}`
      o = this.#sim.events.create({
        namespace: ns,
        style: n % 2 === 0 ? "core" : "series",
        reason: n % 5 === 0 ? "OOMKilling" : "BackOff",
        type: "Warning",
        message: `Back-off restarting failed container app in pod app-${n}`,
        involvedObject: { apiVersion: "v1", kind: "Pod", namespace: ns, name: `app-${n}`, uid: `pod-${n}` }
      })
      this.#live.push(o)
      if (this.#live.length > 50) this.#live.shift()
    }
    this.occurrences.add(`${o.metadata.uid}:${o.metadata.resourceVersion}`)
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
  }
}

/** Leader election over the Lease `default/kec` with the given timings. */
export const leaseArgs = (duration: string, renewDeadline: string, retryPeriod: string): ReadonlyArray<string> => [
  "--leader-elect",
  "--lease",
  "default/kec",
  "--lease-duration",
  duration,
  "--lease-renew-deadline",
  renewDeadline,
  "--lease-retry-period",
  retryPeriod
]

/** Leader election over the Lease `default/kec` with short timings, for tests of two replicas. */
export const FAST_LEASE_ARGS: ReadonlyArray<string> = leaseArgs("2s", "1500ms", "200ms")

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What arrived against what was produced. */
export const tally = (expected: ReadonlySet<string>, received: ReadonlyArray<string>) => {
  const unique = new Set(received)
  let lost = 0
  for (const o of expected) if (!unique.has(o)) lost++
  const unexpected = [...unique].filter((o) => !expected.has(o)).length
  return {
    expected: expected.size,
    received: received.length,
    lost,
    duplicates: received.length - unique.size,
    unexpected
  }
}

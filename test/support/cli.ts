/** Runs the collector's CLI as a real child process, the way a user does. */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url))
export const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url))
/** `shared/` sits beside the repository: in this workspace and in CI's clean clone alike. */
export const FIXTURES = fileURLToPath(new URL("../../../shared/fixtures/openshift-events/", import.meta.url))

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Environment without the caller's OTEL_* and K8S_* settings, so a developer's shell cannot change a test, and
 * with the probe server on a free loopback port, since tests run several collectors at once.
 */
export const cleanEnv = (extra: Record<string, string> = {}): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("OTEL_") && !k.startsWith("K8S_")) env[k] = v
  }
  return { ...env, K8S_EVENT_COLLECTOR_LISTEN: "127.0.0.1:0", ...extra }
}

/** Runs `command` to its end and collects what it printed; killed and failed after `timeoutMs`. */
export const runProcess = (
  command: string,
  args: ReadonlyArray<string>,
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}
) =>
  new Promise<CliResult>((resolve, reject) => {
    const timeoutMs = options.timeoutMs ?? 60_000
    const child = spawn(command, args, { env: options.env ?? cleanEnv(), cwd: options.cwd ?? REPO_ROOT })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${command} did not finish within ${timeoutMs} ms\nstderr:\n${stderr}`))
    }, timeoutMs)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })

export const runCli = (
  args: ReadonlyArray<string>,
  options: { env?: Record<string, string>; timeoutMs?: number } = {}
) => runProcess(process.execPath, [MAIN, ...args], options)

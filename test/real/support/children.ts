/** The child processes of `npm run test:real`: every one is killed when the test process exits, whatever ends it. */
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { closeSync, openSync } from "node:fs"
import { createServer } from "node:net"

const running = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})

/** Starts a child whose output goes to `logFile`; it is killed when the test process exits. */
export const startTracked = (command: string, args: ReadonlyArray<string>, logFile: string): ChildProcess => {
  const log = openSync(logFile, "a")
  const child = spawn(command, args, { stdio: ["ignore", log, log] })
  closeSync(log)
  running.add(child)
  child.on("exit", () => running.delete(child))
  return child
}

/** Tracks a child started elsewhere (a collector), so that it too is killed when the test process exits. */
export const track = (child: ChildProcess): void => {
  running.add(child)
  child.on("exit", () => running.delete(child))
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export const stopProcess = async (child: ChildProcess, graceMs = 10_000): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, "exit")
  child.kill("SIGTERM")
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
  await exited
  clearTimeout(timer)
}

export const freePort = async (): Promise<number> => {
  const server = createServer()
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const address = server.address()
  server.close()
  if (address === null || typeof address === "string") throw new Error("no port")
  return address.port
}

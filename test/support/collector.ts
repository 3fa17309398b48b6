/**
 * Runs the real collector pipeline in this process against a simulated API server and an OTLP receiver, both
 * over real HTTP on 127.0.0.1. Options are parsed by the real CLI loader, so tests speak in flags.
 */
import { afterEach, beforeEach } from "vitest"
import { Effect, Either, Fiber, Logger } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { loadConfig } from "../../src/cli/load.ts"
import { runKube } from "../../src/app/kube.ts"
import { kubeSettings } from "../../src/app/settings.ts"
import { type SimServer, type SimServerOptions, simKubeConfig, startSimServer } from "@k8s-event-collector/sim"
import { type OtlpReceiver, startOtlpReceiver } from "./otlp-receiver.ts"

export interface RunningCollector {
  readonly logs: ReadonlyArray<{ readonly level: string; readonly message: string }>
  /** The probe server's base URL, once it listens (with `--listen`). */
  readonly probeUrl: () => string | undefined
  /** Interrupts it as SIGTERM would, and waits for the flush. */
  readonly stop: () => Promise<void>
}

export const startCollector = (kc: KubeConfig, args: ReadonlyArray<string>): RunningCollector => {
  // No probe server unless a test asks for one (`--listen 127.0.0.1:0`; its port is in the log).
  const loaded = loadConfig({ argv: ["--listen", "off", ...args], env: {}, readText: () => "" })
  if (Either.isLeft(loaded)) throw new Error(loaded.left.message)
  const logs: Array<{ level: string; message: string }> = []
  const logger = Logger.make(({ logLevel, message }) => {
    logs.push({ level: logLevel.label, message: Array.isArray(message) ? message.join(" ") : String(message) })
  })
  const fiber = Effect.runFork(
    runKube(kubeSettings(loaded.right.values, loaded.right.rules), kc).pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, logger))
    )
  )
  return {
    logs,
    probeUrl: () => {
      const line = logs.find((l) => l.message.startsWith("serving http://"))
      const port = line === undefined ? undefined : /:(\d+)\/metrics/.exec(line.message)?.[1]
      return port === undefined ? undefined : `http://127.0.0.1:${port}`
    },
    stop: async () => {
      await Effect.runPromise(Fiber.interrupt(fiber))
    }
  }
}

/** Polls `check` until it holds or the time is up; the last failure is thrown. */
export const eventually = async (
  check: () => void | Promise<void>,
  timeoutMs = 10_000,
  everyMs = 50
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await check()
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((r) => setTimeout(r, everyMs))
    }
  }
}

export interface SimAndReceiver {
  readonly sim: SimServer
  readonly receiver: OtlpReceiver
  /** Starts the collector against `sim`, exporting to `receiver`; it is stopped after the test. */
  readonly start: (args: ReadonlyArray<string>) => RunningCollector
}

/** A simulated API server and an OTLP receiver for each test, and the collectors it starts, all stopped after it. */
export const useSimAndReceiver = (options: SimServerOptions = { bookmarkIntervalMs: 200 }): SimAndReceiver => {
  let sim: SimServer | undefined
  let receiver: OtlpReceiver | undefined
  const collectors: Array<RunningCollector> = []
  const need = <A>(a: A | undefined): A => {
    if (a === undefined) throw new Error("useSimAndReceiver: only inside a test")
    return a
  }
  beforeEach(async () => {
    sim = await startSimServer(options)
    receiver = await startOtlpReceiver()
  })
  afterEach(async () => {
    await Promise.all(collectors.splice(0).map((c) => c.stop()))
    await sim?.close()
    await receiver?.close()
  })
  return {
    get sim() {
      return need(sim)
    },
    get receiver() {
      return need(receiver)
    },
    start: (args) => {
      const c = startCollector(simKubeConfig(need(sim).url), ["--otlp-endpoint", need(receiver).url, ...args])
      collectors.push(c)
      return c
    }
  }
}

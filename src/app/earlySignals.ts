/**
 * Imported first by main.ts, before the modules that take most of start-up: a SIGTERM or SIGINT that arrives
 * while the process is still loading is remembered instead of killing it, so that a stop during start-up is a
 * clean exit too (nothing has been read yet, so there is nothing to deliver).
 */
let received: NodeJS.Signals | undefined

const remember = (signal: NodeJS.Signals) => {
  received ??= signal
}

process.on("SIGTERM", remember)
process.on("SIGINT", remember)

/**
 * The signal received during start-up, if any; from here on the runtime's own handlers take over. Loading is
 * partly synchronous, so a signal may still be waiting in the event loop: one turn of it delivers that first.
 */
export const takeEarlySignal = async (): Promise<NodeJS.Signals | undefined> => {
  await new Promise((resolve) => setImmediate(resolve))
  process.off("SIGTERM", remember)
  process.off("SIGINT", remember)
  return received
}

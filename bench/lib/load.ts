/** Putting events into the simulated API server the way the scenarios need them. */
import { apiVersionOf, Resources, type SimServer } from "@k8s-event-collector/sim"
import { fixtureTemplates } from "./fixtures.ts"

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r))

/**
 * Creates `n` events stamped from the fixtures, `chunk` at a time, giving the event loop a turn between chunks
 * so that open watches stream while the rest is created. Returns when all are created.
 */
export const feed = async (sim: SimServer, n: number, chunk = 2000): Promise<void> => {
  const templates = fixtureTemplates()
  for (let done = 0; done < n; done += chunk) {
    sim.events.bulkLoad(Math.min(chunk, n - done), { templates })
    await yieldToLoop()
  }
}

/** Serializes every stored event once, so that a list or watch measures the client, not the server's JSON.stringify. */
export const prewarm = (sim: SimServer): void => {
  const view = apiVersionOf(Resources.events)
  for (const o of sim.store.all(Resources.events)) o.serialized(view, (x) => x)
}

import { ApiException, type KubeConfig, Watch } from "@kubernetes/client-node"
import { afterEach } from "vitest"
import { type SimServer, type SimServerOptions, simKubeConfig, startSimServer } from "../src/index.ts"

interface WatchEvent {
  readonly type: string
  readonly object: Record<string, unknown>
}

export interface CollectedWatch {
  readonly events: WatchEvent[]
  /** Resolves with what client-node passed to `done` (null on a clean end of stream). */
  readonly done: Promise<unknown>
  readonly ended: () => boolean
  waitFor(pred: (events: ReadonlyArray<WatchEvent>) => boolean, timeoutMs?: number): Promise<void>
  abort(): void
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export const waitUntil = async (pred: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** Runs client-node's Watch and records every event. */
export const collectWatch = async (
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean>,
  configure?: (w: Watch) => void
): Promise<CollectedWatch> => {
  const events: WatchEvent[] = []
  const watch = new Watch(kc)
  configure?.(watch)
  let ended = false
  let resolveDone: (err: unknown) => void = () => {}
  const done = new Promise<unknown>((r) => {
    resolveDone = r
  })
  const controller = await watch.watch(
    path,
    query,
    (type, object) => {
      events.push({ type, object: isRecord(object) ? object : {} })
    },
    (err) => {
      ended = true
      resolveDone(err)
    }
  )
  return {
    events,
    done,
    ended: () => ended,
    waitFor: (pred, timeoutMs = 3000) => waitUntil(() => pred(events), timeoutMs, `watch events on ${path}`),
    abort: () => controller.abort()
  }
}

export interface DecodedApiError {
  readonly code: number
  readonly body: Record<string, unknown> | string | undefined
  readonly headers: Record<string, string>
}

/** client-node 2.x throws ApiException whose `body` is the raw response text; decode it. */
export const apiError = async (p: Promise<unknown>): Promise<DecodedApiError> => {
  try {
    await p
  } catch (e) {
    if (!(e instanceof ApiException)) throw e
    const raw: unknown = e.body
    let body: Record<string, unknown> | string | undefined
    if (typeof raw === "string") {
      try {
        const parsed: unknown = JSON.parse(raw)
        body = isRecord(parsed) ? parsed : raw
      } catch {
        body = raw
      }
    } else if (isRecord(raw)) body = raw
    return { code: e.code, body, headers: e.headers }
  }
  throw new Error("expected the request to fail")
}

export const field = (o: unknown, path: string): unknown => {
  let cur: unknown = o
  for (const p of path.split(".")) {
    if (!isRecord(cur)) return undefined
    cur = cur[p]
  }
  return cur
}

export const podRef = (namespace: string, name: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  namespace,
  name,
  uid: `uid-${name}`
})

/**
 * A simulated API server per test, closed after it: `start` makes one (bookmarks every 50 ms unless `options` say
 * otherwise), `kc` is its kubeconfig.
 */
export const simPerTest = () => {
  let sim: SimServer | undefined
  let kc: KubeConfig | undefined
  afterEach(async () => {
    await sim?.close()
    sim = undefined
  })
  return {
    start: async (options: SimServerOptions = {}): Promise<SimServer> => {
      const s = await startSimServer({ bookmarkIntervalMs: 50, ...options })
      sim = s
      kc = simKubeConfig(s.url)
      return s
    },
    get kc(): KubeConfig {
      if (kc === undefined) throw new Error("no simulated API server started in this test")
      return kc
    }
  }
}

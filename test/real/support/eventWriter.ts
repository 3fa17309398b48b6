/** Events written and repeated through the real API, as a kubelet or a controller would. */
import type { KubeClient, KubeObject } from "./controlPlane.ts"

export const now = (): string => new Date().toISOString()
/** events.k8s.io/v1 `eventTime` and `series.lastObservedTime` are MicroTime: six decimals. */
const microNow = (): string => new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000Z")

/** A core/v1 Event about a pod, with `count` 1. */
export const coreEvent = (namespace: string, name: string, pod = `${name}-pod`): KubeObject => ({
  apiVersion: "v1",
  kind: "Event",
  metadata: { name, namespace },
  involvedObject: { apiVersion: "v1", kind: "Pod", namespace, name: pod },
  reason: "BackOff",
  message: "Back-off restarting failed container app",
  type: "Warning",
  count: 1,
  firstTimestamp: now(),
  lastTimestamp: now(),
  source: { component: "test-real" },
  reportingComponent: "test-real",
  reportingInstance: "test-real-1"
})

/** An events.k8s.io/v1 Event about a pod, not yet a series. */
const seriesEvent = (namespace: string, name: string): KubeObject => ({
  apiVersion: "events.k8s.io/v1",
  kind: "Event",
  metadata: { name, namespace },
  regarding: { apiVersion: "v1", kind: "Pod", namespace, name: `${name}-pod` },
  eventTime: microNow(),
  reportingController: "example.com/test-real",
  reportingInstance: "test-real-1",
  action: "Probing",
  reason: "Unhealthy",
  note: "Readiness probe failed",
  type: "Warning"
})

/**
 * Creates Events and repeats them: core/v1 ones by raising `count`, events.k8s.io/v1 ones by raising
 * `series.count`. A write refused (the API server down) is left out: the audit log has only what was stored.
 */
export class EventWriter {
  readonly #client: KubeClient
  readonly #namespace: string
  readonly #counts = new Map<string, number>()
  #n = 0
  #stopped = false
  #paused = false
  #current: Promise<void> = Promise.resolve()
  #loop: Promise<void> | undefined

  constructor(client: KubeClient, namespace: string) {
    this.#client = client
    this.#namespace = namespace
  }

  /** One write: every fourth a new Event (one in two of those core/v1), else a repeat of an earlier one. */
  async step(): Promise<void> {
    const n = ++this.#n
    const ns = this.#namespace
    try {
      if (n % 4 === 1) {
        const name = `api-${n}`
        const object = n % 8 === 1 ? coreEvent(ns, name) : seriesEvent(ns, name)
        await this.#client.create(object)
        this.#counts.set(`${String(object["apiVersion"])}|${name}`, 1)
        return
      }
      const keys = [...this.#counts.keys()]
      const key = keys[n % keys.length] ?? ""
      const [apiVersion, name] = key.split("|")
      const next = (this.#counts.get(key) ?? 1) + 1
      const patch = "application/merge-patch+json"
      if (apiVersion === "v1") {
        await this.#client.ok(
          "PATCH",
          `/api/v1/namespaces/${ns}/events/${name}`,
          { count: next, lastTimestamp: now() },
          patch
        )
      } else {
        await this.#client.ok(
          "PATCH",
          `/apis/events.k8s.io/v1/namespaces/${ns}/events/${name}`,
          { series: { count: next, lastObservedTime: microNow() } },
          patch
        )
      }
      this.#counts.set(key, next)
    } catch {
      // Not stored: nothing to expect.
    }
  }

  /** Writes every `everyMs` until `stop`, except while paused. */
  start(everyMs: number): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        if (!this.#paused) {
          this.#current = this.step()
          await this.#current
        }
        await new Promise((r) => setTimeout(r, everyMs))
      }
    })()
  }

  /** No more writes until `resume`; resolves once the write in progress is done. */
  async pause(): Promise<void> {
    this.#paused = true
    await this.#current
  }

  resume(): void {
    this.#paused = false
  }

  async stop(): Promise<void> {
    this.#stopped = true
    await this.#loop
  }
}

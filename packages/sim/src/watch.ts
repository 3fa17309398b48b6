/**
 * One watch connection: a chunked `application/json` stream of newline-separated
 * `{"type":…,"object":…}` documents, written with backpressure, with bookmarks, a timeout,
 * and the watch faults (drop the connection after K events, stay silent).
 */
import type { ServerResponse } from "node:http"
import type { StoreChange, StoredObject, VersionedStore } from "./store.ts"
import type { ResourceType } from "./resources.ts"
import type { Status } from "./status.ts"

/** How a resource is presented by one API group/version (events: core/v1 or events.k8s.io/v1). */
export interface View {
  readonly name: string
  readonly apiVersion: string
  readonly kind: string
  readonly listKind: string
  readonly render: (o: StoredObject["object"]) => unknown
}

export interface WatchSetup {
  readonly store: VersionedStore
  readonly resource: ResourceType
  readonly view: View
  readonly namespace: string | undefined
  readonly matches: (o: StoredObject) => boolean
  /** Objects to send as synthetic ADDED events first (RV unset / "0" / sendInitialEvents). */
  readonly initial: ReadonlyArray<StoredObject> | undefined
  /** Changes to replay first (RV=N). */
  readonly replay: ReadonlyArray<StoreChange> | undefined
  /** Only changes with a greater resourceVersion are sent live. */
  readonly fromRv: number
  readonly allowBookmarks: boolean
  /** Send the `k8s.io/initial-events-end` bookmark after the initial events. */
  readonly initialEventsEndBookmark: boolean
  /** Periodic bookmarks (only when allowBookmarks); undefined = never. */
  readonly bookmarkIntervalMs: number | undefined
  readonly timeoutMs: number | undefined
  readonly dropAfterEvents: number | undefined
  readonly silent: boolean
  readonly onClose: () => void
}

const HIGH_WATER = 64 * 1024

export class WatchStream {
  readonly #res: ServerResponse
  readonly #setup: WatchSetup
  #initialIndex = 0
  #pending: string[] = []
  #pendingHead = 0
  #waitingDrain = false
  #sent = 0
  #closed = false
  #lastRv: number
  #unsubscribe: (() => void) | undefined
  #bookmarkTimer: NodeJS.Timeout | undefined
  #timeoutTimer: NodeJS.Timeout | undefined

  constructor(res: ServerResponse, setup: WatchSetup) {
    this.#res = res
    this.#setup = setup
    this.#lastRv = setup.fromRv
    res.on("close", () => this.#cleanup())
  }

  /** Sends headers and starts streaming. Must be called in the same tick the setup was computed in. */
  start(): void {
    const s = this.#setup
    this.#res.writeHead(200, {
      "Content-Type": "application/json",
      "Cache-Control": "no-cache, private",
      "Transfer-Encoding": "chunked"
    })
    this.#res.flushHeaders()
    if (s.silent) return
    for (const c of s.replay ?? []) this.#onChange(c)
    this.#unsubscribe = s.store.subscribe((c) => this.#onChange(c))
    if (s.initialEventsEndBookmark && s.allowBookmarks) {
      // After the initial ADDED events, which #flush sends before anything pending.
      this.#pending.push(this.#bookmarkLine(Math.max(s.fromRv, s.store.resourceVersion), true))
    }
    if (s.allowBookmarks && s.bookmarkIntervalMs !== undefined) {
      this.#bookmarkTimer = setInterval(() => {
        this.#push(this.#bookmarkLine(Math.max(this.#lastRv, s.fromRv, s.store.resourceVersion), false))
      }, s.bookmarkIntervalMs)
    }
    if (s.timeoutMs !== undefined) {
      this.#timeoutTimer = setTimeout(() => this.end(), s.timeoutMs)
    }
    this.#flush()
  }

  /** A single in-band ERROR event (e.g. 410 Expired) on a 200 stream, then the end of the stream. */
  static error(res: ServerResponse, status: Status): void {
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Cache-Control": "no-cache, private",
      "Transfer-Encoding": "chunked"
    })
    res.end(`${JSON.stringify({ type: "ERROR", object: status })}\n`)
  }

  /** Ends the stream gracefully (timeout, server shutdown). */
  end(): void {
    if (this.#closed) return
    this.#cleanup()
    this.#res.end()
  }

  get closed(): boolean {
    return this.#closed
  }

  #cleanup(): void {
    if (this.#closed) return
    this.#closed = true
    this.#unsubscribe?.()
    if (this.#bookmarkTimer !== undefined) clearInterval(this.#bookmarkTimer)
    if (this.#timeoutTimer !== undefined) clearTimeout(this.#timeoutTimer)
    this.#pending = []
    this.#setup.onClose()
  }

  #onChange(c: StoreChange): void {
    const s = this.#setup
    if (c.rv <= s.fromRv || c.resource !== s.resource) return
    if (s.namespace !== undefined && c.object.namespace !== s.namespace) return
    const wasIn = c.prev !== undefined && s.matches(c.prev)
    let type: "ADDED" | "MODIFIED" | "DELETED" | undefined
    if (c.type === "DELETED") type = wasIn ? "DELETED" : undefined
    else {
      // An object moving into or out of a field/label selector's set is ADDED / DELETED for this watch.
      const isIn = s.matches(c.object)
      type = isIn ? (wasIn ? "MODIFIED" : "ADDED") : wasIn ? "DELETED" : undefined
    }
    this.#lastRv = c.rv
    if (type !== undefined) this.#push(this.#eventLine(type, c.object))
  }

  #eventLine(type: string, o: StoredObject): string {
    const v = this.#setup.view
    return `{"type":"${type}","object":${o.serialized(v.name, v.render)}}\n`
  }

  #bookmarkLine(rv: number, initialEventsEnd: boolean): string {
    const v = this.#setup.view
    const metadata = initialEventsEnd
      ? { resourceVersion: String(rv), annotations: { "k8s.io/initial-events-end": "true" } }
      : { resourceVersion: String(rv) }
    return `${JSON.stringify({ type: "BOOKMARK", object: { kind: v.kind, apiVersion: v.apiVersion, metadata } })}\n`
  }

  #push(line: string): void {
    if (this.#closed) return
    this.#pending.push(line)
    this.#flush()
  }

  #nextLine(): string | undefined {
    const initial = this.#setup.initial
    if (initial !== undefined && this.#initialIndex < initial.length) {
      return this.#eventLine("ADDED", initial[this.#initialIndex++] as StoredObject)
    }
    if (this.#pendingHead < this.#pending.length) {
      const line = this.#pending[this.#pendingHead++] as string
      if (this.#pendingHead > 1024 && this.#pendingHead * 2 > this.#pending.length) {
        this.#pending = this.#pending.slice(this.#pendingHead)
        this.#pendingHead = 0
      }
      return line
    }
    return undefined
  }

  #flush(): void {
    const drop = this.#setup.dropAfterEvents
    while (!this.#closed && !this.#waitingDrain) {
      if (drop !== undefined && this.#sent >= drop) {
        this.#drop()
        return
      }
      let chunk = ""
      let line: string | undefined
      while (
        chunk.length < HIGH_WATER &&
        (drop === undefined || this.#sent < drop) &&
        (line = this.#nextLine()) !== undefined
      ) {
        chunk += line
        this.#sent++
      }
      if (chunk === "") return
      if (drop !== undefined && this.#sent >= drop) {
        // Let the K events reach the socket before cutting it mid-stream (no terminating chunk).
        this.#res.write(chunk, () => this.#drop())
        this.#waitingDrain = true
        return
      }
      if (!this.#res.write(chunk)) {
        this.#waitingDrain = true
        this.#res.once("drain", () => {
          this.#waitingDrain = false
          this.#flush()
        })
      }
    }
  }

  #drop(): void {
    const socket = this.#res.socket
    this.#cleanup()
    socket?.destroy()
  }
}

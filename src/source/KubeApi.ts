/**
 * The two calls the collector makes to read a collection (Events for the source; pods, ReplicaSets and Jobs for
 * the enricher's caches): list (through the shared `KubeHttp`) and watch (a streamed GET over `node:http(s)`, set
 * up by client-node's `KubeConfig.applyToHTTPSOptions`: the same credentials, TLS and proxy agent). Responses stay
 * raw JSON; each caller decodes the items with its own schema.
 *
 * The watch is read here rather than by client-node's `Watch`, which reads through `fetch`'s web stream and
 * `readline`, cannot pause (a slow reader could only close the watch and reconnect), and drops a line that is
 * not JSON without a word. Reading the socket directly costs a fraction of that, pauses by not reading, and
 * reports every malformed line.
 */
import * as Http from "node:http"
import * as Https from "node:https"
import { Context, Effect, Layer, Schema } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { makeKubeHttp } from "../kube/KubeHttp.ts"
import { KubeApiError, parseJson } from "../kube/KubeApiError.ts"
import type { EventApi } from "../domain/KubeEvent.ts"
import { isRecord } from "../domain/isRecord.ts"
import { LineSplitter } from "./lines.ts"

/** One watched collection: an API and a namespace (or all of them), with an optional server-side filter. */
export interface WatchTarget {
  readonly api: EventApi
  readonly namespace: string | undefined
  readonly fieldSelector: string | undefined
}

/** A collection to list and watch: its path, an optional server-side filter, and the media type asked for. */
export interface Collection {
  readonly path: string
  readonly fieldSelector: string | undefined
  /** The `Accept` header (default `application/json`), e.g. a metadata-only `PartialObjectMetadataList`. */
  readonly accept?: { readonly list: string; readonly watch: string }
}

export const targetKey = (t: WatchTarget): string => `${t.api}/${t.namespace ?? "*"}`

const eventsPath = (t: Pick<WatchTarget, "api" | "namespace">): string => {
  const base = t.api === "core/v1" ? "/api/v1" : "/apis/events.k8s.io/v1"
  return t.namespace === undefined ? `${base}/events` : `${base}/namespaces/${encodeURIComponent(t.namespace)}/events`
}

export const eventCollection = (t: WatchTarget): Collection => ({ path: eventsPath(t), fieldSelector: t.fieldSelector })

const ListBody = Schema.Struct({
  metadata: Schema.optional(
    Schema.Struct({
      resourceVersion: Schema.optional(Schema.String),
      continue: Schema.optional(Schema.String)
    })
  ),
  items: Schema.NullOr(Schema.Array(Schema.Unknown))
})
const decodeListBody = Schema.decodeUnknownEither(ListBody)

export interface ListRequest {
  readonly collection: Collection
  readonly limit: number
  readonly continueToken: string | undefined
}

export interface ListPage {
  readonly items: ReadonlyArray<unknown>
  readonly resourceVersion: string
  readonly continueToken: string | undefined
}

export interface WatchRequest {
  readonly collection: Collection
  readonly resourceVersion: string
  readonly timeoutSeconds: number
  /** The watch ends with a `TimeoutError` when nothing, not even a bookmark, arrived for this long. */
  readonly idleTimeoutMs: number
}

/** How a watch ended. */
export type WatchEnd =
  /** The server ended the stream: its timeout, as asked. */
  | { readonly _tag: "Closed" }
  /** Nothing arrived, not even a bookmark, for `idleTimeoutMs`: the collector ended it. */
  | { readonly _tag: "Idle" }
  /** Ended by its `stop`. */
  | { readonly _tag: "Stopped" }
  /** Refused (`status`), or the connection failed or was cut (no `status`). */
  | { readonly _tag: "Failed"; readonly error: KubeApiError }

/** One event of a watch stream: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`, and its object. */
export interface WatchEvent {
  readonly type: string
  readonly object: unknown
}

/** What a watch reports: each event as it arrives, each line that is not one, then exactly one end. */
interface WatchHandlers {
  readonly onEvent: (event: WatchEvent) => void
  /** A line that is not a JSON watch event (`{"type": …, "object": …}`); it is skipped. */
  readonly onMalformed: (detail: string) => void
  readonly onEnd: (end: WatchEnd) => void
}

/**
 * A running watch. `pause` stops reading the connection (TCP backpressure reaches the server; the idle limit
 * does not count while paused) and `resume` reads on; `stop` ends it, reported as `Stopped`.
 */
export interface WatchHandle {
  readonly pause: () => void
  readonly resume: () => void
  readonly stop: () => void
}

export interface KubeApiShape {
  /** The API server's address, for messages. */
  readonly server: string
  readonly list: (request: ListRequest) => Effect.Effect<ListPage, KubeApiError>
  readonly watch: (request: WatchRequest, handlers: WatchHandlers) => Effect.Effect<WatchHandle>
}

export class KubeApi extends Context.Tag("KubeApi")<KubeApi, KubeApiShape>() {
  static readonly layer = (kc: KubeConfig) => Layer.succeed(KubeApi, make(kc))
}

const make = (kc: KubeConfig): KubeApiShape => {
  const http = makeKubeHttp(kc)

  const list = (request: ListRequest) =>
    Effect.gen(function* () {
      const query = new URLSearchParams({ limit: String(request.limit) })
      if (request.continueToken !== undefined) query.set("continue", request.continueToken)
      const { collection } = request
      if (collection.fieldSelector !== undefined) query.set("fieldSelector", collection.fieldSelector)
      const path = `${collection.path}?${query}`
      const response = yield* http.call(
        "list",
        "GET",
        path,
        collection.accept === undefined ? {} : { accept: collection.accept.list }
      )
      const body = decodeListBody(parseJson(response.text))
      if (body._tag === "Left") {
        return yield* KubeApiError.decode("list", "the answer is not a list", body.left)
      }
      return {
        items: body.right.items ?? [],
        resourceVersion: body.right.metadata?.resourceVersion ?? "",
        continueToken: body.right.metadata?.continue || undefined
      }
    })

  const watch = (request: WatchRequest, handlers: WatchHandlers) =>
    Effect.sync(() => startWatch(kc, http.server, request, handlers))

  return { server: http.server, list, watch }
}

/** Bodies of refused watches are read up to this size, for the Status message. */
const MAX_ERROR_BODY = 64 * 1024

const startWatch = (kc: KubeConfig, server: string, request: WatchRequest, handlers: WatchHandlers): WatchHandle => {
  const watch = new RunningWatch(request, handlers)
  watch.connect(kc, watchUrl(server, request))
  return { pause: () => watch.pause(), resume: () => watch.resume(), stop: () => watch.end({ _tag: "Stopped" }) }
}

const watchUrl = (server: string, request: WatchRequest): URL => {
  const { collection } = request
  const url = new URL(server + collection.path)
  url.searchParams.set("watch", "true")
  url.searchParams.set("resourceVersion", request.resourceVersion)
  url.searchParams.set("allowWatchBookmarks", "true")
  url.searchParams.set("timeoutSeconds", String(request.timeoutSeconds))
  if (collection.fieldSelector !== undefined) url.searchParams.set("fieldSelector", collection.fieldSelector)
  return url
}

/** A JSON object with a string `type`: a watch event as the server sent it, used as it was parsed. */
const isWatchEvent = (u: unknown): u is WatchEvent => isRecord(u) && typeof u["type"] === "string"

/** One line of a watch stream: a watch event, or why it is not one. */
const parseWatchLine = (text: string): WatchEvent | { readonly malformed: string } => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    return {
      malformed: `a watch line is not JSON (${e instanceof Error ? e.message : String(e)}): ${text.slice(0, 120)}`
    }
  }
  if (!isWatchEvent(parsed)) {
    return { malformed: `a watch line is not a watch event (no "type"): ${text.slice(0, 120)}` }
  }
  return parsed
}

/** One watch connection, from the request to its one end. */
class RunningWatch {
  #ended = false
  #paused = false
  #outgoing: Http.ClientRequest | undefined
  #response: Http.IncomingMessage | undefined
  #lastActivity = Date.now()
  /** Delivers the lines read and not yet delivered (and the end, if the stream ended), until the next pause. */
  #deliverHeld = () => {}
  readonly #idleCheck: NodeJS.Timeout

  readonly #request: WatchRequest
  readonly #handlers: WatchHandlers

  constructor(request: WatchRequest, handlers: WatchHandlers) {
    this.#request = request
    this.#handlers = handlers
    this.#idleCheck = this.#startIdleCheck()
  }

  /** One cheap check on an interval instead of re-arming a timer for every chunk read. */
  #startIdleCheck(): NodeJS.Timeout {
    const { idleTimeoutMs } = this.#request
    const timer = setInterval(
      () => {
        if (!this.#paused && Date.now() - this.#lastActivity > idleTimeoutMs) this.end({ _tag: "Idle" })
      },
      Math.max(20, Math.min(1000, idleTimeoutMs / 4))
    )
    timer.unref()
    return timer
  }

  /** Sends the GET with the kubeconfig's credentials, TLS and agent. */
  connect(kc: KubeConfig, url: URL): void {
    const send = async () => {
      const options: Https.RequestOptions = {}
      await kc.applyToHTTPSOptions(options)
      if (this.#ended) return
      const request = url.protocol === "https:" ? Https.request : Http.request
      const req = request(url, {
        ...options,
        method: "GET",
        headers: { ...options.headers, Accept: this.#request.collection.accept?.watch ?? "application/json" }
      })
      this.#outgoing = req
      req.on("response", (res) => this.#answered(res))
      req.on("error", (e) => this.#failed(KubeApiError.transport("watch", e)))
      req.end()
    }
    send().catch((e: unknown) => this.#failed(KubeApiError.transport("watch", e)))
  }

  end(how: WatchEnd): void {
    if (this.#ended) return
    this.#ended = true
    clearInterval(this.#idleCheck)
    this.#outgoing?.destroy()
    this.#handlers.onEnd(how)
  }

  pause(): void {
    if (this.#paused) return
    this.#paused = true
    this.#response?.pause()
  }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    this.#lastActivity = Date.now()
    this.#deliverHeld()
    if (!this.#paused && !this.#ended) this.#response?.resume()
  }

  #failed(error: KubeApiError): void {
    this.end({ _tag: "Failed", error })
  }

  #line(text: string): void {
    if (text.length === 0) return
    const parsed = parseWatchLine(text)
    if ("malformed" in parsed) this.#handlers.onMalformed(parsed.malformed)
    else this.#handlers.onEvent(parsed)
  }

  #answered(res: Http.IncomingMessage): void {
    this.#response = res
    this.#lastActivity = Date.now()
    if (res.statusCode === 200) this.#readLines(res)
    else this.#readRefusal(res)
  }

  /** A refused watch: its body (a Status, usually) says why. */
  #readRefusal(res: Http.IncomingMessage): void {
    const status = res.statusCode ?? 0
    let body = ""
    res.setEncoding("utf8")
    res.on("data", (chunk: string) => {
      if (body.length < MAX_ERROR_BODY) body += chunk
    })
    res.on("end", () => {
      const retryAfter = headerText(res.headers["retry-after"])
      const headers = retryAfter === undefined ? {} : { "retry-after": retryAfter }
      this.#failed(KubeApiError.refused("watch", { status, headers, text: body }))
    })
    res.on("error", (e) => this.#failed(KubeApiError.transport("watch", e, `the answer (HTTP ${status}) was cut`)))
  }

  /** The stream, line by line; a pause holds the lines already read until `resume`. */
  #readLines(res: Http.IncomingMessage): void {
    const lines = new LineSplitter()
    // Delivers the lines read and not yet delivered until a handler pauses or stops the watch; once the stream has
    // ended and every line is delivered, the end.
    this.#deliverHeld = () => {
      while (!this.#paused && !this.#ended) {
        const line = lines.next()
        if (line === undefined) {
          if (lines.ended) this.end({ _tag: "Closed" })
          return
        }
        this.#line(line)
      }
    }
    res.on("data", (chunk: Buffer) => {
      this.#lastActivity = Date.now()
      lines.push(chunk)
      this.#deliverHeld()
    })
    res.on("end", () => {
      lines.end()
      this.#deliverHeld()
    })
    // Destroyed before its end: the connection was cut.
    res.on("close", () => {
      if (!res.complete)
        this.#failed(KubeApiError.transport("watch", undefined, "the connection was closed during the watch"))
    })
    res.on("error", (e) => this.#failed(KubeApiError.transport("watch", e)))
    // A `data` listener set the stream flowing; a pause asked before the answer came holds from here.
    if (this.#paused) res.pause()
  }
}

const headerText = (value: string | ReadonlyArray<string> | undefined): string | undefined =>
  typeof value === "string" ? value : value?.[0]

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
import { failureDetail, makeKubeHttp, networkDetail, parseJson, type Status } from "../kube/KubeHttp.ts"
import type { EventApi } from "../domain/KubeEvent.ts"
import { isRecord } from "../domain/isRecord.ts"

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

export const eventsPath = (t: Pick<WatchTarget, "api" | "namespace">): string => {
  const base = t.api === "core/v1" ? "/api/v1" : "/apis/events.k8s.io/v1"
  return t.namespace === undefined ? `${base}/events` : `${base}/namespaces/${encodeURIComponent(t.namespace)}/events`
}

/** A failed call, with what the API server said. `status` is absent when no HTTP answer arrived. */
export const eventCollection = (t: WatchTarget): Collection => ({ path: eventsPath(t), fieldSelector: t.fieldSelector })

export class KubeApiError extends Schema.TaggedError<KubeApiError>()("KubeApiError", {
  verb: Schema.Literal("list", "watch"),
  status: Schema.optional(Schema.Number),
  reason: Schema.optional(Schema.String),
  detail: Schema.String,
  retryAfterSeconds: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    const reason = this.reason ? ` ${this.reason}` : ""
    const status = this.status === undefined ? "" : ` with HTTP ${this.status}${reason}`
    return `${this.verb} failed${status}: ${this.detail}`
  }
}

export { decodeStatus, type Status } from "../kube/KubeHttp.ts"

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

/** What a watch reports: each event as it arrives, each line that is not one, then exactly one end. */
export interface WatchHandlers {
  readonly onEvent: (type: string, object: unknown) => void
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

const retryAfterOf = (header: string | undefined, status: Status | undefined): number | undefined => {
  const fromHeader = header === undefined ? NaN : Number(header)
  if (Number.isFinite(fromHeader) && fromHeader >= 0) return fromHeader
  return status?.details?.retryAfterSeconds
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
      const response = yield* http
        .request("GET", path, undefined, collection.accept?.list)
        .pipe(Effect.mapError((e) => new KubeApiError({ verb: "list", detail: e.message })))
      if (response.status !== 200) {
        const { detail, status } = failureDetail(response)
        return yield* new KubeApiError({
          verb: "list",
          status: response.status,
          ...(status?.reason ? { reason: status.reason } : {}),
          detail,
          ...optionalRetryAfter(retryAfterOf(response.headers["retry-after"], status))
        })
      }
      const body = decodeListBody(parseJson(response.text))
      if (body._tag === "Left") {
        return yield* new KubeApiError({ verb: "list", status: 200, detail: "the answer is not a list" })
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

const optionalRetryAfter = (seconds: number | undefined) =>
  seconds === undefined ? {} : { retryAfterSeconds: seconds }

/** Bodies of refused watches are read up to this size, for the Status message. */
const MAX_ERROR_BODY = 64 * 1024

const startWatch = (kc: KubeConfig, server: string, request: WatchRequest, handlers: WatchHandlers): WatchHandle => {
  const { collection } = request
  const url = new URL(server + collection.path)
  url.searchParams.set("watch", "true")
  url.searchParams.set("resourceVersion", request.resourceVersion)
  url.searchParams.set("allowWatchBookmarks", "true")
  url.searchParams.set("timeoutSeconds", String(request.timeoutSeconds))
  if (collection.fieldSelector !== undefined) url.searchParams.set("fieldSelector", collection.fieldSelector)

  let ended = false
  let paused = false
  let outgoing: Http.ClientRequest | undefined
  let response: Http.IncomingMessage | undefined
  let lastActivity = Date.now()
  /** Delivers the lines read and not yet delivered (and the end, if the stream ended), until the next pause. */
  let deliverHeld = () => {}
  // One cheap check on an interval instead of re-arming a timer for every chunk read.
  const idleCheck = setInterval(
    () => {
      if (!paused && Date.now() - lastActivity > request.idleTimeoutMs) end({ _tag: "Idle" })
    },
    Math.max(20, Math.min(1000, request.idleTimeoutMs / 4))
  )
  idleCheck.unref()

  const end = (how: WatchEnd) => {
    if (ended) return
    ended = true
    clearInterval(idleCheck)
    outgoing?.destroy()
    handlers.onEnd(how)
  }
  const failed = (detail: string, status?: number, body?: string, retryAfter?: string) => {
    const parsed = body === undefined ? undefined : failureDetail({ status: status ?? 0, headers: {}, text: body })
    const retryAfterSeconds = retryAfterOf(retryAfter, parsed?.status)
    end({
      _tag: "Failed",
      error: new KubeApiError({
        verb: "watch",
        ...(status === undefined ? {} : { status }),
        ...(parsed?.status?.reason ? { reason: parsed.status.reason } : {}),
        detail: parsed?.detail ?? detail,
        ...optionalRetryAfter(retryAfterSeconds)
      })
    })
  }

  const line = (text: string) => {
    if (text.length === 0 || text === "\r") return
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (e) {
      handlers.onMalformed(
        `a watch line is not JSON (${e instanceof Error ? e.message : String(e)}): ${text.slice(0, 120)}`
      )
      return
    }
    if (!isRecord(parsed) || typeof parsed["type"] !== "string") {
      handlers.onMalformed(`a watch line is not a watch event (no "type"): ${text.slice(0, 120)}`)
      return
    }
    handlers.onEvent(parsed["type"], parsed["object"])
  }

  const read = (res: Http.IncomingMessage) => {
    response = res
    lastActivity = Date.now()
    const status = res.statusCode ?? 0
    if (status !== 200) {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        if (body.length < MAX_ERROR_BODY) body += chunk
      })
      res.on("end", () =>
        failed(res.statusMessage || `HTTP ${status}`, status, body, headerText(res.headers["retry-after"]))
      )
      res.on("error", (e) => failed(networkDetail(e), status))
      return
    }
    // Text read and not yet delivered: complete lines a pause held back, then the start of the next line.
    let rest = ""
    let complete = false
    // Delivers the complete lines in `rest` until a handler pauses or stops the watch; once the stream has ended
    // and nothing is held back, the last line without a newline and the end.
    deliverHeld = () => {
      let start = 0
      let nl = rest.indexOf("\n")
      while (nl !== -1 && !paused && !ended) {
        line(rest.slice(start, nl))
        start = nl + 1
        nl = rest.indexOf("\n", start)
      }
      rest = rest.slice(start)
      if (!complete || paused || ended) return
      if (rest.length > 0) line(rest)
      end({ _tag: "Closed" })
    }
    res.setEncoding("utf8")
    res.on("data", (chunk: string) => {
      lastActivity = Date.now()
      rest += chunk
      deliverHeld()
    })
    res.on("end", () => {
      complete = true
      deliverHeld()
    })
    // Destroyed before its end: the connection was cut.
    res.on("close", () => {
      if (!res.complete) failed("the connection was closed during the watch")
    })
    res.on("error", (e) => failed(networkDetail(e)))
    // A `data` listener set the stream flowing; a pause asked before the answer came holds from here.
    if (paused) res.pause()
  }

  const connect = async () => {
    const options: Https.RequestOptions = {}
    await kc.applyToHTTPSOptions(options)
    if (ended) return
    const send = url.protocol === "https:" ? Https.request : Http.request
    const req = send(url, {
      ...options,
      method: "GET",
      headers: { ...options.headers, Accept: collection.accept?.watch ?? "application/json" }
    })
    outgoing = req
    req.on("response", read)
    req.on("error", (e) => failed(networkDetail(e)))
    req.end()
  }
  connect().catch((e: unknown) => failed(networkDetail(e)))

  return {
    pause: () => {
      if (paused) return
      paused = true
      response?.pause()
    },
    resume: () => {
      if (!paused) return
      paused = false
      lastActivity = Date.now()
      deliverHeld()
      if (!paused && !ended) response?.resume()
    },
    stop: () => end({ _tag: "Stopped" })
  }
}

const headerText = (value: string | ReadonlyArray<string> | undefined): string | undefined =>
  typeof value === "string" ? value : value?.[0]

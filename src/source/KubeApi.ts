/**
 * The two calls the collector makes to read Events: list (through the shared `KubeHttp`) and watch (through
 * client-node's `Watch`). Responses stay raw JSON; `decodeKubeEvent` does the decoding.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { type KubeConfig, Watch } from "@kubernetes/client-node"
import { failureDetail, makeKubeHttp, parseJson, type Status } from "../kube/KubeHttp.ts"
import type { EventApi } from "../domain/KubeEvent.ts"

/** One watched collection: an API and a namespace (or all of them), with an optional server-side filter. */
export interface WatchTarget {
  readonly api: EventApi
  readonly namespace: string | undefined
  readonly fieldSelector: string | undefined
}

export const targetKey = (t: WatchTarget): string => `${t.api}/${t.namespace ?? "*"}`

export const eventsPath = (t: Pick<WatchTarget, "api" | "namespace">): string => {
  const base = t.api === "core/v1" ? "/api/v1" : "/apis/events.k8s.io/v1"
  return t.namespace === undefined ? `${base}/events` : `${base}/namespaces/${encodeURIComponent(t.namespace)}/events`
}

/** A failed call, with what the API server said. `status` is absent when no HTTP answer arrived. */
export class KubeApiError extends Schema.TaggedError<KubeApiError>()("KubeApiError", {
  verb: Schema.Literal("list", "watch"),
  status: Schema.optional(Schema.Number),
  reason: Schema.optional(Schema.String),
  detail: Schema.String,
  retryAfterSeconds: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `${this.verb} failed${this.status === undefined ? "" : ` with HTTP ${this.status}${this.reason ? ` ${this.reason}` : ""}`}: ${this.detail}`
  }
}

export { decodeStatus, type Status } from "../kube/KubeHttp.ts"

const ListBody = Schema.Struct({
  metadata: Schema.optional(Schema.Struct({
    resourceVersion: Schema.optional(Schema.String),
    continue: Schema.optional(Schema.String)
  })),
  items: Schema.NullOr(Schema.Array(Schema.Unknown))
})
const decodeListBody = Schema.decodeUnknownEither(ListBody)

export interface ListRequest {
  readonly target: WatchTarget
  readonly limit: number
  readonly continueToken: string | undefined
}

export interface ListPage {
  readonly items: ReadonlyArray<unknown>
  readonly resourceVersion: string
  readonly continueToken: string | undefined
}

export interface WatchRequest {
  readonly target: WatchTarget
  readonly resourceVersion: string
  readonly timeoutSeconds: number
  /** The watch ends with a `TimeoutError` when nothing, not even a bookmark, arrived for this long. */
  readonly idleTimeoutMs: number
}

/** What a watch reports: each event as it arrives, then exactly one end. */
export interface WatchHandlers {
  readonly onEvent: (type: string, object: unknown) => void
  readonly onEnd: (error: unknown) => void
}

export interface KubeApiShape {
  /** The API server's address, for messages. */
  readonly server: string
  readonly list: (request: ListRequest) => Effect.Effect<ListPage, KubeApiError>
  /** Starts a watch; the returned function stops it (its end is then reported as an abort). */
  readonly watch: (request: WatchRequest, handlers: WatchHandlers) => Effect.Effect<() => void>
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
    Effect.gen(function*() {
      const query = new URLSearchParams({ limit: String(request.limit) })
      if (request.continueToken !== undefined) query.set("continue", request.continueToken)
      if (request.target.fieldSelector !== undefined) query.set("fieldSelector", request.target.fieldSelector)
      const response = yield* http.request("GET", `${eventsPath(request.target)}?${query}`).pipe(
        Effect.mapError((e) => new KubeApiError({ verb: "list", detail: e.detail }))
      )
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
    Effect.sync(() => {
      const watcher = new Watch(kc)
      // client-node ends a watch that sent nothing for a fixed 30 s; the collector makes that limit a setting.
      Reflect.set(watcher, "requestTimeoutMs", request.idleTimeoutMs)
      let controller: AbortController | undefined
      let stopped = false
      const query: Record<string, string | number | boolean> = {
        resourceVersion: request.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: request.timeoutSeconds
      }
      if (request.target.fieldSelector !== undefined) query["fieldSelector"] = request.target.fieldSelector
      void watcher
        .watch(eventsPath(request.target), query, (type, object) => handlers.onEvent(type, object), handlers.onEnd)
        .then((c) => {
          controller = c
          if (stopped) c.abort()
        }, handlers.onEnd)
      return () => {
        stopped = true
        controller?.abort()
      }
    })

  return { server: http.server, list, watch }
}

const optionalRetryAfter = (seconds: number | undefined) => (seconds === undefined ? {} : { retryAfterSeconds: seconds })

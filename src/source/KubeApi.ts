/**
 * The two calls the collector makes to the Kubernetes API, list and watch of Events, through
 * `@kubernetes/client-node`: its KubeConfig does the authentication and TLS, its HTTP library the list and its
 * `Watch` the watch. Responses stay raw JSON (the typed models would turn timestamps into `Date`s, losing
 * microseconds, and cost a deserialisation pass per object); `decodeKubeEvent` does the decoding.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { HttpMethod, IsomorphicFetchHttpLibrary, type KubeConfig, RequestContext, Watch } from "@kubernetes/client-node"
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

const Status = Schema.Struct({
  kind: Schema.optional(Schema.String),
  code: Schema.optional(Schema.Number),
  reason: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  details: Schema.optional(Schema.Struct({ retryAfterSeconds: Schema.optional(Schema.Number) }))
})
export type Status = typeof Status.Type
export const decodeStatus = Schema.decodeUnknownOption(Status)

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

const networkDetail = (error: unknown): string => {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined
  const code = cause !== undefined && "code" in cause && typeof cause.code === "string" ? cause.code : undefined
  const message = error instanceof Error ? error.message : String(error)
  return code !== undefined ? `${message} (${code}${cause?.message ? `: ${cause.message}` : ""})` : message
}

const make = (kc: KubeConfig): KubeApiShape => {
  const server = kc.getCurrentCluster()?.server ?? "(no cluster in the kubeconfig)"
  const http = new IsomorphicFetchHttpLibrary()

  const list = (request: ListRequest) =>
    Effect.gen(function*() {
      const url = new URL(server.replace(/\/+$/, "") + eventsPath(request.target))
      url.searchParams.set("limit", String(request.limit))
      if (request.continueToken !== undefined) url.searchParams.set("continue", request.continueToken)
      if (request.target.fieldSelector !== undefined) url.searchParams.set("fieldSelector", request.target.fieldSelector)
      const ctx = new RequestContext(url.toString(), HttpMethod.GET)
      ctx.setHeaderParam("Accept", "application/json")
      const response = yield* Effect.tryPromise({
        try: async (signal) => {
          await kc.applySecurityAuthentication(ctx)
          ctx.setSignal(signal)
          const r = await http.send(ctx).toPromise()
          return { status: r.httpStatusCode, headers: r.headers, text: await r.body.text() }
        },
        catch: (error) => new KubeApiError({ verb: "list", detail: networkDetail(error) })
      })
      const parsed: unknown = yield* Effect.try({
        try: () => JSON.parse(response.text),
        catch: () => undefined
      }).pipe(Effect.orElseSucceed(() => undefined))
      if (response.status !== 200) {
        const status = Option.getOrUndefined(decodeStatus(parsed))
        return yield* new KubeApiError({
          verb: "list",
          status: response.status,
          ...(status?.reason ? { reason: status.reason } : {}),
          detail: status?.message ?? (response.text.trim().slice(0, 300) || "no details"),
          ...optionalRetryAfter(retryAfterOf(response.headers["retry-after"], status))
        })
      }
      const body = decodeListBody(parsed)
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

  return { server, list, watch }
}

const optionalRetryAfter = (seconds: number | undefined) => (seconds === undefined ? {} : { retryAfterSeconds: seconds })

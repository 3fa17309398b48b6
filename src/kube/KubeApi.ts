/**
 * The two calls that read a collection (Events for the source; pods, ReplicaSets and Jobs for the enricher's
 * caches): list, one page, and watch, a `Stream` of the lines of a streamed GET (`watchStream.ts`), both through
 * the same `KubeHttp` (its credentials, TLS and agent). Responses stay raw JSON; each caller decodes the objects
 * with its own schema. `listWatch.ts` puts the two together.
 */
import { Context, type Duration, Effect, Layer, Schema, Stream } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { makeKubeHttp, NO_CLUSTER, serverOf } from "./KubeHttp.ts"
import { KubeApiError, parseJson } from "./KubeApiError.ts"
import { type WatchLine, watchStream } from "./watchStream.ts"

/** A collection to list and watch: its path, an optional server-side filter, and the media type asked for. */
export interface Collection {
  readonly path: string
  readonly fieldSelector: string | undefined
  /** The `Accept` header (default `application/json`), e.g. a metadata-only `PartialObjectMetadataList`. */
  readonly accept?: { readonly list: string; readonly watch: string }
}

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
  /** Lines read and not yet taken at which the watch stops reading its socket until the consumer catches up. */
  readonly readAhead: number
  /** A pull that waits this long for a line, not even a bookmark coming, fails the watch as `Idle`. */
  readonly idleTimeout: Duration.Duration
}

export interface KubeApiShape {
  /** The API server's address, for messages. */
  readonly server: string
  readonly list: (request: ListRequest) => Effect.Effect<ListPage, KubeApiError>
  /**
   * The watch's lines, in the arrays they were read in: ends when the server ends the watch, fails when it is
   * refused, cut, ended by an `ERROR` event, or silent for `idleTimeout` while pulled (`Idle`). Stopping the
   * stream closes the connection.
   */
  readonly watch: (request: WatchRequest) => Stream.Stream<ReadonlyArray<WatchLine>, KubeApiError>
}

export class KubeApi extends Context.Tag("KubeApi")<KubeApi, KubeApiShape>() {
  static readonly layer = (kc: KubeConfig) => Layer.succeed(KubeApi, make(kc))
}

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

const listPath = (request: ListRequest): string => {
  const query = new URLSearchParams({ limit: String(request.limit) })
  if (request.continueToken !== undefined) query.set("continue", request.continueToken)
  const { collection } = request
  if (collection.fieldSelector !== undefined) query.set("fieldSelector", collection.fieldSelector)
  return `${collection.path}?${query}`
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

const make = (kc: KubeConfig): KubeApiShape => {
  const http = makeKubeHttp(kc)
  const server = serverOf(kc)

  const list = (request: ListRequest) =>
    Effect.gen(function* () {
      const accept = request.collection.accept
      const response = yield* http.call(
        "list",
        "GET",
        listPath(request),
        accept === undefined ? {} : { accept: accept.list }
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

  const watch = (request: WatchRequest) =>
    Effect.try({
      try: () => watchUrl(server, request),
      catch: (e) => KubeApiError.transport("watch", e, server === "" ? NO_CLUSTER : undefined)
    }).pipe(
      Effect.map((url) => watchStream(http, url, request.collection.accept?.watch ?? "application/json", request)),
      Stream.unwrap
    )

  return { server: http.server, list, watch }
}

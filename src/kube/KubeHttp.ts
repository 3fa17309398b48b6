/**
 * One way to call the Kubernetes API, shared by the source, enrichment, the checkpoint and leader election:
 * client-node's KubeConfig authenticates (token, client certificate, exec plugin) and its HTTP library sends.
 * Bodies stay raw text, decoded by each caller with its own Schema (client-node's typed models would turn
 * timestamps into `Date`s and cost a deserialisation pass per object).
 */
import { Effect, Option, Schema } from "effect"
import { HttpMethod, IsomorphicFetchHttpLibrary, type KubeConfig, RequestContext } from "@kubernetes/client-node"

/**
 * No HTTP answer: the kubeconfig names no API server (`NoCluster`), or the request failed on the way (`Transport`,
 * with the network error as `cause`).
 */
class KubeUnreachable extends Schema.TaggedError<KubeUnreachable>()("KubeUnreachable", {
  reason: Schema.Literal("NoCluster", "Transport"),
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return this.reason === "NoCluster" ? "the kubeconfig names no cluster" : networkDetail(this.cause)
  }
}

export interface KubeResponse {
  readonly status: number
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

export interface KubeHttp {
  /** The API server's address, for messages. */
  readonly server: string
  /** `accept` defaults to `application/json`. */
  readonly request: (
    method: "GET" | "POST" | "PUT",
    path: string,
    body?: unknown,
    accept?: string
  ) => Effect.Effect<KubeResponse, KubeUnreachable>
}

/** The error's message with the socket-level code (ECONNREFUSED, UND_ERR_SOCKET...) that says what happened. */
export const networkDetail = (error: unknown): string => {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined
  const code = cause !== undefined && "code" in cause && typeof cause.code === "string" ? cause.code : undefined
  const message = error instanceof Error ? error.message : String(error)
  return code === undefined
    ? message
    : `${message} (${code}${cause?.message && cause.message !== message ? `: ${cause.message}` : ""})`
}

export const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
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
/** A `Status` object, as the API server sends with errors (and inside a watch's ERROR event). */
export const decodeStatus = Schema.decodeUnknownOption(Status)

/** What a failed answer says, in words: the Status message, else the start of the body. */
export const failureDetail = (
  response: KubeResponse
): { readonly detail: string; readonly status: Status | undefined } => {
  const status = Option.getOrUndefined(decodeStatus(parseJson(response.text)))
  return { detail: status?.message ?? (response.text.trim().slice(0, 300) || "no details"), status }
}

const METHODS = { GET: HttpMethod.GET, POST: HttpMethod.POST, PUT: HttpMethod.PUT } as const

export const makeKubeHttp = (kc: KubeConfig): KubeHttp => {
  const server = (kc.getCurrentCluster()?.server ?? "").replace(/\/+$/, "")
  const http = new IsomorphicFetchHttpLibrary()
  return {
    server: server || "(no cluster in the kubeconfig)",
    request: (method, path, body, accept = "application/json") =>
      server === ""
        ? Effect.fail(new KubeUnreachable({ reason: "NoCluster" }))
        : Effect.tryPromise({
            try: async (signal) => {
              const ctx = new RequestContext(server + path, METHODS[method])
              ctx.setHeaderParam("Accept", accept)
              if (body !== undefined) {
                ctx.setHeaderParam("Content-Type", "application/json")
                ctx.setBody(JSON.stringify(body))
              }
              await kc.applySecurityAuthentication(ctx)
              ctx.setSignal(signal)
              const r = await http.send(ctx).toPromise()
              return { status: r.httpStatusCode, headers: r.headers, text: await r.body.text() }
            },
            catch: (error) => new KubeUnreachable({ reason: "Transport", cause: error })
          })
  }
}

/**
 * The one error of every call to the API server (list, watch, get, create, update), classified once where the
 * answer is read: its `reason` is what callers match on; the HTTP status, the API server's `Status` (its reason
 * and message) and the network error stay on it as data.
 */
import { Option, Schema } from "effect"

export interface KubeResponse {
  readonly status: number
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

/** The error's message with the socket-level code (ECONNREFUSED, UND_ERR_SOCKET...) that says what happened. */
const networkDetail = (error: unknown): string => {
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
type Status = typeof Status.Type
/** A `Status` object, as the API server sends with errors (and inside a watch's ERROR event). */
const decodeStatus = Schema.decodeUnknownOption(Status)

/** What a failed answer says, in words: the Status message, else the start of the body. */
const failureDetail = (response: KubeResponse): { readonly detail: string; readonly status: Status | undefined } => {
  const status = Option.getOrUndefined(decodeStatus(parseJson(response.text)))
  return { detail: status?.message ?? (response.text.trim().slice(0, 300) || "no details"), status }
}

/** The call that failed, named as the RBAC rule that allows it names its verb. */
const KubeVerb = Schema.Literal("list", "watch", "get", "create", "update")
export type KubeVerb = typeof KubeVerb.Type

/**
 * What kind of failure a call met: no HTTP answer (`Transport`), an answer that is not what was asked for
 * (`Decode`), a watch ERROR event without a status code (`ErrorEvent`), a watch that delivered nothing, not even a
 * bookmark, for its idle timeout and was ended for it (`Idle`), a 401 or 403 from an API server that could not be
 * reached just before and is taken for one still starting (`Starting`: its authenticator and RBAC caches are not
 * filled yet; only list+watch says so, `startingUp`), or the HTTP status refused with (`Gone` is 410, an expired
 * resourceVersion or continue token; `Conflict` is 409, a write that lost a race; `ServerError` any 5xx;
 * `StatusCode` any other).
 */
const KubeApiReason = Schema.Literal(
  "Transport",
  "Decode",
  "ErrorEvent",
  "Idle",
  "Starting",
  "Unauthorized",
  "Forbidden",
  "NotFound",
  "Conflict",
  "Gone",
  "TooManyRequests",
  "ServerError",
  "StatusCode"
)
type KubeApiReason = typeof KubeApiReason.Type

const reasonOfStatus = (status: number): KubeApiReason => {
  switch (status) {
    case 401:
      return "Unauthorized"
    case 403:
      return "Forbidden"
    case 404:
      return "NotFound"
    case 409:
      return "Conflict"
    case 410:
      return "Gone"
    case 429:
      return "TooManyRequests"
    default:
      return status >= 500 ? "ServerError" : "StatusCode"
  }
}

const retryAfterOf = (header: string | undefined, status: Status | undefined): number | undefined => {
  const fromHeader = header === undefined ? NaN : Number(header)
  if (Number.isFinite(fromHeader) && fromHeader >= 0) return fromHeader
  return status?.details?.retryAfterSeconds
}

/**
 * A failed call: its `verb` and `reason`, and what there is to say about it: the HTTP `status` and the API
 * server's `Status` (its `reason` as `statusReason`, its message, else the start of the body, as `description`), or
 * the network error as `cause`.
 */
export class KubeApiError extends Schema.TaggedError<KubeApiError>()("KubeApiError", {
  verb: KubeVerb,
  reason: KubeApiReason,
  status: Schema.optional(Schema.Number),
  statusReason: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  retryAfterSeconds: Schema.optional(Schema.Number),
  cause: Schema.optional(Schema.Defect)
}) {
  /** A refusal: the status, and the `Status` in the body if there is one. */
  static refused(verb: KubeVerb, response: KubeResponse): KubeApiError {
    const { detail, status } = failureDetail(response)
    const retryAfterSeconds = retryAfterOf(response.headers["retry-after"], status)
    return new KubeApiError({
      verb,
      reason: reasonOfStatus(response.status),
      status: response.status,
      ...(status?.reason ? { statusReason: status.reason } : {}),
      description: detail,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds })
    })
  }

  /** No HTTP answer, or the connection was cut: `cause` is the network error, if there is one. */
  static transport(verb: KubeVerb, cause: unknown, description?: string): KubeApiError {
    return new KubeApiError({ verb, reason: "Transport", cause, ...(description === undefined ? {} : { description }) })
  }

  /** An answer that is not what was asked for: `cause` is the decoding error. */
  static decode(verb: KubeVerb, description: string, cause: unknown): KubeApiError {
    return new KubeApiError({ verb, reason: "Decode", status: 200, description, cause })
  }

  /** A watch's ERROR event: its object is a `Status`, whose code says what failed. */
  static errorEvent(object: unknown): KubeApiError {
    const status = Option.getOrUndefined(decodeStatus(object))
    const code = status?.code
    return new KubeApiError({
      verb: "watch",
      reason: code === undefined ? "ErrorEvent" : reasonOfStatus(code),
      ...(code === undefined ? {} : { status: code }),
      ...(status?.reason ? { statusReason: status.reason } : {}),
      description: status?.message ?? "error event"
    })
  }

  /** This 401 or 403 as the refusal of an API server still starting (reason `Starting`), all else kept. */
  startingUp(): KubeApiError {
    return new KubeApiError({
      verb: this.verb,
      reason: "Starting",
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.statusReason === undefined ? {} : { statusReason: this.statusReason }),
      ...(this.description === undefined ? {} : { description: this.description }),
      ...(this.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: this.retryAfterSeconds })
    })
  }

  /** What is not ready yet on a starting API server that refuses with this status. */
  get notReady(): string {
    return this.status === 401 ? "authentication" : "authorization"
  }

  /** What the API server said, else the network error. */
  get explanation(): string {
    return this.description ?? networkDetail(this.cause)
  }

  override get message(): string {
    const reason = this.statusReason ? ` ${this.statusReason}` : ""
    const status = this.status === undefined ? "" : ` with HTTP ${this.status}${reason}`
    const starting = this.reason === "Starting" ? ` (the API server is starting: ${this.notReady} not ready yet)` : ""
    return `${this.verb} failed${status}${starting}: ${this.explanation}`
  }
}

/**
 * `Status` bodies exactly as kube-apiserver renders them (k8s.io/apimachinery `errors.New*`).
 * Collectors must branch on `code`/`reason`, never on `message`, but the messages are kept
 * faithful so that logs in tests look like logs from a real cluster.
 */

export interface StatusCause {
  readonly type?: string
  readonly message?: string
  readonly field?: string
}

export interface StatusDetails {
  readonly name?: string
  readonly group?: string
  readonly kind?: string
  readonly causes?: ReadonlyArray<StatusCause>
  readonly retryAfterSeconds?: number
}

export interface Status {
  readonly kind: "Status"
  readonly apiVersion: "v1"
  readonly metadata: { readonly continue?: string }
  readonly status: "Failure" | "Success"
  readonly message: string
  readonly reason: string
  readonly details?: StatusDetails
  readonly code: number
}

export const failure = (
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
  metadata: { readonly continue?: string } = {}
): Status =>
  details === undefined
    ? { kind: "Status", apiVersion: "v1", metadata, status: "Failure", message, reason, code }
    : { kind: "Status", apiVersion: "v1", metadata, status: "Failure", message, reason, details, code }

/** `plural` or `plural.group`, the way apiserver names a resource in messages. */
export const qualifiedResource = (plural: string, group: string): string =>
  group === "" ? plural : `${plural}.${group}`

const groupDetails = (group: string): { group?: string } => (group === "" ? {} : { group })

export const notFound = (plural: string, group: string, name: string): Status =>
  failure(404, "NotFound", `${qualifiedResource(plural, group)} "${name}" not found`, {
    name,
    ...groupDetails(group),
    kind: plural
  })

/** An `Accept` header naming nothing the server can send (kube-apiserver's wording). */
export const notAcceptable = (): Status =>
  failure(
    406,
    "NotAcceptable",
    "only the following media types are accepted: application/json, application/yaml, " +
      "application/vnd.kubernetes.protobuf"
  )

export const alreadyExists = (plural: string, group: string, name: string): Status =>
  failure(409, "AlreadyExists", `${qualifiedResource(plural, group)} "${name}" already exists`, {
    name,
    ...groupDetails(group),
    kind: plural
  })

export const conflict = (plural: string, group: string, name: string): Status =>
  failure(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(plural, group)} "${name}": the object has been modified; ` +
      "please apply your changes to the latest version and try again",
    { name, ...groupDetails(group), kind: plural }
  )

export const badRequest = (message: string): Status => failure(400, "BadRequest", message)

/** 422 from `errors.NewInvalid` (used by ListOptions validation). */
export const invalid = (kind: string, group: string, name: string, causes: ReadonlyArray<StatusCause>): Status =>
  failure(
    422,
    "Invalid",
    `${group === "" ? kind : `${kind}.${group}`} "${name}" is invalid: ` +
      `${causes.map((c) => `${c.field ?? ""}: ${c.message ?? ""}`).join(", ")}`,
    { name, ...groupDetails(group), kind, causes }
  )

export const methodNotAllowed = (): Status =>
  failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

export const pathNotFound = (): Status => failure(404, "NotFound", "the server could not find the requested resource")

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete"

/**
 * `events is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "events" in API group ""
 * at the cluster scope`
 */
export const forbidden = (
  user: string,
  verb: Verb,
  plural: string,
  group: string,
  namespace: string | undefined,
  name?: string
): Status => {
  const scope = namespace === undefined ? "at the cluster scope" : `in the namespace "${namespace}"`
  const target = name === undefined ? qualifiedResource(plural, group) : `${qualifiedResource(plural, group)} "${name}"`
  return failure(
    403,
    "Forbidden",
    `${target} is forbidden: User "${user}" cannot ${verb} resource "${plural}" in API group "${group}" ${scope}`,
    { ...(name === undefined ? {} : { name }), ...groupDetails(group), kind: plural }
  )
}

export const internalError = (
  message = 'an error on the server ("unknown") has prevented the request from succeeding'
): Status => failure(500, "InternalError", `Internal error occurred: ${message}`, { causes: [{ message }] })

/** apiserver `storage.NewTooLargeResourceVersionError` → `errors.NewTimeoutError` (504). */
export const tooLargeResourceVersion = (requested: number, current: number, retryAfterSeconds: number): Status =>
  failure(504, "Timeout", `Too large resource version: ${requested}, current: ${current}`, {
    causes: [{ type: "ResourceVersionTooLarge", message: "Too large resource version" }],
    retryAfterSeconds
  })

/** `errors.NewTooManyRequests` — the JSON form (watch cache (re)initializing). */
export const tooManyRequests = (message: string, retryAfterSeconds: number): Status =>
  failure(429, "TooManyRequests", message, { retryAfterSeconds })

export const expired = (message: string, continueToken?: string): Status =>
  failure(410, "Expired", message, undefined, continueToken === undefined ? {} : { continue: continueToken })

export const EXPIRED_CONTINUE_MESSAGE =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without " +
  "the continue parameter."

export const INCONSISTENT_CONTINUE_MESSAGE =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without " +
  "the continue parameter, or use the continue token in this response to retrieve the remainder of the results. " +
  "Continuing with the provided token results in an inconsistent list - objects that were created, modified, or " +
  "deleted between the time the first chunk was returned and now may show up in the list."

export const EXPIRED_LIST_MESSAGE_ETCD = "The resourceVersion for the provided list is too old."
export const EXPIRED_WATCH_MESSAGE_ETCD = "The resourceVersion for the provided watch is too old."

/**
 * Fault injection and request recording for the simulated API server.
 *
 * A fault is a matcher (method, path pattern, verb, resource, namespace, query) plus an action, armed for the
 * next `times` matching requests or until cleared. The first armed fault that matches a request wins.
 */
import type { Status, Verb } from "./status.ts"

export type { Verb } from "./status.ts"

/** What the server understood a request to be (also what is recorded). */
export interface RequestInfo {
  readonly method: string
  /** URL path without the query string. */
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly verb: Verb | undefined
  /** API group ("" for core; "events.k8s.io" for the events.k8s.io/v1 view). */
  readonly group: string | undefined
  /** Resource plural, e.g. "events". */
  readonly resource: string | undefined
  readonly namespace: string | undefined
  readonly name: string | undefined
  readonly watch: boolean
  /** The `Accept` header, when sent. */
  readonly accept?: string
}

export interface RecordedRequest extends RequestInfo {
  readonly seq: number
  /** Milliseconds since the epoch when the request arrived. */
  readonly at: number
  /** HTTP status sent (undefined while pending or when the connection was dropped before a response). */
  status: number | undefined
  /** Id of the fault applied to this request, if any. */
  fault: number | undefined
}

export interface RequestMatch {
  readonly method?: string
  /** Exact path, a glob where `*` matches any run of characters, or a RegExp tested against the path. */
  readonly path?: string | RegExp
  readonly verb?: Verb | ReadonlyArray<Verb>
  readonly resource?: string
  readonly group?: string
  readonly namespace?: string
  readonly watch?: boolean
  /** Every listed query parameter must have this exact value. */
  readonly query?: Readonly<Record<string, string>>
}

export type FaultAction =
  /** 403 with the apiserver's RBAC Status (`events is forbidden: User "…" cannot list resource "events" …`). */
  | { readonly type: "forbidden"; readonly user?: string }
  /**
   * 429 with `Retry-After`. "apf": API Priority and Fairness / max-in-flight rejection, a plain-text body;
   * "status": JSON Status `reason: "TooManyRequests"` with `details.retryAfterSeconds`.
   */
  | {
      readonly type: "tooManyRequests"
      readonly form?: "apf" | "status"
      readonly retryAfterSeconds?: number
      readonly message?: string
    }
  /** 500 InternalError Status. */
  | { readonly type: "internalError"; readonly message?: string }
  /** 504 `Too large resource version: N, current: M` with `Retry-After`. */
  | { readonly type: "tooLargeResourceVersion"; readonly retryAfterSeconds?: number }
  /** 503 plain text with `Retry-After: 5` and `Connection: close` (apiserver shutting down). */
  | { readonly type: "shuttingDown" }
  /** Any Status, with optional extra headers. */
  | { readonly type: "status"; readonly status: Status; readonly headers?: Readonly<Record<string, string>> }
  /**
   * Watch only: serve the watch normally, then destroy the socket right after `afterEvents` events (bookmarks
   * count).
   */
  | { readonly type: "dropWatch"; readonly afterEvents: number }
  /** Watch only: answer 200 and then send nothing at all (no events, no bookmarks), ignoring timeoutSeconds. */
  | { readonly type: "silentWatch" }
  /** Wait, then serve the request normally. */
  | { readonly type: "delay"; readonly ms: number }
  /** Destroy the connection without answering. */
  | { readonly type: "resetConnection" }

export interface FaultSpec extends RequestMatch {
  readonly action: FaultAction
  /** Apply to this many matching requests, then disarm (default: until cleared). */
  readonly times?: number
  /** Let this many matching requests through first (default 0): the fifth page of a list is `after: 4`. */
  readonly after?: number
}

export interface Fault {
  readonly id: number
  readonly spec: FaultSpec
  /** Matching requests this fault was applied to. */
  readonly hits: number
  /** Applications left (Infinity when armed until cleared). */
  readonly remaining: number
  readonly active: boolean
  clear(): void
}

const globToRegExp = (glob: string): RegExp =>
  new RegExp(
    `^${glob
      .split("*")
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`
  )

export const matchesRequest = (m: RequestMatch, r: RequestInfo): boolean => {
  if (m.method !== undefined && m.method.toUpperCase() !== r.method.toUpperCase()) return false
  if (m.path !== undefined) {
    if (typeof m.path === "string") {
      if (m.path.includes("*") ? !globToRegExp(m.path).test(r.path) : m.path !== r.path) return false
    } else if (!m.path.test(r.path)) return false
  }
  if (m.verb !== undefined) {
    const verbs: ReadonlyArray<Verb> = typeof m.verb === "string" ? [m.verb] : m.verb
    if (r.verb === undefined || !verbs.includes(r.verb)) return false
  }
  if (m.resource !== undefined && m.resource !== r.resource) return false
  if (m.group !== undefined && m.group !== r.group) return false
  if (m.namespace !== undefined && m.namespace !== r.namespace) return false
  if (m.watch !== undefined && m.watch !== r.watch) return false
  if (m.query !== undefined) {
    for (const [k, v] of Object.entries(m.query)) if (r.query[k] !== v) return false
  }
  return true
}

const WATCH_ONLY: ReadonlySet<FaultAction["type"]> = new Set(["dropWatch", "silentWatch"])

class ArmedFault implements Fault {
  readonly id: number
  readonly spec: FaultSpec
  hits = 0
  remaining: number
  /** Matching requests still to let through before it applies. */
  passes: number
  readonly #owner: Faults
  constructor(id: number, spec: FaultSpec, owner: Faults) {
    this.id = id
    this.spec = spec
    this.remaining = spec.times ?? Number.POSITIVE_INFINITY
    this.passes = spec.after ?? 0
    this.#owner = owner
  }
  get active(): boolean {
    return this.remaining > 0 && this.#owner.has(this.id)
  }
  clear(): void {
    this.#owner.clear(this.id)
  }
}

export class Faults {
  #nextId = 1
  readonly #armed = new Map<number, ArmedFault>()

  /** Arms a fault; returns a handle to inspect (`hits`, `remaining`) or clear it. */
  add(spec: FaultSpec): Fault {
    const f = new ArmedFault(this.#nextId++, spec, this)
    this.#armed.set(f.id, f)
    return f
  }

  /** Clears one fault (by id or handle), or all of them. */
  clear(fault?: number | Fault): void {
    if (fault === undefined) this.#armed.clear()
    else this.#armed.delete(typeof fault === "number" ? fault : fault.id)
  }

  has(id: number): boolean {
    return this.#armed.has(id)
  }

  get active(): ReadonlyArray<Fault> {
    return [...this.#armed.values()]
  }

  /** The fault to apply to this request (consuming one of its `times`), if any. */
  take(r: RequestInfo): Fault | undefined {
    for (const f of this.#armed.values()) {
      if (WATCH_ONLY.has(f.spec.action.type) && !r.watch) continue
      if (!matchesRequest(f.spec, r)) continue
      if (f.passes > 0) {
        f.passes--
        continue
      }
      f.hits++
      f.remaining--
      if (f.remaining <= 0) this.#armed.delete(f.id)
      return f
    }
    return undefined
  }
}

/** Every request the server received, in arrival order. */
export class RequestLog {
  #seq = 0
  #entries: RecordedRequest[] = []

  record(info: RequestInfo, at: number): RecordedRequest {
    const r: RecordedRequest = { ...info, seq: ++this.#seq, at, status: undefined, fault: undefined }
    this.#entries.push(r)
    return r
  }

  get all(): ReadonlyArray<RecordedRequest> {
    return this.#entries
  }

  filter(m: RequestMatch = {}): ReadonlyArray<RecordedRequest> {
    return this.#entries.filter((r) => matchesRequest(m, r))
  }

  count(m: RequestMatch = {}): number {
    return this.filter(m).length
  }

  clear(): void {
    this.#entries = []
  }
}

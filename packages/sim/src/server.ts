/**
 * HTTP front of the simulated Kubernetes API server (plain `node:http`).
 *
 * Routes `/api/v1/...` and `/apis/{group}/{version}/...` to the versioned store with the apiserver's
 * list semantics (paging with continue tokens, resourceVersion / resourceVersionMatch, field and label
 * selectors), watch streams, single-object reads and writes, and the Status bodies of its errors.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { type Fault, Faults, type RecordedRequest, RequestLog, type RequestInfo } from "./faults.ts"
import { SimEvents, toEventsV1 } from "./events.ts"
import { negotiate, PARTIAL_METADATA_VIEW } from "./metadata.ts"
import { SimObjects } from "./objects.ts"
import { jsonPatch, mergePatch } from "./patch.ts"
import { EVENTS_V1_GROUP, type ResourceType, Resources, apiVersionOf, lookupResource } from "./resources.ts"
import {
  convertFieldLabels,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  type FieldRequirement,
  type LabelRequirement
} from "./selectors.ts"
import {
  EXPIRED_CONTINUE_MESSAGE,
  EXPIRED_LIST_MESSAGE_ETCD,
  EXPIRED_WATCH_MESSAGE_ETCD,
  INCONSISTENT_CONTINUE_MESSAGE,
  type Status,
  type Verb,
  badRequest,
  expired,
  failure,
  forbidden,
  internalError,
  invalid,
  methodNotAllowed,
  notAcceptable,
  notFound,
  pathNotFound,
  tooLargeResourceVersion,
  tooManyRequests
} from "./status.ts"
import {
  type StoreChange,
  type CompactionPolicy,
  type KubeObject,
  StoreError,
  type StoredObject,
  VersionedStore
} from "./store.ts"
import { type View, WatchStream } from "./watch.ts"
import { isRecord } from "./isRecord.ts"

export interface SimServerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0 (an ephemeral port). */
  readonly port?: number
  /** Serve an existing store (default: a new one). */
  readonly store?: VersionedStore
  /** Compaction policy of a new store (default: keep everything until `compact()`). */
  readonly compaction?: CompactionPolicy
  /** Interval of BOOKMARK events on watches that allow them (default 10 000 ms). */
  readonly bookmarkIntervalMs?: number
  /**
   * false: never send periodic bookmarks, like the etcd-backed events store (events have no watch cache);
   * only the `k8s.io/initial-events-end` bookmark of a `sendInitialEvents` watch is sent. Default true.
   */
  readonly bookmarks?: boolean
  /**
   * Wording of 410 messages: "cacher" (`too old resource version: N (M)`, the watch-cache form) or
   * "etcd" (`The resourceVersion for the provided watch is too old.`). Default "cacher".
   */
  readonly expiredMessages?: "cacher" | "etcd"
  /** A 410 for an expired continue token also carries a new token for an inconsistent remainder (etcd behaviour). */
  readonly inconsistentContinue?: boolean
  /** The user named in Forbidden messages. */
  readonly user?: string
  /** Close watches after this long when the client sets no timeoutSeconds (default: never). */
  readonly defaultWatchTimeoutMs?: number
  /** Delete events this long after their last write, emitting DELETED (kube-apiserver `--event-ttl`, 1h). */
  readonly eventTtlMs?: number
}

export const DEFAULT_USER = "system:serviceaccount:k8s-event-collector:k8s-event-collector"

const coreView = (r: ResourceType): View => ({
  name: apiVersionOf(r),
  apiVersion: apiVersionOf(r),
  kind: r.kind,
  listKind: `${r.kind}List`,
  render: (o) => o
})

const EVENTS_V1_VIEW: View = {
  name: "events.k8s.io/v1",
  apiVersion: "events.k8s.io/v1",
  kind: "Event",
  listKind: "EventList",
  render: toEventsV1
}

interface Route {
  readonly info: RequestInfo
  readonly resource: ResourceType | undefined
  readonly view: View | undefined
  readonly eventsV1: boolean
  readonly special: "version" | "health" | undefined
  readonly url: URL
}

const TRUE_VALUES = new Set(["1", "t", "T", "true", "TRUE", "True"])

const parseRoute = (req: IncomingMessage): Route => {
  const url = new URL(req.url ?? "/", "http://sim.invalid")
  const method = (req.method ?? "GET").toUpperCase()
  const query: Record<string, string> = {}
  for (const [k, v] of url.searchParams) query[k] = v
  const segs = url.pathname
    .split("/")
    .filter((s) => s !== "")
    .map((s) => decodeURIComponent(s))
  const accept = req.headers.accept
  const base = { method, path: url.pathname, query, ...(accept === undefined ? {} : { accept }) }
  const none = (special?: "version" | "health"): Route => ({
    info: {
      ...base,
      verb: undefined,
      group: undefined,
      resource: undefined,
      namespace: undefined,
      name: undefined,
      watch: false
    },
    resource: undefined,
    view: undefined,
    eventsV1: false,
    special,
    url
  })
  if (segs.length === 1 && segs[0] === "version") return none("version")
  if (segs.length === 1 && (segs[0] === "healthz" || segs[0] === "livez" || segs[0] === "readyz")) return none("health")

  let group: string
  let version: string
  let rest: string[]
  if (segs[0] === "api" && segs[1] !== undefined) {
    group = ""
    version = segs[1]
    rest = segs.slice(2)
  } else if (segs[0] === "apis" && segs[1] !== undefined && segs[2] !== undefined) {
    group = segs[1]
    version = segs[2]
    rest = segs.slice(3)
  } else return none()

  let legacyWatch = false
  if (rest[0] === "watch") {
    legacyWatch = true
    rest = rest.slice(1)
  }
  let namespace: string | undefined
  let plural: string | undefined
  let name: string | undefined
  let extra = false
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1]
    plural = rest[2]
    name = rest[3]
    extra = rest.length > 4
  } else {
    plural = rest[0]
    name = rest[1]
    extra = rest.length > 2
  }
  const watch = legacyWatch || (method === "GET" && TRUE_VALUES.has(query["watch"] ?? ""))
  let verb: Verb | undefined
  if (method === "GET") verb = watch ? "watch" : name === undefined ? "list" : "get"
  else if (method === "POST") verb = name === undefined ? "create" : undefined
  else if (method === "PUT") verb = name === undefined ? undefined : "update"
  else if (method === "PATCH") verb = name === undefined ? undefined : "patch"
  else if (method === "DELETE") verb = name === undefined ? undefined : "delete"

  const eventsV1 = group === EVENTS_V1_GROUP && version === "v1" && plural === "events"
  let resource = plural === undefined ? undefined : eventsV1 ? Resources.events : lookupResource(group, version, plural)
  if (resource !== undefined && (extra || (!resource.namespaced && namespace !== undefined))) resource = undefined
  const view = resource === undefined ? undefined : eventsV1 ? EVENTS_V1_VIEW : coreView(resource)
  return {
    info: { ...base, verb, group, resource: plural, namespace, name, watch },
    resource,
    view,
    eventsV1,
    special: undefined,
    url
  }
}

interface ContinueToken {
  readonly rv: number
  readonly start: string
}

const encodeContinue = (rv: number, start: string): string =>
  Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv, start })).toString("base64url")

const decodeContinue = (token: string): ContinueToken | undefined => {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"))
    if (typeof parsed !== "object" || parsed === null) return undefined
    const v = "v" in parsed ? parsed.v : undefined
    const rv = "rv" in parsed ? parsed.rv : undefined
    const start = "start" in parsed ? parsed.start : undefined
    if (v !== "meta.k8s.io/v1" || typeof rv !== "number" || !Number.isInteger(rv) || typeof start !== "string")
      return undefined
    return { rv, start }
  } catch {
    return undefined
  }
}

/** A resourceVersion query parameter: undefined when unset/empty, a number, or "invalid". */
const parseRv = (s: string | undefined): number | undefined | "invalid" => {
  if (s === undefined || s === "") return undefined
  return /^\d+$/.test(s) ? Number(s) : "invalid"
}

class HttpFailure {
  readonly status: Status
  constructor(status: Status) {
    this.status = status
  }
}

export class SimServer {
  readonly store: VersionedStore
  /** Event lifecycle helpers (create, repeat, update, delete, bulk load). */
  readonly events: SimEvents
  /** Builders for Pods, Nodes, workloads, ConfigMaps, Leases, HPAs. */
  readonly objects: SimObjects
  readonly faults = new Faults()
  readonly requests = new RequestLog()
  /** Times `restart` brought it back. */
  restarts = 0
  readonly options: SimServerOptions
  readonly #server: Server
  readonly #watches = new Set<WatchStream>()
  readonly #ownsStore: boolean
  #url = ""
  #port = 0

  constructor(options: SimServerOptions = {}) {
    this.options = options
    this.#ownsStore = options.store === undefined
    this.store =
      options.store ?? new VersionedStore(options.compaction === undefined ? {} : { compaction: options.compaction })
    if (options.store !== undefined && options.compaction !== undefined)
      this.store.setCompactionPolicy(options.compaction)
    this.events = new SimEvents(this.store)
    if (options.eventTtlMs !== undefined) this.events.setTtl(options.eventTtlMs)
    this.objects = new SimObjects(this.store)
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          this.#sendStatus(res, undefined, internalError(err instanceof Error ? err.message : String(err)))
        } else res.destroy()
      })
    })
    this.#server.keepAliveTimeout = 5_000
  }

  /** Base URL, e.g. `http://127.0.0.1:43121`. */
  get url(): string {
    return this.#url
  }

  get port(): number {
    return this.#port
  }

  /** Watch streams currently open. */
  get openWatches(): number {
    return this.#watches.size
  }

  /** Listens on `options.port` (default: a free one); once it has listened, again on the same port (`restart`). */
  async listen(): Promise<void> {
    const host = this.options.host ?? "127.0.0.1"
    const port = this.#port !== 0 ? this.#port : (this.options.port ?? 0)
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject)
      this.#server.listen(port, host, () => {
        this.#server.off("error", reject)
        resolve()
      })
    })
    const addr = this.#server.address() as AddressInfo
    this.#port = addr.port
    this.#url = `http://${host}:${addr.port}`
  }

  /** Ends every open watch gracefully (clients see a normal end of stream), as an apiserver restart would. */
  endWatches(): void {
    for (const w of [...this.#watches]) w.end()
  }

  /** Ends all watches, closes every connection and stops listening. */
  async close(): Promise<void> {
    await this.#goDown()
    if (this.#ownsStore) this.store.close()
  }

  /**
   * Goes down and comes back as a restarted kube-apiserver does: every watch ended, every connection closed, the
   * port refusing connections for `downMs`, then listening again on the same port. The store is kept (it is etcd:
   * objects, resourceVersions and change log), and it may be written meanwhile (by another API server). With
   * `compact`, what the change log holds is compacted away while it is down, as a watch cache rebuilt at the
   * current resourceVersion would have it: a watch from an older resourceVersion is answered 410.
   */
  async restart(options: { readonly downMs?: number; readonly compact?: boolean } = {}): Promise<void> {
    await this.#goDown()
    if (options.compact === true) this.store.compact()
    if (options.downMs !== undefined && options.downMs > 0) await new Promise((r) => setTimeout(r, options.downMs))
    await this.listen()
    this.restarts++
  }

  async #goDown(): Promise<void> {
    this.endWatches()
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = parseRoute(req)
    const rec = this.requests.record(route.info, Date.now())
    res.on("close", () => {
      if (rec.status === undefined && res.headersSent) rec.status = res.statusCode
    })

    const fault = this.faults.take(route.info)
    let watchFault: Fault | undefined
    if (fault !== undefined) {
      rec.fault = fault.id
      const a = fault.spec.action
      if (a.type === "delay") await new Promise((r) => setTimeout(r, a.ms))
      else if (a.type === "dropWatch" || a.type === "silentWatch") watchFault = fault
      else return this.#applyFault(req, res, rec, route, fault)
    }

    if (route.special === "version") {
      return this.#sendJson(res, rec, 200, {
        major: "1",
        minor: "33",
        gitVersion: "v1.33.0-sim",
        platform: "linux/amd64"
      })
    }
    if (route.special === "health") {
      rec.status = 200
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" })
      res.end("ok")
      return
    }
    const { resource } = route
    let view = route.view
    if (resource === undefined || view === undefined || route.info.verb === undefined) {
      const status = resource !== undefined ? methodNotAllowed() : pathNotFound()
      return this.#sendStatus(res, rec, status)
    }
    const verb = route.info.verb
    if (verb === "list" || verb === "get" || verb === "watch") {
      const answer = negotiate(route.info.accept, verb)
      if (answer === "not-acceptable") return this.#sendStatus(res, rec, notAcceptable())
      if (answer === "metadata") view = PARTIAL_METADATA_VIEW
    }
    try {
      switch (verb) {
        case "list":
          return await this.#list(res, rec, route, resource, view)
        case "watch":
          return this.#watch(res, rec, route, resource, view, watchFault)
        case "get":
          return this.#get(res, rec, route, resource, view)
        default:
          if (!resource.writable || route.eventsV1) return this.#sendStatus(res, rec, methodNotAllowed())
          return await this.#write(req, res, rec, route, resource, view)
      }
    } catch (err) {
      if (err instanceof HttpFailure) return this.#sendStatus(res, rec, err.status)
      if (err instanceof StoreError) return this.#sendStatus(res, rec, err.status)
      throw err
    }
  }

  #applyFault(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, route: Route, fault: Fault): void {
    const a = fault.spec.action
    const info = route.info
    switch (a.type) {
      case "forbidden":
        return this.#sendStatus(
          res,
          rec,
          forbidden(
            a.user ?? this.options.user ?? DEFAULT_USER,
            info.verb ?? "get",
            info.resource ?? "",
            info.group ?? "",
            info.namespace,
            info.name
          )
        )
      case "tooManyRequests": {
        const retry = a.retryAfterSeconds ?? 1
        if ((a.form ?? "apf") === "apf") {
          rec.status = 429
          res.writeHead(429, {
            "Content-Type": "text/plain; charset=utf-8",
            "X-Content-Type-Options": "nosniff",
            "Retry-After": String(retry),
            "X-Kubernetes-PF-FlowSchema-UID": "5d8e1c3a-0b9f-4a57-9d2e-6c1f7b3a8e40",
            "X-Kubernetes-PF-PriorityLevel-UID": "a2f4c6e8-1b3d-4f5a-8c7e-9d0b2e4f6a81"
          })
          res.end(`${a.message ?? "Too many requests, please try again later."}\n`)
          return
        }
        return this.#sendStatus(res, rec, tooManyRequests(a.message ?? "storage is (re)initializing", retry))
      }
      case "internalError":
        return this.#sendStatus(res, rec, internalError(a.message))
      case "tooLargeResourceVersion": {
        const requested = Number(info.query["resourceVersion"] ?? "")
        const current = this.store.resourceVersion
        return this.#sendStatus(
          res,
          rec,
          tooLargeResourceVersion(
            Number.isFinite(requested) && requested > current ? requested : current + 1,
            current,
            a.retryAfterSeconds ?? 1
          )
        )
      }
      case "shuttingDown":
        rec.status = 429
        res.writeHead(429, {
          "Content-Type": "text/plain; charset=utf-8",
          "X-Content-Type-Options": "nosniff",
          "Retry-After": "5",
          Connection: "close"
        })
        res.end("The apiserver is shutting down, please try again later.\n")
        return
      case "status":
        return this.#sendStatus(res, rec, a.status, a.headers)
      case "resetConnection":
        req.socket.destroy()
        return
      case "delay":
      case "dropWatch":
      case "silentWatch":
        return
    }
  }

  #selectors(
    route: Route,
    resource: ResourceType
  ): { fields: ReadonlyArray<FieldRequirement>; labels: ReadonlyArray<LabelRequirement> } {
    const q = route.info.query
    const parsedFields = parseFieldSelector(q["fieldSelector"] ?? "")
    if (!parsedFields.ok) throw new HttpFailure(badRequest(parsedFields.message))
    const fields = convertFieldLabels(resource, route.eventsV1, parsedFields.value)
    if (!fields.ok) throw new HttpFailure(badRequest(fields.message))
    const labels = parseLabelSelector(q["labelSelector"] ?? "")
    if (!labels.ok) throw new HttpFailure(badRequest(labels.message))
    return { fields: fields.value, labels: labels.value }
  }

  #filter(
    resource: ResourceType,
    fields: ReadonlyArray<FieldRequirement>,
    labels: ReadonlyArray<LabelRequirement>,
    name?: string
  ): ((o: StoredObject) => boolean) | undefined {
    if (fields.length === 0 && labels.length === 0 && name === undefined) return undefined
    return (o) =>
      (name === undefined || o.name === name) &&
      (fields.length === 0 || matchesFields(resource, o.object, fields)) &&
      (labels.length === 0 || matchesLabels(o.object, labels))
  }

  #tooOld(rv: number, kind: "list" | "watch"): Status {
    if (this.options.expiredMessages === "etcd")
      return expired(kind === "list" ? EXPIRED_LIST_MESSAGE_ETCD : EXPIRED_WATCH_MESSAGE_ETCD)
    return expired(
      kind === "list"
        ? `too old resource version: ${rv}`
        : `too old resource version: ${rv} (${this.store.compactedResourceVersion})`
    )
  }

  async #list(
    res: ServerResponse,
    rec: RecordedRequest,
    route: Route,
    resource: ResourceType,
    view: View
  ): Promise<void> {
    const q = route.info.query
    const rvParam = q["resourceVersion"]
    const match = q["resourceVersionMatch"]
    const cont = q["continue"]
    const limitParam = q["limit"]
    const limit = limitParam === undefined || limitParam === "" ? undefined : Number(limitParam)
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new HttpFailure(badRequest(`invalid value for limit: ${limitParam}`))
    }
    const rv = parseRv(rvParam)
    if (rv === "invalid") throw new HttpFailure(badRequest(`invalid resource version: ${rvParam}`))
    const listOptionsInvalid = (field: string, message: string) =>
      new HttpFailure(invalid("ListOptions", "meta.k8s.io", "", [{ type: "FieldValueForbidden", field, message }]))
    if (match !== undefined && match !== "") {
      if (match !== "Exact" && match !== "NotOlderThan") {
        throw listOptionsInvalid(
          "resourceVersionMatch",
          `Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`
        )
      }
      if (rv === undefined)
        throw listOptionsInvalid(
          "resourceVersionMatch",
          "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
        )
      if (cont !== undefined && cont !== "")
        throw listOptionsInvalid(
          "resourceVersionMatch",
          "Forbidden: resourceVersionMatch is forbidden when continue is provided"
        )
      if (match === "Exact" && rv === 0) {
        throw listOptionsInvalid(
          "resourceVersionMatch",
          `Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"`
        )
      }
    }
    const { fields, labels } = this.#selectors(route, resource)
    const filter = this.#filter(resource, fields, labels)

    let atRv: number | undefined
    let startKey: string | undefined
    const current = this.store.resourceVersion
    if (cont !== undefined && cont !== "") {
      if (rv !== undefined && rv !== 0)
        throw new HttpFailure(badRequest("specifying resource version is not allowed when using continue"))
      const token = decodeContinue(cont)
      if (token === undefined || token.rv > current || token.rv < -1) {
        throw new HttpFailure(
          badRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        )
      }
      startKey = token.start
      if (token.rv === -1) atRv = undefined
      else if (token.rv < this.store.compactedResourceVersion) {
        if (this.options.inconsistentContinue === true) {
          throw new HttpFailure(expired(INCONSISTENT_CONTINUE_MESSAGE, encodeContinue(-1, token.start)))
        }
        throw new HttpFailure(expired(EXPIRED_CONTINUE_MESSAGE))
      } else atRv = token.rv
    } else if (rv !== undefined && rv !== 0) {
      const exact = match === "Exact" || ((match === undefined || match === "") && limit !== undefined && limit > 0)
      if (rv > current) {
        throw new HttpFailure(tooLargeResourceVersion(rv, current, 1))
      }
      if (exact) {
        if (rv < this.store.compactedResourceVersion) throw new HttpFailure(this.#tooOld(rv, "list"))
        atRv = rv
      }
    }

    const result = this.store.list(resource, {
      ...(route.info.namespace === undefined ? {} : { namespace: route.info.namespace }),
      ...(atRv === undefined ? {} : { atRv }),
      ...(startKey === undefined ? {} : { startKey }),
      ...(limit === undefined || limit === 0 ? {} : { limit }),
      ...(filter === undefined ? {} : { filter })
    })
    const metadata: Record<string, unknown> = { resourceVersion: String(result.rv) }
    if (result.nextKey !== undefined) {
      // A continuation of an inconsistent (-1) listing stays at the latest state.
      metadata["continue"] = encodeContinue(result.rv, result.nextKey)
      if (result.remaining !== undefined && fields.length === 0 && labels.length === 0)
        metadata["remainingItemCount"] = result.remaining
    }
    const head =
      `{"kind":"${view.listKind}","apiVersion":"${view.apiVersion}",` +
      `"metadata":${JSON.stringify(metadata)},"items":[`
    rec.status = 200
    res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private" })
    const items = result.items
    if (items.length <= 2000) {
      res.end(`${head}${items.map((o) => o.serialized(view.name, view.render)).join(",")}]}`)
      return
    }
    // Large unpaged lists: stream in chunks, honouring backpressure.
    let chunk = head
    for (let i = 0; i < items.length; i++) {
      chunk += (i === 0 ? "" : ",") + (items[i] as StoredObject).serialized(view.name, view.render)
      if (chunk.length > 256 * 1024) {
        if (!res.write(chunk)) await new Promise((r) => res.once("drain", r))
        chunk = ""
        if (res.destroyed) return
      }
    }
    res.end(`${chunk}]}`)
  }

  #watch(
    res: ServerResponse,
    rec: RecordedRequest,
    route: Route,
    resource: ResourceType,
    view: View,
    fault: Fault | undefined
  ): void {
    const q = route.info.query
    const rvParam = q["resourceVersion"]
    const rv = parseRv(rvParam)
    if (rv === "invalid") throw new HttpFailure(badRequest(`invalid resource version: ${rvParam}`))
    const { fields, labels } = this.#selectors(route, resource)
    const matches = this.#filter(resource, fields, labels, route.info.name) ?? (() => true)
    const sendInitialParam = q["sendInitialEvents"]
    const sendInitialEvents = sendInitialParam === undefined ? undefined : TRUE_VALUES.has(sendInitialParam)
    if (sendInitialEvents === true && q["resourceVersionMatch"] !== "NotOlderThan") {
      throw new HttpFailure(
        invalid("ListOptions", "meta.k8s.io", "", [
          {
            type: "FieldValueForbidden",
            field: "resourceVersionMatch",
            message: "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
          }
        ])
      )
    }
    const timeoutParam = q["timeoutSeconds"]
    const timeoutSeconds = timeoutParam === undefined || timeoutParam === "" ? undefined : Number(timeoutParam)
    const timeoutMs =
      timeoutSeconds !== undefined && Number.isFinite(timeoutSeconds) && timeoutSeconds > 0
        ? timeoutSeconds * 1000
        : this.options.defaultWatchTimeoutMs
    const allowBookmarks = TRUE_VALUES.has(q["allowWatchBookmarks"] ?? "")
    const current = this.store.resourceVersion
    const namespace = route.info.namespace

    let initial: ReadonlyArray<StoredObject> | undefined
    let replay: ReadonlyArray<StoreChange> | undefined
    let fromRv = current
    const withInitial = sendInitialEvents ?? (rv === undefined || rv === 0)
    if (withInitial) {
      initial = this.store.list(resource, {
        ...(namespace === undefined ? {} : { namespace }),
        filter: matches
      }).items
      fromRv = current
    } else if (rv !== undefined && rv !== 0) {
      const changes = this.store.changesAfter(rv)
      if (changes === "expired") {
        rec.status = 200
        WatchStream.error(res, this.#tooOld(rv, "watch"))
        return
      }
      replay = changes
      fromRv = rv
    }

    const silent = fault?.spec.action.type === "silentWatch"
    const dropAction = fault?.spec.action
    const intervalMs = this.options.bookmarks === false ? undefined : (this.options.bookmarkIntervalMs ?? 10_000)
    const stream: WatchStream = new WatchStream(res, {
      store: this.store,
      resource,
      view,
      namespace,
      matches,
      initial,
      replay,
      fromRv,
      allowBookmarks,
      initialEventsEndBookmark: sendInitialEvents === true,
      bookmarkIntervalMs: intervalMs,
      timeoutMs: silent ? undefined : timeoutMs,
      dropAfterEvents: dropAction?.type === "dropWatch" ? dropAction.afterEvents : undefined,
      silent,
      onClose: () => this.#watches.delete(stream)
    })
    this.#watches.add(stream)
    rec.status = 200
    stream.start()
  }

  #get(res: ServerResponse, rec: RecordedRequest, route: Route, resource: ResourceType, view: View): void {
    const name = route.info.name ?? ""
    if (resource.namespaced && route.info.namespace === undefined) {
      return this.#sendStatus(res, rec, pathNotFound())
    }
    const o = this.store.get(resource, route.info.namespace, name)
    if (o === undefined)
      return this.#sendStatus(
        res,
        rec,
        notFound(resource.plural, route.eventsV1 ? EVENTS_V1_GROUP : resource.group, name)
      )
    rec.status = 200
    res.writeHead(200, { "Content-Type": "application/json" })
    res.end(o.serialized(view.name, view.render))
  }

  async #write(
    req: IncomingMessage,
    res: ServerResponse,
    rec: RecordedRequest,
    route: Route,
    resource: ResourceType,
    view: View
  ): Promise<void> {
    const info = route.info
    const namespace = info.namespace
    if (resource.namespaced && namespace === undefined) return this.#sendStatus(res, rec, pathNotFound())
    const send = (code: number, o: StoredObject) => {
      rec.status = code
      res.writeHead(code, { "Content-Type": "application/json" })
      res.end(o.serialized(view.name, view.render))
    }
    if (info.verb === "delete") {
      const body = await readBody(req)
      const pre = isRecord(body) && isRecord(body["preconditions"]) ? body["preconditions"] : undefined
      const precondition = {
        ...(typeof pre?.["resourceVersion"] === "string" ? { resourceVersion: pre["resourceVersion"] } : {}),
        ...(typeof pre?.["uid"] === "string" ? { uid: pre["uid"] } : {})
      }
      return send(200, this.store.delete(resource, namespace, info.name ?? "", precondition))
    }
    const body = await readBody(req)
    if (info.verb === "patch") {
      const name = info.name ?? ""
      const existing = this.store.get(resource, namespace, name)
      if (existing === undefined) return this.#sendStatus(res, rec, notFound(resource.plural, resource.group, name))
      const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim() ?? ""
      let patched: unknown
      if (contentType === "application/json-patch+json") {
        const r = jsonPatch(existing.object, body)
        if (!r.ok) return this.#sendStatus(res, rec, failure(422, "Invalid", r.message))
        patched = r.value
      } else if (
        contentType === "application/merge-patch+json" ||
        contentType === "application/strategic-merge-patch+json"
      ) {
        patched = mergePatch(existing.object, body)
      } else {
        return this.#sendStatus(
          res,
          rec,
          failure(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: " +
              "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
          )
        )
      }
      const obj = this.#checkBody(patched, resource, namespace, name)
      return send(200, this.store.update(resource, obj))
    }
    const obj = this.#checkBody(body, resource, namespace, info.name)
    if (info.verb === "create") return send(201, this.store.create(resource, obj))
    return send(200, this.store.update(resource, obj))
  }

  /** Narrows a decoded request body to an object of this resource, addressed consistently with the URL. */
  #checkBody(
    body: unknown,
    resource: ResourceType,
    namespace: string | undefined,
    urlName: string | undefined
  ): KubeObject {
    if (!isRecord(body)) throw new HttpFailure(badRequest("the body of the request must be a JSON object"))
    const rawMeta = body["metadata"] ?? {}
    if (!isRecord(rawMeta)) throw new HttpFailure(badRequest("metadata must be an object"))
    const strField = (k: string): string | undefined => {
      const v = rawMeta[k]
      if (v === undefined || v === null) return undefined
      if (typeof v !== "string") throw new HttpFailure(badRequest(`metadata.${k} must be a string`))
      return v
    }
    const name = strField("name")
    const generateName = strField("generateName")
    const ns = strField("namespace")
    const resourceVersion = strField("resourceVersion")
    const uid = strField("uid")
    for (const k of ["labels", "annotations"]) {
      const v = rawMeta[k]
      if (v !== undefined && v !== null && (!isRecord(v) || Object.values(v).some((x) => typeof x !== "string"))) {
        throw new HttpFailure(badRequest(`metadata.${k} must map strings to strings`))
      }
    }
    if (urlName !== undefined && name !== undefined && name !== "" && name !== urlName) {
      throw new HttpFailure(
        badRequest(`the name of the object (${name}) does not match the name on the URL (${urlName})`)
      )
    }
    if (resource.namespaced && ns !== undefined && ns !== "" && ns !== namespace) {
      throw new HttpFailure(
        badRequest("the namespace of the provided object does not match the namespace sent on the request")
      )
    }
    const { name: _n, namespace: _ns, resourceVersion: _rv, uid: _uid, generateName: _g, ...restMeta } = rawMeta
    const finalName = urlName ?? name
    return {
      ...body,
      metadata: {
        ...restMeta,
        ...(finalName === undefined ? {} : { name: finalName }),
        ...(generateName === undefined ? {} : { generateName }),
        ...(resource.namespaced && namespace !== undefined ? { namespace } : {}),
        ...(resourceVersion === undefined ? {} : { resourceVersion }),
        ...(uid === undefined ? {} : { uid })
      }
    }
  }

  #sendJson(res: ServerResponse, rec: RecordedRequest | undefined, code: number, body: unknown): void {
    if (rec !== undefined) rec.status = code
    res.writeHead(code, { "Content-Type": "application/json" })
    res.end(JSON.stringify(body))
  }

  #sendStatus(
    res: ServerResponse,
    rec: RecordedRequest | undefined,
    status: Status,
    headers: Readonly<Record<string, string>> = {}
  ): void {
    if (rec !== undefined) rec.status = status.code
    const retry = status.details?.retryAfterSeconds
    res.writeHead(status.code, {
      "Content-Type": "application/json",
      ...(retry === undefined ? {} : { "Retry-After": String(retry) }),
      ...headers
    })
    res.end(JSON.stringify(status))
  }
}

const MAX_BODY = 3 * 1024 * 1024

const readBody = async (req: IncomingMessage): Promise<unknown> => {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
    size += buf.length
    if (size > MAX_BODY) throw new HttpFailure(failure(413, "RequestEntityTooLarge", "the request body is too large"))
    chunks.push(buf)
  }
  const text = Buffer.concat(chunks).toString("utf8")
  if (text.trim() === "") return undefined
  try {
    const parsed: unknown = JSON.parse(text)
    return parsed
  } catch (err) {
    throw new HttpFailure(
      badRequest(
        `the body of the request could not be decoded as JSON: ${err instanceof Error ? err.message : String(err)}`
      )
    )
  }
}

export const startSimServer = async (options: SimServerOptions = {}): Promise<SimServer> => {
  const server = new SimServer(options)
  await server.listen()
  return server
}

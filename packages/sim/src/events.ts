/**
 * Events in the simulated cluster: the canonical stored form (core/v1, normalized the way the Go
 * server serializes it), the events.k8s.io/v1 view of it, and the lifecycle helpers tests drive:
 * create, repeat (a new occurrence), update without a new occurrence, delete, TTL, bulk loading.
 */
import { Resources } from "./resources.ts"
import {
  type KubeObject,
  type ObjectMeta,
  type StoredKubeObject,
  type VersionedStore,
  StoreError,
  objectKey
} from "./store.ts"
import { notFound } from "./status.ts"
import { isRecord } from "./isRecord.ts"

export interface ObjectReference {
  readonly apiVersion?: string
  readonly kind?: string
  readonly name?: string
  readonly namespace?: string
  readonly uid?: string
  readonly resourceVersion?: string
  readonly fieldPath?: string
}

export interface EventSource {
  readonly component?: string
  readonly host?: string
}

export interface EventSeries {
  readonly count?: number
  readonly lastObservedTime?: string
}

/** What a test says about an event; everything else is filled in like the apiserver and recorders do. */
export interface EventInput {
  readonly involvedObject: ObjectReference
  readonly namespace?: string
  readonly name?: string
  readonly reason?: string
  readonly message?: string
  readonly type?: string
  readonly action?: string
  readonly source?: EventSource
  readonly reportingComponent?: string
  readonly reportingInstance?: string
  readonly related?: ObjectReference
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
  /**
   * "core": a core/v1 recorder event (count=1, firstTimestamp=lastTimestamp, eventTime null);
   * "series": an events.k8s.io/v1 recorder event (eventTime, reportingController, no count; repeats raise
   * series.count).
   */
  readonly style?: "core" | "series"
  readonly count?: number
  readonly firstTimestamp?: string | null
  readonly lastTimestamp?: string | null
  readonly eventTime?: string | null
  readonly series?: EventSeries
}

/** A reference to a stored event: its uid, its name (first match in any namespace), or namespace + name. */
export type EventRef = string | { readonly namespace: string; readonly name: string }

export const isoSeconds = (ms: number): string =>
  new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z")

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export const isoMicros = (ms: number): string => {
  const iso = new Date(ms).toISOString() // ...T12:34:56.789Z
  return `${iso.slice(0, -1)}000Z`
}

/**
 * The core/v1 JSON the Go server emits: `eventTime`, `firstTimestamp`, `lastTimestamp` are always present
 * (null when unset), `reportingComponent`/`reportingInstance` are always present, `source` and
 * `involvedObject` are always objects, `count` is omitted when 0.
 */
export const normalizeCoreEvent = (o: KubeObject): KubeObject => {
  const count = typeof o["count"] === "number" && o["count"] !== 0 ? { count: o["count"] } : {}
  const { count: _c, ...rest } = o
  return {
    ...rest,
    apiVersion: "v1",
    kind: "Event",
    involvedObject: isRecord(o["involvedObject"]) ? o["involvedObject"] : {},
    source: isRecord(o["source"]) ? o["source"] : {},
    eventTime: o["eventTime"] ?? null,
    firstTimestamp: o["firstTimestamp"] ?? null,
    lastTimestamp: o["lastTimestamp"] ?? null,
    reportingComponent: typeof o["reportingComponent"] === "string" ? o["reportingComponent"] : "",
    reportingInstance: typeof o["reportingInstance"] === "string" ? o["reportingInstance"] : "",
    ...count
  }
}

/**
 * The stored event as events.k8s.io/v1 serves it (pkg/apis/events/v1/conversion.go):
 * involvedObject→regarding, message→note, source→deprecatedSource, first/lastTimestamp→deprecated*,
 * count→deprecatedCount, reportingComponent→reportingController; omitempty fields dropped as Go does.
 */
export const toEventsV1 = (o: StoredKubeObject): Readonly<Record<string, unknown>> => {
  const nonEmpty = (k: string, v: unknown): Record<string, unknown> =>
    v === undefined || v === null || v === "" || v === 0 ? {} : { [k]: v }
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: o.metadata,
    eventTime: o["eventTime"] ?? null,
    ...nonEmpty("series", o["series"]),
    ...nonEmpty("reportingController", o["reportingComponent"]),
    ...nonEmpty("reportingInstance", o["reportingInstance"]),
    ...nonEmpty("action", o["action"]),
    ...nonEmpty("reason", o["reason"]),
    regarding: isRecord(o["involvedObject"]) ? o["involvedObject"] : {},
    ...nonEmpty("related", o["related"]),
    ...nonEmpty("note", o["message"]),
    ...nonEmpty("type", o["type"]),
    deprecatedSource: isRecord(o["source"]) ? o["source"] : {},
    deprecatedFirstTimestamp: o["firstTimestamp"] ?? null,
    deprecatedLastTimestamp: o["lastTimestamp"] ?? null,
    ...nonEmpty("deprecatedCount", o["count"])
  }
}

/** Whether an event is reported the events.k8s.io way (eventTime set, no first/lastTimestamp). */
export const isSeriesStyle = (o: KubeObject): boolean =>
  o["series"] !== undefined ||
  (o["eventTime"] !== null && o["eventTime"] !== undefined && (o["firstTimestamp"] ?? null) === null)

let nameCounter = 0
/** Names like the recorders make: `<involved object name>.<16 hex digits from a nanosecond clock>`. */
const eventName = (involvedName: string, nowMs: number): string => {
  nameCounter = (nameCounter + 1) % 1_000_000
  const nanos = BigInt(nowMs) * 1_000_000n + BigInt(nameCounter)
  return `${involvedName === "" ? "event" : involvedName}.${nanos.toString(16).padStart(16, "0")}`
}

export interface BulkLoadOptions {
  /** core/v1 Event objects (for example the fixture files) to stamp copies from; default: a built-in set. */
  readonly templates?: ReadonlyArray<KubeObject>
  /** Spread copies over these namespaces (default: keep each template's namespace). */
  readonly namespaces?: ReadonlyArray<string>
  /** Keep the templates' own timestamps (default: moved to now, as live events are). */
  readonly keepTimestamps?: boolean
}

export interface BulkLoadResult {
  readonly count: number
  readonly firstResourceVersion: number
  readonly lastResourceVersion: number
}

/** Lifecycle helpers over the events in a store. */
export class SimEvents {
  readonly #store: VersionedStore
  readonly #byUid = new Map<string, string>()
  readonly #byName = new Map<string, string>()
  #touches = 0

  constructor(store: VersionedStore) {
    this.#store = store
    store.subscribe((c) => {
      if (c.resource !== Resources.events) return
      const meta = c.object.object.metadata
      if (c.type === "DELETED") {
        this.#byUid.delete(meta.uid)
        if (this.#byName.get(meta.name) === c.key) this.#byName.delete(meta.name)
      } else {
        this.#byUid.set(meta.uid, c.key)
        this.#byName.set(meta.name, c.key)
      }
    })
  }

  /** Deletes events this long after their last write, emitting DELETED (like `--event-ttl`). */
  setTtl(ttlMs: number | undefined): void {
    this.#store.setTtl(Resources.events, ttlMs)
  }

  get(ref: EventRef): StoredKubeObject | undefined {
    const key = this.#resolve(ref)
    if (key === undefined) return undefined
    const slash = key.indexOf("/")
    return this.#store.get(Resources.events, key.slice(0, slash), key.slice(slash + 1))?.object
  }

  count(): number {
    return this.#store.count(Resources.events)
  }

  /** Records a first occurrence. */
  create(input: EventInput): StoredKubeObject {
    const now = this.#store.now()
    const involved = input.involvedObject
    const namespace = input.namespace ?? involved.namespace ?? "default"
    const style = input.style ?? (input.eventTime !== undefined && input.eventTime !== null ? "series" : "core")
    const metadata: ObjectMeta = {
      name: input.name ?? eventName(involved.name ?? "", now),
      namespace,
      ...(input.labels === undefined ? {} : { labels: input.labels }),
      ...(input.annotations === undefined ? {} : { annotations: input.annotations })
    }
    const common = {
      metadata,
      involvedObject: involved,
      ...(input.reason === undefined ? {} : { reason: input.reason }),
      ...(input.message === undefined ? {} : { message: input.message }),
      type: input.type ?? "Normal",
      ...(input.action === undefined ? {} : { action: input.action }),
      ...(input.related === undefined ? {} : { related: input.related }),
      ...(input.series === undefined ? {} : { series: input.series })
    }
    const body: KubeObject =
      style === "series"
        ? {
            ...common,
            eventTime: input.eventTime ?? isoMicros(now),
            firstTimestamp: input.firstTimestamp ?? null,
            lastTimestamp: input.lastTimestamp ?? null,
            source: input.source ?? {},
            reportingComponent: input.reportingComponent ?? input.source?.component ?? "",
            reportingInstance: input.reportingInstance ?? "",
            ...(input.count === undefined ? {} : { count: input.count })
          }
        : {
            ...common,
            eventTime: input.eventTime ?? null,
            firstTimestamp: input.firstTimestamp ?? isoSeconds(now),
            lastTimestamp: input.lastTimestamp ?? input.firstTimestamp ?? isoSeconds(now),
            count: input.count ?? 1,
            source: input.source ?? {},
            reportingComponent: input.reportingComponent ?? "",
            reportingInstance: input.reportingInstance ?? ""
          }
    return this.#store.create(Resources.events, normalizeCoreEvent(body)).object
  }

  /**
   * A new occurrence of an existing event: MODIFIED with a new resourceVersion and, for core-style events,
   * `count` + 1 and `lastTimestamp` = now, for series-style events `series.count` + 1 and
   * `series.lastObservedTime` = now.
   */
  repeat(ref: EventRef, change: { readonly message?: string } = {}): StoredKubeObject {
    const current = this.#current(ref)
    const now = this.#store.now()
    const message = change.message === undefined ? {} : { message: change.message }
    let next: KubeObject
    if (isSeriesStyle(current)) {
      const series = isRecord(current["series"]) ? current["series"] : undefined
      const prevCount = typeof series?.["count"] === "number" ? series["count"] : 1
      next = { ...current, ...message, series: { count: prevCount + 1, lastObservedTime: isoMicros(now) } }
    } else {
      const prevCount = typeof current["count"] === "number" ? current["count"] : 1
      next = { ...current, ...message, count: prevCount + 1, lastTimestamp: isoSeconds(now) }
    }
    return this.#write(current, next)
  }

  /** MODIFIED with a new resourceVersion but no new occurrence (default: an annotation changes). */
  updateWithoutNewOccurrence(ref: EventRef, mutate?: (e: StoredKubeObject) => KubeObject): StoredKubeObject {
    const current = this.#current(ref)
    const next = mutate?.(current) ?? {
      ...current,
      metadata: {
        ...current.metadata,
        annotations: { ...current.metadata.annotations, "sim.k8s.io/touched": String(++this.#touches) }
      }
    }
    return this.#write(current, next)
  }

  delete(ref: EventRef): StoredKubeObject {
    const current = this.#current(ref)
    return this.#store.delete(Resources.events, current.metadata.namespace, current.metadata.name).object
  }

  /** Stores core/v1 Event objects as they are (name, uid, timestamps kept; a new resourceVersion each). */
  load(events: ReadonlyArray<KubeObject>): BulkLoadResult {
    const first = this.#store.resourceVersion + 1
    for (const e of events) {
      this.#store.create(Resources.events, normalizeCoreEvent(e), { keepUid: true, keepCreationTimestamp: true })
    }
    return { count: events.length, firstResourceVersion: first, lastResourceVersion: this.#store.resourceVersion }
  }

  /**
   * Creates `count` events stamped from templates: each copy gets its own name, uid and resourceVersion,
   * keeps the template's shape (including fixture oddities) and timestamps.
   */
  bulkLoad(count: number, options: BulkLoadOptions = {}): BulkLoadResult {
    const templates = (options.templates ?? DEFAULT_TEMPLATES).map(normalizeCoreEvent)
    if (templates.length === 0) throw new Error("bulkLoad needs at least one template")
    const namespaces = options.namespaces
    const first = this.#store.resourceVersion + 1
    const now = this.#store.now()
    const stamp = now.toString(16)
    // Live events are at most an event TTL old: the templates' own (years old) times are moved to now.
    const nowIso = new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z")
    const nowMicro = new Date(now).toISOString().replace(/Z$/, "000Z")
    for (let i = 0; i < count; i++) {
      const t = templates[i % templates.length] as KubeObject
      const tMeta = t.metadata ?? {}
      const namespace =
        namespaces === undefined ? (tMeta.namespace ?? "default") : (namespaces[i % namespaces.length] ?? "default")
      const involved = isRecord(t["involvedObject"]) ? t["involvedObject"] : {}
      const involvedName = typeof involved["name"] === "string" ? involved["name"] : "event"
      const { uid: _uid, resourceVersion: _rv, name: _name, creationTimestamp: _created, ...meta } = tMeta
      this.#store.create(
        Resources.events,
        {
          ...(options.keepTimestamps === true ? t : restamp(t, nowIso, nowMicro)),
          metadata: {
            ...meta,
            ...(options.keepTimestamps === true && _created !== undefined ? { creationTimestamp: _created } : {}),
            namespace,
            name: `${involvedName}.${stamp}${i.toString(16).padStart(8, "0")}`
          }
        },
        { keepCreationTimestamp: options.keepTimestamps === true }
      )
    }
    return { count, firstResourceVersion: first, lastResourceVersion: this.#store.resourceVersion }
  }

  #resolve(ref: EventRef): string | undefined {
    if (typeof ref !== "string") return objectKey(Resources.events, ref.namespace, ref.name)
    return this.#byUid.get(ref) ?? this.#byName.get(ref)
  }

  #current(ref: EventRef): StoredKubeObject {
    const o = this.get(ref)
    if (o === undefined) {
      const name = typeof ref === "string" ? ref : ref.name
      throw new StoreError(notFound("events", "", name))
    }
    return o
  }

  #write(current: StoredKubeObject, next: KubeObject): StoredKubeObject {
    const { resourceVersion: _rv, ...meta } = next.metadata ?? current.metadata
    return this.#store.update(
      Resources.events,
      normalizeCoreEvent({
        ...next,
        metadata: { ...meta, name: current.metadata.name, namespace: current.metadata.namespace ?? "default" }
      })
    ).object
  }
}

/** A template with its occurrence times set to now (those it has; null ones stay null). */
const restamp = (t: KubeObject, nowIso: string, nowMicro: string): KubeObject => {
  const out: Record<string, unknown> = { ...t }
  for (const key of ["firstTimestamp", "lastTimestamp"]) if (typeof out[key] === "string") out[key] = nowIso
  if (typeof out["eventTime"] === "string") out["eventTime"] = nowMicro
  const series = out["series"]
  if (isRecord(series) && typeof series["lastObservedTime"] === "string")
    out["series"] = { ...series, lastObservedTime: nowMicro }
  return out as KubeObject
}

/** Fixture-shaped templates (real OpenShift/Kubernetes event shapes) used when bulkLoad is given none. */
export const DEFAULT_TEMPLATES: ReadonlyArray<KubeObject> = [
  {
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      name: "web-5d8c6749f5-7xkp6.16a469f7afc71796",
      namespace: "shop",
      creationTimestamp: "2021-09-13T15:04:37Z"
    },
    involvedObject: {
      apiVersion: "v1",
      kind: "Pod",
      name: "web-5d8c6749f5-7xkp6",
      namespace: "shop",
      uid: "6650d079-6893-47bd-a5dc-886d5e1cce82",
      resourceVersion: "24458",
      fieldPath: "spec.containers{web}"
    },
    reason: "BackOff",
    message:
      "Back-off restarting failed container web in pod web-5d8c6749f5-7xkp6_shop(6650d079-6893-47bd-a5dc-886d5e1cce82)",
    source: { component: "kubelet", host: "worker-1" },
    firstTimestamp: "2021-09-13T15:04:37Z",
    lastTimestamp: "2021-09-13T15:09:12Z",
    count: 23,
    type: "Warning",
    eventTime: null,
    reportingComponent: "",
    reportingInstance: ""
  },
  {
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      name: "web-5d8c6749f5-7xkp6.16a469f7afc71000",
      namespace: "shop",
      creationTimestamp: "2021-09-13T15:04:37Z"
    },
    involvedObject: {
      apiVersion: "v1",
      kind: "Pod",
      name: "web-5d8c6749f5-7xkp6",
      namespace: "shop",
      uid: "6650d079-6893-47bd-a5dc-886d5e1cce82",
      resourceVersion: "24458"
    },
    reason: "FailedScheduling",
    message:
      "0/6 nodes are available: 3 node(s) didn't match Pod's node affinity/selector, 3 node(s) had untolerated " +
      "taint {node-role.kubernetes.io/master: }.",
    source: {},
    firstTimestamp: null,
    lastTimestamp: null,
    type: "Warning",
    eventTime: "2021-09-13T15:04:37.541849Z",
    action: "Scheduling",
    reportingComponent: "default-scheduler",
    reportingInstance: "default-scheduler-master-1",
    series: { count: 5, lastObservedTime: "2021-09-13T15:05:13.564719Z" }
  },
  {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: "worker-2.1697c1c599a8b714", namespace: "default", creationTimestamp: "2021-08-03T09:27:24Z" },
    involvedObject: { kind: "Node", name: "worker-2", uid: "worker-2" },
    reason: "NodeNotReady",
    message: "Node worker-2 status is now: NodeNotReady",
    source: { component: "node-controller" },
    firstTimestamp: "2021-08-03T09:27:24Z",
    lastTimestamp: "2021-08-03T09:27:24Z",
    count: 1,
    type: "Normal",
    eventTime: null,
    reportingComponent: "",
    reportingInstance: ""
  },
  {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: "api.1697c1175997e012", namespace: "shop", creationTimestamp: "2021-08-03T09:14:56Z" },
    involvedObject: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "api",
      namespace: "shop",
      uid: "0b6f8a5e-9d1c-4c1e-8d7a-3f2b1c0d9e8f",
      resourceVersion: "645"
    },
    reason: "ScalingReplicaSet",
    message: "Scaled up replica set api-7d9f8b6c5d to 3",
    source: { component: "deployment-controller" },
    firstTimestamp: "2021-08-03T09:14:56Z",
    lastTimestamp: "2021-08-03T09:14:56Z",
    count: 1,
    type: "Normal",
    eventTime: null,
    reportingComponent: "",
    reportingInstance: ""
  }
]

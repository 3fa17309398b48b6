/**
 * Reads and writes one `coordination.k8s.io/v1` Lease: get, create, and replace guarded by `resourceVersion`.
 *
 * The live layer sends raw JSON through client-node's HTTP library rather than `CoordinationV1Api`: that API's
 * model turns `acquireTime`/`renewTime` into `Date`s and writes them back with `toISOString()` (three fractional
 * digits), which a real API server refuses for a MicroTime (it wants exactly six). Here the times stay strings.
 */
import { Context, Effect, Layer, Option, Ref, Schema } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { makeKubeHttp } from "../kube/KubeHttp.ts"
import { failureDetail, parseJson } from "../kube/KubeApiError.ts"

export interface LeaseRef {
  readonly namespace: string
  readonly name: string
}

/** The fields of `spec` that leader election owns. */
export interface LeaseRecord {
  /** "" when nobody holds the lease. */
  readonly holderIdentity: string
  readonly leaseDurationSeconds: number
  /** MicroTime, e.g. "2026-01-02T03:04:05.123000Z". */
  readonly acquireTime: string
  readonly renewTime: string
  readonly leaseTransitions: number
}

const Extra = Schema.Record({ key: Schema.String, value: Schema.Unknown })

const LeaseSpec = Schema.Struct(
  {
    holderIdentity: Schema.optional(Schema.NullOr(Schema.String)),
    leaseDurationSeconds: Schema.optional(Schema.NullOr(Schema.Number)),
    acquireTime: Schema.optional(Schema.NullOr(Schema.String)),
    renewTime: Schema.optional(Schema.NullOr(Schema.String)),
    leaseTransitions: Schema.optional(Schema.NullOr(Schema.Number))
  },
  Extra
)

const LeaseObject = Schema.Struct(
  {
    metadata: Schema.Struct({ resourceVersion: Schema.String }, Extra),
    spec: Schema.optional(Schema.NullOr(LeaseSpec))
  },
  Extra
)
type LeaseObject = typeof LeaseObject.Type
const decodeLeaseObject = Schema.decodeUnknownEither(LeaseObject)

/** A Lease as last read or written. */
export interface Lease {
  readonly resourceVersion: string
  readonly holderIdentity: string
  readonly leaseDurationSeconds: number | undefined
  readonly acquireTime: string | undefined
  readonly renewTime: string | undefined
  readonly leaseTransitions: number
  /** The whole object as the server returned it, so a replace keeps labels and spec fields this module ignores. */
  readonly object: LeaseObject
}

const toLease = (object: LeaseObject): Lease => ({
  resourceVersion: object.metadata.resourceVersion,
  holderIdentity: object.spec?.holderIdentity ?? "",
  leaseDurationSeconds: object.spec?.leaseDurationSeconds ?? undefined,
  acquireTime: object.spec?.acquireTime ?? undefined,
  renewTime: object.spec?.renewTime ?? undefined,
  leaseTransitions: object.spec?.leaseTransitions ?? 0,
  object
})

export class LeaseError extends Schema.TaggedError<LeaseError>()("LeaseError", {
  verb: Schema.Literal("get", "create", "update"),
  lease: Schema.String,
  /** Absent when no HTTP answer arrived. */
  status: Schema.optional(Schema.Number),
  reason: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  /** 409: someone else wrote the Lease first (Conflict on update, AlreadyExists on create). */
  get isConflict(): boolean {
    return this.status === 409
  }

  override get message(): string {
    const answer = this.status === undefined ? "" : ` with HTTP ${this.status}${this.reason ? ` ${this.reason}` : ""}`
    return `${this.verb} of Lease ${this.lease} failed${answer}: ${this.detail}`
  }
}

export interface LeaseApiShape {
  /** `None` when the Lease does not exist. */
  readonly get: (ref: LeaseRef) => Effect.Effect<Option.Option<Lease>, LeaseError>
  readonly create: (ref: LeaseRef, record: LeaseRecord) => Effect.Effect<Lease, LeaseError>
  /** Writes `record` over `current`; fails with a 409 when the Lease changed since `current` was read. */
  readonly replace: (ref: LeaseRef, current: Lease, record: LeaseRecord) => Effect.Effect<Lease, LeaseError>
}

export class LeaseApi extends Context.Tag("LeaseApi")<LeaseApi, LeaseApiShape>() {
  static readonly layer = (kc: KubeConfig) => Layer.sync(LeaseApi, () => makeHttp(kc))
  /** An in-memory Lease store with the same optimistic concurrency, for tests that need no API server. */
  static readonly layerMemory = Layer.effect(
    LeaseApi,
    Effect.suspend(() => makeMemory())
  )
}

const describe = (ref: LeaseRef) => `${ref.namespace}/${ref.name}`

const specOf = (record: LeaseRecord) => ({
  holderIdentity: record.holderIdentity,
  leaseDurationSeconds: record.leaseDurationSeconds,
  acquireTime: record.acquireTime,
  renewTime: record.renewTime,
  leaseTransitions: record.leaseTransitions
})

const replacement = (current: Lease, record: LeaseRecord) => ({
  ...current.object,
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  spec: { ...current.object.spec, ...specOf(record) }
})

const makeHttp = (kc: KubeConfig): LeaseApiShape => {
  const http = makeKubeHttp(kc)
  const leasePath = (ref: LeaseRef, named: boolean) => {
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(ref.namespace)}/leases`
    return named ? `${leases}/${encodeURIComponent(ref.name)}` : leases
  }

  const send = (
    verb: LeaseError["verb"],
    ref: LeaseRef,
    method: "GET" | "POST" | "PUT",
    path: string,
    body?: unknown
  ) =>
    Effect.gen(function* () {
      const fail = (detail: string, status?: number, reason?: string) =>
        new LeaseError({
          verb,
          lease: describe(ref),
          detail,
          ...(status === undefined ? {} : { status }),
          ...(reason === undefined || reason === "" ? {} : { reason })
        })
      const response = yield* http.request(method, path, body).pipe(Effect.mapError((e) => fail(e.message)))
      if (response.status < 200 || response.status > 299) {
        const { detail, status } = failureDetail(response)
        return yield* fail(detail, response.status, status?.reason)
      }
      const lease = decodeLeaseObject(parseJson(response.text))
      if (lease._tag === "Left") return yield* fail("the answer is not a Lease", response.status)
      return toLease(lease.right)
    })

  return {
    get: Effect.fn("LeaseApi.get")(function* (ref: LeaseRef) {
      return yield* send("get", ref, "GET", leasePath(ref, true)).pipe(
        Effect.map(Option.some),
        Effect.catchIf(
          (e) => e.status === 404,
          () => Effect.succeed(Option.none<Lease>())
        )
      )
    }),
    create: Effect.fn("LeaseApi.create")(function* (ref: LeaseRef, record: LeaseRecord) {
      return yield* send("create", ref, "POST", leasePath(ref, false), {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: ref.name, namespace: ref.namespace },
        spec: specOf(record)
      })
    }),
    replace: Effect.fn("LeaseApi.replace")(function* (ref: LeaseRef, current: Lease, record: LeaseRecord) {
      return yield* send("update", ref, "PUT", leasePath(ref, true), replacement(current, record))
    })
  }
}

interface MemoryStore {
  readonly rv: number
  readonly leases: ReadonlyMap<string, Lease>
}

const makeMemory = () =>
  Effect.gen(function* () {
    const store = yield* Ref.make<MemoryStore>({ rv: 0, leases: new Map() })
    const conflict = (verb: LeaseError["verb"], ref: LeaseRef, reason: string) =>
      new LeaseError({
        verb,
        lease: describe(ref),
        status: 409,
        reason,
        detail: "the Lease was written by someone else"
      })
    const notFound = (verb: LeaseError["verb"], ref: LeaseRef) =>
      new LeaseError({
        verb,
        lease: describe(ref),
        status: 404,
        reason: "NotFound",
        detail: "the Lease does not exist"
      })
    const write = (ref: LeaseRef, rv: number, object: Omit<LeaseObject, "metadata">): Lease =>
      toLease({ ...object, metadata: { name: ref.name, namespace: ref.namespace, resourceVersion: String(rv) } })
    const api: LeaseApiShape = {
      get: (ref) => Ref.get(store).pipe(Effect.map((s) => Option.fromNullable(s.leases.get(describe(ref))))),
      create: (ref, record) =>
        Ref.modify(store, (s): readonly [Lease | LeaseError, MemoryStore] => {
          if (s.leases.has(describe(ref))) return [conflict("create", ref, "AlreadyExists"), s] as const
          const lease = write(ref, s.rv + 1, { spec: specOf(record) })
          return [lease, { rv: s.rv + 1, leases: new Map(s.leases).set(describe(ref), lease) }] as const
        }).pipe(
          Effect.flatMap((result) => (result instanceof LeaseError ? Effect.fail(result) : Effect.succeed(result)))
        ),
      replace: (ref, current, record) =>
        Ref.modify(store, (s): readonly [Lease | LeaseError, MemoryStore] => {
          const stored = s.leases.get(describe(ref))
          if (stored === undefined) return [notFound("update", ref), s] as const
          if (stored.resourceVersion !== current.resourceVersion)
            return [conflict("update", ref, "Conflict"), s] as const
          const lease = write(ref, s.rv + 1, replacement(current, record))
          return [lease, { rv: s.rv + 1, leases: new Map(s.leases).set(describe(ref), lease) }] as const
        }).pipe(
          Effect.flatMap((result) => (result instanceof LeaseError ? Effect.fail(result) : Effect.succeed(result)))
        )
    }
    return api
  })

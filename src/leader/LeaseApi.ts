/**
 * Reads and writes one `coordination.k8s.io/v1` Lease: get, create, and replace guarded by `resourceVersion`.
 *
 * The live layer sends raw JSON through `KubeHttp.call` (client-node's HTTP library) rather than
 * `CoordinationV1Api`: that API's model turns `acquireTime`/`renewTime` into `Date`s and writes them back with
 * `toISOString()` (three fractional digits), which a real API server refuses for a MicroTime (it wants exactly
 * six). Here the times stay strings. Every call fails with the `KubeApiError` of the answer; callers match on its
 * `reason` (`Conflict` for a lost race), in memory as over HTTP.
 */
import { Context, Effect, Either, Layer, Option, Ref, Schema } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { makeKubeHttp } from "../kube/KubeHttp.ts"
import { KubeApiError, type KubeVerb, parseJson } from "../kube/KubeApiError.ts"

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

/** Every call fails with the `KubeApiError` of the API server's answer: a lost race is reason `Conflict`. */
export interface LeaseApiShape {
  /** `None` when the Lease does not exist. */
  readonly get: (ref: LeaseRef) => Effect.Effect<Option.Option<Lease>, KubeApiError>
  /** Fails with reason `Conflict` (status reason `AlreadyExists`) when the Lease exists. */
  readonly create: (ref: LeaseRef, record: LeaseRecord) => Effect.Effect<Lease, KubeApiError>
  /** Writes `record` over `current`; fails with reason `Conflict` when the Lease changed since `current` was read. */
  readonly replace: (ref: LeaseRef, current: Lease, record: LeaseRecord) => Effect.Effect<Lease, KubeApiError>
}

export class LeaseApi extends Context.Tag("LeaseApi")<LeaseApi, LeaseApiShape>() {
  static readonly layer = (kc: KubeConfig) => Layer.sync(LeaseApi, () => makeHttp(kc))
  /** An in-memory Lease store with the same optimistic concurrency, for tests that need no API server. */
  static readonly layerMemory = Layer.effect(
    LeaseApi,
    Effect.suspend(() => makeMemory())
  )
}

const storeKey = (ref: LeaseRef) => `${ref.namespace}/${ref.name}`

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

const leasePath = (ref: LeaseRef, named: boolean) => {
  const leases = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(ref.namespace)}/leases`
  return named ? `${leases}/${encodeURIComponent(ref.name)}` : leases
}

const makeHttp = (kc: KubeConfig): LeaseApiShape => {
  const http = makeKubeHttp(kc)
  const send = (verb: KubeVerb, method: "GET" | "POST" | "PUT", path: string, body?: unknown) =>
    http.call(verb, method, path, body === undefined ? {} : { body }).pipe(
      Effect.flatMap((response) => {
        const lease = decodeLeaseObject(parseJson(response.text))
        return lease._tag === "Right"
          ? Effect.succeed(toLease(lease.right))
          : Effect.fail(KubeApiError.decode(verb, "the answer is not a Lease", lease.left))
      })
    )

  return {
    get: Effect.fn("LeaseApi.get")(function* (ref: LeaseRef) {
      return yield* send("get", "GET", leasePath(ref, true)).pipe(
        Effect.map(Option.some),
        Effect.catchIf(
          (e) => e.reason === "NotFound",
          () => Effect.succeed(Option.none<Lease>())
        )
      )
    }),
    create: Effect.fn("LeaseApi.create")(function* (ref: LeaseRef, record: LeaseRecord) {
      return yield* send("create", "POST", leasePath(ref, false), {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: ref.name, namespace: ref.namespace },
        spec: specOf(record)
      })
    }),
    replace: Effect.fn("LeaseApi.replace")(function* (ref: LeaseRef, current: Lease, record: LeaseRecord) {
      return yield* send("update", "PUT", leasePath(ref, true), replacement(current, record))
    })
  }
}

interface MemoryStore {
  readonly rv: number
  readonly leases: ReadonlyMap<string, Lease>
}

/** The refusals of the API server, as `KubeHttp` classifies its answers. */
const refusal = (verb: KubeVerb, status: 404 | 409, statusReason: string, description: string) =>
  new KubeApiError({
    verb,
    reason: status === 404 ? "NotFound" : "Conflict",
    status,
    statusReason,
    description
  })

const makeMemory = () =>
  Effect.gen(function* () {
    const store = yield* Ref.make<MemoryStore>({ rv: 0, leases: new Map() })
    const written = "the Lease was written by someone else"
    const write = (ref: LeaseRef, rv: number, object: Omit<LeaseObject, "metadata">): Lease =>
      toLease({ ...object, metadata: { name: ref.name, namespace: ref.namespace, resourceVersion: String(rv) } })
    const commit = (ref: LeaseRef, s: MemoryStore, object: Omit<LeaseObject, "metadata">) => {
      const lease = write(ref, s.rv + 1, object)
      return [Either.right(lease), { rv: s.rv + 1, leases: new Map(s.leases).set(storeKey(ref), lease) }] as const
    }
    const api: LeaseApiShape = {
      get: (ref) => Ref.get(store).pipe(Effect.map((s) => Option.fromNullable(s.leases.get(storeKey(ref))))),
      create: (ref, record) =>
        Ref.modify(store, (s): readonly [Either.Either<Lease, KubeApiError>, MemoryStore] =>
          s.leases.has(storeKey(ref))
            ? [Either.left(refusal("create", 409, "AlreadyExists", written)), s]
            : commit(ref, s, { spec: specOf(record) })
        ).pipe(Effect.flatten),
      replace: (ref, current, record) =>
        Ref.modify(store, (s): readonly [Either.Either<Lease, KubeApiError>, MemoryStore] => {
          const stored = s.leases.get(storeKey(ref))
          if (stored === undefined) return [Either.left(refusal("update", 404, "NotFound", "no such Lease")), s]
          if (stored.resourceVersion !== current.resourceVersion)
            return [Either.left(refusal("update", 409, "Conflict", written)), s]
          return commit(ref, s, replacement(current, record))
        }).pipe(Effect.flatten)
    }
    return api
  })

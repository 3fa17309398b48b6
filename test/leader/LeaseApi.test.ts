/**
 * The Lease calls over real HTTP against the simulated API server, and the in-memory store held to the same
 * answers: a missing Lease is `None`, a lost race is a `KubeApiError` of reason `Conflict`; over HTTP, the other
 * refusals keep the API server's status and reason, and a replace keeps what leader election does not own.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, type Scope } from "effect"
import { type FaultAction, simKubeConfig } from "@k8s-event-collector/sim"
import type { KubeApiError } from "../../src/kube/KubeApiError.ts"
import { LeaseApi, type LeaseApiShape, type LeaseRecord } from "../../src/leader/LeaseApi.ts"
import { LEASE, NAMESPACE, REF, simServer, storedLease } from "./support.ts"

const record = (holder: string, transitions: number): LeaseRecord => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: "2026-01-02T03:04:05.123456Z",
  renewTime: "2026-01-02T03:04:06.000001Z",
  leaseTransitions: transitions
})

const httpApi = Effect.gen(function* () {
  const sim = yield* simServer
  return { sim, api: yield* Effect.provide(LeaseApi, LeaseApi.layer(simKubeConfig(sim.url))) }
})

const stores: ReadonlyArray<readonly [string, Effect.Effect<LeaseApiShape, never, Scope.Scope>]> = [
  ["over HTTP", Effect.map(httpApi, (h) => h.api)],
  ["in memory", Effect.provide(LeaseApi, LeaseApi.layerMemory)]
]

for (const [where, makeApi] of stores) {
  describe(`LeaseApi ${where}`, () => {
    it.scoped("reads a missing Lease as None, creates it, and reads back what it wrote", () =>
      Effect.gen(function* () {
        const api = yield* makeApi
        expect(yield* api.get(REF)).toEqual(Option.none())
        const created = yield* api.create(REF, record("pod-a", 0))
        expect(created).toMatchObject({ ...record("pod-a", 0), resourceVersion: expect.any(String) })
        const read = yield* api.get(REF)
        expect(Option.map(read, (l) => [l.resourceVersion, l.holderIdentity, l.renewTime])).toEqual(
          Option.some([created.resourceVersion, "pod-a", "2026-01-02T03:04:06.000001Z"])
        )
      })
    )

    it.scoped("refuses a second create with reason Conflict (AlreadyExists)", () =>
      Effect.gen(function* () {
        const api = yield* makeApi
        yield* api.create(REF, record("pod-a", 0))
        const error = yield* Effect.flip(api.create(REF, record("pod-b", 0)))
        expect(error).toMatchObject({ verb: "create", reason: "Conflict", status: 409, statusReason: "AlreadyExists" })
      })
    )

    it.scoped("replaces over the version read, and refuses a stale one with reason Conflict", () =>
      Effect.gen(function* () {
        const api = yield* makeApi
        const created = yield* api.create(REF, record("pod-a", 0))
        const replaced = yield* api.replace(REF, created, record("pod-b", 1))
        expect(replaced).toMatchObject(record("pod-b", 1))
        expect(replaced.resourceVersion).not.toBe(created.resourceVersion)

        const error = yield* Effect.flip(api.replace(REF, created, record("pod-c", 1)))
        expect(error).toMatchObject({ verb: "update", reason: "Conflict", status: 409, statusReason: "Conflict" })
        expect(Option.map(yield* api.get(REF), (l) => l.holderIdentity)).toEqual(Option.some("pod-b"))
      })
    )
  })
}

describe("LeaseApi over HTTP", () => {
  it.scoped("keeps the labels and the spec fields that leader election does not own", () =>
    Effect.gen(function* () {
      const { sim, api } = yield* httpApi
      sim.objects.lease({ namespace: NAMESPACE, name: LEASE, labels: { team: "platform" } })
      const current = Option.getOrThrow(yield* api.get(REF))
      yield* api.replace(REF, current, record("pod-a", 1))
      expect(storedLease(sim)?.metadata.labels).toEqual({ team: "platform" })
      expect(storedLease(sim)?.spec).toEqual(record("pod-a", 1))
    })
  )

  const refusals: ReadonlyArray<{
    readonly what: string
    readonly action: FaultAction
    readonly error: Partial<Pick<KubeApiError, "reason" | "status" | "statusReason" | "description">>
  }> = [
    {
      what: "a 500 as ServerError",
      action: { type: "internalError" },
      error: { reason: "ServerError", status: 500, statusReason: "InternalError" }
    },
    { what: "a 403 as Forbidden", action: { type: "forbidden" }, error: { reason: "Forbidden", status: 403 } },
    {
      what: "a 200 that is not a Lease as Decode",
      action: {
        type: "status",
        status: {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Success",
          message: "",
          reason: "",
          code: 200
        }
      },
      error: { reason: "Decode", status: 200, description: "the answer is not a Lease" }
    },
    { what: "a cut connection as Transport", action: { type: "resetConnection" }, error: { reason: "Transport" } }
  ]
  for (const { what, action, error } of refusals) {
    it.scoped(`classifies ${what}`, () =>
      Effect.gen(function* () {
        const { sim, api } = yield* httpApi
        sim.faults.add({ path: "/apis/coordination.k8s.io/*", action })
        expect(yield* Effect.flip(api.get(REF))).toMatchObject({ verb: "get", ...error })
      })
    )
  }
})

/**
 * The ConfigMap store against the simulated API server over real HTTP, through client-node's authentication:
 * create, update, optimistic concurrency, a missing object, server errors, and the stored size.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, Option, Schema } from "effect"
import { type CheckpointState, decodeState } from "../../src/checkpoint/CheckpointState.ts"
import { CheckpointStore } from "../../src/checkpoint/CheckpointStore.ts"
import { Resources, type SimServer, StatusBodies, simKubeConfig, startSimServer } from "@k8s-event-collector/sim"
import { randomOccurrences, T0 } from "./support.ts"
import { captureLevelledLogs } from "../support/logs.ts"

const NS = "monitoring"
let sim: SimServer
let name = ""
let seq = 0

beforeAll(async () => {
  sim = await startSimServer()
})
afterAll(async () => {
  await sim.close()
})
beforeEach(() => {
  sim.faults.clear()
  sim.requests.clear()
  name = `checkpoint-${++seq}`
})

const state = (n: number, rv: string): CheckpointState => ({
  streams: { "core/v1/*": rv, "core/v1/shop": "7" },
  occurrences: randomOccurrences(n),
  savedAtMs: T0 + Number(rv)
})

const layer = () => CheckpointStore.configMap(simKubeConfig(sim.url), NS, name)
/** Conflict warnings are checked in one test and kept out of the test output elsewhere. */
const quiet = Logger.replace(Logger.defaultLogger, Logger.none)
const withStore = <A, E>(body: (store: CheckpointStore["Type"]) => Effect.Effect<A, E>, l = layer()) =>
  Effect.flatMap(CheckpointStore, body).pipe(Effect.provide(l), Effect.provide(quiet))

/** The requests this test made for its ConfigMap, as "METHOD status". */
const calls = () => sim.requests.filter({ resource: "configmaps", namespace: NS }).map((r) => `${r.method} ${r.status}`)

const Stored = Schema.Struct({
  metadata: Schema.Struct({ labels: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })) }),
  data: Schema.Record({ key: Schema.String, value: Schema.String }),
  binaryData: Schema.Record({ key: Schema.String, value: Schema.String })
})

const stored = () => {
  const object = sim.store.get(Resources.configmaps, NS, name)?.object
  return { object, body: Schema.decodeUnknownSync(Stored)(object) }
}
const storedState = () =>
  Either.getOrThrow(decodeState(Buffer.from(stored().body.binaryData["checkpoint"] ?? "", "base64")))

describe("CheckpointStore.configMap", () => {
  it.live("a missing ConfigMap loads as None; the first save creates it, later saves update it", () =>
    withStore((store) =>
      Effect.gen(function* () {
        expect(store.describe).toBe(`ConfigMap ${NS}/${name}`)
        expect(yield* store.load).toEqual(Option.none())
        const first = state(5, "10")
        yield* store.save(first)
        expect(calls()).toEqual(["GET 404", "POST 201"])
        expect(storedState()).toEqual(first)
        const second = state(50, "20")
        yield* store.save(second)
        yield* store.save(state(60, "30"))
        expect(calls()).toEqual(["GET 404", "POST 201", "PUT 200", "PUT 200"])
        const { body } = stored()
        expect(body.metadata.labels).toEqual({ "app.kubernetes.io/name": "k8s-event-collector" })
        expect(body.data["summary"]).toContain("exported occurrences remembered: 60")
        expect(body.data["summary"]).toContain("core/v1/*: resourceVersion 30")
        expect(Option.getOrThrow(yield* store.load).streams).toEqual({ "core/v1/*": "30", "core/v1/shop": "7" })
      })
    )
  )

  it.live("a save without a load reads first, then creates or updates", () =>
    Effect.gen(function* () {
      yield* withStore((store) => store.save(state(1, "1")))
      yield* withStore((store) => store.save(state(2, "2")))
      expect(calls()).toEqual(["GET 404", "POST 201", "GET 200", "PUT 200"])
      expect(storedState().streams["core/v1/*"]).toBe("2")
    })
  )

  it.live("after someone else's write the 409 is logged, the ConfigMap read again and the save wins", () => {
    const logs = captureLevelledLogs()
    return Effect.gen(function* () {
      const leader = yield* Layer.build(layer())
      const store = yield* Effect.provide(CheckpointStore, leader)
      yield* store.save(state(3, "100"))
      // A deposed leader writes with its own store…
      yield* withStore((deposed) => deposed.save(state(3, "50")))
      // …and someone edits it by hand.
      sim.store.modify(Resources.configmaps, NS, name, (o) => ({ ...o, data: { note: "edited" } }))
      const mine = state(4, "200")
      yield* store.save(mine)
      expect(calls()).toEqual(["GET 404", "POST 201", "GET 200", "PUT 200", "PUT 409", "GET 200", "PUT 200"])
      expect(storedState()).toEqual(mine)
      expect(logs.lines.filter((l) => l.startsWith("WARN"))).toEqual([
        expect.stringMatching(
          new RegExp(
            `^WARN the checkpoint ConfigMap ${NS}/${name} was changed by another writer .*HTTP 409 Conflict: Operation cannot be fulfilled`
          )
        )
      ])
    }).pipe(Effect.scoped, Effect.provide(logs.layer))
  })

  it.live("a ConfigMap created meanwhile (409 on create) is read and replaced", () =>
    withStore((store) =>
      Effect.gen(function* () {
        expect(yield* store.load).toEqual(Option.none())
        sim.objects.configMap({ namespace: NS, name, labels: { team: "platform" }, data: {} })
        yield* store.save(state(2, "5"))
        expect(calls()).toEqual(["GET 404", "POST 409", "GET 200", "PUT 200"])
        expect(stored().body.metadata.labels).toEqual({
          team: "platform",
          "app.kubernetes.io/name": "k8s-event-collector"
        })
      })
    )
  )

  it.live("a ConfigMap deleted meanwhile (404 on update) is created again", () =>
    withStore((store) =>
      Effect.gen(function* () {
        yield* store.save(state(1, "1"))
        sim.store.delete(Resources.configmaps, NS, name)
        yield* store.save(state(1, "2"))
        expect(calls()).toEqual(["GET 404", "POST 201", "PUT 404", "POST 201"])
        expect(storedState().streams["core/v1/*"]).toBe("2")
      })
    )
  )

  it.live("gives up after three conflicts in a row", () =>
    withStore((store) =>
      Effect.gen(function* () {
        yield* store.save(state(1, "1"))
        sim.faults.add({
          path: "/api/v1/namespaces/*/configmaps/*",
          method: "PUT",
          action: { type: "status", status: StatusBodies.conflict("configmaps", "", name) }
        })
        const error = yield* Effect.flip(store.save(state(1, "2")))
        expect(error.cause).toMatchObject({ verb: "update", reason: "Conflict", status: 409 })
        expect(error.message).toMatch(
          new RegExp(`^could not save the checkpoint \\(ConfigMap ${NS}/${name}\\): gave up after 3 attempts`)
        )
        expect(calls().slice(2)).toEqual(["PUT 409", "GET 200", "PUT 409", "GET 200", "PUT 409"])
      })
    )
  )

  it.live(
    "a ConfigMap without the checkpoint key loads as None and is filled by the next save, keeping its labels",
    () =>
      Effect.gen(function* () {
        sim.objects.configMap({
          namespace: NS,
          name,
          labels: { team: "platform" },
          data: { readme: "created by the chart" }
        })
        yield* withStore((store) =>
          Effect.gen(function* () {
            expect(yield* store.load).toEqual(Option.none())
            yield* store.save(state(2, "9"))
          })
        )
        expect(calls()).toEqual(["GET 200", "PUT 200"])
        expect(stored().body.metadata.labels).toEqual({
          team: "platform",
          "app.kubernetes.io/name": "k8s-event-collector"
        })
        expect(storedState().streams["core/v1/*"]).toBe("9")
      })
  )

  it.live("a server error is a CheckpointError caused by the call's error, with what the server said", () =>
    withStore((store) =>
      Effect.gen(function* () {
        yield* store.save(state(1, "1"))
        sim.faults.add({
          path: "/api/v1/namespaces/*/configmaps/*",
          method: "PUT",
          times: 1,
          action: { type: "internalError", message: "etcdserver: request timed out" }
        })
        const error = yield* Effect.flip(store.save(state(1, "2")))
        expect(error._tag).toBe("CheckpointError")
        expect(error.cause).toMatchObject({ _tag: "KubeApiError", verb: "update", reason: "ServerError", status: 500 })
        expect(error.message).toBe(
          `could not save the checkpoint (ConfigMap ${NS}/${name}): PUT answered HTTP 500 InternalError: Internal error occurred: etcdserver: request timed out`
        )
        // The next save goes through.
        yield* store.save(state(1, "3"))
        expect(storedState().streams["core/v1/*"]).toBe("3")

        sim.faults.add({
          path: "/api/v1/namespaces/*/configmaps/*",
          method: "GET",
          times: 1,
          action: { type: "internalError" }
        })
        const loadError = yield* Effect.flip(store.load)
        expect(loadError.operation).toBe("load")
        expect(loadError.cause).toMatchObject({ verb: "get", reason: "ServerError", status: 500 })
      })
    )
  )

  it.live("a forbidden request says which permissions are missing", () =>
    withStore((store) =>
      Effect.gen(function* () {
        sim.faults.add({
          path: "/api/v1/namespaces/*/configmaps/*",
          method: "GET",
          times: 1,
          action: { type: "forbidden" }
        })
        const error = yield* Effect.flip(store.load)
        expect(error.cause).toMatchObject({ verb: "get", reason: "Forbidden", status: 403 })
        expect(error.message).toContain(`needs get, create and update on configmaps in namespace ${NS}`)
      })
    )
  )

  it.live("a corrupt checkpoint in the ConfigMap is a CheckpointError", () =>
    Effect.gen(function* () {
      sim.store.create(Resources.configmaps, {
        metadata: { namespace: NS, name },
        binaryData: { checkpoint: Buffer.from("hello").toString("base64") }
      })
      const error = yield* Effect.flip(withStore((store) => store.load))
      expect(error.message).toBe(
        `could not load the checkpoint (ConfigMap ${NS}/${name}): binaryData.checkpoint: not a checkpoint: it does not start with the checkpoint signature "KECP"`
      )
    })
  )

  it.live("an unreachable API server is a CheckpointError, not a throw", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        withStore((store) => store.load, CheckpointStore.configMap(simKubeConfig("http://127.0.0.1:1"), NS, name))
      )
      expect(error.message).toMatch(/cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:1/)
      expect(error.cause).toMatchObject({ verb: "get", reason: "Transport" })
    })
  )

  it.live("10 000 occurrences take less than 300 KB as stored; 100 000 are refused before any request", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const big = state(10_000, "123456789")
        yield* store.save(big)
        const { object, body } = stored()
        const checkpointBytes = (body.binaryData["checkpoint"] ?? "").length
        const objectBytes = JSON.stringify(object).length
        console.info(
          `ConfigMap with 10 000 occurrences: binaryData.checkpoint ${checkpointBytes} bytes, whole object ${objectBytes} bytes of JSON`
        )
        expect(objectBytes).toBeLessThan(300_000)
        expect(storedState()).toEqual(big)

        const before = calls().length
        const error = yield* Effect.flip(store.save(state(100_000, "2")))
        expect(error.message).toMatch(
          /more than a ConfigMap can hold \(1 MiB\); remember fewer exported occurrences \(100000 now\)/
        )
        expect(calls().length).toBe(before)
      })
    )
  )
})

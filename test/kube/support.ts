/**
 * What the tests of the Kubernetes client share: the simulated API server and a raw `node:http` server as scoped
 * resources, the client for a URL, waiting for what happens over real HTTP by turns of the event loop (the clock
 * is the test clock: no test here reads the wall clock), and a recorder of what a watch stream delivers.
 */
import * as Http from "node:http"
import * as Net from "node:net"
import { Deferred, Effect, Fiber, Stream } from "effect"
import {
  type SimServer,
  type SimServerOptions,
  simKubeConfig,
  startSimServer,
  type StoredKubeObject
} from "@k8s-event-collector/sim"
import { KubeApi, type KubeApiShape } from "../../src/kube/KubeApi.ts"
import type { KubeApiError } from "../../src/kube/KubeApiError.ts"
import { MalformedLine, type WatchEvent, type WatchLine } from "../../src/kube/watchStream.ts"
import { eventCollection, type WatchTarget } from "../../src/source/WatchTarget.ts"
import { turn, turns } from "../support/eventLoop.ts"

const ALL_CORE: WatchTarget = { api: "core/v1", namespace: undefined, fieldSelector: undefined }
export const ALL_CORE_EVENTS = eventCollection(ALL_CORE)

/** The simulated API server, closed with the scope. */
export const sim = (options: SimServerOptions = {}) =>
  Effect.acquireRelease(
    Effect.promise(() => startSimServer(options)),
    (s) => Effect.promise(() => s.close())
  )

export const apiFor = (url: string): KubeApiShape =>
  Effect.runSync(KubeApi.pipe(Effect.provide(KubeApi.layer(simKubeConfig(url)))))

/** Checks that `pred` keeps holding for `turns` turns of the event loop. */
export const holds = (pred: () => boolean, what: string, turns = 200) =>
  Effect.gen(function* () {
    for (let i = 0; i <= turns; i++) {
      if (!pred()) return yield* Effect.die(new Error(`no longer true: ${what}`))
      if (i < turns) yield* turn
    }
  })

export const isEvent = (line: WatchLine): line is WatchEvent => !(line instanceof MalformedLine)

/** What a stream delivered so far, and its end. */
interface Recording<A, E> {
  readonly items: Array<A>
  /** Done once `pred` holds (checked after each element); dies naming `what` if the stream ends first. */
  readonly until: (pred: () => boolean, what: string) => Effect.Effect<void>
  /** `closed` when the stream ended, else its failure; interrupting it stops the stream. */
  readonly fiber: Fiber.RuntimeFiber<"closed" | E>
}

/** Reads `stream` in the background, as fast as it delivers, recording every element. */
export const record = <A, E>(stream: Stream.Stream<A, E>) =>
  Effect.gen(function* () {
    const items: Array<A> = []
    const waiting: Array<{ readonly pred: () => boolean; readonly done: Deferred.Deferred<void> }> = []
    const fiber = yield* Stream.runForEach(stream, (item) =>
      Effect.sync(() => {
        items.push(item)
        for (const w of waiting.splice(0)) {
          if (w.pred()) Deferred.unsafeDone(w.done, Effect.void)
          else waiting.push(w)
        }
      })
    ).pipe(
      Effect.as("closed" as const),
      Effect.catchAll((e) => Effect.succeed(e)),
      Effect.forkScoped
    )
    const until = (pred: () => boolean, what: string) =>
      Effect.gen(function* () {
        if (pred()) return
        const done = yield* Deferred.make<void>()
        waiting.push({ pred, done })
        const ended = Effect.zipRight(
          Fiber.await(fiber),
          Effect.suspend(() => (pred() ? Effect.void : Effect.die(new Error(`ended before ${what}`))))
        )
        yield* Effect.raceFirst(Deferred.await(done), ended)
      })
    const recording: Recording<A, E> = { items, until, fiber }
    return recording
  })

/** What a watch stream delivered so far, line by line, and its end. */
export interface Reading extends Recording<WatchLine, KubeApiError> {
  readonly events: () => Array<WatchEvent>
  readonly malformed: () => Array<string>
}

/** Reads a watch stream in the background, as fast as it delivers, recording every line. */
export const reading = (stream: Stream.Stream<ReadonlyArray<WatchLine>, KubeApiError>) =>
  Effect.map(record(Stream.flattenIterables(stream)), (r): Reading => {
    const events = () => r.items.filter(isEvent)
    const malformed = () => r.items.flatMap((l) => (l instanceof MalformedLine ? [l.detail] : []))
    return { ...r, events, malformed }
  })

/** Reads `stream` to its end: what it delivered, and how it ended. */
export const readAll = (stream: Stream.Stream<ReadonlyArray<WatchLine>, KubeApiError>) =>
  Effect.gen(function* () {
    const r = yield* reading(stream)
    const end = yield* Fiber.join(r.fiber)
    return { ...r, end }
  })

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const metadataOf = (o: unknown): Record<string, unknown> =>
  isRecord(o) && isRecord(o["metadata"]) ? o["metadata"] : {}
export const nameOf = (o: unknown): string => String(metadataOf(o)["name"])
export const rvOf = (o: unknown): number => Number(metadataOf(o)["resourceVersion"])
export const messageOf = (o: unknown): unknown => (isRecord(o) ? o["message"] : undefined)
export const withoutBookmarks = (events: ReadonlyArray<WatchEvent>) => events.filter((e) => e.type !== "BOOKMARK")

let seq = 0
/** A Warning event about a pod of namespace `shop`, unless told otherwise. */
export const create = (
  s: SimServer,
  input: { readonly namespace?: string; readonly type?: string; readonly message?: string } = {}
): StoredKubeObject => {
  const n = ++seq
  const namespace = input.namespace ?? "shop"
  return s.events.create({
    namespace,
    name: `ev-${n}`,
    reason: "BackOff",
    type: input.type ?? "Warning",
    message: input.message ?? `Back-off restarting failed container (${n})`,
    involvedObject: { apiVersion: "v1", kind: "Pod", namespace, name: `pod-${n}`, uid: `pod-uid-${n}` }
  })
}

/** A port that was just free: nothing listens on it. */
export const freePort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const probe = Net.createServer().listen(0, "127.0.0.1", () => {
        const address = probe.address()
        probe.close(() => resolve(address !== null && typeof address !== "string" ? address.port : 0))
      })
    })
)

// --- A raw HTTP server, for what the simulator cannot send ------------------------------------------------------

export interface RawServer {
  readonly url: string
  /** Request URLs, in arrival order. */
  readonly requests: Array<string>
}

/** A server that answers every request with `serve`, closed with the scope. */
export const rawServer = (serve: (res: Http.ServerResponse) => Promise<void> | void) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const requests: Array<string> = []
      const server = Http.createServer({ noDelay: true }, (req, res) => {
        requests.push(req.url ?? "")
        Promise.resolve(serve(res)).catch(() => res.destroy())
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const address = server.address()
      if (address === null || typeof address === "string") throw new Error("no port")
      return { server, raw: { url: `http://127.0.0.1:${address.port}`, requests } }
    }),
    ({ server }) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve())
            server.closeAllConnections()
          })
      )
  ).pipe(Effect.map(({ raw }): RawServer => raw))

export const startStream = (res: Http.ServerResponse) => {
  res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" })
  res.flushHeaders()
}

/** Writes bytes as their own TCP write, then leaves the client turns of the event loop to read them. */
export const send = async (res: Http.ServerResponse, bytes: Buffer | string) => {
  await new Promise<void>((resolve, reject) => res.write(bytes, (e) => (e ? reject(e) : resolve())))
  await turns(20)
}

export const eventLine = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: "ADDED",
    object: { kind: "Event", apiVersion: "v1", metadata: { name, resourceVersion: "1" }, ...extra }
  })

/**
 * KubeApi's watch, read straight off the socket: against the simulated API server over real HTTP with the real
 * KubeConfig, and, for the byte-level cases the simulator cannot produce (lines that are not watch events, a
 * line split inside a UTF-8 character, a last line without a newline, TCP backpressure), a raw `node:http`
 * server written here. Every watch reports its events in order, each once, then exactly one end.
 */
import * as Http from "node:http"
import * as Net from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { Effect } from "effect"
import {
  eventCollection,
  KubeApi,
  type KubeApiShape,
  type WatchEnd,
  type WatchHandle,
  type WatchRequest,
  type WatchTarget
} from "../../src/source/KubeApi.ts"
import { KubeApiError } from "../../src/kube/KubeApiError.ts"
import {
  type SimServer,
  type SimServerOptions,
  type StoredKubeObject,
  simKubeConfig,
  startSimServer
} from "../../src/sim/index.ts"
import { expiredWatchStatus } from "../support/apiserverStatus.ts"

/** Timer, HTTP and scheduling latency allowed on top of a deadline. */
const SLACK_MS = 250

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls until `pred` holds; fails with `what` after the deadline. */
const waitUntil = async (pred: () => boolean, what: string, timeoutMs = 3_000) => {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** Checks that `pred` keeps holding for `ms`. */
const holds = async (pred: () => boolean, what: string, ms: number) => {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (!pred()) throw new Error(`no longer true: ${what}`)
    await sleep(5)
  }
  if (!pred()) throw new Error(`no longer true: ${what}`)
}

const sim = async (options: SimServerOptions = {}): Promise<SimServer> => {
  const s = await startSimServer(options)
  cleanups.push(() => s.close())
  return s
}

const apiFor = (url: string): KubeApiShape =>
  Effect.runSync(KubeApi.pipe(Effect.provide(KubeApi.layer(simKubeConfig(url)))))

const ALL_CORE: WatchTarget = { api: "core/v1", namespace: undefined, fieldSelector: undefined }

interface Received {
  readonly type: string
  readonly object: unknown
}

interface Watching {
  readonly events: Array<Received>
  readonly malformed: Array<string>
  readonly ends: Array<WatchEnd>
  /** Milliseconds since the epoch of the last event, and of the end. */
  readonly at: { lastEvent: number; end: number }
  readonly handle: WatchHandle
  /** Resolves with the first end reported. */
  readonly ended: Promise<WatchEnd>
}

/** Starts a watch through KubeApi's `watch` and records what it reports; `onEvent` runs after recording. */
const watch = (
  url: string,
  request: Partial<WatchRequest> = {},
  onEvent?: (w: Watching, type: string) => void
): Watching => {
  const api = apiFor(url)
  let resolveEnded: (end: WatchEnd) => void = () => {}
  const ended = new Promise<WatchEnd>((resolve) => {
    resolveEnded = resolve
  })
  const events: Array<Received> = []
  const malformed: Array<string> = []
  const ends: Array<WatchEnd> = []
  const at = { lastEvent: 0, end: 0 }
  let w: Watching | undefined
  const handle = Effect.runSync(
    api.watch(
      {
        collection: eventCollection(ALL_CORE),
        resourceVersion: "",
        timeoutSeconds: 60,
        idleTimeoutMs: 10_000,
        ...request
      },
      {
        onEvent: (event) => {
          events.push(event)
          at.lastEvent = Date.now()
          if (w !== undefined) onEvent?.(w, event.type)
        },
        onMalformed: (detail) => malformed.push(detail),
        onEnd: (end) => {
          ends.push(end)
          at.end = Date.now()
          resolveEnded(end)
        }
      }
    )
  )
  w = { events, malformed, ends, at, handle, ended }
  cleanups.push(() => handle.stop())
  return w
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const metadataOf = (o: unknown): Record<string, unknown> =>
  isRecord(o) && isRecord(o["metadata"]) ? o["metadata"] : {}
const nameOf = (o: unknown): string => String(metadataOf(o)["name"])
const rvOf = (o: unknown): number => Number(metadataOf(o)["resourceVersion"])
const withoutBookmarks = (events: ReadonlyArray<Received>) => events.filter((e) => e.type !== "BOOKMARK")

let seq = 0
const create = (
  s: SimServer,
  input: { readonly namespace?: string; readonly type?: string; readonly message?: string } = {}
) => {
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

/** The failure a watch ended with; fails the test if it ended otherwise. */
const failure = (end: WatchEnd): KubeApiError => {
  if (end._tag !== "Failed") throw new Error(`expected Failed, the watch ended ${end._tag}`)
  expect(end.error).toBeInstanceOf(KubeApiError)
  expect(end.error.verb).toBe("watch")
  return end.error
}

/** What a refusal says, `undefined` where it says nothing. */
const refusal = (e: KubeApiError) => ({
  status: e.status,
  reason: e.reason,
  statusReason: e.statusReason,
  description: e.description,
  retryAfterSeconds: e.retryAfterSeconds
})

/** A port that was just free: nothing listens on it. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = Net.createServer().listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => resolve(address !== null && typeof address !== "string" ? address.port : 0))
    })
  })

// --- A raw HTTP server, for what the simulator cannot send ---------------------------------------------------

interface RawServer {
  readonly url: string
  /** Request URLs, in arrival order. */
  readonly requests: Array<string>
}

const rawServer = async (serve: (res: Http.ServerResponse) => Promise<void> | void): Promise<RawServer> => {
  const requests: Array<string> = []
  const server = Http.createServer({ noDelay: true }, (req, res) => {
    requests.push(req.url ?? "")
    Promise.resolve(serve(res)).catch(() => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  )
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no port")
  return { url: `http://127.0.0.1:${address.port}`, requests }
}

const startStream = (res: Http.ServerResponse) => {
  res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" })
  res.flushHeaders()
}

/** Writes bytes as their own TCP write, then leaves the client time to read them before the next. */
const send = async (res: Http.ServerResponse, bytes: Buffer | string) => {
  await new Promise<void>((resolve, reject) => res.write(bytes, (e) => (e ? reject(e) : resolve())))
  await sleep(15)
}

const eventLine = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: "ADDED",
    object: { kind: "Event", apiVersion: "v1", metadata: { name, resourceVersion: "1" }, ...extra }
  })

// ---------------------------------------------------------------------------------------------------------------

describe("KubeApi watch against the simulated API server", () => {
  it("delivers each event in order with its type and object, once, and bookmarks; asks for what it was given", async () => {
    const s = await sim({ bookmarkIntervalMs: 40 })
    const from = String(s.store.resourceVersion)
    // Before the watch: replayed from its resourceVersion.
    const replayed = [create(s), create(s)]
    create(s, { type: "Normal" })
    create(s, { namespace: "other" })
    const w = watch(s.url, {
      collection: eventCollection({ api: "core/v1", namespace: "shop", fieldSelector: "type=Warning" }),
      resourceVersion: from
    })
    await waitUntil(() => withoutBookmarks(w.events).length === 2, "the replayed events")

    const live = [create(s), create(s)]
    create(s, { type: "Normal" })
    const repeated = s.events.repeat(live[0]?.metadata.uid ?? "")
    const deleted = s.events.delete(replayed[0]?.metadata.uid ?? "")
    const last = create(s)
    // A bookmark after the last change: everything before it has been read.
    await waitUntil(
      () => w.events.some((e) => e.type === "BOOKMARK" && rvOf(e.object) >= Number(last.metadata.resourceVersion)),
      "a bookmark past the last change"
    )

    const expected: ReadonlyArray<readonly [string, StoredKubeObject | undefined]> = [
      ["ADDED", replayed[0]],
      ["ADDED", replayed[1]],
      ["ADDED", live[0]],
      ["ADDED", live[1]],
      ["MODIFIED", repeated],
      ["DELETED", deleted],
      ["ADDED", last]
    ]
    // The objects as the server serialized them.
    expect(withoutBookmarks(w.events)).toEqual(
      expected.map(([type, object]) => ({ type, object: JSON.parse(JSON.stringify(object)) }))
    )

    const bookmarks = w.events.filter((e) => e.type === "BOOKMARK")
    expect(bookmarks.length).toBeGreaterThan(0)
    for (const b of bookmarks)
      expect(b.object).toMatchObject({
        kind: "Event",
        apiVersion: "v1",
        metadata: { resourceVersion: expect.any(String) }
      })
    // Bookmarks never go back, and none arrives ahead of an event it claims to be past.
    const rvs = w.events.map((e) => rvOf(e.object))
    for (let i = 1; i < rvs.length; i++) expect(rvs[i]).toBeGreaterThanOrEqual(rvs[i - 1] ?? 0)
    expect(w.malformed).toEqual([])
    expect(w.ends).toEqual([])

    const requests = s.requests.filter({ resource: "events" })
    expect(requests).toHaveLength(1)
    expect(requests[0]).toMatchObject({
      verb: "watch",
      path: "/api/v1/namespaces/shop/events",
      query: {
        watch: "true",
        resourceVersion: from,
        allowWatchBookmarks: "true",
        timeoutSeconds: "60",
        fieldSelector: "type=Warning"
      }
    })
  })

  it("watches events.k8s.io/v1 at the cluster scope, in that API's form", async () => {
    const s = await sim({ bookmarks: false })
    const w = watch(s.url, {
      collection: eventCollection({ api: "events.k8s.io/v1", namespace: undefined, fieldSelector: undefined }),
      resourceVersion: String(s.store.resourceVersion)
    })
    await waitUntil(() => s.openWatches === 1, "the watch")
    const a = create(s, { namespace: "a" })
    const b = create(s, { namespace: "b" })
    await waitUntil(() => w.events.length === 2, "two events")
    expect(w.events.map((e) => e.type)).toEqual(["ADDED", "ADDED"])
    expect(w.events.map((e) => nameOf(e.object))).toEqual([a.metadata.name, b.metadata.name])
    expect(w.events[0]?.object).toMatchObject({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      note: a.message,
      regarding: a.involvedObject
    })
    expect(s.requests.filter({ resource: "events" })[0]).toMatchObject({
      verb: "watch",
      group: "events.k8s.io",
      path: "/apis/events.k8s.io/v1/events"
    })
  })

  it("passes an in-band ERROR event on as an event, then reports the stream's end as Closed", async () => {
    const s = await sim()
    create(s)
    const stale = String(s.store.resourceVersion)
    create(s)
    s.store.compact()
    const w = watch(s.url, { resourceVersion: stale })
    expect(await w.ended).toEqual({ _tag: "Closed" })
    expect(w.events).toHaveLength(1)
    expect(w.events[0]).toMatchObject({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } })
  })

  it("pause stops delivery while the server goes on; resume delivers the rest on the same connection; paused time is not idle", async () => {
    const s = await sim({ bookmarks: false })
    const IDLE_MS = 200
    const w = watch(s.url, { resourceVersion: String(s.store.resourceVersion), idleTimeoutMs: IDLE_MS })
    await waitUntil(() => s.openWatches === 1, "the watch")
    const created = [create(s), create(s), create(s)]
    await waitUntil(() => w.events.length === 3, "three events")

    w.handle.pause()
    const creating = setInterval(() => created.push(create(s)), 20)
    try {
      // Paused for twice the idle limit while the server sends: nothing delivered, and not ended for silence.
      await holds(
        () => w.events.length === 3 && w.ends.length === 0,
        "nothing delivered while paused",
        2 * IDLE_MS + 100
      )
    } finally {
      clearInterval(creating)
    }
    expect(created.length).toBeGreaterThan(10)
    expect(w.events).toHaveLength(3)

    w.handle.resume()
    await waitUntil(() => w.events.length === created.length, `${created.length} events`)
    expect(w.events.map((e) => nameOf(e.object))).toEqual(created.map((o) => o.metadata.name))
    expect(s.requests.count({ verb: "watch", resource: "events" })).toBe(1)

    // Reading again, silence counts again.
    expect(await w.ended).toEqual({ _tag: "Idle" })
    expect(w.at.end - w.at.lastEvent).toBeGreaterThanOrEqual(IDLE_MS - 5)
    expect(w.at.end - w.at.lastEvent).toBeLessThan(IDLE_MS + SLACK_MS)
    expect(w.events).toHaveLength(created.length)
  })

  it("a pause asked before the server answers holds once it does", async () => {
    const s = await sim({ bookmarks: false })
    const before = [create(s), create(s)]
    const from = String(Number(before[0]?.metadata.resourceVersion) - 1)
    const w = watch(s.url, { resourceVersion: from, idleTimeoutMs: 100 })
    w.handle.pause()
    await waitUntil(() => s.openWatches === 1, "the watch")
    const during = [create(s), create(s)]
    await holds(() => w.events.length === 0 && w.ends.length === 0, "nothing delivered while paused", 250)
    w.handle.resume()
    await waitUntil(() => w.events.length === 4, "four events")
    expect(w.events.map((e) => nameOf(e.object))).toEqual([...before, ...during].map((o) => o.metadata.name))
    expect(s.requests.count({ verb: "watch" })).toBe(1)
  })

  it("ends with Idle after idleTimeoutMs when the server sends nothing at all, and closes the connection", async () => {
    const s = await sim()
    s.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "silentWatch" } })
    const IDLE_MS = 200
    const started = Date.now()
    const w = watch(s.url, { idleTimeoutMs: IDLE_MS })
    expect(await w.ended).toEqual({ _tag: "Idle" })
    expect(w.at.end - started).toBeGreaterThanOrEqual(IDLE_MS)
    expect(w.at.end - started).toBeLessThan(IDLE_MS + SLACK_MS)
    await waitUntil(() => s.openWatches === 0, "the server to see the connection closed")
    expect(w.events).toEqual([])
    expect(w.ends).toHaveLength(1)
  })

  it("after a pause, silence counts from resume", async () => {
    const s = await sim({ bookmarks: false })
    const IDLE_MS = 150
    const w = watch(s.url, { resourceVersion: String(s.store.resourceVersion), idleTimeoutMs: IDLE_MS })
    await waitUntil(() => s.openWatches === 1, "the watch")
    w.handle.pause()
    await holds(() => w.ends.length === 0, "not ended while paused", 2 * IDLE_MS)
    const resumed = Date.now()
    w.handle.resume()
    expect(await w.ended).toEqual({ _tag: "Idle" })
    expect(w.at.end - resumed).toBeGreaterThanOrEqual(IDLE_MS - 5)
    expect(w.at.end - resumed).toBeLessThan(IDLE_MS + SLACK_MS)
  })

  it("a 403 on the watch request fails with its status, the Status message and reason", async () => {
    const s = await sim()
    s.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "forbidden" } })
    const w = watch(s.url)
    const error = failure(await w.ended)
    expect(error.status).toBe(403)
    expect(error.reason).toBe("Forbidden")
    expect(error.statusReason).toBe("Forbidden")
    expect(error.description).toMatch(
      /^events is forbidden: User ".+" cannot watch resource "events" in API group "" at the cluster scope$/
    )
    expect(error.retryAfterSeconds).toBeUndefined()
    expect(error.message).toMatch(/^watch failed with HTTP 403 Forbidden: events is forbidden/)
    expect(w.events).toEqual([])
    expect(w.ends).toHaveLength(1)
  })

  it("a 410 on the watch request fails with its status, the Status message and reason", async () => {
    const s = await sim()
    s.faults.add({
      verb: "watch",
      resource: "events",
      times: 1,
      action: {
        type: "status",
        status: expiredWatchStatus
      }
    })
    const w = watch(s.url, { resourceVersion: "1" })
    const error = failure(await w.ended)
    expect(refusal(error)).toEqual({
      status: 410,
      reason: "Gone",
      statusReason: "Expired",
      description: "too old resource version: 1 (9)"
    })
    expect(w.events).toEqual([])
  })

  it("a 429 gives retryAfterSeconds: from a Status body, and from Retry-After with a plain-text body", async () => {
    const s = await sim()
    s.faults.add({
      verb: "watch",
      resource: "events",
      times: 1,
      action: { type: "tooManyRequests", form: "status", retryAfterSeconds: 7, message: "storage is (re)initializing" }
    })
    const fromStatus = failure(await watch(s.url).ended)
    expect(fromStatus).toMatchObject({
      status: 429,
      reason: "TooManyRequests",
      statusReason: "TooManyRequests",
      description: "storage is (re)initializing",
      retryAfterSeconds: 7
    })

    s.faults.add({
      verb: "watch",
      resource: "events",
      times: 1,
      action: { type: "tooManyRequests", form: "apf", retryAfterSeconds: 3 }
    })
    const fromHeader = failure(await watch(s.url).ended)
    expect(refusal(fromHeader)).toEqual({
      status: 429,
      reason: "TooManyRequests",
      statusReason: undefined,
      description: "Too many requests, please try again later.",
      retryAfterSeconds: 3
    })
    expect(s.requests.count({ verb: "watch" })).toBe(2)
  })

  it("connection refused fails without a status", async () => {
    const port = await freePort()
    const w = watch(`http://127.0.0.1:${port}`)
    const error = failure(await w.ended)
    expect(error.status).toBeUndefined()
    expect(error.reason).toBe("Transport")
    expect(error.cause).toBeInstanceOf(Error)
    expect(error.message).toMatch(/ECONNREFUSED/)
    expect(w.ends).toHaveLength(1)
  })

  it("a connection cut mid-stream fails without a status, after the events before the cut", async () => {
    const s = await sim({ bookmarks: false })
    const from = String(s.store.resourceVersion)
    const created = [create(s), create(s), create(s), create(s)]
    s.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "dropWatch", afterEvents: 2 } })
    const w = watch(s.url, { resourceVersion: from })
    const error = failure(await w.ended)
    expect(error.status).toBeUndefined()
    expect(error.reason).toBe("Transport")
    expect(w.events.map((e) => nameOf(e.object))).toEqual(created.slice(0, 2).map((o) => o.metadata.name))
    expect(w.malformed).toEqual([])
    expect(w.ends).toHaveLength(1)
  })

  it("a connection reset before any answer fails without a status", async () => {
    const s = await sim()
    s.faults.add({ verb: "watch", resource: "events", times: 1, action: { type: "resetConnection" } })
    const w = watch(s.url)
    const error = failure(await w.ended)
    expect(error.status).toBeUndefined()
    expect(error.reason).toBe("Transport")
    expect(error.explanation).not.toBe("")
  })

  it("stop ends it with Stopped, exactly once, and nothing is delivered after", async () => {
    const s = await sim({ bookmarkIntervalMs: 20 })
    const w = watch(s.url, { resourceVersion: String(s.store.resourceVersion) })
    await waitUntil(() => s.openWatches === 1, "the watch")
    create(s)
    await waitUntil(() => w.events.some((e) => e.type === "ADDED"), "an event")
    w.handle.stop()
    expect(w.ends).toEqual([{ _tag: "Stopped" }])
    const delivered = w.events.length
    create(s)
    // Bookmarks every 20 ms and a new event: none of them may arrive, and the server sees the connection go.
    await waitUntil(() => s.openWatches === 0, "the server to see the connection closed")
    await holds(() => w.events.length === delivered, "nothing after stop", 100)
    w.handle.stop()
    w.handle.pause()
    w.handle.resume()
    expect(w.ends).toEqual([{ _tag: "Stopped" }])
    expect(w.malformed).toEqual([])
  })

  it("stop from inside onEvent delivers nothing more of the same chunk", async () => {
    const s = await sim({ bookmarks: false })
    const from = String(s.store.resourceVersion)
    // Replayed together at the start of the stream: one write, one chunk.
    for (let i = 0; i < 20; i++) create(s)
    const w = watch(s.url, { resourceVersion: from }, (self) => {
      if (self.events.length === 2) self.handle.stop()
    })
    expect(await w.ended).toEqual({ _tag: "Stopped" })
    await holds(() => w.events.length === 2, "no event after stop", 100)
    expect(w.ends).toHaveLength(1)
  })

  it("stop before the server answers: Stopped, and no event ever", async () => {
    const s = await sim({ bookmarkIntervalMs: 10 })
    create(s)
    const w = watch(s.url, { resourceVersion: "0" })
    w.handle.stop()
    expect(w.ends).toEqual([{ _tag: "Stopped" }])
    await holds(() => w.events.length === 0 && w.ends.length === 1, "nothing after stop", 150)
  })

  it("the server ending the stream at timeoutSeconds is Closed", async () => {
    const s = await sim({ bookmarks: false })
    const w = watch(s.url, { resourceVersion: String(s.store.resourceVersion), timeoutSeconds: 1 })
    await waitUntil(() => s.openWatches === 1, "the watch")
    const o = create(s)
    expect(await w.ended).toEqual({ _tag: "Closed" })
    expect(w.at.end - (s.requests.filter({ verb: "watch" })[0]?.at ?? 0)).toBeGreaterThanOrEqual(1_000 - 5)
    expect(w.events.map((e) => nameOf(e.object))).toEqual([o.metadata.name])
    expect(s.requests.filter({ verb: "watch" })[0]?.query["timeoutSeconds"]).toBe("1")
    // Stopping after the end reports nothing more.
    w.handle.stop()
    expect(w.ends).toEqual([{ _tag: "Closed" }])
  })

  it("the server ending every watch (a restart) is Closed", async () => {
    const s = await sim({ bookmarks: false })
    const w = watch(s.url, { resourceVersion: String(s.store.resourceVersion) })
    await waitUntil(() => s.openWatches === 1, "the watch")
    s.endWatches()
    expect(await w.ended).toEqual({ _tag: "Closed" })
    expect(w.ends).toHaveLength(1)
  })
})

describe("KubeApi watch, byte by byte", () => {
  it("decodes lines split across TCP writes, inside multi-byte UTF-8 characters, and a last line without a newline", async () => {
    const messages = ["café crème", "日本のノード", "rocket 🚀 launched", "mixed é日🚀 end"]
    const lines = messages.map((message, i) => eventLine(`u-${i}`, { message }))
    const bytes = Buffer.from(`${lines.join("\n")}`, "utf8")
    // Cut inside "é" (2 bytes), "日" and "本" (3 bytes, after one and after two of them), "🚀" (4 bytes, after 1, 2 and 3),
    // in the middle of plain ASCII, and keep one write spanning a line's end and the next line's start.
    const at = (text: string, from: number) => bytes.indexOf(Buffer.from(text, "utf8"), from)
    const cafe = at("é", 0)
    const nichi = at("日", cafe)
    const hon = at("本", nichi)
    const rocket = at("🚀", hon)
    const launched = at("launched", rocket)
    const mixedE = at("é", launched)
    const mixedRocket = at("🚀", mixedE)
    const cuts = [cafe + 1, nichi + 1, hon + 2, rocket + 1, rocket + 3, launched + 4, mixedE + 1, mixedRocket + 2]
    expect([...cuts].sort((a, b) => a - b)).toEqual(cuts)
    expect(new Set(cuts).size).toBe(cuts.length)
    const server = await rawServer(async (res) => {
      startStream(res)
      let start = 0
      for (const cut of cuts) {
        await send(res, bytes.subarray(start, cut))
        start = cut
      }
      // The last line ends without a newline: the stream's end ends it.
      res.end(bytes.subarray(start))
    })
    const w = watch(server.url)
    expect(await w.ended).toEqual({ _tag: "Closed" })
    expect(w.malformed).toEqual([])
    expect(w.events.map((e) => e.type)).toEqual(["ADDED", "ADDED", "ADDED", "ADDED"])
    expect(w.events.map((e) => (isRecord(e.object) ? e.object["message"] : undefined))).toEqual(messages)
    expect(w.events.map((e) => nameOf(e.object))).toEqual(["u-0", "u-1", "u-2", "u-3"])
  })

  it("reports lines that are not watch events to onMalformed and delivers the events around them", async () => {
    const garbage = `not json at all ${"x".repeat(100_000)}`
    const server = await rawServer(async (res) => {
      startStream(res)
      await send(res, `${eventLine("a")}\n`)
      await send(res, "this is not json\n")
      await send(res, `${eventLine("b")}\n{"object":{"metadata":{"name":"typeless"}}}\n`)
      // Blank lines and CRLF line ends are not malformed.
      await send(res, `\n\r\n${eventLine("c")}\r\n`)
      await send(res, `[1,2,3]\n{"type":7,"object":{}}\n${garbage}\n`)
      res.end(`${eventLine("d")}\n`)
    })
    const w = watch(server.url)
    expect(await w.ended).toEqual({ _tag: "Closed" })
    expect(w.events.map((e) => nameOf(e.object))).toEqual(["a", "b", "c", "d"])
    expect(w.malformed).toHaveLength(5)
    const [notJson, typeless, array, numericType, long] = w.malformed
    expect(notJson).toMatch(/not JSON/)
    expect(notJson).toContain("this is not json")
    expect(typeless).toMatch(/not a watch event \(no "type"\)/)
    expect(typeless).toContain(`{"object":{"metadata":{"name":"typeless"}}}`)
    expect(array).toMatch(/not a watch event/)
    expect(array).toContain("[1,2,3]")
    expect(numericType).toMatch(/not a watch event/)
    expect(numericType).toContain(`{"type":7`)
    // A long line is quoted, not copied whole.
    expect(long).toMatch(/not JSON/)
    expect(long).toContain("not json at all xxx")
    expect(long?.length).toBeLessThan(500)
  })

  it("a pause from inside onEvent holds the rest of what was already read, and resume delivers it, then the end", async () => {
    const server = await rawServer((res) => {
      startStream(res)
      // Five lines and the end of the stream in one write: they arrive together.
      res.end(`${["p-0", "p-1", "p-2", "p-3", "p-4"].map((name) => eventLine(name)).join("\n")}\n`)
    })
    const w = watch(server.url, {}, (self) => {
      if (self.events.length === 2 || self.events.length === 4) self.handle.pause()
    })
    await waitUntil(() => w.events.length >= 2, "two events")
    await holds(() => w.events.length === 2 && w.ends.length === 0, "nothing delivered while paused", 100)
    w.handle.resume()
    await waitUntil(() => w.events.length >= 4, "four events")
    await holds(() => w.events.length === 4 && w.ends.length === 0, "nothing delivered while paused again", 100)
    w.handle.resume()
    expect(await w.ended).toEqual({ _tag: "Closed" })
    expect(w.events.map((e) => nameOf(e.object))).toEqual(["p-0", "p-1", "p-2", "p-3", "p-4"])
    expect(w.ends).toHaveLength(1)
  })

  it("a connection destroyed in the middle of a line fails without a status and delivers no part of that line", async () => {
    const server = await rawServer(async (res) => {
      startStream(res)
      await send(res, `${eventLine("whole")}\n${eventLine("half").slice(0, 30)}`)
      res.socket?.destroy()
    })
    const w = watch(server.url)
    const error = failure(await w.ended)
    expect(error.status).toBeUndefined()
    expect(error.reason).toBe("Transport")
    expect(w.events.map((e) => nameOf(e.object))).toEqual(["whole"])
    expect(w.malformed).toEqual([])
    expect(w.ends).toHaveLength(1)
  })

  it("a refused watch with a body that is not a Status gives the body's start as description", async () => {
    const server = await rawServer((res) => {
      res.writeHead(503, { "Content-Type": "text/plain", "Retry-After": "2" })
      res.end("upstream connect error\n")
    })
    const error = failure(await watch(server.url).ended)
    expect(refusal(error)).toEqual({
      status: 503,
      reason: "ServerError",
      statusReason: undefined,
      description: "upstream connect error",
      retryAfterSeconds: 2
    })
  })

  it("paused, it stops reading: the server's writes back up until resume, then every line arrives once, in order", async () => {
    const line = (i: number) => `${eventLine(`bp-${i}`, { message: "y".repeat(60_000) })}\n`
    let written = 0
    let blocked = false
    const server = await rawServer(async (res) => {
      startStream(res)
      // Write until the socket stays full: 'drain' does not come within 150 ms.
      for (;;) {
        const more = res.write(line(written++))
        if (!more) {
          const drained = await Promise.race([
            new Promise<boolean>((resolve) => res.once("drain", () => resolve(true))),
            sleep(150).then(() => false)
          ])
          if (!drained) break
        }
        if (written > 5_000) throw new Error("the client never pushed back")
      }
      blocked = true
      await new Promise<void>((resolve) => res.once("drain", () => resolve()))
      res.end()
    })
    const w = watch(server.url)
    w.handle.pause()
    await waitUntil(() => blocked, "the server to be held back", 5_000)
    expect(w.events).toEqual([])
    expect(w.ends).toEqual([])
    w.handle.resume()
    expect(await w.ended).toEqual({ _tag: "Closed" })
    expect(w.events.map((e) => nameOf(e.object))).toEqual(Array.from({ length: written }, (_, i) => `bp-${i}`))
    expect(server.requests).toHaveLength(1)
  })
})

// The Status reasons and codes of k8s.io/apimachinery/pkg/apis/meta/v1 (StatusReasonUnauthorized, …), as the API
// server sends them for a refused request.
const refusals = [
  { code: 401, statusReason: "Unauthorized", reason: "Unauthorized" },
  { code: 403, statusReason: "Forbidden", reason: "Forbidden" },
  { code: 404, statusReason: "NotFound", reason: "NotFound" },
  { code: 410, statusReason: "Expired", reason: "Gone" },
  { code: 422, statusReason: "Invalid", reason: "StatusCode" },
  { code: 429, statusReason: "TooManyRequests", reason: "TooManyRequests" },
  { code: 500, statusReason: "InternalError", reason: "ServerError" },
  { code: 504, statusReason: "Timeout", reason: "ServerError" }
] as const

const statusBody = (code: number, reason: string) =>
  JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "m", reason, code })

describe("KubeApiError: one reason per kind of failure, the same for list, watch and a watch's ERROR event", () => {
  it.each(refusals)("HTTP $code ($statusReason) is $reason", async ({ code, statusReason, reason }) => {
    const server = await rawServer((res) => {
      res.writeHead(code, { "Content-Type": "application/json" })
      res.end(statusBody(code, statusReason))
    })
    const watched = failure(await watch(server.url).ended)
    const listed = await Effect.runPromise(
      Effect.flip(
        apiFor(server.url).list({ collection: eventCollection(ALL_CORE), limit: 1, continueToken: undefined })
      )
    )
    for (const error of [watched, listed]) {
      expect(error).toMatchObject({ reason, status: code, statusReason, description: "m" })
    }
    const event = KubeApiError.errorEvent(JSON.parse(statusBody(code, statusReason)))
    expect(event).toMatchObject({ verb: "watch", reason, status: code, statusReason, description: "m" })
  })

  it("a list answered with something that is not a list is Decode, with the decoding error as cause", async () => {
    const server = await rawServer((res) => {
      res.writeHead(200, { "Content-Type": "application/json" })
      res.end(JSON.stringify({ kind: "EventList", items: "not an array" }))
    })
    const error = await Effect.runPromise(
      Effect.flip(
        apiFor(server.url).list({ collection: eventCollection(ALL_CORE), limit: 1, continueToken: undefined })
      )
    )
    expect(error).toMatchObject({ verb: "list", reason: "Decode", status: 200 })
    expect(error.cause).toBeDefined()
    expect(error.message).toBe("list failed with HTTP 200: the answer is not a list")
  })

  it("a list that gets no answer is Transport, with the network error as cause", async () => {
    const port = await freePort()
    const error = await Effect.runPromise(
      Effect.flip(
        apiFor(`http://127.0.0.1:${port}`).list({
          collection: eventCollection(ALL_CORE),
          limit: 1,
          continueToken: undefined
        })
      )
    )
    expect(error).toMatchObject({ verb: "list", reason: "Transport" })
    expect(error.status).toBeUndefined()
    expect(error.cause).toBeInstanceOf(Error)
  })

  it("an ERROR event whose Status has no code is ErrorEvent, with the Status message", () => {
    const error = KubeApiError.errorEvent({ kind: "Status", status: "Failure", message: "something broke" })
    expect(error).toMatchObject({ verb: "watch", reason: "ErrorEvent", description: "something broke" })
    expect(error.status).toBeUndefined()
  })
})

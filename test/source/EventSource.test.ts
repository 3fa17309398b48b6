/**
 * The event source on its own, against a scripted `KubeApi` (list pages, watch lines, errors). What it must do
 * is what the Kubernetes API Concepts page asks of a client (/work/shared/reference/kubernetes-watch-semantics.md):
 * watch from the resourceVersion the list returned; on 410 Gone list again and watch from the new list's
 * resourceVersion; a BOOKMARK only moves the resourceVersion; an expired `continue` token means listing from the
 * beginning. Retry-After comes from the API server's 429 (apiserver-error-shapes.md). A restarted API server
 * refuses with 401 or 403 for a second or two while its caches fill: said as that, not as a missing RBAC rule, and
 * asked again at once. Time is the TestClock's.
 */
import { expect, layer } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Fiber, Layer, Logger, Stream, TestClock } from "effect"
import { Health } from "../../src/observability/Health.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import type { Change } from "../../src/source/Change.ts"
import { eventChanges, type SourceSettings } from "../../src/source/EventSource.ts"
import { KubeApi, type ListPage, type ListRequest, type WatchRequest } from "../../src/kube/KubeApi.ts"
import { KubeApiError } from "../../src/kube/KubeApiError.ts"
import { MalformedLine, type WatchLine } from "../../src/kube/watchStream.ts"

type ScriptLine = { readonly type: string; readonly object: unknown } | { readonly malformed: string }

/** What one scripted watch delivers, in order; without `end` it stays open and silent. */
interface WatchScript {
  readonly lines: ReadonlyArray<ScriptLine>
  /** `closed`: the server ends the stream; an error: the watch fails with it. */
  readonly end?: "closed" | KubeApiError
}

/** A scripted watch as `KubeApi.watch` gives it: its lines in one array; an `ERROR` event fails it with its Status. */
const scriptedWatch = (script: WatchScript | undefined): Stream.Stream<ReadonlyArray<WatchLine>, KubeApiError> => {
  const lines: Array<WatchLine> = []
  for (const line of script?.lines ?? []) {
    if ("malformed" in line) lines.push(new MalformedLine(line.malformed))
    else if (line.type === "ERROR")
      return Stream.concat(Stream.succeed(lines), Stream.fail(KubeApiError.errorEvent(line.object)))
    else lines.push(line)
  }
  const end = script?.end
  return Stream.concat(
    lines.length === 0 ? Stream.empty : Stream.succeed(lines),
    end === undefined ? Stream.never : end === "closed" ? Stream.empty : Stream.fail(end)
  )
}

/**
 * A `KubeApi` that answers from a script: each list takes the next answer, each watch the next script; past the
 * end a list or a watch never answers. It keeps the requests it was sent.
 */
class ScriptedKubeApi {
  readonly lists: Array<ListRequest> = []
  /** The clock's time of each list. */
  readonly listedAt: Array<number> = []
  readonly watches: Array<WatchRequest> = []
  readonly #listAnswers: Array<ListPage | KubeApiError>
  readonly #watchScripts: Array<WatchScript>

  constructor(listAnswers: ReadonlyArray<ListPage | KubeApiError>, watchScripts: ReadonlyArray<WatchScript>) {
    this.#listAnswers = [...listAnswers]
    this.#watchScripts = [...watchScripts]
  }

  readonly layer = Layer.succeed(KubeApi, {
    server: "https://api.scripted:6443",
    list: (request) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        this.lists.push(request)
        this.listedAt.push(now)
        const answer = this.#listAnswers.shift()
        if (answer === undefined) return Effect.never
        return answer instanceof KubeApiError ? Effect.fail(answer) : Effect.succeed(answer)
      }),
    watch: (request) =>
      Stream.suspend(() => {
        this.watches.push(request)
        return scriptedWatch(this.#watchScripts.shift())
      })
  })
}

/** A core/v1 Event as a list item or a watch event's object. */
const event = (name: string, resourceVersion: string) => ({
  apiVersion: "v1",
  kind: "Event",
  metadata: { name, namespace: "shop", uid: `uid-${name}`, resourceVersion },
  involvedObject: { kind: "Pod", namespace: "shop", name: "web-1" },
  reason: "BackOff",
  type: "Warning",
  count: 1
})
const page = (resourceVersion: string, items: ReadonlyArray<unknown>, continueToken?: string): ListPage => ({
  resourceVersion,
  items,
  continueToken
})
/** The in-band ERROR of a watch whose resourceVersion is gone, as kube-apiserver sends it. */
const expired = {
  type: "ERROR",
  object: {
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    message: "too old resource version: 657887 (680402)",
    reason: "Expired",
    code: 410
  }
}

const settings: SourceSettings = {
  targets: [{ api: "core/v1", namespace: undefined, fieldSelector: undefined }],
  mode: "watch",
  pageSize: 500,
  watchTimeout: Duration.minutes(5),
  watchIdleTimeout: Duration.minutes(10),
  retryInitial: Duration.seconds(1),
  retryMax: Duration.seconds(30),
  pollInterval: Duration.seconds(10),
  highWater: 10_000,
  resumeFrom: {}
}
const STREAM = "core/v1/*"

/** Each change as a short text: `ADDED a@5`, `bookmark 9`, `undecodable: …`. */
const show = (c: Change): string =>
  c._tag === "Event"
    ? `${c.type} ${c.event.name}@${c.event.resourceVersion}`
    : c._tag === "Bookmark"
      ? `bookmark ${c.resourceVersion}`
      : `undecodable: ${c.message}`

/** The first `n` changes the source gives. */
const firstChanges = (api: ScriptedKubeApi, n: number, s: SourceSettings = settings) =>
  eventChanges(s).pipe(
    Stream.flattenIterables,
    Stream.take(n),
    Stream.runCollect,
    Effect.map((changes) => Chunk.toReadonlyArray(changes)),
    Effect.provide(api.layer)
  )

/** What the source logs, as `LEVEL message`, and the layer that collects it. */
const logCapture = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const connectionRefused = new KubeApiError({
  verb: "list",
  reason: "Transport",
  cause: new Error("fetch failed", {
    cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })
  })
})
const refusal = (status: 401 | 403) =>
  new KubeApiError({
    verb: "list",
    reason: status === 401 ? "Unauthorized" : "Forbidden",
    status,
    statusReason: status === 401 ? "Unauthorized" : "Forbidden",
    description:
      status === 401
        ? "Unauthorized"
        : 'events is forbidden: User "system:serviceaccount:collector:k8s-event-collector" cannot list resource ' +
          '"events" in API group "" at the cluster scope'
  })
/** Times between one list and the next. */
const gaps = (times: ReadonlyArray<number>) => times.slice(1).map((t, i) => t - (times[i] ?? 0))

layer(Layer.mergeAll(Metrics.layer, Health.layer))("eventChanges", (it) => {
  it.effect("lists, then watches from the list's resourceVersion; the list's own version is a bookmark", () =>
    Effect.gen(function* () {
      const api = new ScriptedKubeApi(
        [page("100", [event("a", "90"), event("b", "95")])],
        [{ lines: [{ type: "ADDED", object: event("c", "101") }] }]
      )
      const changes = yield* firstChanges(api, 4)
      expect(changes.map(show)).toEqual(["ADDED a@90", "ADDED b@95", "bookmark 100", "ADDED c@101"])
      // A list's items come in key order and so move no stream position; its bookmark and the watch's events do.
      expect(changes.map((c) => c.stream)).toEqual([undefined, undefined, STREAM, STREAM])
      expect(api.watches.map((w) => w.resourceVersion)).toEqual(["100"])
    })
  )

  it.effect("reads every page with its continue token; an expired one lists anew, nothing twice", () =>
    Effect.gen(function* () {
      const goneToken = new KubeApiError({
        verb: "list",
        reason: "Gone",
        status: 410,
        description: "continue parameter is too old"
      })
      const api = new ScriptedKubeApi(
        [
          page("100", [event("a", "90")], "token-1"),
          goneToken,
          page("120", [event("a", "90")], "token-2"),
          page("120", [event("b", "110")])
        ],
        [{ lines: [{ type: "ADDED", object: event("c", "121") }] }]
      )
      // a@90 is unchanged since the first attempt passed it on: the list that started over leaves it out.
      const changes = yield* firstChanges(api, 4)
      expect(changes.map(show)).toEqual(["ADDED a@90", "ADDED b@110", "bookmark 120", "ADDED c@121"])
      expect(api.lists.map((l) => l.continueToken)).toEqual([undefined, "token-1", undefined, "token-2"])
      expect(api.watches.map((w) => w.resourceVersion)).toEqual(["120"])
    })
  )

  it.effect("resumes a watch from the checkpoint's resourceVersion without listing", () =>
    Effect.gen(function* () {
      const api = new ScriptedKubeApi([], [{ lines: [{ type: "MODIFIED", object: event("a", "501") }] }])
      const changes = yield* firstChanges(api, 1, { ...settings, resumeFrom: { [STREAM]: "500" } })
      expect(changes.map(show)).toEqual(["MODIFIED a@501"])
      expect(api.lists).toEqual([])
      expect(api.watches.map((w) => w.resourceVersion)).toEqual(["500"])
    })
  )

  it.effect("passes a BOOKMARK on as progress only, and the next watch starts from it", () =>
    Effect.gen(function* () {
      const api = new ScriptedKubeApi(
        [page("100", [])],
        [
          {
            lines: [
              { type: "ADDED", object: event("a", "101") },
              { type: "BOOKMARK", object: { kind: "Event", apiVersion: "v1", metadata: { resourceVersion: "150" } } }
            ],
            end: "closed"
          },
          { lines: [{ type: "ADDED", object: event("b", "151") }] }
        ]
      )
      const changes = yield* firstChanges(api, 4)
      expect(changes.map(show)).toEqual(["bookmark 100", "ADDED a@101", "bookmark 150", "ADDED b@151"])
      expect(api.watches.map((w) => w.resourceVersion)).toEqual(["100", "150"])
      expect(api.lists).toHaveLength(1)
    })
  )

  it.effect("on an in-band 410 lists again, leaves out what it already passed on, and watches from the new list", () =>
    Effect.gen(function* () {
      const api = new ScriptedKubeApi(
        [page("100", [event("a", "90")]), page("300", [event("a", "90"), event("b", "101"), event("c", "250")])],
        [
          { lines: [{ type: "ADDED", object: event("b", "101") }, expired] },
          { lines: [{ type: "ADDED", object: event("d", "301") }] }
        ]
      )
      const changes = yield* firstChanges(api, 6)
      expect(changes.map(show)).toEqual([
        "ADDED a@90",
        "bookmark 100",
        "ADDED b@101",
        "ADDED c@250",
        "bookmark 300",
        "ADDED d@301"
      ])
      expect(api.watches.map((w) => w.resourceVersion)).toEqual(["100", "300"])
    })
  )

  it.effect("asks the watch to stop reading when highWater events wait for the pipeline, and passes them all on", () =>
    Effect.gen(function* () {
      const names = ["a", "b", "c", "d", "e"]
      const api = new ScriptedKubeApi(
        [page("100", [])],
        [{ lines: names.map((name, i) => ({ type: "ADDED", object: event(name, String(101 + i)) })) }]
      )
      const changes = yield* firstChanges(api, 6, { ...settings, highWater: 3 })
      expect(changes.map(show)).toEqual(["bookmark 100", ...names.map((name, i) => `ADDED ${name}@${101 + i}`)])
      expect(api.watches.map((w) => w.readAhead)).toEqual([3])
    })
  )

  it.effect("passes a burst of more than one take on whole and in order before the watch's end", () =>
    Effect.gen(function* () {
      const burst = Array.from({ length: 10_000 }, (_, i) => ({ type: "ADDED", object: event(`n${i}`, `${101 + i}`) }))
      const api = new ScriptedKubeApi(
        [page("100", [])],
        [{ lines: burst, end: "closed" }, { lines: [{ type: "ADDED", object: event("next", "20000") }] }]
      )
      const changes = yield* firstChanges(api, 1 + burst.length + 1, { ...settings, highWater: 20_000 })
      expect(changes.map(show)).toEqual([
        "bookmark 100",
        ...burst.map((_, i) => `ADDED n${i}@${101 + i}`),
        "ADDED next@20000"
      ])
      expect(api.watches.map((w) => w.resourceVersion)).toEqual(["100", "10100"])
    })
  )

  it.effect("passes on what it cannot decode as undecodable, with where it came from, and goes on", () =>
    Effect.gen(function* () {
      const noUid = { apiVersion: "v1", kind: "Event", metadata: { name: "x", resourceVersion: "102" } }
      const api = new ScriptedKubeApi(
        [page("100", [])],
        [
          {
            lines: [
              { malformed: "not a JSON watch event" },
              { type: "ADDED", object: noUid },
              { type: "ADDED", object: event("a", "103") }
            ]
          }
        ]
      )
      const changes = yield* firstChanges(api, 4)
      expect(changes.map((c) => c._tag)).toEqual(["Bookmark", "Undecodable", "Undecodable", "Event"])
      expect(show(changes[1] as Change)).toMatch(/core\/v1 events \(all namespaces\): not a JSON watch event/)
      expect(changes[2]).toMatchObject({ _tag: "Undecodable", resourceVersion: "102", stream: STREAM })
    })
  )

  it.effect("retries a failed list after a backoff from retryInitial, and waits out a longer Retry-After", () =>
    Effect.gen(function* () {
      const api = new ScriptedKubeApi(
        [
          new KubeApiError({
            verb: "list",
            reason: "ServerError",
            status: 500,
            description: "etcdserver: request timed out"
          }),
          new KubeApiError({
            verb: "list",
            reason: "TooManyRequests",
            status: 429,
            description: "Too many requests",
            retryAfterSeconds: 20
          }),
          page("100", [event("a", "90")])
        ],
        []
      )
      const running = yield* Effect.fork(firstChanges(api, 1))
      yield* TestClock.adjust(Duration.millis(400))
      // The first delay is retryInitial, jittered into [1/2, 1) of it.
      expect(api.lists).toHaveLength(1)
      yield* TestClock.adjust(Duration.millis(600))
      expect(api.lists).toHaveLength(2)
      yield* TestClock.adjust(Duration.seconds(19))
      expect(api.lists).toHaveLength(2)
      yield* TestClock.adjust(Duration.seconds(1))
      expect((yield* Fiber.join(running)).map(show)).toEqual(["ADDED a@90"])
      expect(api.lists).toHaveLength(3)
    })
  )

  it.effect("relists at once after a 410, but backs off when the fresh list's version is refused with 410 too", () =>
    Effect.gen(function* () {
      const gone = new KubeApiError({
        verb: "watch",
        reason: "Gone",
        status: 410,
        description: "too old resource version"
      })
      const api = new ScriptedKubeApi(
        [page("100", []), page("200", []), page("300", [])],
        [{ lines: [], end: gone }, { lines: [], end: gone }, { lines: [{ type: "ADDED", object: event("a", "301") }] }]
      )
      const running = yield* Effect.fork(firstChanges(api, 4))
      yield* TestClock.adjust(Duration.millis(1))
      expect(api.lists).toHaveLength(2)
      yield* TestClock.adjust(Duration.millis(1000))
      expect((yield* Fiber.join(running)).map(show)).toEqual([
        "bookmark 100",
        "bookmark 200",
        "bookmark 300",
        "ADDED a@301"
      ])
      expect(api.watches.map((w) => w.resourceVersion)).toEqual(["100", "200", "300"])
    })
  )

  it.effect(
    "a 401 or 403 just after the API server could not be reached: said as its start-up, asked every 200 ms",
    () =>
      Effect.gen(function* () {
        const api = new ScriptedKubeApi(
          [connectionRefused, refusal(401), refusal(403), refusal(403), page("100", [event("a", "90")])],
          []
        )
        const logs = logCapture()
        const running = yield* Effect.fork(firstChanges(api, 2).pipe(Effect.provide(logs.layer)))
        yield* TestClock.adjust(Duration.seconds(2))
        expect((yield* Fiber.join(running)).map(show)).toEqual(["ADDED a@90", "bookmark 100"])
        // After the failed connection, retryInitial jittered into [1/2, 1] of it; then at once, not after a backoff.
        const [first = 0, ...starting] = gaps(api.listedAt)
        expect(first).toBeGreaterThanOrEqual(500)
        expect(first).toBeLessThanOrEqual(1000)
        expect(starting).toEqual([200, 200, 200])
        const server = "https://api.scripted:6443"
        const what = "list events (core/v1) at the cluster scope"
        const said = (kind: string, status: number) =>
          `WARN the API server is starting (${kind} not ready yet): the Kubernetes API at ${server} refused to ` +
          `${what} with HTTP ${status} just after it could not be reached; asking again every 200ms, and taking it ` +
          "for a refusal if it lasts 30s"
        expect(logs.lines).toEqual([
          `ERROR cannot reach the Kubernetes API at ${server} to ${what}: fetch failed (ECONNREFUSED: connect ` +
            "ECONNREFUSED); retrying",
          said("authentication", 401),
          said("authorization", 403),
          `INFO ${what} works again`
        ])
      })
  )

  it.effect("a 403 that outlasts the API server's start-up is said as the missing RBAC rule, and backed off", () =>
    Effect.gen(function* () {
      const starting = 150
      const api = new ScriptedKubeApi(
        [
          connectionRefused,
          ...Array.from({ length: starting + 2 }, () => refusal(403)),
          page("100", [event("a", "90")])
        ],
        []
      )
      const logs = logCapture()
      const running = yield* Effect.fork(firstChanges(api, 2).pipe(Effect.provide(logs.layer)))
      yield* TestClock.adjust(Duration.minutes(1))
      expect((yield* Fiber.join(running)).map(show)).toEqual(["ADDED a@90", "bookmark 100"])
      // 200 ms apart for 30 s from the first 403; then from retryInitial, jittered: [0.5, 1] s, then [1, 2] s.
      const [, ...rest] = gaps(api.listedAt)
      expect(rest.slice(0, starting)).toEqual(Array.from({ length: starting }, () => 200))
      const [refused = 0, again = 0] = rest.slice(starting)
      expect([refused >= 500 && refused <= 1000, again >= 1000 && again <= 2000]).toEqual([true, true])
      expect(logs.lines.map((l) => l.split(":")[0])).toEqual([
        "ERROR cannot reach the Kubernetes API at https",
        "WARN the API server is starting (authorization not ready yet)",
        "ERROR not allowed to list events (core/v1) at the cluster scope (HTTP 403)",
        "INFO list events (core/v1) at the cluster scope works again"
      ])
      expect(logs.lines[2]).toMatch(/the identity needs the RBAC rule \{apiGroups: \[""\], resources: \["events"\]/)
    })
  )

  it.effect("a 403 with no failed connection before it is the missing RBAC rule at once", () =>
    Effect.gen(function* () {
      const api = new ScriptedKubeApi([refusal(403), page("100", [event("a", "90")])], [])
      const logs = logCapture()
      const running = yield* Effect.fork(firstChanges(api, 2).pipe(Effect.provide(logs.layer)))
      yield* TestClock.adjust(Duration.seconds(1))
      expect((yield* Fiber.join(running)).map(show)).toEqual(["ADDED a@90", "bookmark 100"])
      expect(gaps(api.listedAt)[0]).toBeGreaterThanOrEqual(500)
      expect(logs.lines[0]).toMatch(/^ERROR not allowed to list events .* the identity needs the RBAC rule /)
      expect(logs.lines.join("\n")).not.toMatch(/starting/)
    })
  )
})

/**
 * One watch GET, read straight off the socket as a `Stream` of the lines read: its bytes cut into lines by
 * `LineSplitter`, each line decoded once whole. A pull takes every line read since the last one (at most
 * `MAX_LINES_PER_PULL`), so a burst goes on as one array. While `readAhead` lines wait to be taken the socket is
 * not read: TCP backpressure reaches the server, and a slow consumer holds the server back instead of filling
 * memory. The stream ends when the server ends the watch (its `timeoutSeconds`), and fails with a `KubeApiError`
 * when the watch is refused, the connection fails or is cut, the server sends an `ERROR` event (after the lines
 * before it), or a pull has waited `idleTimeout` for a line (`Idle`: a silent connection is taken for dead; the
 * time the consumer takes between pulls is not silence). Ending the stream closes the connection.
 *
 * The watch is read here rather than by client-node's `Watch`, which reads through `fetch`'s web stream and
 * `readline`, cannot pause (a slow reader could only close the watch and reconnect), and drops a line that is
 * not JSON without a word. Reading the socket directly costs a fraction of that, pauses by not reading, and
 * passes every malformed line on.
 */
import type * as Http from "node:http"
import type * as Https from "node:https"
import { Chunk, type Clock, Duration, Effect, Option, Stream } from "effect"
import { KubeApiError } from "./KubeApiError.ts"
import { headersOf, type KubeHttp, requestFunction } from "./KubeHttp.ts"
import { isRecord } from "../domain/isRecord.ts"
import { LineSplitter } from "./lines.ts"

/** One event of a watch stream, `ADDED`, `MODIFIED`, `DELETED` or `BOOKMARK`, and its object, as the server sent it. */
export interface WatchEvent {
  readonly type: string
  readonly object: unknown
}

/** A line of a watch stream that is not a watch event (`{"type": …, "object": …}`), and why. */
export class MalformedLine {
  readonly detail: string
  constructor(detail: string) {
    this.detail = detail
  }
}

export type WatchLine = WatchEvent | MalformedLine

/** The most lines a pull takes at once: one pipeline chunk's worth. */
const MAX_LINES_PER_PULL = 4096

/** Bodies of refused watches are read up to this size, for the Status message. */
const MAX_ERROR_BODY = 64 * 1024

/** A JSON object with a string `type`: a watch event as the server sent it, used as it was parsed. */
const isWatchEvent = (u: unknown): u is WatchEvent => isRecord(u) && typeof u["type"] === "string"

/** One line of a watch stream: a watch event, or why it is not one. */
const parseWatchLine = (text: string): WatchLine => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e)
    return new MalformedLine(`a watch line is not JSON (${why}): ${text.slice(0, 120)}`)
  }
  return isWatchEvent(parsed)
    ? parsed
    : new MalformedLine(`a watch line is not a watch event (no "type"): ${text.slice(0, 120)}`)
}

/** How a watch ended: the server ended its stream (or the consumer stopped), or a failure. */
type Ending = "closed" | KubeApiError

/**
 * One watch connection, from the request to its one end. Node's callbacks put lines in; `pull` takes them out, in
 * order, and then the end.
 */
class WatchConnection {
  /** Lines read and not yet taken, in order. */
  #pending: Array<WatchLine> = []
  /** Set once the watch has ended; pulls see it after every pending line. */
  #ending: Ending | undefined
  /** Whether the socket is not read because `readAhead` lines are pending. */
  #paused = false
  #request: Http.ClientRequest | undefined
  #response: Http.IncomingMessage | undefined
  /** Set while a pull waits: the next line or the end resumes it. */
  #wake: (() => void) | undefined
  /** When the waiting pull began to wait, by `#clock`; undefined while no pull waits. */
  #waitingSince: number | undefined
  readonly #readAhead: number
  readonly #clock: Clock.Clock

  constructor(readAhead: number, clock: Clock.Clock) {
    this.#readAhead = Math.max(1, readAhead)
    this.#clock = clock
  }

  /** The pending lines, at most `MAX_LINES_PER_PULL`; when there are none, the next ones or the end. */
  readonly pull: Effect.Effect<Chunk.Chunk<ReadonlyArray<WatchLine>>, Option.Option<KubeApiError>> = Effect.suspend(
    () => {
      if (this.#pending.length > 0) {
        this.#waitingSince = undefined
        return Effect.succeed(Chunk.of(this.#take()))
      }
      const ending = this.#ending
      if (ending === undefined) {
        this.#waitingSince ??= this.#clock.unsafeCurrentTimeMillis()
        return Effect.zipRight(this.#arrival, this.pull)
      }
      return Effect.fail(ending === "closed" ? Option.none() : Option.some(ending))
    }
  )

  /**
   * Ends the watch as `Idle` once a pull has waited `idleTimeout` for a line. One timer for the whole watch, not
   * one per pull: it sleeps until the waiting pull's deadline, or for `idleTimeout` while none waits.
   */
  watchdog(idleTimeout: Duration.Duration): Effect.Effect<void> {
    const idleMs = Duration.toMillis(idleTimeout)
    const check: Effect.Effect<void> = Effect.suspend(() => {
      if (this.#ending !== undefined) return Effect.void
      const since = this.#waitingSince
      const now = this.#clock.unsafeCurrentTimeMillis()
      if (since !== undefined && now - since >= idleMs) {
        const description = `nothing arrived for ${Duration.format(idleTimeout)}, not even a bookmark`
        this.#end(new KubeApiError({ verb: "watch", reason: "Idle", description }))
        return Effect.void
      }
      const wait = since === undefined ? idleMs : since + idleMs - now
      return Effect.zipRight(Effect.sleep(Duration.millis(wait)), check)
    })
    return check
  }

  /** Done at the next line or at the end. */
  readonly #arrival = Effect.async<void>((resume) => {
    this.#wake = () => resume(Effect.void)
    return Effect.sync(() => {
      this.#wake = undefined
    })
  })

  /** Sends the GET with the kubeconfig's credentials, TLS and agent (`options`). */
  open(url: URL, options: Https.RequestOptions, accept: string): void {
    const req = requestFunction(url)(url, {
      ...options,
      method: "GET",
      headers: { ...options.headers, Accept: accept }
    })
    this.#request = req
    req.on("response", (res) => {
      this.#response = res
      if (res.statusCode === 200) this.#readLines(res)
      else this.#readRefusal(res)
    })
    req.on("error", (e) => this.#end(KubeApiError.transport("watch", e)))
    req.end()
  }

  /** The consumer is done: the connection closes and nothing more is read. */
  close(): void {
    this.#end("closed")
  }

  #end(ending: Ending): void {
    if (this.#ending !== undefined) return
    this.#ending = ending
    this.#request?.destroy()
    this.#wakeUp()
  }

  #wakeUp(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  #take(): ReadonlyArray<WatchLine> {
    let taken: Array<WatchLine>
    if (this.#pending.length > MAX_LINES_PER_PULL) {
      taken = this.#pending.splice(0, MAX_LINES_PER_PULL)
    } else {
      taken = this.#pending
      this.#pending = []
    }
    if (this.#paused && this.#pending.length < this.#readAhead) {
      this.#paused = false
      this.#response?.resume()
    }
    return taken
  }

  /** The stream, line by line; reading stops while `readAhead` lines are pending. */
  #readLines(res: Http.IncomingMessage): void {
    const lines = new LineSplitter()
    res.on("data", (chunk: Buffer) => {
      lines.push(chunk)
      this.#decode(lines)
    })
    res.on("end", () => {
      lines.end()
      this.#decode(lines)
      this.#end("closed")
    })
    // Destroyed before its end: the connection was cut.
    res.on("close", () => {
      if (!res.complete)
        this.#end(KubeApiError.transport("watch", undefined, "the connection was closed during the watch"))
    })
    res.on("error", (e) => this.#end(KubeApiError.transport("watch", e)))
  }

  /** Every complete line read so far, decoded; an `ERROR` event ends the watch with what it says. */
  #decode(lines: LineSplitter): void {
    if (this.#ending !== undefined) return
    const pending = this.#pending
    const before = pending.length
    for (let text = lines.next(); text !== undefined; text = lines.next()) {
      if (text.length === 0) continue
      const line = parseWatchLine(text)
      if (!(line instanceof MalformedLine) && line.type === "ERROR") {
        this.#end(KubeApiError.errorEvent(line.object))
        return
      }
      pending.push(line)
    }
    if (pending.length >= this.#readAhead && !this.#paused) {
      this.#paused = true
      this.#response?.pause()
    }
    if (pending.length > before) this.#wakeUp()
  }

  /** A refused watch: its body (a Status, usually) says why. */
  #readRefusal(res: Http.IncomingMessage): void {
    const status = res.statusCode ?? 0
    let body = ""
    res.setEncoding("utf8")
    res.on("data", (chunk: string) => {
      if (body.length < MAX_ERROR_BODY) body += chunk
    })
    res.on("end", () => {
      this.#end(KubeApiError.refused("watch", { status, headers: headersOf(res), text: body }))
    })
    res.on("error", (e) => this.#end(KubeApiError.transport("watch", e, `the answer (HTTP ${status}) was cut`)))
  }
}

/** The watch GET of `url` (with `Accept: accept`), its lines as they are read; see the top of this file. */
export const watchStream = (
  http: KubeHttp,
  url: URL,
  accept: string,
  reading: { readonly readAhead: number; readonly idleTimeout: Duration.Duration }
): Stream.Stream<ReadonlyArray<WatchLine>, KubeApiError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const options = yield* http.requestOptions("watch")
      const clock = yield* Effect.clock
      const connection = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const c = new WatchConnection(reading.readAhead, clock)
          c.open(url, options, accept)
          return c
        }),
        (c) => Effect.sync(() => c.close())
      )
      yield* Effect.forkScoped(connection.watchdog(reading.idleTimeout))
      return Stream.repeatEffectChunkOption(connection.pull)
    })
  )

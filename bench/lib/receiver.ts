/**
 * A loopback OTLP/HTTP logs receiver that only counts: it gunzips when asked to, walks the protobuf just far
 * enough to count log records (and, for the latency and resume scenarios, to read each record's time and
 * `log.record.uid`), stamps the arrival, and answers 200 with an empty ExportLogsServiceResponse.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { gunzipSync } from "node:zlib"
import { walkLogsRequest } from "./otlpWalk.ts"

export interface ReceiverOptions {
  /** Keep creation → arrival latencies (from each record's time_unix_nano). */
  readonly latencies?: boolean
  /** Keep every `log.record.uid` seen, to count records sent twice. */
  readonly uids?: boolean
  /** Count the records whose resource names a Deployment or a CronJob. */
  readonly owners?: boolean
  /** Count the records of each event occurrence (`k8s.event.uid` and `k8s.event.count`). */
  readonly occurrences?: boolean
}

export class CountingReceiver {
  readonly #server: Server
  readonly #options: ReceiverOptions
  #url = ""
  records = 0
  /** With `owners`: records whose resource names a Deployment or a CronJob. */
  recordsWithOwner = 0
  requests = 0
  bytes = 0
  /** Arrival time (ms) of the first and of the latest request with records. */
  firstArrivalMs: number | undefined
  lastArrivalMs: number | undefined
  /** Time the receiver spent handling requests (decompress + walk), ms. */
  busyMs = 0
  readonly latenciesMs: Array<number> = []
  /** The record's own time (its event's creation, in the latency scenario), parallel to `latenciesMs`. */
  readonly recordTimesMs: Array<number> = []
  readonly uidCounts = new Map<string, number>()
  /** With `occurrences`: records per event uid, then per `k8s.event.count` (0: the record has none). */
  readonly occurrenceCounts = new Map<string, Map<number, number>>()
  duplicates = 0
  /** With `uids`: when each record received again arrived (ms since the epoch). */
  readonly duplicateArrivalsMs: Array<number> = []
  /** Times `outage` took it down. */
  outages = 0
  #down = false
  #waiters: Array<{ readonly n: number; readonly resolve: () => void }> = []

  constructor(options: ReceiverOptions = {}) {
    this.#options = options
    this.#server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        if (this.#down) {
          req.socket.destroy()
          return
        }
        const arrival = Date.now()
        const t0 = performance.now()
        let body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)
        this.bytes += body.length
        if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body)
        const walked = walkLogsRequest(body, {
          times: this.#options.latencies === true,
          uids: this.#options.uids === true,
          owners: this.#options.owners === true,
          occurrences: this.#options.occurrences === true
        })
        for (const o of walked.occurrences) {
          const counts = this.occurrenceCounts.get(o.eventUid) ?? new Map<number, number>()
          counts.set(o.count, (counts.get(o.count) ?? 0) + 1)
          this.occurrenceCounts.set(o.eventUid, counts)
        }
        for (const t of walked.timesMs) {
          this.latenciesMs.push(arrival - t)
          this.recordTimesMs.push(t)
        }
        for (const uid of walked.uids) {
          const seen = this.uidCounts.get(uid) ?? 0
          if (seen > 0) {
            this.duplicates++
            this.duplicateArrivalsMs.push(arrival)
          }
          this.uidCounts.set(uid, seen + 1)
        }
        this.requests++
        if (walked.records > 0) {
          this.records += walked.records
          this.recordsWithOwner += walked.withOwner
          this.firstArrivalMs ??= arrival
          this.lastArrivalMs = arrival
        }
        this.busyMs += performance.now() - t0
        res.writeHead(200, { "Content-Type": "application/x-protobuf" })
        res.end()
        this.#notify()
      })
    })
    this.#server.keepAliveTimeout = 60_000
  }

  get url(): string {
    return this.#url
  }

  /** Listens on a free port; after an `outage`, on the same one again. */
  async listen(): Promise<void> {
    const port = this.#url === "" ? 0 : Number(new URL(this.#url).port)
    await new Promise<void>((resolve) => this.#server.listen(port, "127.0.0.1", resolve))
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/v1/logs`
  }

  /**
   * The backend down for `ms`: the port refuses connections (the open ones are closed, a request in flight gets
   * no answer), then it listens again on the same port. Counted in `outages`.
   */
  async outage(ms: number): Promise<void> {
    // A request that was counted was also answered: what arrives from now on is cut off uncounted, and the
    // connections are closed only once the answers already written have had time to leave.
    this.#down = true
    this.outages++
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeIdleConnections()
    await new Promise((r) => setTimeout(r, 100))
    this.#server.closeAllConnections()
    await closed
    await new Promise((r) => setTimeout(r, Math.max(0, ms - 100)))
    this.#down = false
    await this.listen()
  }

  /** Resolves once `n` records in total have arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs: number): Promise<void> {
    if (this.records >= n) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done)
        reject(new Error(`receiver: ${this.records} of ${n} records after ${timeoutMs} ms`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      this.#waiters.push({ n, resolve: done })
    })
  }

  /** Forgets counts and samples (between phases of a scenario). */
  reset(): void {
    this.records = 0
    this.recordsWithOwner = 0
    this.requests = 0
    this.bytes = 0
    this.busyMs = 0
    this.firstArrivalMs = undefined
    this.lastArrivalMs = undefined
    this.latenciesMs.length = 0
    this.recordTimesMs.length = 0
  }

  #notify(): void {
    if (this.#waiters.length === 0) return
    const ready = this.#waiters.filter((w) => this.records >= w.n)
    this.#waiters = this.#waiters.filter((w) => this.records < w.n)
    for (const w of ready) w.resolve()
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }
}

export const startReceiver = async (options: ReceiverOptions = {}): Promise<CountingReceiver> => {
  const r = new CountingReceiver(options)
  await r.listen()
  return r
}

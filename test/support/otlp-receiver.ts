/**
 * An OTLP/HTTP logs receiver for tests: it decodes what an exporter POSTs to
 * /v1/logs (protobuf or JSON, optionally gzipped) into plain records, and can be
 * told to answer with failures, Retry-After, delays or partial success.
 *
 * Both encodings go through the same protobufjs schema (./otlp/*.proto), so the
 * two paths cannot disagree on field names or numbers.
 */
import { once } from "node:events"
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { setTimeout as sleep } from "node:timers/promises"
import { fileURLToPath } from "node:url"
import { gunzipSync } from "node:zlib"
import protobuf, { type IConversionOptions } from "protobufjs"

/**
 * A decoded OTLP AnyValue. Choices: int_value is a `number` when it is a safe
 * integer and a `bigint` beyond that; double_value is a `number`; bytes_value a
 * `Uint8Array`; an empty AnyValue (or an absent body) is `null`; a kvlist is a
 * plain object. An int and an integral double therefore look alike: use
 * `OtlpLogRecord.kinds` to tell them apart.
 */
type AttrValue =
  | string
  | number
  | bigint
  | boolean
  | Uint8Array
  | null
  | ReadonlyArray<AttrValue>
  | { readonly [key: string]: AttrValue }

type Attributes = { readonly [key: string]: AttrValue }

const KINDS = {
  stringValue: "string",
  boolValue: "bool",
  intValue: "int",
  doubleValue: "double",
  bytesValue: "bytes",
  arrayValue: "array",
  kvlistValue: "kvlist"
} as const

/** Which AnyValue field was set on the wire; "empty" when none was. */
type AnyValueKind = (typeof KINDS)[keyof typeof KINDS] | "empty"

/** One log record as the receiver accepted it; absent fields take their proto3 defaults. */
export interface OtlpLogRecord {
  readonly resource: Attributes
  readonly scope: { readonly name: string; readonly version: string; readonly attributes: Attributes }
  readonly timeUnixNano: bigint
  readonly observedTimeUnixNano: bigint
  readonly severityNumber: number
  readonly severityText: string
  readonly body: AttrValue
  readonly eventName: string
  readonly attributes: Attributes
  readonly droppedAttributesCount: number
  readonly flags: number
  /** Lowercase hex, "" when absent. */
  readonly traceId: string
  readonly spanId: string
  /** Wire kind of the body and of each top-level attribute. */
  readonly kinds: { readonly body: AnyValueKind; readonly attributes: { readonly [key: string]: AnyValueKind } }
}

interface ReceivedRequest {
  readonly method: string
  readonly path: string
  /** When it arrived, in epoch milliseconds. */
  readonly atMs: number
  /** Media type without parameters, lowercased; "" when absent. */
  readonly contentType: string
  /** "" when absent. */
  readonly contentEncoding: string
  readonly headers: IncomingHttpHeaders
  /** Status answered; 0 while the answer is pending (e.g. delayed). */
  readonly status: number
  /** Records in the body, whether or not they were accepted; 0 if it did not decode. */
  readonly records: number
  /** Why the receiver itself refused the request (bad path, method, type or body). */
  readonly error: string | undefined
}

interface Behaviour {
  /** Status to answer; a 2xx accepts the records, anything else rejects them. Default 200. */
  readonly status?: number
  /** Retry-After header value for a non-2xx answer, e.g. "1". */
  readonly retryAfter?: string
  /**
   * Wait this long before answering, as a slow backend would. The records are
   * kept when the answer is sent even if the client gave up meanwhile, as a real
   * backend would have stored them: a retry then yields duplicates.
   */
  readonly delayMs?: number
  /** With a 2xx: answer partial_success. The records are still all kept: the receiver cannot tell which were "rejected". */
  readonly partialSuccess?: { readonly rejectedLogRecords: number; readonly errorMessage: string }
  /** Apply to the next `times` well-formed requests, then answer plain 200 again. Omitted: until changed. */
  readonly times?: number
}

export interface OtlpReceiver {
  /** Base URL, e.g. http://127.0.0.1:4318 */
  readonly url: string
  /** `${url}/v1/logs` */
  readonly logsUrl: string
  readonly port: number
  /** Accepted records, in arrival order. */
  readonly records: ReadonlyArray<OtlpLogRecord>
  /** Every request, in arrival order, including refused ones. */
  readonly requests: ReadonlyArray<ReceivedRequest>
  /** The most requests that were being handled at one moment (arrived and not yet answered). */
  readonly peakInFlight: number
  setBehaviour(behaviour: Behaviour): void
  /** Resolves with a copy of `records` once at least `count` were accepted. */
  waitForRecords(count: number, timeoutMs?: number): Promise<ReadonlyArray<OtlpLogRecord>>
  /** Stops listening and drops open connections (exporters keep sockets alive), so the port can be reused. */
  /** Stops at once, dropping open connections; `graceful` first answers the requests in progress. */
  close(options?: { readonly graceful?: boolean }): Promise<void>
}

export interface OtlpReceiverOptions {
  /** Listen on this port (to restart on the same one after close()); default: a free port. */
  readonly port?: number
  readonly behaviour?: Behaviour
  /** Serve HTTPS with this key and certificate; with `ca`, require a client certificate signed by it. */
  readonly tls?: { readonly key: string; readonly cert: string; readonly ca?: string }
}

const root = protobuf.loadSync(fileURLToPath(new URL("./otlp/logs_service.proto", import.meta.url)))
const ExportRequest = root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest")
const ExportResponse = root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse")

const PROTOBUF = "application/x-protobuf"
const JSON_TYPE = "application/json"
const LOGS_PATH = "/v1/logs"

// The shape ExportRequest.toObject yields with TO_OBJECT: fields absent from
// the wire are missing, 64-bit integers are bigints, bytes stay Uint8Arrays, and
// an AnyValue's `value` names the oneof member that was set.
const TO_OBJECT: IConversionOptions = { longs: BigInt, enums: Number, oneofs: true }

interface WireAnyValue {
  readonly value?: keyof typeof KINDS
  readonly stringValue?: string
  readonly boolValue?: boolean
  readonly intValue?: bigint
  readonly doubleValue?: number
  readonly bytesValue?: Uint8Array
  readonly arrayValue?: { readonly values?: ReadonlyArray<WireAnyValue> }
  readonly kvlistValue?: { readonly values?: ReadonlyArray<WireKeyValue> }
}
interface WireKeyValue {
  readonly key?: string
  readonly value?: WireAnyValue
}
interface WireLogRecord {
  readonly timeUnixNano?: bigint
  readonly observedTimeUnixNano?: bigint
  readonly severityNumber?: number
  readonly severityText?: string
  readonly body?: WireAnyValue
  readonly attributes?: ReadonlyArray<WireKeyValue>
  readonly droppedAttributesCount?: number
  readonly flags?: number
  readonly traceId?: Uint8Array
  readonly spanId?: Uint8Array
  readonly eventName?: string
}
interface WireRequest {
  readonly resourceLogs?: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<WireKeyValue> }
    readonly scopeLogs?: ReadonlyArray<{
      readonly scope?: {
        readonly name?: string
        readonly version?: string
        readonly attributes?: ReadonlyArray<WireKeyValue>
      }
      readonly logRecords?: ReadonlyArray<WireLogRecord>
    }>
  }>
}

export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const records: OtlpLogRecord[] = []
  const requests: Array<{ -readonly [K in keyof ReceivedRequest]: ReceivedRequest[K] }> = []
  const waiters = new Set<() => void>()
  const closing = new AbortController()
  let behaviour: Behaviour = options.behaviour ?? {}
  let remaining = behaviour.times

  const nextBehaviour = (): Behaviour => {
    const current = behaviour
    if (remaining !== undefined && --remaining <= 0) {
      behaviour = {}
      remaining = undefined
    }
    return current
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const info: (typeof requests)[number] = {
      method: req.method ?? "",
      atMs: Date.now(),
      path: new URL(req.url ?? "/", "http://receiver").pathname,
      contentType: (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "",
      contentEncoding: (req.headers["content-encoding"] ?? "").trim().toLowerCase(),
      headers: req.headers,
      status: 0,
      records: 0,
      error: undefined
    }
    requests.push(info)
    const refuse = (status: number, error: string): void => {
      info.status = status
      info.error = error
      res.writeHead(status, { "content-type": "text/plain" }).end(error)
    }

    const body = Buffer.concat(await req.toArray())
    if (info.path !== LOGS_PATH) return refuse(404, `no such path ${info.path}`)
    if (info.method !== "POST") return refuse(405, `method ${info.method} not allowed`)
    if (info.contentType !== PROTOBUF && info.contentType !== JSON_TYPE) {
      return refuse(415, `unsupported content-type ${JSON.stringify(info.contentType)}`)
    }
    if (info.contentEncoding !== "" && info.contentEncoding !== "gzip" && info.contentEncoding !== "identity") {
      return refuse(415, `unsupported content-encoding ${JSON.stringify(info.contentEncoding)}`)
    }
    let received: OtlpLogRecord[]
    try {
      const raw = info.contentEncoding === "gzip" ? gunzipSync(body) : body
      received = toRecords(info.contentType === PROTOBUF ? decodeProtobuf(raw) : decodeJson(raw))
    } catch (error) {
      return refuse(400, `undecodable ExportLogsServiceRequest: ${String(error)}`)
    }
    info.records = received.length

    const { status = 200, retryAfter, delayMs = 0, partialSuccess } = nextBehaviour()
    if (delayMs > 0) {
      try {
        await sleep(delayMs, undefined, { signal: closing.signal })
      } catch {
        res.destroy()
        return
      }
    }
    info.status = status
    if (status < 200 || status > 299) {
      res.writeHead(status, {
        "content-type": "text/plain",
        ...(retryAfter === undefined ? {} : { "retry-after": retryAfter })
      })
      res.end(`status ${status} set by the test`)
      return
    }
    records.push(...received)
    for (const wake of waiters) wake()
    const response = ExportResponse.fromObject(partialSuccess === undefined ? {} : { partialSuccess })
    res.writeHead(status, { "content-type": info.contentType })
    res.end(
      info.contentType === PROTOBUF
        ? ExportResponse.encode(response).finish()
        : JSON.stringify(ExportResponse.toObject(response, { longs: String }))
    )
  }

  let inFlight = 0
  let peakInFlight = 0
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    peakInFlight = Math.max(peakInFlight, ++inFlight)
    res.on("close", () => inFlight--)
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" }).end(String(error))
      else res.destroy()
    })
  }
  const tls = options.tls
  const server =
    tls === undefined
      ? createServer(listener)
      : createHttpsServer(
          {
            key: tls.key,
            cert: tls.cert,
            ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: true })
          },
          listener
        )
  server.listen(options.port ?? 0, "127.0.0.1")
  await once(server, "listening")
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error(`unexpected listen address ${String(address)}`)
  const { port } = address
  const url = `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}`

  return {
    url,
    logsUrl: `${url}${LOGS_PATH}`,
    port,
    records,
    requests,
    get peakInFlight() {
      return peakInFlight
    },
    setBehaviour(next) {
      behaviour = next
      remaining = next.times
    },
    waitForRecords(count, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (records.length < count) return
          done()
          resolve([...records])
        }
        const timer = setTimeout(() => {
          done()
          const statuses = requests.map((r) => r.status).join(", ") || "none"
          reject(
            new Error(
              `waited ${timeoutMs} ms for ${count} OTLP log records, got ${records.length} (answers: ${statuses})`
            )
          )
        }, timeoutMs)
        const done = (): void => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      })
    },
    async close(options: { readonly graceful?: boolean } = {}) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      if (options.graceful === true) {
        // A backend shutting down cleanly: refuse new connections, answer the requests already being served.
        server.closeIdleConnections()
        const force = setTimeout(() => server.closeAllConnections(), 2_000)
        await closed
        clearTimeout(force)
        closing.abort()
        return
      }
      closing.abort()
      server.closeAllConnections()
      await closed
    }
  }
}

/** An `ExportLogsServiceRequest` in protobuf, decoded with the proto definitions alone. */
export function decodeProtobuf(bytes: Uint8Array): WireRequest {
  return ExportRequest.toObject(ExportRequest.decode(bytes), TO_OBJECT)
}

// OTLP/JSON is proto3 JSON except that trace and span ids are hex, not base64;
// once they are bytes, protobufjs' fromObject reads the rest (string or number
// int64s, numeric enums, base64 bytes_value, lowerCamelCase names).
function decodeJson(bytes: Uint8Array): WireRequest {
  const json: unknown = JSON.parse(Buffer.from(bytes).toString("utf8"))
  for (const resourceLogs of children(json, "resourceLogs")) {
    for (const scopeLogs of children(resourceLogs, "scopeLogs")) {
      for (const logRecord of children(scopeLogs, "logRecords")) {
        if (!isObject(logRecord)) continue
        for (const key of ["traceId", "spanId"]) {
          const id = logRecord[key]
          if (typeof id !== "string") continue
          if (!/^(?:[0-9a-f]{2})*$/i.test(id)) throw new Error(`${key} is not hex: ${JSON.stringify(id)}`)
          logRecord[key] = Buffer.from(id, "hex")
        }
      }
    }
  }
  if (!isObject(json)) throw new Error("the body is not a JSON object")
  return ExportRequest.toObject(ExportRequest.fromObject(json), TO_OBJECT)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

function children(node: unknown, key: string): ReadonlyArray<unknown> {
  const value = isObject(node) ? node[key] : undefined
  return Array.isArray(value) ? value : []
}

function toRecords(request: WireRequest): OtlpLogRecord[] {
  return (request.resourceLogs ?? []).flatMap((resourceLogs) => {
    const resource = toAttributes(resourceLogs.resource?.attributes)
    return (resourceLogs.scopeLogs ?? []).flatMap((scopeLogs) => {
      const scope = {
        name: scopeLogs.scope?.name ?? "",
        version: scopeLogs.scope?.version ?? "",
        attributes: toAttributes(scopeLogs.scope?.attributes)
      }
      return (scopeLogs.logRecords ?? []).map((r): OtlpLogRecord => ({
        resource,
        scope,
        timeUnixNano: r.timeUnixNano ?? 0n,
        observedTimeUnixNano: r.observedTimeUnixNano ?? 0n,
        severityNumber: r.severityNumber ?? 0,
        severityText: r.severityText ?? "",
        body: toAttrValue(r.body),
        eventName: r.eventName ?? "",
        attributes: toAttributes(r.attributes),
        droppedAttributesCount: r.droppedAttributesCount ?? 0,
        flags: r.flags ?? 0,
        traceId: Buffer.from(r.traceId ?? []).toString("hex"),
        spanId: Buffer.from(r.spanId ?? []).toString("hex"),
        kinds: {
          body: kindOf(r.body),
          attributes: Object.fromEntries((r.attributes ?? []).map((kv) => [kv.key ?? "", kindOf(kv.value)]))
        }
      }))
    })
  })
}

function kindOf(value: WireAnyValue | undefined): AnyValueKind {
  return value?.value === undefined ? "empty" : KINDS[value.value]
}

function toAttributes(keyValues: ReadonlyArray<WireKeyValue> | undefined): Attributes {
  return Object.fromEntries((keyValues ?? []).map((kv) => [kv.key ?? "", toAttrValue(kv.value)]))
}

function toAttrValue(value: WireAnyValue | undefined): AttrValue {
  switch (value?.value) {
    case undefined:
      return null
    case "stringValue":
      return value.stringValue ?? ""
    case "boolValue":
      return value.boolValue ?? false
    case "intValue": {
      const int = value.intValue ?? 0n
      return int >= Number.MIN_SAFE_INTEGER && int <= Number.MAX_SAFE_INTEGER ? Number(int) : int
    }
    case "doubleValue":
      return value.doubleValue ?? 0
    case "bytesValue":
      return value.bytesValue ?? new Uint8Array()
    case "arrayValue":
      return (value.arrayValue?.values ?? []).map(toAttrValue)
    case "kvlistValue":
      return toAttributes(value.kvlistValue?.values)
  }
}

/**
 * One way to reach the Kubernetes API, shared by the source, enrichment, the checkpoint and leader election:
 * client-node's KubeConfig authenticates (token, client certificate, exec plugin) and says the TLS and proxy
 * settings (`applyToHTTPSOptions`); `node:http(s)` sends, over one keep-alive agent, so that the pages of a list,
 * the lease renewals and the enricher's GETs reuse their connection instead of opening (and, over TLS, shaking
 * hands on) one each, as client-node's own fetch does with a new dispatcher per call. Bodies stay raw text, decoded
 * by each caller with its own Schema (client-node's typed models would turn timestamps into `Date`s and cost a
 * deserialisation pass per object).
 */
import * as Http from "node:http"
import * as Https from "node:https"
import { Duration, Effect } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { KubeApiError, type KubeResponse, type KubeVerb } from "./KubeApiError.ts"

type Method = "GET" | "POST" | "PUT"

interface CallOptions {
  readonly body?: unknown
  /** The `Accept` header; `application/json` unless given. */
  readonly accept?: string
}

export interface KubeHttp {
  /** The API server's address, for messages. */
  readonly server: string
  /**
   * One call: its answer when the status is 2xx, else a `KubeApiError` classified from the answer (`refused`) or
   * from the network error (`Transport`). `verb` names the call in the error, as its RBAC rule would.
   */
  readonly call: (
    verb: KubeVerb,
    method: Method,
    path: string,
    options?: CallOptions
  ) => Effect.Effect<KubeResponse, KubeApiError>
  /** The `node:http(s)` options of one request: credentials, TLS, and the shared agent (or the proxy's). */
  readonly requestOptions: (verb: KubeVerb) => Effect.Effect<Https.RequestOptions, KubeApiError>
}

/** The API server's address in the kubeconfig's current cluster, without a trailing slash; "" when it names none. */
export const serverOf = (kc: KubeConfig): string => (kc.getCurrentCluster()?.server ?? "").replace(/\/+$/, "")

/** What a call says when the kubeconfig names no API server to send it to. */
export const NO_CLUSTER = "the kubeconfig names no cluster"

/**
 * A call whose connection stays silent this long is given up as a `Transport` failure: the API server ends a
 * request that is not a watch after its `--request-timeout` (default 1 minute), so a call silent for longer is on a
 * connection that died without a word (a reused one whose server went away, say). The socket's own timer, not the
 * Effect clock: the callers' waits on the clock are theirs alone.
 */
export const CALL_TIMEOUT = Duration.minutes(1)

/** `Https.request` for an https URL, `Http.request` for the rest. */
export const requestFunction = (url: URL) => (url.protocol === "https:" ? Https.request : Http.request)

const headerText = (value: string | ReadonlyArray<string> | undefined): string | undefined =>
  typeof value === "string" ? value : value?.[0]

/** The response's headers as one string each, by lower-case name. */
export const headersOf = (res: Http.IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(res.headers)) {
    const text = headerText(value)
    if (text !== undefined) headers[name] = text
  }
  return headers
}

/** Sends one request and reads its whole answer; a connection silent for `timeout` fails it. */
const send = (
  url: URL,
  options: Https.RequestOptions,
  body: string | undefined,
  timeout: Duration.Duration,
  signal: AbortSignal
) =>
  new Promise<KubeResponse>((resolve, reject) => {
    const req = requestFunction(url)(url, { ...options, signal }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: headersOf(res), text: Buffer.concat(chunks).toString("utf8") })
      )
      res.on("error", reject)
    })
    req.on("error", reject)
    req.setTimeout(Duration.toMillis(timeout), () =>
      req.destroy(new Error(`no answer for ${Duration.format(timeout)} on the connection`))
    )
    req.end(body)
  })

export const makeKubeHttp = (kc: KubeConfig, callTimeout: Duration.Duration = CALL_TIMEOUT): KubeHttp => {
  const server = serverOf(kc)
  // The proxy's agent, if the cluster names a proxy, is client-node's; without one, connections are kept.
  const agent = server.startsWith("https:") ? new Https.Agent({ keepAlive: true }) : new Http.Agent({ keepAlive: true })
  const proxied = kc.getCurrentCluster()?.proxyUrl !== undefined

  const requestOptions = (verb: KubeVerb) =>
    Effect.tryPromise({
      try: async () => {
        const options: Https.RequestOptions = {}
        await kc.applyToHTTPSOptions(options)
        if (!proxied) options.agent = agent
        return options
      },
      catch: (e) => KubeApiError.transport(verb, e)
    })

  const call = (verb: KubeVerb, method: Method, path: string, options: CallOptions = {}) =>
    server === ""
      ? Effect.fail(KubeApiError.transport(verb, undefined, NO_CLUSTER))
      : Effect.flatMap(requestOptions(verb), (base) =>
          Effect.tryPromise({
            try: (signal) => {
              const body = options.body === undefined ? undefined : JSON.stringify(options.body)
              const headers = {
                ...base.headers,
                Accept: options.accept ?? "application/json",
                ...(body === undefined ? {} : { "Content-Type": "application/json" })
              }
              return send(new URL(server + path), { ...base, method, headers }, body, callTimeout, signal)
            },
            catch: (error) => KubeApiError.transport(verb, error)
          })
        )

  return {
    server: server || "(no cluster in the kubeconfig)",
    call: (verb, method, path, options) =>
      Effect.filterOrFail(
        call(verb, method, path, options),
        (response) => response.status >= 200 && response.status < 300,
        (response) => KubeApiError.refused(verb, response)
      ),
    requestOptions
  }
}

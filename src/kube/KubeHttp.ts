/**
 * One way to call the Kubernetes API, shared by the source, enrichment, the checkpoint and leader election:
 * client-node's KubeConfig authenticates (token, client certificate, exec plugin) and its HTTP library sends.
 * Bodies stay raw text, decoded by each caller with its own Schema (client-node's typed models would turn
 * timestamps into `Date`s and cost a deserialisation pass per object).
 */
import { Effect } from "effect"
import { HttpMethod, IsomorphicFetchHttpLibrary, type KubeConfig, RequestContext } from "@kubernetes/client-node"
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
}

const METHODS = { GET: HttpMethod.GET, POST: HttpMethod.POST, PUT: HttpMethod.PUT } as const

/** The API server's address in the kubeconfig's current cluster, without a trailing slash; "" when it names none. */
export const serverOf = (kc: KubeConfig): string => (kc.getCurrentCluster()?.server ?? "").replace(/\/+$/, "")

/** What a call says when the kubeconfig names no API server to send it to. */
export const NO_CLUSTER = "the kubeconfig names no cluster"

export const makeKubeHttp = (kc: KubeConfig): KubeHttp => {
  const server = serverOf(kc)
  const http = new IsomorphicFetchHttpLibrary()
  const send = (verb: KubeVerb, method: Method, path: string, options: CallOptions = {}) =>
    server === ""
      ? Effect.fail(KubeApiError.transport(verb, undefined, NO_CLUSTER))
      : Effect.tryPromise({
          try: async (signal): Promise<KubeResponse> => {
            const ctx = new RequestContext(server + path, METHODS[method])
            ctx.setHeaderParam("Accept", options.accept ?? "application/json")
            if (options.body !== undefined) {
              ctx.setHeaderParam("Content-Type", "application/json")
              ctx.setBody(JSON.stringify(options.body))
            }
            await kc.applySecurityAuthentication(ctx)
            ctx.setSignal(signal)
            const r = await http.send(ctx).toPromise()
            return { status: r.httpStatusCode, headers: r.headers, text: await r.body.text() }
          },
          catch: (error) => KubeApiError.transport(verb, error)
        })
  return {
    server: server || "(no cluster in the kubeconfig)",
    call: (verb, method, path, options) =>
      Effect.filterOrFail(
        send(verb, method, path, options),
        (response) => response.status >= 200 && response.status < 300,
        (response) => KubeApiError.refused(verb, response)
      )
  }
}

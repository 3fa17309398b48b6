/** /healthz, /readyz and /metrics on one port. */
import { Effect, Layer, Schema } from "effect"
import { createServer, type Server } from "node:http"
import { Health, liveness, readiness, type Verdict } from "./Health.ts"
import { Metrics } from "./Metrics.ts"

export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  address: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `cannot listen on ${this.address}: ${this.detail}`
  }
}

export interface ListenSettings {
  readonly host: string
  readonly port: number
  readonly stallMs: number
}

export const parseListen = (text: string): { host: string; port: number } | undefined => {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]*):(\d{1,5})$/.exec(text.trim())
  const port = Number(m?.[2])
  if (m === null || m[1] === undefined || !Number.isInteger(port) || port > 65535) return undefined
  return { host: m[1] === "" ? "0.0.0.0" : m[1].replace(/^\[|\]$/g, ""), port }
}

/** `http://HOST:PORT` of the bound socket (the port chosen by the system when 0 was asked for). */
const baseUrl = (bound: ReturnType<Server["address"]>, asked: { readonly host: string; readonly port: number }) => {
  const { address, port } =
    typeof bound === "object" && bound !== null ? bound : { address: asked.host, port: asked.port }
  return `http://${address.includes(":") ? `[${address}]` : address}:${port}`
}

export const httpServerLayer = (settings: ListenSettings) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const health = yield* Health
      const metrics = yield* Metrics
      const clock = yield* Effect.clock
      const answer = (v: Verdict) => ({
        status: v.ok ? 200 : 503,
        body: JSON.stringify(v.body) + "\n",
        type: "application/json"
      })
      const server = createServer((req, res) => {
        const path = (req.url ?? "/").split("?")[0]
        if (req.method !== "GET" && req.method !== "HEAD") {
          res.writeHead(405, { Allow: "GET, HEAD" }).end()
          return
        }
        const reply = (r: { status: number; body: string; type: string }) =>
          res
            .writeHead(r.status, { "Content-Type": r.type, "Cache-Control": "no-store" })
            .end(req.method === "HEAD" ? undefined : r.body)
        if (path === "/healthz") reply(answer(liveness(health, settings.stallMs, clock.unsafeCurrentTimeMillis())))
        else if (path === "/readyz") reply(answer(readiness(health)))
        else if (path === "/metrics") {
          // Copied here, once per scrape: the watch path only moves a number, at up to 18 000 events/s.
          metrics.sourceLastActivity.set(health.lastActivityMs / 1000)
          metrics.registry.metrics().then(
            (body) => reply({ status: 200, body, type: metrics.registry.contentType }),
            (error: unknown) => reply({ status: 500, body: String(error), type: "text/plain" })
          )
        } else reply({ status: 404, body: "not found: try /healthz, /readyz or /metrics\n", type: "text/plain" })
      })
      const address = `${settings.host}:${settings.port}`
      yield* Effect.acquireRelease(
        Effect.async<void, ListenError>((resume) => {
          server.once("error", (error) => resume(Effect.fail(new ListenError({ address, detail: error.message }))))
          server.listen(settings.port, settings.host, () => resume(Effect.void))
        }),
        () =>
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
            server.closeAllConnections()
          })
      )
      yield* Effect.logInfo(`serving ${baseUrl(server.address(), settings)}/metrics, /healthz and /readyz`)
    })
  )

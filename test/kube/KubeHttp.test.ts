/**
 * KubeHttp, the one way every part of the collector calls the API server, against `node:http(s)` servers written
 * here: the kubeconfig's credentials and TLS reach the server, and calls made one after another reuse one
 * connection (HTTP/1.1 keep-alive, RFC 9112 §9.3), as client-go's do: a list of a thousand pages, a lease renewed
 * every two seconds and the enricher's GETs open no connection, and shake no TLS hands, each.
 */
import * as Http from "node:http"
import * as Https from "node:https"
import { mkdtempSync, readFileSync } from "node:fs"
import type { Socket } from "node:net"
import { TLSSocket } from "node:tls"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit } from "effect"
import { KubeConfig } from "@kubernetes/client-node"
import { CALL_TIMEOUT, makeKubeHttp } from "../../src/kube/KubeHttp.ts"
import { CLIENT_AUTH, issueCertificate, makeCa } from "../support/certificates.ts"
import { spinTurns, spinUntil } from "../support/eventLoop.ts"

interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
  /** The client certificate's subject CN, over TLS. */
  readonly clientCn: string | undefined
}

/**
 * A server that answers every request with an empty list, numbered, and records what it was sent; while `silent`
 * it reads requests and answers none.
 */
const serve = <S extends Http.Server>(server: S, silent = false) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const seen: Array<Seen> = []
      const sockets = new Set<Socket>()
      let connections = 0
      server.on("connection", (socket: Socket) => {
        connections++
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      server.on("request", (req: Http.IncomingMessage, res: Http.ServerResponse) => {
        let body = ""
        req.setEncoding("utf8")
        req.on("data", (chunk: string) => (body += chunk))
        req.on("end", () => {
          if (silent) return
          const peer = req.socket instanceof TLSSocket ? req.socket.getPeerCertificate() : undefined
          seen.push({
            method: req.method ?? "",
            url: req.url ?? "",
            headers: req.headers,
            body,
            clientCn: typeof peer?.subject?.CN === "string" ? peer.subject.CN : undefined
          })
          res.setHeader("Content-Type", "application/json")
          res.end(JSON.stringify({ kind: "List", metadata: { resourceVersion: String(seen.length) }, items: [] }))
        })
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const address = server.address()
      if (address === null || typeof address === "string") throw new Error("no port")
      return {
        server,
        port: address.port,
        seen,
        connections: () => connections,
        open: () => sockets.size,
        /** Closes the idle connections from the server's side, as a server past its idle timeout does. */
        closeIdle: () => server.closeIdleConnections()
      }
    }),
    ({ server }) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections()
            server.close(() => resolve())
          })
      )
  )

const kubeConfig = (
  cluster: { readonly server: string; readonly caData?: string; readonly skipTLSVerify?: boolean },
  user: { readonly token?: string; readonly certData?: string; readonly keyData?: string }
) => {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: "c", skipTLSVerify: false, ...cluster }],
    users: [{ name: "u", ...user }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x"
  })
  return kc
}

const base64 = (path: string) => readFileSync(path).toString("base64")

describe("KubeHttp", () => {
  it.scoped("over TLS: the kubeconfig's CA and client certificate reach the server, 20 calls over one connection", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "kec-kubehttp-"))
      makeCa(dir, "/CN=test CA")
      issueCertificate(dir, "server", "/CN=server", "subjectAltName=IP:127.0.0.1\n")
      issueCertificate(dir, "client", "/CN=client", CLIENT_AUTH)
      const file = (name: string) => readFileSync(join(dir, name), "utf8")
      const tls = yield* serve(
        Https.createServer({ key: file("server.key"), cert: file("server.crt"), ca: file("ca.crt"), requestCert: true })
      )
      let handshakes = 0
      tls.server.on("secureConnection", () => handshakes++)
      const http = makeKubeHttp(
        kubeConfig(
          { server: `https://127.0.0.1:${tls.port}`, caData: base64(join(dir, "ca.crt")) },
          { certData: base64(join(dir, "client.crt")), keyData: base64(join(dir, "client.key")) }
        )
      )
      for (let page = 0; page < 20; page++) {
        const answer = yield* http.call("list", "GET", `/api/v1/events?limit=500&page=${page}`)
        expect(JSON.parse(answer.text)).toMatchObject({ metadata: { resourceVersion: String(page + 1) } })
      }
      expect(tls.seen.map((s) => s.clientCn)).toEqual(Array.from({ length: 20 }, () => "client"))
      expect(handshakes).toBe(1)
      expect(tls.connections()).toBe(1)
    })
  )

  it.scoped("over HTTP: the token, Accept and a JSON body are sent; calls reuse the connection, not a closed one", () =>
    Effect.gen(function* () {
      const plain = yield* serve(Http.createServer())
      const http = makeKubeHttp(
        kubeConfig({ server: `http://127.0.0.1:${plain.port}`, skipTLSVerify: true }, { token: "s3cret" })
      )
      yield* http.call("get", "GET", "/api/v1/namespaces/kube-system")
      yield* http.call("update", "PUT", "/apis/coordination.k8s.io/v1/leases/x", {
        body: { spec: { holderIdentity: "me" } }
      })
      yield* http.call("list", "GET", "/api/v1/pods", {
        accept: "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
      })
      expect(plain.seen.map((s) => [s.method, s.headers["authorization"], s.headers["accept"]])).toEqual([
        ["GET", "Bearer s3cret", "application/json"],
        ["PUT", "Bearer s3cret", "application/json"],
        ["GET", "Bearer s3cret", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"]
      ])
      expect(plain.seen[1]?.headers["content-type"]).toBe("application/json")
      expect(JSON.parse(plain.seen[1]?.body ?? "")).toEqual({ spec: { holderIdentity: "me" } })
      expect(plain.connections()).toBe(1)

      // The server ends the idle connection: the next call opens another one.
      plain.closeIdle()
      yield* spinUntil(() => plain.open() === 0, "the server to close the idle connection")
      yield* spinTurns(20)
      yield* http.call("get", "GET", "/api/v1/namespaces/kube-system")
      expect(plain.seen).toHaveLength(4)
      expect(plain.connections()).toBe(2)
    })
  )

  // The socket's own timer (real time), given 50 ms here instead of CALL_TIMEOUT's minute.
  it.scoped("a call whose connection stays silent fails as Transport, and its connection is closed", () =>
    Effect.gen(function* () {
      expect(Duration.toMinutes(CALL_TIMEOUT)).toBe(1)
      const silent = yield* serve(Http.createServer(), true)
      const kc = kubeConfig({ server: `http://127.0.0.1:${silent.port}`, skipTLSVerify: true }, {})
      const http = makeKubeHttp(kc, Duration.millis(50))
      const exit = yield* Effect.exit(http.call("list", "GET", "/api/v1/events?limit=500"))
      expect(exit).toEqual(
        Exit.fail(
          expect.objectContaining({ reason: "Transport", message: "list failed: no answer for 50ms on the connection" })
        )
      )
      yield* spinUntil(() => silent.open() === 0, "the connection to be closed")
    })
  )

  it.scoped("an answer cut before its end fails as Transport, not as a shorter body", () =>
    Effect.gen(function* () {
      const cutting = Http.createServer((_req, res) => {
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "1000" })
        res.write('{"kind":"List","items":[')
        setImmediate(() => res.socket?.destroy())
      })
      const cut = yield* serve(cutting, true)
      const http = makeKubeHttp(kubeConfig({ server: `http://127.0.0.1:${cut.port}`, skipTLSVerify: true }, {}))
      const exit = yield* Effect.exit(http.call("list", "GET", "/api/v1/events?limit=500"))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ reason: "Transport" })))
    })
  )
})

import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtemp, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeKubeHttp } from "../../src/kube/KubeHttp.ts"
import { readDump } from "../../src/source/FileSource.ts"
import { loadKubeConfig } from "../../src/source/kubeconfig.ts"
import { simKubeConfig, simKubeConfigYaml } from "@k8s-event-collector/sim"

/** The `code` a Node.js system error carries (ENOENT, ECONNREFUSED...), looked for along the `cause` chain. */
const codeOf = (error: unknown): unknown => {
  if (!(error instanceof Error)) return undefined
  return "code" in error && typeof error.code === "string" ? error.code : codeOf(error.cause)
}

/** A loopback port that was just free: nothing listens there, so a connection is refused. */
const closedPort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

describe("errors keep their cause and say their reason", () => {
  it.effect("a dump that cannot be read: Unreadable, with the file system's error", () =>
    Effect.gen(function* () {
      const path = join(tmpdir(), "no-such-dump-k8s-event-collector.json")
      const error = yield* Effect.flip(readDump(path))
      expect(error.reason).toBe("Unreadable")
      expect(codeOf(error.cause)).toBe("ENOENT")
      expect(error.message).toMatch(/no-such-dump-k8s-event-collector\.json: cannot read the file: ENOENT/)
    })
  )

  it.effect("a dump that is not events: Malformed, with what is wrong", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "dump-")))
      const path = join(dir, "dump.json")
      yield* Effect.promise(() => writeFile(path, "{ not json"))
      const error = yield* Effect.flip(readDump(path))
      expect(error.reason).toBe("Malformed")
      expect(error.cause).toBeUndefined()
      expect(error.message.startsWith(`${path}: `)).toBe(true)
    })
  )

  it.effect("a kubeconfig file that cannot be loaded: Unreadable, with client-node's error", () =>
    Effect.gen(function* () {
      const path = join(tmpdir(), "no-such-kubeconfig-k8s-event-collector")
      const error = yield* Effect.flip(loadKubeConfig({ path, context: undefined }))
      expect(error.reason).toBe("Unreadable")
      expect(codeOf(error.cause)).toBe("ENOENT")
      expect(error.message).toMatch(/^cannot load the kubeconfig .*no-such-kubeconfig-k8s-event-collector: /)
    })
  )

  it.effect("a context the kubeconfig lacks: NoSuchContext, naming the ones it has", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "kubeconfig-")))
      const path = join(dir, "config")
      yield* Effect.promise(() => writeFile(path, simKubeConfigYaml("http://127.0.0.1:1")))
      const error = yield* Effect.flip(loadKubeConfig({ path, context: "prod" }))
      expect(error.reason).toBe("NoSuchContext")
      expect(error.contexts).toEqual(["sim"])
      expect(error.message).toBe("--context prod: no such context in the kubeconfig (it has: sim)")
    })
  )

  it.effect("an API server that refuses the connection: Transport, with the network error", () =>
    Effect.gen(function* () {
      const http = makeKubeHttp(simKubeConfig(`http://127.0.0.1:${yield* Effect.promise(closedPort)}`))
      const error = yield* Effect.flip(http.call("list", "GET", "/api/v1/events"))
      expect(error.reason).toBe("Transport")
      expect(codeOf(error.cause)).toBe("ECONNREFUSED")
      expect(error.message).toMatch(/ECONNREFUSED/)
    })
  )
})

/** Shared pieces of the leader election tests: settings, a guarded program that records when it runs, a proxy. */
import * as net from "node:net"
import { Duration, Effect, HashMap, Logger, Schema, Stream } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { LeaseApi } from "../../src/leader/LeaseApi.ts"
import {
  LeaderElection,
  type LeaderElectionSettings,
  type LeaderElectionShape,
  type LeaderState
} from "../../src/leader/LeaderElection.ts"
import { Resources, type SimServer, startSimServer } from "../../src/sim/index.ts"

export const NAMESPACE = "collector"
export const LEASE = "k8s-event-collector"
export const LEASE_PATH = `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${LEASE}`

export const settings = (identity: string): LeaderElectionSettings => ({
  namespace: NAMESPACE,
  name: LEASE,
  identity,
  leaseDuration: Duration.millis(1500),
  renewDeadline: Duration.seconds(1),
  retryPeriod: Duration.millis(200)
})

/** What the electors wrote: the lease duration is recorded in whole seconds, rounded up. */
export const RECORDED_LEASE_MS = 2000
export const RENEW_DEADLINE_MS = 1000

export const simServer = Effect.acquireRelease(
  Effect.promise(() => startSimServer()),
  (sim) => Effect.promise(() => sim.close())
)

export const elector = (kc: KubeConfig, identity: string): Effect.Effect<LeaderElectionShape> =>
  LeaderElection.make(settings(identity)).pipe(Effect.provide(LeaseApi.layer(kc)), Effect.orDie)

/** Start and stop times of the guarded programs, and how many ran at once. */
export class Timeline {
  readonly events: Array<{ readonly who: string; readonly what: "start" | "stop"; readonly at: number }> = []
  readonly running = new Set<string>()
  maxConcurrent = 0

  starts(who?: string) {
    return this.events.filter((e) => e.what === "start" && (who === undefined || e.who === who))
  }

  stops(who?: string) {
    return this.events.filter((e) => e.what === "stop" && (who === undefined || e.who === who))
  }

  /** A program that runs until interrupted (or until `until` completes), recording its start and stop. */
  program<A = void>(who: string, until: Effect.Effect<A> = Effect.never): Effect.Effect<A> {
    return Effect.acquireUseRelease(
      Effect.sync(() => {
        this.running.add(who)
        this.maxConcurrent = Math.max(this.maxConcurrent, this.running.size)
        this.events.push({ who, what: "start", at: Date.now() })
      }),
      () => until,
      () =>
        Effect.sync(() => {
          this.running.delete(who)
          this.events.push({ who, what: "stop", at: Date.now() })
        })
    )
  }
}

export const waitFor = (what: string, condition: () => boolean, timeoutMs = 5000) =>
  Effect.gen(function* () {
    while (!condition()) yield* Effect.sleep(Duration.millis(5))
  }).pipe(
    Effect.timeoutFail({
      duration: Duration.millis(timeoutMs),
      onTimeout: () => new Error(`timed out waiting for ${what}`)
    })
  )

/** Keeps the latest state of an elector readable synchronously. */
export const tracked = (e: LeaderElectionShape) =>
  Effect.gen(function* () {
    const box: { current: LeaderState } = { current: yield* e.state }
    yield* e.changes.pipe(
      Stream.runForEach((s) => Effect.sync(() => void (box.current = s))),
      Effect.forkScoped
    )
    return box
  })

/** Collects log lines as "identity: message" instead of printing them. */
export const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ annotations, message }) => {
    const who = HashMap.get(annotations, "identity")
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push(`${who._tag === "Some" ? String(who.value) : "?"}: ${text}`)
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const LeaseSpec = Schema.Struct({
  holderIdentity: Schema.optional(Schema.String),
  leaseDurationSeconds: Schema.optional(Schema.Number),
  acquireTime: Schema.optional(Schema.String),
  renewTime: Schema.optional(Schema.String),
  leaseTransitions: Schema.optional(Schema.Number)
})
const StoredLease = Schema.Struct({ metadata: Schema.Struct({ resourceVersion: Schema.String }), spec: LeaseSpec })

/** The Lease as the simulated API server stores it. */
export const storedLease = (sim: SimServer) => {
  const stored = sim.store.get(Resources.leases, NAMESPACE, LEASE)
  return stored === undefined ? undefined : Schema.decodeUnknownSync(StoredLease)(stored.object)
}

/** Arrival times of the lease writes the server accepted. */
export const acceptedWrites = (sim: SimServer) =>
  sim.requests
    .filter({ path: LEASE_PATH, method: "PUT" })
    .filter((r) => r.status === 200)
    .map((r) => r.at)

/** A TCP proxy in front of the server that can cut one client off from it, as a network partition would. */
export const partitionableProxy = (target: SimServer) =>
  Effect.acquireRelease(
    Effect.async<{
      readonly url: string
      readonly cut: () => void
      readonly heal: () => void
      readonly close: () => void
    }>((resume) => {
      const sockets = new Set<net.Socket>()
      let partitioned = false
      const server = net.createServer((client) => {
        if (partitioned) return void client.destroy()
        const upstream = net.connect(target.port, "127.0.0.1")
        for (const s of [client, upstream]) {
          sockets.add(s)
          s.on("close", () => sockets.delete(s))
          s.on("error", () => {
            client.destroy()
            upstream.destroy()
          })
        }
        client.pipe(upstream)
        upstream.pipe(client)
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(
          Effect.succeed({
            url: `http://127.0.0.1:${port}`,
            cut: () => {
              partitioned = true
              for (const s of sockets) s.destroy()
            },
            heal: () => {
              partitioned = false
            },
            close: () => {
              for (const s of sockets) s.destroy()
              server.close()
            }
          })
        )
      })
    }),
    (proxy) => Effect.sync(() => proxy.close())
  )

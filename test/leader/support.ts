/**
 * Shared pieces of the leader election tests: settings, a guarded program that records when it runs, a Lease API
 * in front of the in-memory store that a test can cut off or race, and the simulated API server.
 */
import { Clock, Duration, Effect, HashMap, Layer, Logger, LogLevel, Option, Schema, Stream } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { Resources, type SimServer, startSimServer } from "@k8s-event-collector/sim"
import { KubeApiError, type KubeVerb } from "../../src/kube/KubeApiError.ts"
import {
  LeaderElection,
  type LeaderElectionSettings,
  type LeaderElectionShape,
  type LeaderState
} from "../../src/leader/LeaderElection.ts"
import { type Lease, LeaseApi, type LeaseApiShape, type LeaseRecord } from "../../src/leader/LeaseApi.ts"

export const NAMESPACE = "collector"
export const LEASE = "k8s-event-collector"
export const REF = { namespace: NAMESPACE, name: LEASE }

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
export const RETRY_PERIOD_MS = 200

interface TimelineEvent {
  readonly who: string
  readonly what: "start" | "stop" | "read" | "write" | "refused"
  /** The `Clock`'s milliseconds. */
  readonly at: number
  /** For writes: the record's holder ("" for a release). */
  readonly holder?: string
}

/** When the guarded programs started and stopped and the Lease was written, in order; how many programs ran at once. */
export class Timeline {
  readonly events: Array<TimelineEvent> = []
  readonly running = new Set<string>()
  maxConcurrent = 0

  of(what: TimelineEvent["what"], who?: string) {
    return this.events.filter((e) => e.what === what && (who === undefined || e.who === who))
  }

  starts(who?: string) {
    return this.of("start", who).map((e) => e.at)
  }

  stops(who?: string) {
    return this.of("stop", who).map((e) => e.at)
  }

  note(who: string, what: TimelineEvent["what"], holder?: string) {
    return Effect.map(Clock.currentTimeMillis, (at) => {
      this.events.push({ who, what, at, ...(holder === undefined ? {} : { holder }) })
    })
  }

  /**
   * A program that runs until interrupted (or until `until` completes), recording its start and stop; `stopping`
   * is what it does before it has stopped (delivering what it holds, say).
   */
  program<A = void>(who: string, until: Effect.Effect<A> = Effect.never, stopping = Effect.void): Effect.Effect<A> {
    return Effect.acquireUseRelease(
      Effect.zipRight(
        Effect.sync(() => {
          this.running.add(who)
          this.maxConcurrent = Math.max(this.maxConcurrent, this.running.size)
        }),
        this.note(who, "start")
      ),
      () => until,
      () =>
        stopping.pipe(
          Effect.zipRight(this.note(who, "stop")),
          Effect.zipRight(Effect.sync(() => this.running.delete(who)))
        )
    )
  }
}

/**
 * How a replica's calls to the Lease API fare: answered; `refused` (no connection: a `Transport` error at once);
 * `silent` (sent, never answered); `failingWrites` (reads answered, writes refused with a 500).
 */
type Link = "up" | "refused" | "silent" | "failingWrites"

const serverError = (verb: KubeVerb) =>
  new KubeApiError({ verb, reason: "ServerError", status: 500, statusReason: "InternalError", description: "boom" })

/** One replica's view of a shared Lease store, which the test can cut off or race. */
class ReplicaApi {
  link: Link = "up"
  /** Runs once, just before this replica's next create or replace reaches the store: another writer's turn. */
  beforeNextWrite: Effect.Effect<void> | undefined = undefined
  /** Calls made, by verb. */
  readonly calls: Record<KubeVerb, number> = { list: 0, watch: 0, get: 0, create: 0, update: 0 }
  readonly api: LeaseApiShape

  readonly #who: string
  readonly #timeline: Timeline

  constructor(store: LeaseApiShape, who: string, timeline: Timeline) {
    this.#who = who
    this.#timeline = timeline
    this.api = {
      get: (ref) => this.#call("get", store.get(ref)).pipe(Effect.tap(() => timeline.note(who, "read"))),
      create: (ref, record) => this.#write("create", record, store.create(ref, record)),
      replace: (ref, current, record) => this.#write("update", record, store.replace(ref, current, record))
    }
  }

  #call<A>(verb: KubeVerb, effect: Effect.Effect<A, KubeApiError>): Effect.Effect<A, KubeApiError> {
    return Effect.suspend(() => {
      this.calls[verb] += 1
      switch (this.link) {
        case "up":
          return effect
        case "refused":
          return Effect.fail(KubeApiError.transport(verb, new Error("connect ECONNREFUSED 10.96.0.1:443")))
        case "silent":
          return Effect.never
        case "failingWrites":
          return verb === "get" ? effect : Effect.fail(serverError(verb))
      }
    })
  }

  #write(verb: KubeVerb, record: LeaseRecord, effect: Effect.Effect<Lease, KubeApiError>) {
    const turn = Effect.suspend(() => {
      const other = this.beforeNextWrite ?? Effect.void
      this.beforeNextWrite = undefined
      return other
    })
    return this.#call(verb, Effect.zipRight(turn, effect)).pipe(
      Effect.tap(() => this.#timeline.note(this.#who, "write", record.holderIdentity)),
      Effect.tapError(() => this.#timeline.note(this.#who, "refused", record.holderIdentity))
    )
  }
}

/**
 * A shared in-memory Lease store, and an elector over it as replica `identity` sees it. When the test's scope
 * closes, every replica is reachable again, so that the releases of the electors it then interrupts get answers.
 */
export const memoryStore = Effect.gen(function* () {
  const store = yield* Effect.provide(LeaseApi, LeaseApi.layerMemory)
  const replicas: Array<ReplicaApi> = []
  yield* Effect.addFinalizer(() => Effect.sync(() => replicas.forEach((r) => (r.link = "up"))))
  return {
    store,
    /** The Lease as stored. */
    stored: Effect.map(store.get(REF), Option.getOrUndefined),
    replica: (identity: string, t: Timeline) =>
      Effect.gen(function* () {
        const replica = new ReplicaApi(store, identity, t)
        replicas.push(replica)
        const election = yield* LeaderElection.make(settings(identity)).pipe(
          Effect.provideService(LeaseApi, replica.api),
          Effect.orDie
        )
        return { replica, election }
      })
  }
})

/** Another writer's record: `holder` acquired the Lease at wall-clock `wallMs`. */
export const othersRecord = (holder: string, wallMs: number, leaseTransitions: number): LeaseRecord => {
  const t = new Date(wallMs).toISOString().replace("Z", "000Z")
  return { holderIdentity: holder, leaseDurationSeconds: 1, acquireTime: t, renewTime: t, leaseTransitions }
}

/** Waits, without a clock, until the elector reports a state that satisfies `p`. */
export const stateWhere = (e: LeaderElectionShape, p: (s: LeaderState) => boolean) =>
  e.changes.pipe(Stream.filter(p), Stream.runHead, Effect.map(Option.getOrThrow))

/** Collects log lines as "identity: message" instead of printing them; `levels` keeps each line's level. */
export const captureLogs = () => {
  const lines: Array<string> = []
  const levels: Array<string> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const who = HashMap.get(annotations, "identity")
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    const line = `${who._tag === "Some" ? String(who.value) : "?"}: ${text}`
    lines.push(line)
    levels.push(`${logLevel.label} ${line}`)
  })
  return {
    lines,
    levels,
    layer: Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.Debug))
  }
}

export const simServer = Effect.acquireRelease(
  Effect.promise(() => startSimServer()),
  (sim) => Effect.promise(() => sim.close())
)

export const httpElector = (kc: KubeConfig, identity: string): Effect.Effect<LeaderElectionShape> =>
  LeaderElection.make(settings(identity)).pipe(Effect.provide(LeaseApi.layer(kc)), Effect.orDie)

const LeaseSpec = Schema.Struct({
  holderIdentity: Schema.optional(Schema.String),
  leaseDurationSeconds: Schema.optional(Schema.Number),
  acquireTime: Schema.optional(Schema.String),
  renewTime: Schema.optional(Schema.String),
  leaseTransitions: Schema.optional(Schema.Number)
})
const StoredLease = Schema.Struct({
  metadata: Schema.Struct({
    resourceVersion: Schema.String,
    labels: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
  }),
  spec: LeaseSpec
})

/** The Lease as the simulated API server stores it. */
export const storedLease = (sim: SimServer) => {
  const stored = sim.store.get(Resources.leases, NAMESPACE, LEASE)
  return stored === undefined ? undefined : Schema.decodeUnknownSync(StoredLease)(stored.object)
}

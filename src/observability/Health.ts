/**
 * What /healthz and /readyz answer from: when the source last heard from the API server, whether the API is
 * reachable, and whether this replica leads. The source and the leader election change it through its methods;
 * the probes read it.
 */
import { type Clock, Context, Effect, Layer } from "effect"

export type Role = "leader" | "standby" | "starting"

export class HealthState {
  readonly #clock: Clock.Clock
  #lastActivityMs: number
  #apiReachable = false
  #role: Role = "starting"
  #holder: string | undefined = undefined

  /** Times are `clock`'s: starting counts as the last sign of life until the API answers. */
  constructor(clock: Clock.Clock) {
    this.#clock = clock
    this.#lastActivityMs = clock.unsafeCurrentTimeMillis()
  }

  /** Last sign of a working watch or list: an event, a bookmark, a list page, a watch the server ended. */
  get lastActivityMs(): number {
    return this.#lastActivityMs
  }
  get apiReachable(): boolean {
    return this.#apiReachable
  }
  get role(): Role {
    return this.#role
  }
  /** Who leads, as the Lease says. */
  get holder(): string | undefined {
    return this.#holder
  }

  /** The API answered, now: a sign of life, and reachable. */
  activity(): void {
    this.#lastActivityMs = this.#clock.unsafeCurrentTimeMillis()
    this.#apiReachable = true
  }

  /** A call to the API failed. */
  unreachable(): void {
    this.#apiReachable = false
  }

  /** The leader election's verdict; a standby read the Lease, so the API answers. */
  elected(role: Role, holder: string | undefined): void {
    this.#role = role
    this.#holder = holder
    if (role === "standby") this.#apiReachable = true
  }
}

export class Health extends Context.Tag("Health")<Health, HealthState>() {
  static readonly layer: Layer.Layer<Health> = Layer.effect(
    Health,
    Effect.map(Effect.clock, (clock) => new HealthState(clock))
  )
}

export interface Verdict {
  readonly ok: boolean
  readonly body: Readonly<Record<string, unknown>>
}

/**
 * Alive unless this replica is collecting and nothing has come from the API for `stallMs` before `nowMs`: then the
 * watch is stuck in a way reconnecting did not cure, and a restart of the pod is the remedy left.
 */
export const liveness = (h: HealthState, stallMs: number, nowMs: number): Verdict => {
  const silentMs = nowMs - h.lastActivityMs
  const stalled = h.role === "leader" && silentMs > stallMs
  return {
    ok: !stalled,
    body: { status: stalled ? "stalled" : "ok", role: h.role, lastActivitySecondsAgo: Math.round(silentMs / 1000) }
  }
}

/** Ready as leader or standby once the API answered; not while starting or while the API is unreachable. */
export const readiness = (h: HealthState): Verdict => {
  const ok = h.role !== "starting" && h.apiReachable
  return {
    ok,
    body: { status: ok ? "ready" : "not ready", role: h.role, leader: h.holder ?? null, apiReachable: h.apiReachable }
  }
}

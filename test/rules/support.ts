import { Either } from "effect"
import { decodeKubeEvent, type KubeEvent } from "../../src/domain/KubeEvent.ts"

export interface EventSpec {
  readonly namespace?: string
  /** The involved object's namespace; `null` leaves it out (cluster-scoped objects). */
  readonly objectNamespace?: string | null
  readonly kind?: string
  readonly name?: string
  readonly reason?: string
  readonly type?: string
  readonly message?: string
  readonly source?: string
  readonly reporting?: string
  readonly lastTimestamp?: string
  readonly uid?: string
  readonly resourceVersion?: string
}

/** A core/v1 Event decoded as the collector decodes it: a Warning BackOff of Pod prod-web/web-1 by default. */
export const coreEvent = (s: EventSpec = {}): KubeEvent => {
  const namespace = s.namespace ?? "prod-web"
  const objectNamespace = s.objectNamespace === null ? undefined : (s.objectNamespace ?? namespace)
  const decoded = decodeKubeEvent({
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      name: `${s.name ?? "web-1"}.17a`,
      namespace,
      uid: s.uid ?? "uid-1",
      resourceVersion: s.resourceVersion ?? "1",
      creationTimestamp: "2024-05-01T12:00:00Z"
    },
    involvedObject: {
      kind: s.kind ?? "Pod",
      name: s.name ?? "web-1",
      ...(objectNamespace !== undefined ? { namespace: objectNamespace } : {})
    },
    reason: s.reason ?? "BackOff",
    type: s.type ?? "Warning",
    message: s.message ?? "Back-off restarting failed container web in pod web-1",
    ...(s.source !== undefined ? { source: { component: s.source } } : {}),
    ...(s.reporting !== undefined ? { reportingComponent: s.reporting } : {}),
    lastTimestamp: s.lastTimestamp ?? "2024-05-01T12:00:00Z"
  })
  if (Either.isLeft(decoded)) throw new Error(decoded.left.message)
  return decoded.right
}

/** 2024-05-01T12:00:00Z, the default event's time. */
export const T0 = Date.UTC(2024, 4, 1, 12, 0, 0)

export const right = <A, E>(e: Either.Either<A, E>): A => {
  if (Either.isLeft(e)) throw new Error(`expected a value, got ${JSON.stringify(e.left)}`)
  return e.right
}

export const left = <A, E>(e: Either.Either<A, E>): E => {
  if (Either.isRight(e)) throw new Error("expected a problem, got a value")
  return e.left
}

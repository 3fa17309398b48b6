import type { EventApi } from "../domain/KubeEvent.ts"
import type { Collection } from "../kube/KubeApi.ts"

/** One watched collection of events: an API and a namespace (or all of them), with an optional server-side filter. */
export interface WatchTarget {
  readonly api: EventApi
  readonly namespace: string | undefined
  readonly fieldSelector: string | undefined
}

/** The target's stream key, under which the checkpoint keeps its resourceVersion. */
export const targetKey = (t: WatchTarget): string => `${t.api}/${t.namespace ?? "*"}`

const eventsPath = (t: Pick<WatchTarget, "api" | "namespace">): string => {
  const base = t.api === "core/v1" ? "/api/v1" : "/apis/events.k8s.io/v1"
  return t.namespace === undefined ? `${base}/events` : `${base}/namespaces/${encodeURIComponent(t.namespace)}/events`
}

export const eventCollection = (t: WatchTarget): Collection => ({ path: eventsPath(t), fieldSelector: t.fieldSelector })

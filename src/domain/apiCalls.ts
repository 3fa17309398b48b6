/**
 * Every call the collector can make to the Kubernetes API, by feature. The RBAC rules in deploy/ are derived from
 * this list (a test checks the ClusterRole and Role grant exactly these), so a new call must be added here.
 */
export interface ApiCall {
  readonly feature: "source" | "enrichment" | "cluster-uid" | "checkpoint" | "leader-election"
  readonly verb: "get" | "list" | "watch" | "create" | "update"
  /** API group: "" for core. */
  readonly group: string
  readonly resource: string
  /** The one object the call reads, when it is always the same (the rule then names it in `resourceNames`). */
  readonly resourceName?: string
}

/** An RBAC rule as a user writes it in a Role, for the messages that say which rule grants a refused call. */
export const rbacRule = (rule: {
  readonly group: string
  readonly resource: string
  readonly verbs: ReadonlyArray<string>
  readonly resourceName?: string | undefined
}): string =>
  `{apiGroups: [${JSON.stringify(rule.group)}], resources: [${JSON.stringify(rule.resource)}], ` +
  (rule.resourceName === undefined ? "" : `resourceNames: [${JSON.stringify(rule.resourceName)}], `) +
  `verbs: [${rule.verbs.map((v) => JSON.stringify(v)).join(", ")}]}`

export const SOURCE_API_CALLS: ReadonlyArray<ApiCall> = [
  { feature: "source", verb: "list", group: "", resource: "events" },
  { feature: "source", verb: "watch", group: "", resource: "events" },
  { feature: "source", verb: "list", group: "events.k8s.io", resource: "events" },
  { feature: "source", verb: "watch", group: "events.k8s.io", resource: "events" }
]

/**
 * `k8s.cluster.uid` is the uid of the `kube-system` namespace (OpenTelemetry semantic conventions), read once at
 * start. A Namespace is a cluster-scoped object: a ClusterRole grants this, whatever the scope of the other rules.
 */
export const CLUSTER_UID_API_CALLS: ReadonlyArray<ApiCall> = [
  { feature: "cluster-uid", verb: "get", group: "", resource: "namespaces", resourceName: "kube-system" }
]

export const CHECKPOINT_API_CALLS: ReadonlyArray<ApiCall> = [
  { feature: "checkpoint", verb: "get", group: "", resource: "configmaps" },
  { feature: "checkpoint", verb: "create", group: "", resource: "configmaps" },
  { feature: "checkpoint", verb: "update", group: "", resource: "configmaps" }
]

export const LEADER_ELECTION_API_CALLS: ReadonlyArray<ApiCall> = [
  { feature: "leader-election", verb: "get", group: "coordination.k8s.io", resource: "leases" },
  { feature: "leader-election", verb: "create", group: "coordination.k8s.io", resource: "leases" },
  { feature: "leader-election", verb: "update", group: "coordination.k8s.io", resource: "leases" }
]

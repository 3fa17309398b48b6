/**
 * `service.name` of an event's resource, by the OpenTelemetry k8s-attributes guidance, in its order: the
 * `resource.opentelemetry.io/service.name` annotation, then (when enabled) the well-known labels, then the names
 * of the workloads that own the object. The guidance continues with the pod and container names; those are left
 * out on purpose: Loki indexes `service.name` as a label, and a label per pod would be unbounded cardinality.
 * The enricher knows the annotation and labels, the translator the workload names: both ask this one rule.
 */
import { Resource as R } from "./attributes.ts"

export const SERVICE_NAME_ANNOTATION = "resource.opentelemetry.io/service.name"
export const SERVICE_NAMESPACE_ANNOTATION = "resource.opentelemetry.io/service.namespace"
/** The well-known labels the k8s-attributes guidance takes `service.name` from, in order. */
const SERVICE_NAME_LABELS = ["app.kubernetes.io/instance", "app.kubernetes.io/name"] as const

/** Workload name attributes, in the order the guidance takes them. */
const SERVICE_NAME_WORKLOADS = [
  R.deploymentName,
  R.replicaSetName,
  R.statefulSetName,
  R.daemonSetName,
  R.cronJobName,
  R.jobName
]

interface ServiceNameSources {
  /** The object's `resource.opentelemetry.io/service.name` annotation. */
  readonly annotation?: string | undefined
  /** The object's labels, when `service.name` may come from them. */
  readonly labels?: Readonly<Record<string, string>> | undefined
  /** Resource attributes naming the object's workloads (`k8s.deployment.name`, …). */
  readonly workloads?: Readonly<Record<string, string>> | undefined
}

const given = (s: string | undefined): string | undefined => (s === undefined || s === "" ? undefined : s)

/** The first source of the rule that names a service; `undefined` when none does. */
export const serviceNameOf = (sources: ServiceNameSources): string | undefined => {
  const annotation = given(sources.annotation)
  if (annotation !== undefined) return annotation
  const { labels, workloads } = sources
  for (const label of labels === undefined ? [] : SERVICE_NAME_LABELS) {
    const value = given(labels?.[label])
    if (value !== undefined) return value
  }
  for (const key of workloads === undefined ? [] : SERVICE_NAME_WORKLOADS) {
    const value = given(workloads?.[key])
    if (value !== undefined) return value
  }
  return undefined
}

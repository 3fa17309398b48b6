/** Attribute names the records carry. Semantic-convention names where one exists; the rest under `k8s.event.*`. */
export const Resource = {
  clusterName: "k8s.cluster.name",
  clusterUid: "k8s.cluster.uid",
  namespaceName: "k8s.namespace.name",
  objectKind: "k8s.object.kind",
  objectName: "k8s.object.name",
  objectUid: "k8s.object.uid",
  objectApiVersion: "k8s.object.api_version",
  objectFieldPath: "k8s.object.fieldpath",
  objectResourceVersion: "k8s.object.resource_version",
  podName: "k8s.pod.name",
  podUid: "k8s.pod.uid",
  nodeName: "k8s.node.name",
  nodeUid: "k8s.node.uid",
  containerName: "k8s.container.name",
  replicaSetName: "k8s.replicaset.name",
  replicaSetUid: "k8s.replicaset.uid",
  deploymentName: "k8s.deployment.name",
  deploymentUid: "k8s.deployment.uid",
  statefulSetName: "k8s.statefulset.name",
  statefulSetUid: "k8s.statefulset.uid",
  daemonSetName: "k8s.daemonset.name",
  daemonSetUid: "k8s.daemonset.uid",
  jobName: "k8s.job.name",
  jobUid: "k8s.job.uid",
  cronJobName: "k8s.cronjob.name",
  cronJobUid: "k8s.cronjob.uid",
  serviceName: "service.name",
  serviceNamespace: "service.namespace"
} as const

/** The names of a record's own attributes (the event's), beside those of its resource. */
export const RecordAttr = {
  reason: "k8s.event.reason",
  action: "k8s.event.action",
  name: "k8s.event.name",
  uid: "k8s.event.uid",
  count: "k8s.event.count",
  reportingController: "k8s.event.reporting_controller",
  reportingInstance: "k8s.event.reporting_instance",
  sourceComponent: "k8s.event.source.component",
  sourceHost: "k8s.event.source.host",
  startTime: "k8s.event.start_time",
  recordUid: "log.record.uid",
  suppressedCount: "k8s.event.suppressed_count",
  suppressedWindowStart: "k8s.event.suppressed_window_start",
  suppressedWindowSeconds: "k8s.event.suppressed_window_seconds"
} as const

export const EVENT_NAME = "k8s.event"
export const SCOPE_NAME = "k8s-event-collector"

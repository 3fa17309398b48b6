import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import type { HrTime } from "@opentelemetry/api"
import { SeverityNumber } from "@opentelemetry/api-logs"
import type { KubeEvent, ObjectRef } from "../../src/domain/KubeEvent.ts"
import { parseTimestamp, type Timestamp } from "../../src/domain/Timestamp.ts"
import { occurrenceTime, startTime } from "../../src/domain/eventTimes.ts"
import { severityOfType } from "../../src/domain/defaultSeverity.ts"
import { containerNameOf, eventResourceAttributes, kubeletNodeOf, ResourceCache } from "../../src/translate/resource.ts"
import { INSTRUMENTATION_SCOPE, toLogRecord } from "../../src/translate/toLogRecord.ts"
import { baseAttributes } from "../../src/translate/Translator.ts"
import { consoleLines } from "../../src/sink/console.ts"
import { loadEventsV1, loadOpenShiftEvents, mustDecode } from "../fixtures/support.ts"

const ts = (text: string): Timestamp => {
  const t = parseTimestamp(text)
  if (t === undefined) throw new Error(`bad timestamp ${text}`)
  return t
}

const event = (over: Partial<KubeEvent> = {}, regarding: ObjectRef = {}): KubeEvent => ({
  api: "core/v1",
  name: "e.1",
  namespace: "ns",
  uid: "uid-1",
  resourceVersion: "10",
  regarding,
  ...over
})

const OBSERVED: HrTime = [1_750_000_000, 42]
const PACKAGE_VERSION: unknown = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8")
).version

// ---- timestamps ----

describe("occurrenceTime: series.lastObservedTime → lastTimestamp → eventTime → firstTimestamp → creationTimestamp", () => {
  const S = ts("2024-01-01T00:00:05.000005Z")
  const L = ts("2024-01-01T00:00:04Z")
  const E = ts("2024-01-01T00:00:03.000003Z")
  const F = ts("2024-01-01T00:00:02Z")
  const C = ts("2024-01-01T00:00:01Z")
  const cases: ReadonlyArray<readonly [string, Partial<KubeEvent>, Timestamp | undefined]> = [
    [
      "all set",
      { seriesLastObservedTime: S, lastTimestamp: L, eventTime: E, firstTimestamp: F, creationTimestamp: C },
      S
    ],
    ["no series", { lastTimestamp: L, eventTime: E, firstTimestamp: F, creationTimestamp: C }, L],
    ["eventTime only (new-style event)", { eventTime: E, creationTimestamp: C }, E],
    ["first only", { firstTimestamp: F, creationTimestamp: C }, F],
    ["creation only", { creationTimestamp: C }, C],
    ["nothing", {}, undefined],
    // The order is by field, not by value: an older lastTimestamp still wins over a newer eventTime.
    ["lastTimestamp older than eventTime", { lastTimestamp: C, eventTime: S }, C],
    ["series without lastTimestamp", { seriesLastObservedTime: S, firstTimestamp: F }, S]
  ]
  it.each(cases)("%s", (_label, over, expected) => {
    expect(occurrenceTime(event(over))).toBe(expected)
  })

  const starts: ReadonlyArray<readonly [string, Partial<KubeEvent>, Timestamp | undefined]> = [
    [
      "first wins",
      { seriesLastObservedTime: S, lastTimestamp: L, eventTime: E, firstTimestamp: F, creationTimestamp: C },
      F
    ],
    ["then eventTime", { seriesLastObservedTime: S, lastTimestamp: L, eventTime: E, creationTimestamp: C }, E],
    ["then creation", { seriesLastObservedTime: S, lastTimestamp: L, creationTimestamp: C }, C],
    ["nothing", { seriesLastObservedTime: S, lastTimestamp: L }, undefined]
  ]
  it.each(starts)("startTime: %s", (_label, over, expected) => {
    expect(startTime(event(over))).toBe(expected)
  })
})

// ---- severity ----

describe("severityOfType", () => {
  const cases: ReadonlyArray<readonly [string | undefined, SeverityNumber | undefined]> = [
    ["Normal", SeverityNumber.INFO],
    ["normal", SeverityNumber.INFO],
    ["NORMAL", SeverityNumber.INFO],
    ["Warning", SeverityNumber.WARN],
    ["warning", SeverityNumber.WARN],
    ["WARNING", SeverityNumber.WARN],
    ["Error", undefined],
    ["Info", undefined],
    ["Warn", undefined],
    [" Normal", undefined],
    ["", undefined],
    [undefined, undefined]
  ]
  it.each(cases)("%j", (type, number) => {
    const s = severityOfType(type)
    expect(s.number).toBe(number)
    expect(s.text).toBe(type)
  })
  it("INFO is 9 and WARN is 13", () => {
    expect(severityOfType("Normal").number).toBe(9)
    expect(severityOfType("Warning").number).toBe(13)
  })
})

// ---- containers ----

describe("containerNameOf", () => {
  const cases: ReadonlyArray<readonly [string | undefined, string | undefined]> = [
    ["spec.containers{app}", "app"],
    ["spec.initContainers{migrate}", "migrate"],
    ["spec.ephemeralContainers{debugger-x7k2p}", "debugger-x7k2p"],
    ["spec.containers{kube-scheduler-recovery-controller}", "kube-scheduler-recovery-controller"],
    ["spec.containers{app}.image", "app"],
    ["spec.containers", undefined],
    ["spec.containers{}", undefined],
    ["spec.volumes{data}", undefined],
    ["status.containerStatuses{app}", undefined],
    ["spec.template.spec.containers{app}", undefined],
    ["metadata.name", undefined],
    ["", undefined],
    [undefined, undefined]
  ]
  it.each(cases)("%j → %j", (fieldPath, name) => {
    expect(containerNameOf(fieldPath)).toBe(name)
  })
})

// ---- resource attributes ----

describe("eventResourceAttributes by kind", () => {
  const ns = "shop"
  const ref = (kind: string, name: string, extra: ObjectRef = {}): ObjectRef => ({
    apiVersion: "apps/v1",
    kind,
    namespace: ns,
    name,
    uid: `${name}-uid`,
    ...extra
  })

  it("Pod: pod name and uid, container, node from its kubelet's source.host, no service.name", () => {
    const attrs = eventResourceAttributes(
      event(
        { sourceComponent: "kubelet", sourceHost: "worker-1" },
        ref("Pod", "web-5c9f8d7b6-abcde", {
          apiVersion: "v1",
          fieldPath: "spec.containers{web}",
          resourceVersion: "77"
        })
      )
    )
    expect(attrs).toEqual({
      "k8s.namespace.name": ns,
      "k8s.object.kind": "Pod",
      "k8s.object.name": "web-5c9f8d7b6-abcde",
      "k8s.object.uid": "web-5c9f8d7b6-abcde-uid",
      "k8s.object.api_version": "v1",
      "k8s.object.fieldpath": "spec.containers{web}",
      "k8s.object.resource_version": "77",
      "k8s.pod.name": "web-5c9f8d7b6-abcde",
      "k8s.pod.uid": "web-5c9f8d7b6-abcde-uid",
      "k8s.node.name": "worker-1",
      "k8s.container.name": "web"
    })
  })

  it("Node: node name and uid from the object (not source.host), no namespace, no service", () => {
    const attrs = eventResourceAttributes(
      event(
        { namespace: "default", sourceHost: "other-host" },
        { apiVersion: "v1", kind: "Node", name: "worker-2", uid: "node-uid" }
      )
    )
    expect(attrs).toEqual({
      "k8s.object.kind": "Node",
      "k8s.object.name": "worker-2",
      "k8s.object.uid": "node-uid",
      "k8s.object.api_version": "v1",
      "k8s.node.name": "worker-2",
      "k8s.node.uid": "node-uid"
    })
  })

  it("Node: a namespace written into the reference does not make it namespaced", () => {
    // Seen in the fixtures (check-endpoint reporting about Nodes with involvedObject.namespace set).
    const attrs = eventResourceAttributes(
      event({}, { kind: "Node", name: "worker-2", namespace: "openshift-network-diagnostics" })
    )
    expect(attrs["k8s.node.name"]).toBe("worker-2")
    expect(attrs["k8s.namespace.name"]).toBeUndefined()
  })

  it("Namespace: k8s.namespace.name is the object's name, whatever namespace the reference has", () => {
    const attrs = eventResourceAttributes(
      event({}, { apiVersion: "v1", kind: "Namespace", name: "kube-system", namespace: "default" })
    )
    expect(attrs["k8s.namespace.name"]).toBe("kube-system")
    expect(attrs["service.name"]).toBeUndefined()
  })

  const workloads: ReadonlyArray<readonly [string, string, string]> = [
    ["Deployment", "k8s.deployment.name", "k8s.deployment.uid"],
    ["ReplicaSet", "k8s.replicaset.name", "k8s.replicaset.uid"],
    ["StatefulSet", "k8s.statefulset.name", "k8s.statefulset.uid"],
    ["DaemonSet", "k8s.daemonset.name", "k8s.daemonset.uid"],
    ["Job", "k8s.job.name", "k8s.job.uid"],
    ["CronJob", "k8s.cronjob.name", "k8s.cronjob.uid"]
  ]
  it.each(workloads)("%s: %s and uid, service.name and service.namespace", (kind, nameKey, uidKey) => {
    const attrs = eventResourceAttributes(event({}, ref(kind, "checkout")))
    expect(attrs[nameKey]).toBe("checkout")
    expect(attrs[uidKey]).toBe("checkout-uid")
    expect(attrs["service.name"]).toBe("checkout")
    expect(attrs["service.namespace"]).toBe(ns)
    expect(attrs["k8s.namespace.name"]).toBe(ns)
    expect(attrs["k8s.pod.name"]).toBeUndefined()
  })

  const others: ReadonlyArray<string> = ["Service", "ConfigMap", "Secret", "Lease", "Machine", "PersistentVolumeClaim"]
  it.each(others)("%s: only the k8s.object.* attributes, no service.name", (kind) => {
    const attrs = eventResourceAttributes(event({}, ref(kind, "thing")))
    expect(Object.keys(attrs).sort()).toEqual([
      "k8s.namespace.name",
      "k8s.object.api_version",
      "k8s.object.kind",
      "k8s.object.name",
      "k8s.object.uid"
    ])
  })

  it("a cluster-scoped kind gets no namespace even when its reference names one", () => {
    const attrs = eventResourceAttributes(event({}, ref("ClusterOperator", "thing")))
    expect(attrs["k8s.namespace.name"]).toBeUndefined()
    expect(attrs["k8s.object.kind"]).toBe("ClusterOperator")
  })

  it("no kind, no name: nothing but what is known", () => {
    expect(eventResourceAttributes(event({}, {}))).toEqual({})
    expect(eventResourceAttributes(event({}, { namespace: "kube-system" }))).toEqual({
      "k8s.namespace.name": "kube-system"
    })
  })

  /**
   * README, "The log record": k8s.node.name is where the object runs. A Pod: its `spec.nodeName` (enrichment),
   * else the host of the kubelet reporting about it; a Node: its name (else its kubelet's host); anything else:
   * none. Hosts and names of the other reporters are from real captures (shared/fixtures/openshift-events).
   */
  const kubelet = { sourceComponent: "kubelet" } as const
  const nodeCases: ReadonlyArray<
    readonly [string, Partial<KubeEvent>, ObjectRef, Readonly<Record<string, string>> | undefined, string | undefined]
  > = [
    ["Pod, kubelet", { ...kubelet, sourceHost: "worker-1" }, ref("Pod", "web-1"), undefined, "worker-1"],
    [
      "Pod, kubelet named as events.k8s.io/v1 names it (reportingController)",
      { reportingController: "kubelet", reportingInstance: "worker-1", sourceHost: "worker-1" },
      ref("Pod", "web-1"),
      undefined,
      "worker-1"
    ],
    ["pod in lower case, kubelet", { ...kubelet, sourceHost: "worker-1" }, ref("pod", "web-1"), undefined, "worker-1"],
    [
      "Pod, an API server whose host is the pod's own hostname (openshift-mgc-aws.json, TerminationStart)",
      { sourceComponent: "apiserver", sourceHost: "apiserver-65fdcd8694-w9kfk" },
      ref("Pod", "apiserver-65fdcd8694-w9kfk", { namespace: "openshift-apiserver" }),
      undefined,
      undefined
    ],
    [
      "Pod, an API server on the node under a short host name (openshift-mgc-aws.json)",
      { sourceComponent: "apiserver", sourceHost: "ip-10-0-187-218" },
      ref("Pod", "kube-apiserver-ip-10-0-187-218.ec2.internal", { namespace: "openshift-kube-apiserver" }),
      undefined,
      undefined
    ],
    [
      "Pod, the scheduler (no host)",
      { reportingController: "default-scheduler", reportingInstance: "default-scheduler-master-0" },
      ref("Pod", "web-1"),
      undefined,
      undefined
    ],
    [
      "Pod, enriched: its spec.nodeName wins over the kubelet's host",
      { ...kubelet, sourceHost: "worker-1" },
      ref("Pod", "web-1"),
      { "k8s.node.name": "node-7" },
      "node-7"
    ],
    [
      "Pod, enriched, reported by another component with a host",
      { sourceComponent: "apiserver", sourceHost: "ip-10-0-187-218" },
      ref("Pod", "web-1"),
      { "k8s.node.name": "node-7" },
      "node-7"
    ],
    [
      "Node, kubelet with another host",
      { ...kubelet, sourceHost: "other-host" },
      ref("Node", "worker-2"),
      undefined,
      "worker-2"
    ],
    [
      "Node, a daemon on it (openshift-mgc-aws.json, machineconfigdaemon)",
      { sourceComponent: "machineconfigdaemon", sourceHost: "ip-10-0-129-220.ec2.internal" },
      ref("Node", "ip-10-0-129-220.ec2.internal"),
      undefined,
      "ip-10-0-129-220.ec2.internal"
    ],
    ["Node without a name, kubelet", { ...kubelet, sourceHost: "worker-9" }, { kind: "Node" }, undefined, "worker-9"],
    [
      "Node without a name, another reporter",
      { sourceComponent: "node-controller", sourceHost: "worker-9" },
      { kind: "Node" },
      undefined,
      undefined
    ],
    [
      "Deployment, a reporter with a host",
      { sourceComponent: "deployment-controller", sourceHost: "master-0" },
      ref("Deployment", "d"),
      undefined,
      undefined
    ],
    [
      "ReplicaSet, even from a kubelet",
      { ...kubelet, sourceHost: "worker-9" },
      ref("ReplicaSet", "r"),
      undefined,
      undefined
    ],
    [
      "Namespace, an API server (openshift-mgc-aws.json, TerminationStart about kube-system)",
      { sourceComponent: "apiserver", sourceHost: "ip-10-0-22-225" },
      { kind: "Namespace", name: "kube-system", namespace: "default" },
      undefined,
      undefined
    ],
    ["no object kind, kubelet", { ...kubelet, sourceHost: "worker-9" }, {}, undefined, undefined]
  ]
  it.each(nodeCases)("k8s.node.name: %s", (_label, over, regarding, enrichment, expected) => {
    expect(eventResourceAttributes(event(over, regarding), enrichment)["k8s.node.name"]).toBe(expected)
    expect(new ResourceCache({}).resourceOf(event(over, regarding), enrichment).attributes["k8s.node.name"]).toBe(
      expected
    )
  })

  it("kubeletNodeOf: the kubelet's host for a Pod or a Node, nothing for any other object or reporter", () => {
    expect(kubeletNodeOf(event({ ...kubelet, sourceHost: "worker-1" }, ref("Pod", "p")))).toBe("worker-1")
    expect(kubeletNodeOf(event({ ...kubelet, sourceHost: "worker-1" }, ref("Job", "j")))).toBeUndefined()
    expect(kubeletNodeOf(event({ sourceComponent: "kubelet-x", sourceHost: "w" }, ref("Pod", "p")))).toBeUndefined()
    expect(kubeletNodeOf(event({ ...kubelet }, ref("Pod", "p")))).toBeUndefined()
  })

  it("never derives service.name from a pod or container name", () => {
    const attrs = eventResourceAttributes(event({}, ref("Pod", "web-abc", { fieldPath: "spec.containers{web}" })))
    expect(attrs["service.name"]).toBeUndefined()
    expect(attrs["service.namespace"]).toBeUndefined()
  })

  it("service.name follows the owner chain an enrichment found, in the semantic conventions' order", () => {
    const pod = event({}, ref("Pod", "web-5c9f8d7b6-abcde"))
    const rsAndDeploy = eventResourceAttributes(pod, {
      "k8s.replicaset.name": "web-5c9f8d7b6",
      "k8s.deployment.name": "web"
    })
    expect(rsAndDeploy["service.name"]).toBe("web")
    expect(rsAndDeploy["service.namespace"]).toBe(ns)
    expect(eventResourceAttributes(pod, { "k8s.replicaset.name": "web-5c9f8d7b6" })["service.name"]).toBe(
      "web-5c9f8d7b6"
    )
    expect(
      eventResourceAttributes(pod, { "k8s.job.name": "report-28593065", "k8s.cronjob.name": "report" })["service.name"]
    ).toBe("report")
    expect(
      eventResourceAttributes(pod, { "k8s.statefulset.name": "db", "k8s.daemonset.name": "agent" })["service.name"]
    ).toBe("db")
    // A ReplicaSet event whose owner Deployment is known names the Deployment.
    expect(
      eventResourceAttributes(event({}, ref("ReplicaSet", "web-5c9f8d7b6")), { "k8s.deployment.name": "web" })[
        "service.name"
      ]
    ).toBe("web")
  })

  it("enrichment overrides what the event says, and an enriched service.name wins over derivation", () => {
    const deploy = event({}, ref("Deployment", "checkout"))
    const annotated = eventResourceAttributes(deploy, { "service.name": "checkout-api", "service.namespace": "retail" })
    expect(annotated["service.name"]).toBe("checkout-api")
    expect(annotated["service.namespace"]).toBe("retail")
    expect(annotated["k8s.deployment.name"]).toBe("checkout")
    const moved = eventResourceAttributes(deploy, { "k8s.namespace.name": "elsewhere", "app.team": "payments" })
    expect(moved["k8s.namespace.name"]).toBe("elsewhere")
    expect(moved["service.namespace"]).toBe("elsewhere")
    expect(moved["app.team"]).toBe("payments")
    const named = eventResourceAttributes(event({}, ref("Pod", "p")), { "service.name": "from-label" })
    expect(named["service.name"]).toBe("from-label")
    expect(named["service.namespace"]).toBe(ns)
  })

  it("does not change its inputs", () => {
    const enrichment = { "k8s.deployment.name": "web" }
    const e = event({}, ref("Pod", "p"))
    const before = JSON.stringify(e)
    eventResourceAttributes(e, enrichment)
    expect(enrichment).toEqual({ "k8s.deployment.name": "web" })
    expect(JSON.stringify(e)).toBe(before)
  })
})

// ---- the resource cache ----

describe("ResourceCache", () => {
  it("returns the same Resource object for equal attribute sets, another for different ones", () => {
    const cache = new ResourceCache({})
    const a = cache.resourceFor({ "k8s.pod.name": "p", "k8s.namespace.name": "n" })
    const b = cache.resourceFor({ "k8s.pod.name": "p", "k8s.namespace.name": "n" })
    const c = cache.resourceFor({ "k8s.pod.name": "q", "k8s.namespace.name": "n" })
    const d = cache.resourceFor({ "k8s.pod.name": "p" })
    expect(b).toBe(a)
    expect(c).not.toBe(a)
    expect(d).not.toBe(a)
    expect(cache.size).toBe(3)
  })

  it("resourceOf: the events of one object share a Resource; any field of the reference, the node or the enrichment makes another", () => {
    const cache = new ResourceCache({})
    const pod: ObjectRef = { kind: "Pod", namespace: "shop", name: "web-1", uid: "u-1", apiVersion: "v1" }
    const a = cache.resourceOf(event({ uid: "e1" }, pod), undefined)
    expect(cache.resourceOf(event({ uid: "e2", reason: "Other" }, { ...pod }), undefined)).toBe(a)
    expect(a.attributes).toEqual(eventResourceAttributes(event({}, pod)))
    for (const field of ["kind", "namespace", "name", "uid", "apiVersion", "fieldPath", "resourceVersion"] as const) {
      const other = cache.resourceOf(event({}, { ...pod, [field]: `${pod[field] ?? ""}x` }), undefined)
      expect(other, field).not.toBe(a)
      expect(other.attributes, field).toEqual(
        eventResourceAttributes(event({}, { ...pod, [field]: `${pod[field] ?? ""}x` }))
      )
    }
    expect(
      cache.resourceOf(event({ sourceHost: "node-1" }, { ...pod, kind: "Node", name: "n" }), undefined).attributes[
        "k8s.node.name"
      ]
    ).toBe("n")
    // The same host from the kubelet and from another reporter: a node only in the first.
    const byKubelet = cache.resourceOf(event({ sourceComponent: "kubelet", sourceHost: "node-1" }, pod), undefined)
    const byApiServer = cache.resourceOf(event({ sourceComponent: "apiserver", sourceHost: "node-1" }, pod), undefined)
    expect(byKubelet.attributes["k8s.node.name"]).toBe("node-1")
    expect(byApiServer).toBe(a)
    expect(cache.resourceOf(event({ sourceComponent: "kubelet", sourceHost: "node-1" }, pod), undefined)).toBe(
      byKubelet
    )
    expect(
      cache.resourceOf(event({ sourceComponent: "kubelet", sourceHost: "node-2" }, pod), undefined).attributes[
        "k8s.node.name"
      ]
    ).toBe("node-2")
    const enriched = cache.resourceOf(event({}, pod), { "k8s.deployment.name": "web" })
    expect(enriched).not.toBe(a)
    expect(enriched.attributes["k8s.deployment.name"]).toBe("web")
    // Two enrichment objects with the same content: one interned Resource all the same.
    expect(cache.resourceOf(event({}, pod), { "k8s.deployment.name": "web" })).toBe(enriched)
    // Fields that run into each other do not collide: name "a|b" + uid absent vs name "a" + uid "b".
    const left = cache.resourceOf(event({}, { kind: "Pod", namespace: "n", name: "a|1:b" }), undefined)
    const right = cache.resourceOf(event({}, { kind: "Pod", namespace: "n", name: "a", uid: "b" }), undefined)
    expect(left).not.toBe(right)
    expect(right.attributes["k8s.object.uid"] ?? right.attributes["k8s.pod.uid"]).toBe("b")
  })

  it("equal attribute sets built in a different key order share one Resource", () => {
    const cache = new ResourceCache({})
    const a = cache.resourceFor({ "k8s.pod.name": "p", "k8s.namespace.name": "n" })
    const b = cache.resourceFor({ "k8s.namespace.name": "n", "k8s.pod.name": "p" })
    expect(b).toBe(a)
  })

  it("does not confuse different attribute sets whose values contain separator characters", () => {
    const cache = new ResourceCache({})
    const one = cache.resourceFor({ a: "x\u0001b\u0000y" })
    const two = cache.resourceFor({ a: "x", b: "y" })
    expect(two).not.toBe(one)
    expect(two.attributes).toEqual({ a: "x", b: "y" })
  })

  it("merges the base attributes under the event's, the event's winning", () => {
    const cache = new ResourceCache({
      "k8s.cluster.name": "prod",
      "service.name": "k8s-event-collector",
      "deployment.environment.name": "eu"
    })
    const r = cache.resourceFor({ "service.name": "checkout", "k8s.namespace.name": "shop" })
    expect(r.attributes).toEqual({
      "k8s.cluster.name": "prod",
      "service.name": "checkout",
      "deployment.environment.name": "eu",
      "k8s.namespace.name": "shop"
    })
    expect(cache.resourceFor({ "k8s.namespace.name": "x" }).attributes["service.name"]).toBe("k8s-event-collector")
  })

  it("stays within its capacity, dropping the least recently used", () => {
    const cache = new ResourceCache({}, 3)
    const first = cache.resourceFor({ n: "0" })
    for (let i = 1; i < 50; i++) {
      cache.resourceFor({ n: String(i) })
      expect(cache.size).toBeLessThanOrEqual(3)
    }
    expect(cache.size).toBe(3)
    expect(cache.resourceFor({ n: "0" })).not.toBe(first)

    const lru = new ResourceCache({}, 2)
    const a = lru.resourceFor({ n: "a" })
    lru.resourceFor({ n: "b" })
    expect(lru.resourceFor({ n: "a" })).toBe(a) // touch a: b is now the oldest
    lru.resourceFor({ n: "c" }) // evicts b
    expect(lru.resourceFor({ n: "a" })).toBe(a)
    expect(lru.size).toBe(2)
  })
})

// ---- base attributes ----

describe("baseAttributes", () => {
  const configured = {
    resourceAttributes: { "k8s.cluster.uid": "from-env", "k8s.cluster.name": "env-name", team: "a" },
    serviceName: undefined,
    clusterName: "prod"
  }
  it("the uid read from the cluster is k8s.cluster.uid, over OTEL_RESOURCE_ATTRIBUTES'", () => {
    expect(baseAttributes(configured, "5b4e7c2a-uid")).toEqual({
      "k8s.cluster.uid": "5b4e7c2a-uid",
      "k8s.cluster.name": "prod",
      team: "a"
    })
  })
  it("without one, OTEL_RESOURCE_ATTRIBUTES' stays, and none is made up", () => {
    expect(baseAttributes(configured)["k8s.cluster.uid"]).toBe("from-env")
    expect(baseAttributes({ ...configured, resourceAttributes: {} })).toEqual({ "k8s.cluster.name": "prod" })
  })
})

// ---- toLogRecord ----

const raws = [...loadOpenShiftEvents(), ...loadEventsV1()]

describe("toLogRecord", () => {
  it("builds the record DESIGN §3 describes", () => {
    const resources = new ResourceCache({ "k8s.cluster.name": "c" })
    const e = event(
      {
        reason: "BackOff",
        message: "Back-off restarting failed container",
        type: "Warning",
        action: "Restarting",
        count: 12,
        reportingController: "kubelet",
        reportingInstance: "worker-1",
        sourceComponent: "kubelet",
        sourceHost: "worker-1",
        firstTimestamp: ts("2024-01-01T00:00:00Z"),
        lastTimestamp: ts("2024-01-01T00:10:00Z"),
        creationTimestamp: ts("2024-01-01T00:00:00Z")
      },
      { kind: "Pod", name: "p", namespace: "ns", fieldPath: "spec.containers{app}" }
    )
    const r = toLogRecord(e, { resources, observedAt: OBSERVED })
    expect(r.hrTime).toEqual([1704067800, 0])
    expect(r.hrTimeObserved).toEqual(OBSERVED)
    expect(r.severityNumber).toBe(SeverityNumber.WARN)
    expect(r.severityText).toBe("Warning")
    expect(r.body).toBe("Back-off restarting failed container")
    expect(r.eventName).toBe("k8s.event")
    expect(r.instrumentationScope).toBe(INSTRUMENTATION_SCOPE)
    // The collector's name and version (DESIGN.md §3), the version package.json declares.
    expect(r.instrumentationScope).toEqual({ name: "k8s-event-collector", version: PACKAGE_VERSION })
    expect(r.droppedAttributesCount).toBe(0)
    expect(r.attributes).toEqual({
      "k8s.event.reason": "BackOff",
      "k8s.event.action": "Restarting",
      "k8s.event.name": "e.1",
      "k8s.event.uid": "uid-1",
      "k8s.event.count": 12,
      "k8s.event.reporting_controller": "kubelet",
      "k8s.event.reporting_instance": "worker-1",
      "k8s.event.source.component": "kubelet",
      "k8s.event.source.host": "worker-1",
      "k8s.event.start_time": "2024-01-01T00:00:00Z",
      "log.record.uid": "uid-1:10"
    })
    expect(r.resource.attributes).toMatchObject({
      "k8s.cluster.name": "c",
      "k8s.pod.name": "p",
      "k8s.container.name": "app",
      "k8s.node.name": "worker-1"
    })
  })

  it("a bare event: no severity, no body, the observed time as timestamp", () => {
    const r = toLogRecord(event(), { resources: new ResourceCache({}), observedAt: OBSERVED })
    expect(r.hrTime).toEqual(OBSERVED)
    expect("severityNumber" in r).toBe(false)
    expect("severityText" in r).toBe(false)
    expect("body" in r).toBe(false)
    expect(r.attributes).toEqual({ "k8s.event.name": "e.1", "k8s.event.uid": "uid-1", "log.record.uid": "uid-1:10" })
  })

  it("keeps nanoseconds, and an offset timestamp is converted to UTC", () => {
    const r = toLogRecord(event({ eventTime: ts("2024-01-01T02:00:00.123456789+02:00") }), {
      resources: new ResourceCache({}),
      observedAt: OBSERVED
    })
    expect(r.hrTime).toEqual([1704067200, 123_456_789])
    expect(r.attributes["k8s.event.start_time"]).toBe("2024-01-01T00:00:00.123456789Z")
  })

  it("an enrichment replaces the severity and adds or overrides attributes and resource attributes", () => {
    const resources = new ResourceCache({})
    const e = event({ type: "Normal", reason: "Killing" }, { kind: "Pod", name: "p", namespace: "ns" })
    const r = toLogRecord(
      e,
      { resources, observedAt: OBSERVED },
      {
        severity: { number: SeverityNumber.ERROR, text: "Error" },
        attributes: { "k8s.event.reason": "OOMKilling", "rule.name": "oom" },
        resource: { "k8s.deployment.name": "web" }
      }
    )
    expect(r.severityNumber).toBe(SeverityNumber.ERROR)
    expect(r.severityText).toBe("Error")
    expect(r.attributes["k8s.event.reason"]).toBe("OOMKilling")
    expect(r.attributes["rule.name"]).toBe("oom")
    expect(r.resource.attributes["k8s.deployment.name"]).toBe("web")
    expect(r.resource.attributes["service.name"]).toBe("web")
    const unset = toLogRecord(
      e,
      { resources, observedAt: OBSERVED },
      { severity: { number: undefined, text: undefined } }
    )
    expect("severityNumber" in unset).toBe(false)
    expect("severityText" in unset).toBe(false)
  })

  it("records about one object share one Resource; the same event twice gives equal records", () => {
    const resources = new ResourceCache({ "k8s.cluster.name": "c" })
    for (const { source, raw } of raws) {
      const e = mustDecode(raw)
      const a = toLogRecord(e, { resources, observedAt: OBSERVED })
      const b = toLogRecord(e, { resources, observedAt: OBSERVED })
      expect(b.resource, source).toBe(a.resource)
      expect(b, source).toEqual(a)
      expect(consoleLines([b]), source).toBe(consoleLines([a]))
      // A second cache builds an equal but distinct resource, and otherwise the same record.
      const c = toLogRecord(e, { resources: new ResourceCache({ "k8s.cluster.name": "c" }), observedAt: OBSERVED })
      expect(c.resource).not.toBe(a.resource)
      expect(c.resource.attributes).toEqual(a.resource.attributes)
      const { resource: _ra, ...restA } = a
      const { resource: _rc, ...restC } = c
      expect(restC, source).toEqual(restA)
    }
  })

  it("never throws on a decoded fixture, with or without an enrichment, and serializes each to one line", () => {
    const resources = new ResourceCache({}, 16)
    let n = 0
    for (const { source, raw } of raws) {
      const e = mustDecode(raw)
      const plain = toLogRecord(e, { resources, observedAt: OBSERVED })
      const enriched = toLogRecord(
        e,
        { resources, observedAt: OBSERVED },
        {
          resource: { "k8s.deployment.name": "x", "service.name": "y" },
          attributes: { extra: 1 },
          severity: { number: SeverityNumber.FATAL, text: "Fatal" }
        }
      )
      const text = consoleLines([plain, enriched])
      expect(text.split("\n"), source).toHaveLength(3)
      n++
    }
    expect(n).toBe(277 + loadEventsV1().length)
    expect(resources.size).toBeLessThanOrEqual(16)
  })

  it("does not share attribute objects between records", () => {
    const resources = new ResourceCache({})
    const e = event({ reason: "R" })
    const a = toLogRecord(e, { resources, observedAt: OBSERVED })
    const b = toLogRecord(e, { resources, observedAt: OBSERVED })
    expect(b.attributes).not.toBe(a.attributes)
  })
})

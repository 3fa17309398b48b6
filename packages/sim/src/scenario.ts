/**
 * The demo scenario: a small cluster having a realistic bad day, driven on timers.
 *
 * Namespace `shop` (configurable): Deployments checkout / payments / cart (pod → ReplicaSet → Deployment),
 * StatefulSet analytics, DaemonSet node-exporter, CronJob nightly-report (pod → Job → CronJob), an HPA,
 * Nodes node-1..3. Over about 25 s (at speed 1):
 *   - checkout rollout: ScalingReplicaSet, SuccessfulCreate, Scheduled, Pulling, Pulled, Created, Started
 *   - payments image pull failure: Failed (ErrImagePull), BackOff repeating, Failed (ImagePullBackOff)
 *   - cart crash loop: BackOff repeating with its count rising
 *   - OOMKilling on Node node-2 from kernel-monitor
 *   - analytics-0 FailedScheduling as a series-style event (eventTime, series.count rising)
 *   - node-3 NotReady then Ready (NodeNotReady / NodeReady)
 *   - HPA SuccessfulRescale, then the scale-up it causes
 *   - the nightly CronJob creating a Job whose pod runs to completion
 * With `loop`, the ongoing failures keep recurring until `stop()`.
 */
import type { EventInput, EventRef, SimEvents } from "./events.ts"
import { NAME_LABEL, SERVICE_NAME_ANNOTATION, type SimObjects, objectReference } from "./objects.ts"
import { Resources } from "./resources.ts"
import { StoreError, type StoredKubeObject } from "./store.ts"

export interface ScenarioOptions {
  /** Time compression: 1 = real time, 100 = a hundred times faster. Default 1. */
  readonly speed?: number
  /** Namespace of the workloads (default "shop"). */
  readonly namespace?: string
  /** After the script, keep the ongoing failures recurring (every `loopIntervalMs` at speed 1) until stop(). */
  readonly loop?: boolean
  readonly loopIntervalMs?: number
  /** Called after each step with its name. */
  readonly onStep?: (name: string) => void
  /** Called when a step throws (default: collected in `errors`). */
  readonly onError?: (err: unknown, step: string) => void
}

export interface ScenarioStep {
  /** Offset from the start, in milliseconds at speed 1. */
  readonly at: number
  readonly name: string
  readonly run: () => void
}

export interface ScenarioHandle {
  /** Resolves when the script has run (with `loop`, when stopped). */
  readonly done: Promise<void>
  readonly executed: ReadonlyArray<string>
  readonly errors: ReadonlyArray<unknown>
  /** Stops all pending timers. */
  stop(): void
}

export interface ScenarioTarget {
  readonly events: SimEvents
  readonly objects: SimObjects
}

const KUBELET = (node: string) => ({ component: "kubelet", host: node })

const buildScenario = (sim: ScenarioTarget, ns: string): { steps: ReadonlyArray<ScenarioStep>; loop: () => void } => {
  const { events, objects } = sim
  const obj = new Map<string, StoredKubeObject>()
  const need = (name: string): StoredKubeObject => {
    const o = obj.get(name)
    if (o === undefined) throw new Error(`scenario object ${name} not created yet`)
    return o
  }
  const refs = new Map<string, EventRef>()
  /** Records a named event, or a new occurrence of it when it already exists (re-created after TTL expiry). */
  const emit = (id: string, input: EventInput): void => {
    const ref = refs.get(id)
    if (ref !== undefined) {
      try {
        events.repeat(ref, input.message === undefined ? {} : { message: input.message })
        return
      } catch (err) {
        if (!(err instanceof StoreError) || err.status.code !== 404) throw err
      }
    }
    const created = events.create(input)
    refs.set(id, { namespace: created.metadata.namespace ?? "default", name: created.metadata.name })
  }
  const podEvent = (
    pod: string,
    node: string,
    reason: string,
    message: string,
    type = "Normal",
    container?: string
  ): EventInput => ({
    involvedObject: objectReference(need(pod), container === undefined ? undefined : `spec.containers{${container}}`),
    reason,
    message,
    type,
    source: KUBELET(node)
  })
  const scheduled = (pod: string, node: string): EventInput => ({
    involvedObject: objectReference(need(pod)),
    reason: "Scheduled",
    message: `Successfully assigned ${ns}/${pod} to ${node}`,
    type: "Normal",
    action: "Binding",
    style: "series",
    reportingComponent: "default-scheduler",
    reportingInstance: "default-scheduler-control-plane"
  })
  const controllerEvent = (
    target: string,
    component: string,
    reason: string,
    message: string,
    type = "Normal"
  ): EventInput => ({
    involvedObject: objectReference(need(target)),
    reason,
    message,
    type,
    source: { component }
  })

  /** The checkout ReplicaSet's `SuccessfulCreate` for pod `p`. */
  const emitPodCreated = (p: string) =>
    emit(
      `rs/SuccessfulCreate/${p}`,
      controllerEvent("checkout-7d9f8b6c5d", "replicaset-controller", "SuccessfulCreate", `Created pod: ${p}`)
    )

  const checkoutImage = "registry.example.com/shop/checkout:1.4.2"
  const paymentsImage = "registry.example.com/shop/payments:2.0.0-rc.1"
  const cartImage = "registry.example.com/shop/cart:3.1.0"
  const reportImage = "registry.example.com/shop/nightly-report:1.0.0"
  const checkoutPods = ["checkout-7d9f8b6c5d-x2k4p", "checkout-7d9f8b6c5d-q8w3n"] as const
  const scaledPods = ["checkout-7d9f8b6c5d-h5j7m", "checkout-7d9f8b6c5d-t9v2c"] as const
  const paymentsPod = "payments-5c6b7d8f94-r4t6y"
  const cartPod = "cart-6f7c8d9b5-m2n4b"
  const analyticsPod = "analytics-0"
  const exporterPod = "node-exporter-z9x8c"
  const jobName = "nightly-report-29000000"
  const jobPod = "nightly-report-29000000-x7k2p"

  const put = (name: string, o: StoredKubeObject) => obj.set(name, o)

  const setup = (): void => {
    if (objects.get(Resources.namespaces, undefined, ns) === undefined) objects.namespace(ns)
    for (const n of ["node-1", "node-2", "node-3"])
      put(n, objects.get(Resources.nodes, undefined, n) ?? objects.node(n))
    const checkout = objects.deployment({
      namespace: ns,
      name: "checkout",
      replicas: 2,
      image: checkoutImage,
      labels: { "app.kubernetes.io/part-of": "shop" }
    })
    put("checkout", checkout)
    const checkoutRs = objects.replicaSet({
      namespace: ns,
      name: "checkout-7d9f8b6c5d",
      owner: checkout,
      replicas: 2,
      image: checkoutImage
    })
    put("checkout-7d9f8b6c5d", checkoutRs)
    checkoutPods.forEach((p, i) =>
      put(
        p,
        objects.pod({
          namespace: ns,
          name: p,
          owner: checkoutRs,
          labels: { [NAME_LABEL]: "checkout", "pod-template-hash": "7d9f8b6c5d" },
          // One pod names its service explicitly, as the OpenTelemetry k8s attribute conventions allow.
          ...(i === 0 ? { annotations: { [SERVICE_NAME_ANNOTATION]: "checkout-service" } } : {}),
          nodeName: i === 0 ? "node-1" : "node-2",
          image: checkoutImage,
          containers: ["checkout"]
        })
      )
    )
    put(
      "checkout-hpa",
      objects.horizontalPodAutoscaler({
        namespace: ns,
        name: "checkout",
        target: checkout,
        minReplicas: 2,
        maxReplicas: 6
      })
    )

    const payments = objects.deployment({ namespace: ns, name: "payments", image: paymentsImage })
    const paymentsRs = objects.replicaSet({
      namespace: ns,
      name: "payments-5c6b7d8f94",
      owner: payments,
      image: paymentsImage
    })
    put("payments", payments)
    put(
      paymentsPod,
      objects.pod({
        namespace: ns,
        name: paymentsPod,
        owner: paymentsRs,
        labels: { [NAME_LABEL]: "payments" },
        nodeName: "node-2",
        image: paymentsImage,
        containers: ["payments"]
      })
    )

    const cart = objects.deployment({ namespace: ns, name: "cart", image: cartImage })
    const cartRs = objects.replicaSet({ namespace: ns, name: "cart-6f7c8d9b5", owner: cart, image: cartImage })
    put(
      cartPod,
      objects.pod({
        namespace: ns,
        name: cartPod,
        owner: cartRs,
        labels: { [NAME_LABEL]: "cart" },
        nodeName: "node-1",
        image: cartImage,
        containers: ["cart"]
      })
    )

    const analytics = objects.statefulSet({ namespace: ns, name: "analytics" })
    put(
      analyticsPod,
      objects.pod({
        namespace: ns,
        name: analyticsPod,
        owner: analytics,
        labels: { [NAME_LABEL]: "analytics" },
        containers: ["analytics"]
      })
    )

    const exporter = objects.daemonSet({ namespace: ns, name: "node-exporter" })
    put(
      exporterPod,
      objects.pod({
        namespace: ns,
        name: exporterPod,
        owner: exporter,
        labels: { [NAME_LABEL]: "node-exporter" },
        nodeName: "node-3",
        phase: "Running"
      })
    )

    put("nightly-report", objects.cronJob({ namespace: ns, name: "nightly-report", image: reportImage }))
  }

  const s = (at: number, name: string, run: () => void): ScenarioStep => ({ at, name, run })
  const containerStart = (
    at: number,
    pod: string,
    node: string,
    container: string,
    image: string,
    pulled: string
  ): ScenarioStep[] => [
    s(at, `${pod} Scheduled`, () => emit(`${pod}/Scheduled`, scheduled(pod, node))),
    s(at + 300, `${pod} Pulling`, () =>
      emit(`${pod}/Pulling`, podEvent(pod, node, "Pulling", `Pulling image "${image}"`, "Normal", container))
    ),
    s(at + 1200, `${pod} Pulled`, () =>
      emit(`${pod}/Pulled`, podEvent(pod, node, "Pulled", pulled, "Normal", container))
    ),
    s(at + 1500, `${pod} Created`, () =>
      emit(`${pod}/Created`, podEvent(pod, node, "Created", `Created container ${container}`, "Normal", container))
    ),
    s(at + 1700, `${pod} Started`, () =>
      emit(`${pod}/Started`, podEvent(pod, node, "Started", `Started container ${container}`, "Normal", container))
    )
  ]

  const pullFailed =
    `Failed to pull image "${paymentsImage}": rpc error: code = NotFound desc = ` +
    `failed to pull and unpack image "${paymentsImage}": ` +
    `failed to resolve reference "${paymentsImage}": ${paymentsImage}: not found`
  const paymentsBackOff = () => {
    emit(
      "payments/BackOff",
      podEvent(paymentsPod, "node-2", "BackOff", `Back-off pulling image "${paymentsImage}"`, "Normal", "payments")
    )
    emit(
      "payments/ImagePullBackOff",
      podEvent(paymentsPod, "node-2", "Failed", "Error: ImagePullBackOff", "Warning", "payments")
    )
  }
  const cartUid = () => need(cartPod).metadata.uid
  const cartBackOff = () =>
    emit(
      "cart/BackOff",
      podEvent(
        cartPod,
        "node-1",
        "BackOff",
        `Back-off restarting failed container cart in pod ${cartPod}_${ns}(${cartUid()})`,
        "Warning",
        "cart"
      )
    )
  const failedScheduling = () =>
    emit("analytics/FailedScheduling", {
      involvedObject: objectReference(need(analyticsPod)),
      reason: "FailedScheduling",
      message:
        "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 Insufficient " +
        "memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption " +
        "victims found for incoming pod.",
      type: "Warning",
      action: "Scheduling",
      style: "series",
      reportingComponent: "default-scheduler",
      reportingInstance: "default-scheduler-control-plane"
    })
  const oomKilling = () =>
    emit("node-2/OOMKilling", {
      involvedObject: { kind: "Node", name: "node-2", uid: "node-2" },
      namespace: "default",
      reason: "OOMKilling",
      message:
        "Memory cgroup out of memory: Killed process 31337 (java) total-vm:4194304kB, anon-rss:2097152kB, " +
        "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:4404kB oom_score_adj:999",
      type: "Warning",
      source: { component: "kernel-monitor", host: "node-2" }
    })

  const steps: ScenarioStep[] = [
    s(0, "create cluster objects", setup),
    s(1000, "checkout ScalingReplicaSet", () =>
      emit(
        "checkout/ScalingReplicaSet",
        controllerEvent(
          "checkout",
          "deployment-controller",
          "ScalingReplicaSet",
          "Scaled up replica set checkout-7d9f8b6c5d to 2"
        )
      )
    ),
    ...checkoutPods.map((p, i) =>
      s(1400 + i * 100, `checkout-7d9f8b6c5d SuccessfulCreate ${p}`, () => emitPodCreated(p))
    ),
    ...containerStart(
      2000,
      checkoutPods[0],
      "node-1",
      "checkout",
      checkoutImage,
      `Successfully pulled image "${checkoutImage}" in 812ms (812ms including waiting). Image size: 48211345 bytes.`
    ),
    ...containerStart(
      2200,
      checkoutPods[1],
      "node-2",
      "checkout",
      checkoutImage,
      `Container image "${checkoutImage}" already present on machine`
    ),

    s(5000, `${paymentsPod} Scheduled`, () => emit(`${paymentsPod}/Scheduled`, scheduled(paymentsPod, "node-2"))),
    s(5300, `${paymentsPod} Pulling`, () =>
      emit(
        `${paymentsPod}/Pulling`,
        podEvent(paymentsPod, "node-2", "Pulling", `Pulling image "${paymentsImage}"`, "Normal", "payments")
      )
    ),
    s(6000, `${paymentsPod} Failed ErrImagePull`, () => {
      emit("payments/PullFailed", podEvent(paymentsPod, "node-2", "Failed", pullFailed, "Warning", "payments"))
      emit(
        "payments/ErrImagePull",
        podEvent(paymentsPod, "node-2", "Failed", "Error: ErrImagePull", "Warning", "payments")
      )
    }),
    ...[7000, 9000, 12000, 16000].map((at) => s(at, `${paymentsPod} BackOff`, paymentsBackOff)),

    s(8000, `${cartPod} Started`, () => {
      emit(`${cartPod}/Scheduled`, scheduled(cartPod, "node-1"))
      emit(
        `${cartPod}/Pulled`,
        podEvent(
          cartPod,
          "node-1",
          "Pulled",
          `Container image "${cartImage}" already present on machine`,
          "Normal",
          "cart"
        )
      )
      emit(`${cartPod}/Created`, podEvent(cartPod, "node-1", "Created", "Created container cart", "Normal", "cart"))
      emit(`${cartPod}/Started`, podEvent(cartPod, "node-1", "Started", "Started container cart", "Normal", "cart"))
    }),
    ...[10000, 12500, 15000, 17500, 20000].map((at) => s(at, `${cartPod} BackOff`, cartBackOff)),

    s(11000, "node-2 OOMKilling", oomKilling),

    ...[13000, 15000, 17000, 20000].map((at) => s(at, `${analyticsPod} FailedScheduling`, failedScheduling)),

    s(14000, "node-3 NodeNotReady", () => {
      put("node-3", objects.setNodeReady("node-3", false))
      emit(
        "node-3/NodeNotReady",
        controllerEvent("node-3", "node-controller", "NodeNotReady", "Node node-3 status is now: NodeNotReady")
      )
      emit(
        `${exporterPod}/NodeNotReady`,
        controllerEvent(exporterPod, "node-controller", "NodeNotReady", "Node is not ready", "Warning")
      )
    }),
    s(19000, "node-3 NodeReady", () => {
      put("node-3", objects.setNodeReady("node-3", true))
      emit("node-3/NodeReady", {
        involvedObject: { kind: "Node", name: "node-3", uid: "node-3" },
        namespace: "default",
        reason: "NodeReady",
        message: "Node node-3 status is now: NodeReady",
        type: "Normal",
        source: KUBELET("node-3")
      })
    }),

    s(21000, "checkout SuccessfulRescale", () =>
      emit(
        "checkout/SuccessfulRescale",
        controllerEvent(
          "checkout-hpa",
          "horizontal-pod-autoscaler",
          "SuccessfulRescale",
          "New size: 4; reason: cpu resource utilization (percentage of request) above target"
        )
      )
    ),
    s(21300, "checkout scale up", () => {
      emit(
        "checkout/ScalingReplicaSet",
        controllerEvent(
          "checkout",
          "deployment-controller",
          "ScalingReplicaSet",
          "Scaled up replica set checkout-7d9f8b6c5d to 4 from 2"
        )
      )
      for (const [i, p] of scaledPods.entries()) {
        put(
          p,
          objects.pod({
            namespace: ns,
            name: p,
            owner: need("checkout-7d9f8b6c5d"),
            labels: { [NAME_LABEL]: "checkout", "pod-template-hash": "7d9f8b6c5d" },
            nodeName: i === 0 ? "node-1" : "node-3",
            image: checkoutImage,
            containers: ["checkout"]
          })
        )
        emitPodCreated(p)
      }
    }),
    ...containerStart(
      21600,
      scaledPods[0],
      "node-1",
      "checkout",
      checkoutImage,
      `Container image "${checkoutImage}" already present on machine`
    ),
    ...containerStart(
      21700,
      scaledPods[1],
      "node-3",
      "checkout",
      checkoutImage,
      `Successfully pulled image "${checkoutImage}" in 1.204s (1.204s including waiting). Image size: 48211345 bytes.`
    ),

    s(22000, "nightly-report creates a Job", () => {
      const job = objects.job({ namespace: ns, name: jobName, owner: need("nightly-report"), image: reportImage })
      put(jobName, job)
      emit(
        "cronjob/SuccessfulCreate",
        controllerEvent("nightly-report", "cronjob-controller", "SuccessfulCreate", `Created job ${jobName}`)
      )
      put(
        jobPod,
        objects.pod({
          namespace: ns,
          name: jobPod,
          owner: job,
          labels: { [NAME_LABEL]: "nightly-report", "job-name": jobName },
          nodeName: "node-1",
          image: reportImage,
          containers: ["report"]
        })
      )
      emit(
        "job/SuccessfulCreate",
        controllerEvent(jobName, "job-controller", "SuccessfulCreate", `Created pod: ${jobPod}`)
      )
    }),
    ...containerStart(
      22200,
      jobPod,
      "node-1",
      "report",
      reportImage,
      `Successfully pulled image "${reportImage}" in 2.1s (2.1s including waiting). Image size: 21733120 bytes.`
    ),
    s(25000, "nightly-report Completed", () => {
      emit("job/Completed", controllerEvent(jobName, "job-controller", "Completed", "Job completed"))
      emit(
        "cronjob/SawCompletedJob",
        controllerEvent(
          "nightly-report",
          "cronjob-controller",
          "SawCompletedJob",
          `Saw completed job: ${jobName}, condition: Complete`
        )
      )
    })
  ]

  let loops = 0
  const loop = (): void => {
    loops++
    cartBackOff()
    paymentsBackOff()
    failedScheduling()
    if (loops % 6 === 0) oomKilling()
  }
  return { steps: steps.sort((a, b) => a.at - b.at), loop }
}

/** Runs the scenario against a simulated server (or anything with its `events` and `objects`). */
export const runScenario = (sim: ScenarioTarget, options: ScenarioOptions = {}): ScenarioHandle => {
  const speed = options.speed ?? 1
  if (!(speed > 0)) throw new Error("speed must be positive")
  const { steps, loop } = buildScenario(sim, options.namespace ?? "shop")
  const executed: string[] = []
  const errors: unknown[] = []
  const timers = new Set<NodeJS.Timeout>()
  let stopped = false
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => {
    finish = resolve
  })
  const runStep = (name: string, run: () => void) => {
    if (stopped) return
    try {
      run()
    } catch (err) {
      errors.push(err)
      options.onError?.(err, name)
    }
    executed.push(name)
    options.onStep?.(name)
  }
  const later = (ms: number, f: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t)
      f()
    }, ms / speed)
    timers.add(t)
  }
  let remaining = steps.length
  const loopEvery = options.loopIntervalMs ?? 5000
  const scheduleLoop = () =>
    later(loopEvery, () => {
      runStep("loop", loop)
      if (!stopped) scheduleLoop()
    })
  for (const step of steps) {
    later(step.at, () => {
      runStep(step.name, step.run)
      if (--remaining === 0) {
        if (options.loop === true && !stopped) scheduleLoop()
        else finish()
      }
    })
  }
  return {
    done,
    executed,
    errors,
    stop() {
      stopped = true
      for (const t of timers) clearTimeout(t)
      timers.clear()
      finish()
    }
  }
}

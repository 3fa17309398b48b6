/**
 * Traces for the demo: requests served by the simulated pods, with the same `k8s.*` resource attributes the
 * event records carry, so that in Grafana a failing span leads to the events of the pod that served it. Cart
 * requests fail while cart crash-loops; payments fail while its image cannot be pulled.
 */
import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Resources } from "./resources.ts"
import type { SimServer } from "./server.ts"

export interface DemoTracesOptions {
  /** OTLP/HTTP traces URL, `.../v1/traces`. */
  readonly endpoint: string
  readonly clusterName?: string | undefined
  readonly namespace?: string
  readonly intervalMs?: number
}

/** What each demo service answers: cart and payments are broken in the scenario. */
const FAILING: Readonly<Record<string, number>> = { cart: 503, payments: 500 }

interface PodInfo {
  readonly name: string
  readonly uid: string
  readonly app: string
  readonly node: string | undefined
}

const podsOf = (sim: SimServer, namespace: string): ReadonlyArray<PodInfo> => {
  const pods: Array<PodInfo> = []
  for (const stored of sim.store.all(Resources.pods)) {
    const o = stored.object
    if (o.metadata.namespace !== namespace) continue
    const labels = o.metadata.labels ?? {}
    const app = labels["app.kubernetes.io/name"]
    if (app === undefined || !["checkout", "cart", "payments"].includes(app)) continue
    const spec = o["spec"]
    const node =
      typeof spec === "object" && spec !== null && "nodeName" in spec && typeof spec.nodeName === "string"
        ? spec.nodeName
        : undefined
    pods.push({ name: o.metadata.name, uid: o.metadata.uid, app, node })
  }
  return pods
}

/** Starts emitting; the returned function stops and flushes. */
export const startDemoTraces = (sim: SimServer, options: DemoTracesOptions): (() => Promise<void>) => {
  const namespace = options.namespace ?? "shop"
  const providers = new Map<string, BasicTracerProvider>()
  const providerFor = (pod: PodInfo) => {
    let p = providers.get(pod.name)
    if (p === undefined) {
      p = new BasicTracerProvider({
        resource: resourceFromAttributes({
          "service.name": pod.app,
          "service.namespace": namespace,
          "k8s.namespace.name": namespace,
          "k8s.pod.name": pod.name,
          "k8s.pod.uid": pod.uid,
          "k8s.deployment.name": pod.app,
          ...(pod.node === undefined ? {} : { "k8s.node.name": pod.node }),
          ...(options.clusterName === undefined ? {} : { "k8s.cluster.name": options.clusterName })
        }),
        spanProcessors: [
          new BatchSpanProcessor(new OTLPTraceExporter({ url: options.endpoint }), { scheduledDelayMillis: 1000 })
        ]
      })
      providers.set(pod.name, p)
    }
    return p
  }

  const serve = (pod: PodInfo, parent?: ReturnType<typeof trace.setSpan>) => {
    const tracer = providerFor(pod).getTracer("k8s-event-collector-demo")
    const span = tracer.startSpan(
      `GET /api/${pod.app}`,
      {
        kind: SpanKind.SERVER,
        attributes: { "http.request.method": "GET", "url.path": `/api/${pod.app}`, "http.route": `/api/${pod.app}` }
      },
      parent
    )
    const failure = FAILING[pod.app]
    span.setAttribute("http.response.status_code", failure ?? 200)
    if (failure !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: `${pod.app} is not serving` })
    return { span, failed: failure !== undefined }
  }

  const tick = () => {
    const pods = podsOf(sim, namespace)
    const checkout = pods.filter((p) => p.app === "checkout")
    const downstream = pods.filter((p) => p.app !== "checkout")
    for (const pod of checkout) {
      const { span } = serve(pod)
      const ctx = trace.setSpan(context.active(), span)
      let failed = false
      for (const d of downstream) {
        const client = providerFor(pod)
          .getTracer("k8s-event-collector-demo")
          .startSpan(`GET ${d.app}`, { kind: SpanKind.CLIENT }, ctx)
        const server = serve(d, trace.setSpan(ctx, client))
        if (server.failed) {
          client.setStatus({ code: SpanStatusCode.ERROR })
          failed = true
        }
        server.span.end()
        client.end()
      }
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: "a downstream service failed" })
      span.end()
    }
  }

  const timer = setInterval(tick, options.intervalMs ?? 2000)
  timer.unref()
  return async () => {
    clearInterval(timer)
    await Promise.all([...providers.values()].map((p) => p.shutdown()))
  }
}

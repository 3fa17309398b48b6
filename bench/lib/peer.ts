/**
 * The peer: the OpenTelemetry Collector with the contrib `k8s_events` receiver (the binary test/real/otelcol
 * builds, or `OTELCOL_BIN`), reading the simulated API server through a kubeconfig (`auth_type: kubeConfig`) and
 * exporting OTLP/HTTP to the bench's counting receiver. Its batching is set to ours: at most 512 records per
 * request, 200 ms to fill one, 2 000 records queued (the producer waits when they are full, as our source does),
 * 4 requests in flight. It is measured as ours is: its own process's CPU time and RSS from /proc.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { stringify } from "yaml"
import { buildGoBinaries, goBinary } from "../../test/real/support/goBinaries.ts"
import { CollectorProcess, type CollectorOptions, type Launch, scratch, writeKubeconfig } from "./collector.ts"

/** What the peer is, for results.json. */
export const PEER = {
  name: "otelcol-contrib k8s_events",
  module: "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/k8seventsreceiver",
  version: "v0.145.0"
}

let binary: string | undefined
/** The Collector binary: `OTELCOL_BIN`, else the one test/real/otelcol builds (built now if not cached yet). */
const peerBinary = (): string => {
  if (binary !== undefined) return binary
  if (process.env["OTELCOL_BIN"] === undefined) buildGoBinaries()
  binary = goBinary("otelcol")
  return binary
}

/** The peer's settings for the collector flags a scenario gives ours; any other flag has no peer equivalent. */
const peerSettings = (args: ReadonlyArray<string>): { compression: string; flushTimeout: string } => {
  let compression = "gzip"
  let flushTimeout = "200ms"
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]]
    if (flag === "--otlp-compression" && value !== undefined) compression = value
    else if (flag === "--batch-linger" && value !== undefined) flushTimeout = value
    else throw new Error(`the peer has no equivalent of ${flag} ${value ?? ""}`)
  }
  return { compression, flushTimeout }
}

let configs = 0
const peerConfig = (otlpUrl: string, args: ReadonlyArray<string>): string => {
  const s = peerSettings(args)
  const path = join(scratch(), `otelcol-${++configs}.yaml`)
  writeFileSync(
    path,
    stringify({
      receivers: { k8s_events: { auth_type: "kubeConfig" } },
      exporters: {
        otlphttp: {
          logs_endpoint: otlpUrl,
          compression: s.compression,
          sending_queue: {
            sizer: "items",
            queue_size: 2000,
            block_on_overflow: true,
            num_consumers: 4,
            batch: { flush_timeout: s.flushTimeout, min_size: 512, max_size: 512 }
          }
        }
      },
      service: {
        pipelines: { logs: { receivers: ["k8s_events"], exporters: ["otlphttp"] } },
        telemetry: { logs: { level: "warn" }, metrics: { level: "none" } }
      }
    })
  )
  return path
}

/** Starts the peer from the options a scenario gives ours (the simulator, the receiver, compression, linger). */
export const startPeer: Launch = (options: CollectorOptions) => {
  if (options.nodeArgs !== undefined || options.runtime !== undefined)
    throw new Error("the peer is not a Node process: no runtime or Node flags")
  return new CollectorProcess({
    file: peerBinary(),
    args: ["--config", peerConfig(options.otlpUrl, options.args ?? [])],
    env: { ...process.env, KUBECONFIG: writeKubeconfig(options.simUrl) },
    cwd: scratch()
  })
}

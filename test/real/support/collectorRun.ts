/**
 * The collector as a user runs it (`node src/main.ts --source kube ...`) against the real control plane,
 * exporting to the test OTLP receiver; what it exported, read from the receiver's records; what the API server
 * answered it, read from the server's audit log.
 */
import { readFileSync } from "node:fs"
import { type CollectorProcess, spawnCollector } from "../../support/processes.ts"
import type { OtlpLogRecord, OtlpReceiver } from "../../support/otlp-receiver.ts"
import { eventually } from "../../support/collector.ts"
import { freePort, stopProcess, track } from "./children.ts"
import { isKubeObject } from "./controlPlane.ts"

export interface RealCollector extends CollectorProcess {
  readonly metricsUrl: string
  /** The sum of a metric's samples whose labels include `labels`, from /metrics. */
  readonly metric: (name: string, labels?: Readonly<Record<string, string>>) => Promise<number>
  /** SIGTERM (and SIGKILL after 30 s), or `signal`; resolves when it exited. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
}

export const runCollector = async (
  kubeconfig: string,
  receiver: OtlpReceiver,
  args: ReadonlyArray<string>,
  env: Record<string, string> = {}
): Promise<RealCollector> =>
  startCollector(
    [
      "--source",
      "kube",
      "--kubeconfig",
      kubeconfig,
      "--otlp-endpoint",
      receiver.url,
      "--batch-linger",
      "50ms",
      "--cluster-name",
      "real",
      ...args
    ],
    env
  )

/** The collector with exactly these arguments, serving its probes and /metrics on a free port of 127.0.0.1. */
export const startCollector = async (
  args: ReadonlyArray<string>,
  env: Record<string, string>
): Promise<RealCollector> => {
  const port = await freePort()
  const collector = spawnCollector([...args, "--listen", `127.0.0.1:${port}`], env)
  track(collector.child)
  const metricsUrl = `http://127.0.0.1:${port}/metrics`
  const metric = async (name: string, labels: Readonly<Record<string, string>> = {}) => {
    const text = await fetch(metricsUrl).then((r) => r.text())
    let sum = 0
    for (const line of text.split("\n")) {
      const match = /^([a-zA-Z0-9_:]+)(?:\{(.*)\})? ([0-9.e+-]+|NaN)$/.exec(line)
      if (match === null || match[1] !== name) continue
      const has = Object.entries(labels).every(([k, v]) => (match[2] ?? "").includes(`${k}="${v}"`))
      if (has) sum += Number(match[3])
    }
    return sum
  }
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (signal === "SIGTERM") return stopProcess(collector.child, 30_000)
    collector.child.kill(signal)
    await collector.exited
  }
  // Up once its probe server answers.
  await eventually(
    async () => {
      const { exitCode } = collector.child
      if (exitCode !== null) {
        const { stdout, stderr } = collector.output
        throw new Error(`the collector exited with ${exitCode}:\n${stderr}${stdout}\n(arguments: ${args.join(" ")})`)
      }
      await fetch(`http://127.0.0.1:${port}/healthz`)
    },
    30_000,
    100
  )
  return { ...collector, metricsUrl, metric, stop }
}

// ---- what was exported ----

export const attribute = (record: OtlpLogRecord, key: string): string | number | undefined => {
  const value = record.attributes[key] ?? record.resource[key]
  return typeof value === "string" || typeof value === "number" ? value : undefined
}

/** `log.record.uid` of each record: `<event uid>:<resourceVersion>`, one per occurrence. */
export const occurrenceIds = (records: ReadonlyArray<OtlpLogRecord>): ReadonlyArray<string> =>
  records.map((r) => String(attribute(r, "log.record.uid")))

/** Occurrences that arrived more than once. */
export const repeated = (ids: ReadonlyArray<string>): ReadonlyArray<string> =>
  ids.filter((id, i) => ids.indexOf(id) !== i)

export const withReason = (records: ReadonlyArray<OtlpLogRecord>, reason: string): ReadonlyArray<OtlpLogRecord> =>
  records.filter((r) => attribute(r, "k8s.event.reason") === reason)

// ---- the API server's audit log ----

export interface AuditEntry {
  readonly user: string
  readonly verb: string
  readonly requestURI: string
  readonly code: number
  readonly resource: string
  readonly namespace: string
}

/** Every request the audit log recorded as answered (ResponseComplete), of one user if given. */
export const auditEntries = (auditLog: string, user?: string): ReadonlyArray<AuditEntry> =>
  readFileSync(auditLog, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .flatMap((line): Array<AuditEntry> => {
      const entry: unknown = JSON.parse(line)
      if (!isKubeObject(entry) || entry["stage"] !== "ResponseComplete") return []
      const userInfo = entry["user"]
      const username = isKubeObject(userInfo) && typeof userInfo["username"] === "string" ? userInfo["username"] : ""
      if (user !== undefined && username !== user) return []
      const status = entry["responseStatus"]
      const objectRef = isKubeObject(entry["objectRef"]) ? entry["objectRef"] : {}
      return [
        {
          user: username,
          verb: String(entry["verb"]),
          requestURI: String(entry["requestURI"]),
          code: isKubeObject(status) && typeof status["code"] === "number" ? status["code"] : 0,
          resource: typeof objectRef["resource"] === "string" ? objectRef["resource"] : "",
          namespace: typeof objectRef["namespace"] === "string" ? objectRef["namespace"] : ""
        }
      ]
    })

const numberAt = (object: unknown, ...path: ReadonlyArray<string>): number | undefined => {
  let at: unknown = object
  for (const key of path) at = isKubeObject(at) ? at[key] : undefined
  return typeof at === "number" ? at : undefined
}

const stringAt = (object: unknown, ...path: ReadonlyArray<string>): string | undefined => {
  let at: unknown = object
  for (const key of path) at = isKubeObject(at) ? at[key] : undefined
  return typeof at === "string" ? at : undefined
}

/** How many times the stored Event says it happened, in either API's spelling. */
const storedCount = (event: unknown): number =>
  numberAt(event, "series", "count") ?? numberAt(event, "count") ?? numberAt(event, "deprecatedCount") ?? 1

export interface StoredOccurrence {
  /** `<uid>:<resourceVersion>`, as `log.record.uid` names it. */
  readonly id: string
  readonly namespace: string
  readonly reason: string
  readonly count: number
}

/**
 * Every occurrence the API server stored, from its audit log: each successful create of an Event, and each
 * update or patch that raised its count (core/v1 `count`, events.k8s.io/v1 `series.count`). Only Events created
 * after `afterLine` audit lines, so that what a test expects started while its collector was watching.
 */
export const storedOccurrences = (auditLog: string, afterLine = 0): ReadonlyArray<StoredOccurrence> => {
  const lastCount = new Map<string, number>()
  const out: Array<StoredOccurrence> = []
  const lines = readFileSync(auditLog, "utf8")
    .split("\n")
    .filter((l) => l !== "")
  lines.forEach((line, index) => {
    const entry: unknown = JSON.parse(line)
    if (stringAt(entry, "stage") !== "ResponseComplete" || stringAt(entry, "objectRef", "resource") !== "events") return
    const code = numberAt(entry, "responseStatus", "code") ?? 0
    const event = isKubeObject(entry) ? entry["responseObject"] : undefined
    const uid = stringAt(event, "metadata", "uid")
    const rv = stringAt(event, "metadata", "resourceVersion")
    if (code < 200 || code > 299 || uid === undefined || rv === undefined) return
    const verb = stringAt(entry, "verb")
    if (verb === "create" && index < afterLine) return
    if (verb !== "create" && !lastCount.has(uid)) return
    const count = storedCount(event)
    const previous = lastCount.get(uid)
    lastCount.set(uid, count)
    if (previous !== undefined && count <= previous) return
    out.push({
      id: `${uid}:${rv}`,
      namespace: stringAt(event, "metadata", "namespace") ?? "",
      reason: stringAt(event, "reason") ?? "",
      count
    })
  })
  return out
}

/** Lines in the audit log so far: mark the start of what a test expects with `storedOccurrences`. */
export const auditLines = (auditLog: string): number =>
  readFileSync(auditLog, "utf8")
    .split("\n")
    .filter((l) => l !== "").length

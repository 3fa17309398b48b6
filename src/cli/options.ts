/**
 * Every option the collector takes, in one table: flag, environment variables, YAML key (the table's own
 * camelCase key), parser, default and help. `--help`, the loader and `--print-config` all read it.
 * An option's environment variable is `K8S_EVENT_COLLECTOR_` and its flag in upper case unless the entry names
 * others: the OpenTelemetry SDK's (`OTEL_...`), `K8S_CLUSTER_NAME`, or none.
 */
import { Duration, Either } from "effect"
import { parseCheckpointSpec } from "../checkpoint/CheckpointSpec.ts"
import { parseRuleFlag } from "../rules/config.ts"
import type { Rule } from "../rules/filter.ts"
import { parseSeverityName } from "../rules/severity.ts"
import { parseListen } from "../observability/HttpServer.ts"
import * as V from "./values.ts"

interface EnvSource {
  readonly name: string
  /** Rewrites the variable's value into the option's form (e.g. a base URL into the logs URL). */
  readonly map?: (value: string) => string
}

/** An entry of the table as written; `option` fills in what follows from it. */
interface OptionEntry<A> {
  readonly flag: string
  /**
   * The environment variables that set it, the first one set winning. Left out: one, named after the flag
   * (`envName`); `[]` for none.
   */
  readonly env?: ReadonlyArray<EnvSource>
  readonly valueName: string
  readonly parse: (raw: unknown) => V.Parsed<A>
  /** Rewrites a value given as a flag or in the file (the environment has `EnvSource.map`). */
  readonly normalize?: (raw: unknown) => unknown
  readonly default?: NoInfer<A>
  /** How `--help` shows the default, when it is not simply the value. */
  readonly defaultText?: string
  readonly help: string
  /** Shown as `<redacted>` by `--print-config`. */
  readonly secret?: boolean
  /** A flag that takes no value (`--leader-elect`). */
  readonly boolean?: boolean
  /** A flag that may be repeated; the environment variable separates values with `;`. `parse` gets the list. */
  readonly multiple?: boolean
  /** Where the configuration file says this instead of under the option's own name. */
  readonly fileSection?: string
}

/** An option as `--help`, the loader and the chart read it: its entry with the environment variables filled in. */
export interface OptionSpec<A> extends OptionEntry<A> {
  readonly env: ReadonlyArray<EnvSource>
}

/** The collector's own variable for a flag: `--poll-interval` is `K8S_EVENT_COLLECTOR_POLL_INTERVAL`. */
const envName = (flag: string): string => `K8S_EVENT_COLLECTOR_${flag.toUpperCase().replaceAll("-", "_")}`

function option<A>(entry: OptionEntry<A> & { readonly default: NoInfer<A> }): OptionSpec<A> & { readonly default: A }
function option<A>(entry: OptionEntry<A>): OptionSpec<A>
function option<A>(entry: OptionEntry<A>): OptionSpec<A> {
  return { ...entry, env: entry.env ?? [{ name: envName(entry.flag) }] }
}

type DurationEntry = Omit<OptionEntry<Duration.Duration>, "valueName" | "parse">

/** An option whose value is a duration (`500ms`, `1m30s`; a bare number is milliseconds). */
function duration(
  entry: DurationEntry & { readonly default: Duration.Duration }
): OptionSpec<Duration.Duration> & { readonly default: Duration.Duration }
function duration(entry: DurationEntry): OptionSpec<Duration.Duration>
function duration(entry: DurationEntry): OptionSpec<Duration.Duration> {
  return option({ ...entry, valueName: "DURATION", parse: V.duration })
}

type ChoiceEntry<L extends string> = Omit<OptionEntry<L>, "valueName" | "parse"> & {
  readonly choices: ReadonlyArray<L>
}

/** An option that is one of a few words, shown as `a|b|c` (which the chart's schema makes an enum). */
function choice<const L extends string>(
  entry: ChoiceEntry<L> & { readonly default: NoInfer<L> }
): OptionSpec<L> & { readonly default: L }
function choice<const L extends string>(entry: ChoiceEntry<L>): OptionSpec<L>
function choice<const L extends string>({ choices, ...entry }: ChoiceEntry<L>): OptionSpec<L> {
  return option({ ...entry, valueName: choices.join("|"), parse: V.oneOf(...choices) })
}

/** A flag that takes no value, off unless given. */
const toggle = (entry: Omit<OptionEntry<boolean>, "valueName" | "parse" | "boolean" | "default">) =>
  option({ ...entry, valueName: "", boolean: true, parse: V.boolean, default: false })

/** The OTLP exporter's variables for a setting: the one for logs, then the one for every signal. */
const otlpEnv = (setting: string, fromGeneral?: (value: string) => string): ReadonlyArray<EnvSource> => [
  { name: `OTEL_EXPORTER_OTLP_LOGS_${setting}` },
  fromGeneral === undefined
    ? { name: `OTEL_EXPORTER_OTLP_${setting}` }
    : { name: `OTEL_EXPORTER_OTLP_${setting}`, map: fromGeneral }
]

/** The OTLP spec: a base endpoint gets the signal path appended. */
const logsUrlFromBase = (base: string): string => base.replace(/\/+$/, "") + "/v1/logs"
/** A URL given as a flag or in the file is used as it is, unless it has no path: then it is a base endpoint. */
const logsUrl = (url: unknown): unknown => {
  if (typeof url !== "string") return url
  try {
    const u = new URL(url.trim())
    return u.pathname === "/" || u.pathname === "" ? logsUrlFromBase(url.trim()) : url.trim()
  } catch {
    return url
  }
}

/** Repeated rule flags, or `;`-separated rules from the environment; all problems in one sentence. */
const ruleList = (raw: unknown): V.Parsed<ReadonlyArray<Rule>> => {
  const texts = Array.isArray(raw) ? raw.map(String) : typeof raw === "string" ? raw.split(";") : []
  const rules: Array<Rule> = []
  const problems: Array<string> = []
  for (const text of texts.map((t) => t.trim()).filter((t) => t !== "")) {
    Either.match(parseRuleFlag(text), {
      onLeft: (p) => problems.push(`${JSON.stringify(text)}: ${p}`),
      onRight: (r) => rules.push(r)
    })
  }
  return problems.length > 0 ? Either.left(problems.join("; ")) : Either.right(rules)
}

type Source = { readonly kind: "kube" } | { readonly kind: "file"; readonly path: string }

const source = (raw: unknown): V.Parsed<Source> => {
  const s = typeof raw === "string" ? raw.trim() : ""
  if (s === "kube") return Either.right({ kind: "kube" })
  if (s.startsWith("file:") && s.length > "file:".length)
    return Either.right({ kind: "file", path: s.slice("file:".length) })
  return Either.left(`must be kube or file:PATH; got ${JSON.stringify(raw)}`)
}

const protocol = (raw: unknown): V.Parsed<"http/protobuf" | "http/json"> =>
  raw === "grpc"
    ? Either.left("grpc is not supported: use http/protobuf (the Collector's port 4318)")
    : V.oneOf("http/protobuf", "http/json")(raw)

export const OPTIONS = {
  config: option({
    flag: "config",
    valueName: "FILE",
    parse: V.text,
    help:
      "A YAML file with any of these options under their camelCase names (batchSize: 512). Flags override the " +
      "environment, which overrides the file."
  }),
  source: option({
    flag: "source",
    env: [],
    valueName: "kube|file:PATH",
    parse: source,
    default: { kind: "kube" },
    defaultText: "kube",
    help:
      "Where events come from: the Kubernetes API (kube), or a `kubectl get events -o json|yaml` dump (file:PATH), " +
      "exported once, after which the process exits."
  }),
  kubeconfig: option({
    flag: "kubeconfig",
    env: [],
    valueName: "PATH",
    parse: V.text,
    defaultText: "$KUBECONFIG (one or more files), ~/.kube/config, then the in-cluster service account",
    help: "The kubeconfig for --source kube."
  }),
  context: option({
    flag: "context",
    valueName: "NAME",
    parse: V.text,
    defaultText: "the kubeconfig's current context",
    help: "The kubeconfig context to use."
  }),
  namespaces: option({
    flag: "namespaces",
    valueName: "A,B,...",
    parse: V.namespaces,
    default: [],
    defaultText: "all, with one cluster-wide watch",
    help:
      "Watch only these namespaces (one watch each; needs only a Role in each). Each must be a valid namespace " +
      "name; an empty list is an error."
  }),
  api: choice({
    flag: "api",
    choices: ["core/v1", "events.k8s.io/v1"],
    default: "core/v1",
    help: "Which Event API to read. Both serve the same objects, so only one is ever read."
  }),
  mode: choice({
    flag: "mode",
    choices: ["watch", "poll"],
    default: "watch",
    help:
      "watch: list, then follow changes as they happen. poll: list every --poll-interval, for clusters that forbid " +
      "watch."
  }),
  pollInterval: duration({
    flag: "poll-interval",
    default: Duration.seconds(60),
    help: "Time between two lists in poll mode."
  }),
  listPageSize: option({
    flag: "list-page-size",
    valueName: "N",
    parse: V.wholeNumber(1, 10_000),
    default: 500,
    help: "Events per list page (`limit`)."
  }),
  watchTimeout: duration({
    flag: "watch-timeout",
    default: Duration.minutes(5),
    help:
      "How long the server keeps one watch open (stretched by a random 0-100 %); it is then resumed from the last " +
      "resourceVersion."
  }),
  watchIdleTimeout: duration({
    flag: "watch-idle-timeout",
    default: Duration.minutes(11),
    help:
      "A watch that delivers nothing, not even a bookmark, and is not ended by the server for this long is taken " +
      "for dead and started again. Keep it above twice --watch-timeout: a quiet watch is ended by the server only " +
      "then."
  }),
  apiRetryInitial: duration({
    flag: "api-retry-initial",
    default: Duration.seconds(1),
    help: "First wait after a failed call to the Kubernetes API; it doubles, with jitter."
  }),
  apiRetryMax: duration({
    flag: "api-retry-max",
    default: Duration.seconds(30),
    help: "Longest wait between two calls to a failing Kubernetes API (a longer Retry-After is honoured, up to 30s)."
  }),
  checkpoint: option({
    flag: "checkpoint",
    valueName: "none|file:PATH|configmap:NAMESPACE/NAME",
    parse: (raw) => Either.flatMap(V.text(raw), (text) => parseCheckpointSpec(text)),
    default: { _tag: "None" },
    defaultText: "none",
    help:
      "Where to keep how far the export got, so that a restart resumes there: a file (one replica with a volume) or " +
      "a ConfigMap (a Deployment; shared by replicas under --leader-elect)."
  }),
  checkpointInterval: duration({
    flag: "checkpoint-interval",
    default: Duration.seconds(1),
    help:
      "Least time between two checkpoint saves (0 saves after every acknowledged batch). A crash re-sends at most " +
      "what was acknowledged in this time plus the batches in flight (--export-concurrency)."
  }),
  leaderElect: toggle({
    flag: "leader-elect",
    help: "Run as one of several replicas: only the holder of --lease collects; the others wait to take over."
  }),
  lease: option({
    flag: "lease",
    valueName: "NAMESPACE/NAME",
    parse: V.namespacedName("coordination.k8s.io/v1 Lease"),
    defaultText: "required with --leader-elect",
    help: "The Lease the replicas compete for."
  }),
  leaseDuration: duration({
    flag: "lease-duration",
    default: Duration.seconds(15),
    help: "How long a lease lasts without renewal: the longest a crashed leader's place stays empty."
  }),
  leaseRenewDeadline: duration({
    flag: "lease-renew-deadline",
    default: Duration.seconds(10),
    help: "A leader that could not renew for this long stops collecting at once (before the lease can pass to another)."
  }),
  leaseRetryPeriod: duration({
    flag: "lease-retry-period",
    default: Duration.seconds(2),
    help: "How often the leader renews and a standby tries to take over."
  }),
  eventTtl: duration({
    flag: "event-ttl",
    default: Duration.hours(1),
    help:
      "The API server's --event-ttl. A record still undelivered when its occurrence is this old is dropped (counted " +
      "as older_than_ttl), and the checkpoint forgets occurrences older than this."
  }),
  listen: option({
    flag: "listen",
    valueName: "HOST:PORT|off",
    parse: (raw) => {
      const text = typeof raw === "string" ? raw.trim() : typeof raw === "number" ? `:${raw}` : ""
      if (text === "off") return Either.right(undefined)
      const hp = parseListen(text)
      return hp === undefined
        ? Either.left(`must be HOST:PORT (e.g. 0.0.0.0:8080, :9090) or off; got ${JSON.stringify(raw)}`)
        : Either.right(hp)
    },
    default: { host: "0.0.0.0", port: 8080 },
    defaultText: "0.0.0.0:8080; for the demo 127.0.0.1 on a free port",
    help: "Where /healthz, /readyz and /metrics are served (for --source kube and the demo)."
  }),
  stallTimeout: duration({
    flag: "stall-timeout",
    default: Duration.minutes(15),
    help:
      "/healthz fails when the leader heard nothing from the API (no event, bookmark, list page or watch ended by " +
      "the server) for this long, so that the pod is restarted."
  }),
  shutdownTimeout: duration({
    flag: "shutdown-timeout",
    default: Duration.seconds(20),
    help:
      "On SIGTERM or SIGINT, how long to wait for the queued records to be delivered before exiting; what is " +
      "still undelivered then is counted as dropped (reason shutdown) and the exit code is 1."
  }),
  enrichment: option({
    flag: "enrichment",
    valueName: "on|off",
    parse: V.onOff,
    default: true,
    defaultText: "on",
    help:
      "Look up the involved pod and its owners (ReplicaSet, Deployment, Job, CronJob, StatefulSet, DaemonSet) for " +
      "the k8s.* attributes and service.name. Needs list, watch and get on pods, replicasets and jobs (see " +
      "--enrichment-watch) and get on deployments, statefulsets, daemonsets, cronjobs for events about them; " +
      "without it records go out unenriched."
  }),
  podLabels: option({
    flag: "pod-labels",
    valueName: "KEY,...",
    parse: V.list,
    default: [],
    help: "Pod labels copied onto records as k8s.pod.label.<key>."
  }),
  serviceNameFromLabels: toggle({
    flag: "service-name-from-labels",
    help:
      "Derive service.name from app.kubernetes.io/instance, then app.kubernetes.io/name (after the " +
      "resource.opentelemetry.io/service.name annotation). Off by default, as in the OpenTelemetry Operator, so " +
      "events name services as auto-instrumented traces do."
  }),
  enrichmentWatch: option({
    flag: "enrichment-watch",
    valueName: "on|off",
    parse: V.onOff,
    default: true,
    defaultText: "on",
    help:
      "Keep pods, ReplicaSets and Jobs in list+watch caches (ReplicaSets and Jobs as metadata only), listed before " +
      "the first record goes out, so that every record about an existing pod carries its owners. Needs list and " +
      "watch on pods, replicasets and jobs. off: one GET per object, at most --enrichment-qps."
  }),
  enrichmentCacheSize: option({
    flag: "enrichment-cache-size",
    valueName: "N",
    parse: V.wholeNumber(1, 10_000_000),
    default: 10_000,
    help:
      "Answers of GETs (objects, not-found, forbidden) kept for enrichment; the list+watch caches hold every pod, " +
      "ReplicaSet and Job, and at most this many deleted ones, for two minutes after their deletion."
  }),
  enrichmentCacheTtl: duration({
    flag: "enrichment-cache-ttl",
    default: Duration.minutes(5),
    help:
      "How long a looked-up object (or a not-found or forbidden answer) is reused; where watch is refused and list " +
      "allowed, how often the enrichment caches are listed again."
  }),
  enrichmentTimeout: duration({
    flag: "enrichment-timeout",
    default: Duration.millis(250),
    help: "The most a batch of events waits for its lookups; then they go out with what is known."
  }),
  enrichmentQps: option({
    flag: "enrichment-qps",
    valueName: "N",
    parse: V.wholeNumber(1, 10_000),
    default: 50,
    help: "Most enrichment lookups per second sent to the API server (bursts of one second's worth)."
  }),
  include: option({
    flag: "include",
    valueName: "RULE",
    multiple: true,
    fileSection: "filters.include",
    parse: (raw) => ruleList(raw),
    default: [],
    help:
      "Keep only events matching a rule: field=pattern pairs joined by commas, all of which must match (namespace, " +
      "kind, name, reason, type, component, message, labels.KEY; globs with * and ?, regexes as /.../). Repeat for " +
      "more rules; any may match."
  }),
  exclude: option({
    flag: "exclude",
    valueName: "RULE",
    multiple: true,
    fileSection: "filters.exclude",
    parse: (raw) => ruleList(raw),
    default: [],
    help: "Leave out events matching a rule (same form as --include); exclusion wins over inclusion."
  }),
  minSeverity: option({
    flag: "min-severity",
    valueName: "trace|debug|info|warn|error|fatal",
    fileSection: "filters.minSeverity",
    parse: parseSeverityName,
    help: "Leave out events below this severity (after the severity rules)."
  }),
  maxEventAge: duration({
    flag: "max-event-age",
    fileSection: "filters.maxEventAge",
    help: "Leave out occurrences already older than this when first seen (e.g. what a first list finds)."
  }),
  throttle: option({
    flag: "throttle",
    valueName: "N/DURATION|off",
    fileSection: "throttle",
    parse: (raw) => {
      const text = typeof raw === "string" ? raw.trim() : ""
      if (text === "off") return Either.right(undefined)
      const [n, window] = text.split("/")
      return Either.flatMap(V.wholeNumber(1, 1_000_000)(n ?? ""), (limit) =>
        Either.map(V.duration(window ?? ""), (w) => ({ limit, windowMs: Duration.toMillis(w) }))
      ).pipe(
        Either.mapLeft(
          () =>
            `must be N/DURATION (at most N records per event per window, e.g. 10/1m) or off; got ${JSON.stringify(raw)}`
        )
      )
    },
    help:
      "Noise control: at most N records per object and reason in each window; the rest is summed up in one record " +
      "(k8s.event.suppressed_count) when the window ends. Off unless set."
  }),
  exporter: choice({
    flag: "exporter",
    env: [{ name: "OTEL_LOGS_EXPORTER" }],
    choices: ["otlp", "console", "none"],
    default: "otlp",
    help: "otlp sends to an OTLP/HTTP endpoint; console prints one OTLP/JSON record per line on stdout; none discards."
  }),
  consoleFormat: choice({
    flag: "console-format",
    choices: ["json", "text"],
    default: "json",
    defaultText: "json (text for the demo)",
    help: "With --exporter console: json prints each record as an OTLP/JSON request; text prints one readable line."
  }),
  otlpEndpoint: option({
    flag: "otlp-endpoint",
    env: otlpEnv("ENDPOINT", logsUrlFromBase),
    valueName: "URL",
    parse: V.url,
    normalize: logsUrl,
    default: "http://localhost:4318/v1/logs",
    defaultText: "http://localhost:4318 (/v1/logs is appended to a URL without a path)",
    help: "The OTLP/HTTP endpoint."
  }),
  otlpProtocol: option({
    flag: "otlp-protocol",
    env: otlpEnv("PROTOCOL"),
    valueName: "http/protobuf|http/json",
    parse: protocol,
    default: "http/protobuf",
    help: "OTLP encoding."
  }),
  otlpHeaders: option({
    flag: "otlp-headers",
    env: otlpEnv("HEADERS"),
    valueName: "K=V,...",
    parse: V.keyValues,
    default: {},
    secret: true,
    help: "Headers sent with every export (e.g. Authorization=Bearer%20TOKEN). Never printed."
  }),
  otlpUsername: option({
    flag: "otlp-username",
    valueName: "NAME",
    parse: V.text,
    help: "HTTP basic authentication to the endpoint: the user name (with --otlp-password)."
  }),
  otlpPassword: option({
    flag: "otlp-password",
    valueName: "TEXT",
    parse: V.text,
    secret: true,
    help: "HTTP basic authentication to the endpoint: the password (with --otlp-username). Never printed."
  }),
  otlpCompression: choice({
    flag: "otlp-compression",
    env: otlpEnv("COMPRESSION"),
    choices: ["gzip", "none"],
    default: "gzip",
    help: "Request compression. Event text compresses about tenfold."
  }),
  otlpTimeout: duration({
    flag: "otlp-timeout",
    env: otlpEnv("TIMEOUT"),
    default: Duration.seconds(10),
    help: "Time allowed for one export request (a bare number is milliseconds); a failed one is retried with backoff."
  }),
  otlpCertificate: option({
    flag: "otlp-certificate",
    env: otlpEnv("CERTIFICATE"),
    valueName: "PATH",
    parse: V.text,
    help: "PEM file of the certificate authority that signed the OTLP endpoint's certificate (https:// endpoints)."
  }),
  otlpClientCertificate: option({
    flag: "otlp-client-certificate",
    env: otlpEnv("CLIENT_CERTIFICATE"),
    valueName: "PATH",
    parse: V.text,
    help: "PEM client certificate chain, for endpoints that require mutual TLS."
  }),
  otlpClientKey: option({
    flag: "otlp-client-key",
    env: otlpEnv("CLIENT_KEY"),
    valueName: "PATH",
    parse: V.text,
    secret: true,
    help: "PEM private key of the client certificate."
  }),
  clusterName: option({
    flag: "cluster-name",
    env: [{ name: "K8S_CLUSTER_NAME" }],
    valueName: "NAME",
    parse: V.text,
    help: "Sets k8s.cluster.name on every record."
  }),
  resourceAttributes: option({
    flag: "resource-attributes",
    env: [{ name: "OTEL_RESOURCE_ATTRIBUTES" }],
    valueName: "K=V,...",
    parse: V.keyValues,
    default: {},
    help: "Resource attributes added to every record; attributes derived from the event win over them."
  }),
  serviceName: option({
    flag: "service-name",
    env: [{ name: "OTEL_SERVICE_NAME" }],
    valueName: "NAME",
    parse: V.text,
    help: "service.name for records whose object has no workload to name it after."
  }),
  batchSize: option({
    flag: "batch-size",
    valueName: "N",
    parse: V.wholeNumber(1, 100_000),
    default: 512,
    help: "Most records in one export request; never more than --queue-size."
  }),
  batchLinger: duration({
    flag: "batch-linger",
    default: Duration.millis(200),
    help:
      "The longest a batch waits to fill. It waits only while an export is in flight (it goes once that is " +
      "answered) or while records arrive fast enough to fill it by then; otherwise it is sent at once."
  }),
  exportConcurrency: option({
    flag: "export-concurrency",
    valueName: "N",
    parse: V.wholeNumber(1, 64),
    default: 4,
    help: "Export requests in flight at once (the checkpoint still moves in order)."
  }),
  queueSize: option({
    flag: "queue-size",
    valueName: "N",
    parse: V.wholeNumber(1, 10_000_000),
    // Also how many read events may wait for the pipeline (at least 1 000) before the watch pauses. Both sit in the
    // heap: the image's --max-old-space-size is sized for this default (docs/PERFORMANCE.md, "Peak RSS").
    default: 2_000,
    help: "Records held while the backend is slow or down; when full, reading from the source pauses."
  }),
  retryInitial: duration({
    flag: "retry-initial",
    default: Duration.seconds(1),
    help:
      "First wait before an export is tried again; it doubles each time. A longer Retry-After is waited out, " +
      "up to 5m."
  }),
  retryMax: duration({
    flag: "retry-max",
    default: Duration.seconds(30),
    help: "Longest wait between two export attempts."
  }),
  retryGiveUp: duration({
    flag: "retry-give-up",
    defaultText: "never for --source kube, 2m for --source file",
    help:
      "Stop retrying a batch this long after its first attempt, the attempt in flight included, and count its " +
      "records as dropped (reason retries_exhausted)."
  }),
  logLevel: choice({
    flag: "log-level",
    choices: ["debug", "info", "warn", "error"],
    default: "info",
    help: "The collector's own log level (its logs go to stderr)."
  }),
  logFormat: choice({
    flag: "log-format",
    choices: ["json", "logfmt", "text"],
    defaultText: "text when stderr is a terminal, else json",
    help:
      "The collector's own logs: json or logfmt objects for a log shipper, " +
      "or text (time, level, message, key=value) for a person."
  }),
  printConfig: toggle({
    flag: "print-config",
    env: [],
    help: "Print the effective configuration (secrets redacted) and exit."
  })
} as const

type Options = typeof OPTIONS
export type OptionKey = keyof Options
type ValueOf<S> = S extends OptionSpec<infer A> ? A : never
/** The validated value of every option; those without a default may be absent. */
export type OptionValues = {
  readonly [K in OptionKey]: Options[K] extends { readonly default: unknown }
    ? ValueOf<Options[K]>
    : ValueOf<Options[K]> | undefined
}

export const isOptionKey = (name: string): name is OptionKey => Object.hasOwn(OPTIONS, name)

/** Every option's key, in the order of the table (that of `--print-config` and of the problems). */
export const OPTION_KEYS: ReadonlyArray<OptionKey> = Object.keys(OPTIONS).filter(isOptionKey)

/**
 * The collector's records as Loki stores them (test/deploy/loki.ts writes out Loki's documented OTLP mapping),
 * under grafana/loki.yaml: which label selects the event streams, what `detected_level` a record gets, whether a
 * raised event's severity text and number agree, and the Tempo data source's trace-to-events link run against
 * those records with the pod name as an index label and as structured metadata.
 */
import { describe, expect, it } from "vitest"
import {
  APP_RECORD,
  DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS,
  DEPLOYMENT,
  EVENT_RECORDS,
  interpolate,
  LOKI_DEFAULTS,
  LOKI_FIELDS,
  levelOfSeverityNumber,
  type LokiEntry,
  lokiEntry,
  type LokiOtlpSettings,
  lokiSettings,
  logQueries,
  NAMESPACE,
  nonEmptyMatchers,
  NOT_RECOMMENDED_AS_LABELS,
  type OtlpRecord,
  POD,
  resourceAction,
  selects
} from "./loki.ts"
import { arr, at, LOKI_DEFAULT_INDEX_ATTRIBUTES, lokiName, readText, readYaml, text } from "./support.ts"

const lokiConfig = readYaml("grafana/loki.yaml")
const settings = lokiSettings(lokiConfig)

/** The resource attribute only the collector's records carry, and its index label. */
const EVENTS_ATTRIBUTE = "k8s.object.kind"
const EVENTS_LABEL = lokiName(EVENTS_ATTRIBUTE)

/** OpenTelemetry's severity numbers (the log data model): the first of the INFO, WARN and ERROR ranges. */
const INFO = 9
const WARN = 13
const ERROR = 17

type Name = keyof typeof EVENT_RECORDS
const names = Object.keys(EVENT_RECORDS) as ReadonlyArray<Name>
const entriesUnder = (s: LokiOtlpSettings): ReadonlyArray<{ name: Name; entry: LokiEntry }> =>
  names.map((name) => ({ name, entry: lokiEntry(s, EVENT_RECORDS[name]) }))

/** The same Loki with k8s.pod.name (and service.instance.id) an index label, as Loki's default list has it. */
const podIndexed: LokiOtlpSettings = {
  ...settings,
  defaultIndexAttributes: DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS
}

describe("Loki's default OTLP mapping", () => {
  it("the configuration reference's default list holds the docs page's, plus deployment.environment.name", () => {
    const reference = new Set(DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS)
    for (const a of LOKI_DEFAULT_INDEX_ATTRIBUTES) expect(reference, a).toContain(a)
    expect([...reference].filter((a) => !LOKI_DEFAULT_INDEX_ATTRIBUTES.has(a))).toEqual(["deployment.environment.name"])
  })

  it("indexes the pod name and nothing that tells an event from an application's log", () => {
    const pod = lokiEntry(LOKI_DEFAULTS, EVENT_RECORDS.podBackOff)
    const app = lokiEntry(LOKI_DEFAULTS, APP_RECORD)
    expect(pod.stream[lokiName("k8s.pod.name")]).toBe(POD)
    expect(pod.stream[EVENTS_LABEL]).toBeUndefined()
    expect(pod.metadata[EVENTS_LABEL]).toBe("Pod")
    // Every stream label the event has, the application's log in the same pod has too: no stream selector can
    // take the one without the other.
    for (const label of Object.keys(pod.stream)) expect(Object.keys(app.stream), label).toContain(label)
  })
})

describe("grafana/loki.yaml", () => {
  it(`indexes ${EVENTS_ATTRIBUTE}, which every event record carries and no application's does`, () => {
    expect(resourceAction(settings, EVENTS_ATTRIBUTE)).toBe("index_label")
    // Not one of the attributes Loki's default list expects SDKs and the k8sattributes processor to set.
    expect(DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS).not.toContain(EVENTS_ATTRIBUTE)
    expect(Object.keys(APP_RECORD.resource)).not.toContain(EVENTS_ATTRIBUTE)
    for (const { name, entry } of entriesUnder(settings)) expect(entry.stream[EVENTS_LABEL], name).toMatch(/.+/)
    expect(lokiEntry(settings, APP_RECORD).stream[EVENTS_LABEL]).toBeUndefined()
  })

  it("indexes Loki's defaults but k8s.pod.name and service.instance.id, as Loki's labelling guide says", () => {
    expect([...settings.defaultIndexAttributes].sort()).toEqual(
      DEFAULT_RESOURCE_ATTRIBUTES_AS_INDEX_LABELS.filter((a) => !NOT_RECOMMENDED_AS_LABELS.includes(a)).sort()
    )
    const pod = lokiEntry(settings, EVENT_RECORDS.podBackOff)
    expect(pod.stream[lokiName("k8s.pod.name")]).toBeUndefined()
    expect(pod.metadata[lokiName("k8s.pod.name")]).toBe(POD)
  })

  it("indexes no attribute whose values are unbounded (names and uids of objects and events)", () => {
    const labels = new Set(entriesUnder(settings).flatMap(({ entry }) => Object.keys(entry.stream)))
    for (const l of labels) expect(l, l).not.toMatch(/_uid$|^k8s_object_name$|^k8s_event_|^k8s_pod_name$/)
  })

  it("gives each record the detected_level of its severity number: Normal info, Warning warn, raised error", () => {
    const level = (n: Name) => lokiEntry(settings, EVENT_RECORDS[n]).metadata[LOKI_FIELDS.detectedLevel]
    expect(EVENT_RECORDS.podPulled.severityNumber).toBe(INFO)
    expect(level("podPulled")).toBe("info")
    expect(EVENT_RECORDS.podBackOff.severityNumber).toBe(WARN)
    expect(level("podBackOff")).toBe("warn")
    expect(EVENT_RECORDS.nodeNotReady.severityNumber).toBe(ERROR)
    expect(level("nodeNotReady")).toBe("error")
    for (const { name, entry } of entriesUnder(settings)) {
      const n = EVENT_RECORDS[name].severityNumber
      if (n !== undefined) expect(entry.metadata[LOKI_FIELDS.detectedLevel], name).toBe(levelOfSeverityNumber(n))
    }
  })

  it("needs its log_level_fields: by default Loki reads the text, and a Normal event's text is its type", () => {
    const byDefault = lokiEntry({ ...settings, logLevelFields: LOKI_DEFAULTS.logLevelFields }, EVENT_RECORDS.podPulled)
    expect(byDefault.metadata[LOKI_FIELDS.detectedLevel]).toBe("Normal")
    expect(settings.logLevelFields.filter((f) => f.toLowerCase() === LOKI_FIELDS.severityText)).toEqual([])
  })
})

describe("a severity rule's verdict, as Loki sees it", () => {
  const raised: ReadonlyArray<Name> = ["nodeNotReady", "nodeOom", "podFailed", "jobFailed"]

  it("the default rules raise the critical reasons, and Pod Failed, to ERROR", () => {
    for (const n of raised) expect(EVENT_RECORDS[n].severityNumber, n).toBe(ERROR)
  })

  // Loki's default log_level_fields take the level from SeverityText, so a text that still says "Warning" (or
  // "Normal") for an ERROR record shows the event at the wrong level wherever Loki's defaults are in force.
  it("a raised event's SeverityText names the level of its SeverityNumber, so every Loki sees ERROR", () => {
    for (const n of raised) {
      const r: OtlpRecord = EVENT_RECORDS[n]
      expect(r.severityText?.toUpperCase(), n).toBe("ERROR")
      expect(lokiEntry(LOKI_DEFAULTS, r).metadata[LOKI_FIELDS.detectedLevel], n).toBe("error")
      expect(lokiEntry(settings, r).metadata[LOKI_FIELDS.detectedLevel], n).toBe("error")
    }
  })

  it("an event no rule raises keeps its type as its text", () => {
    expect(EVENT_RECORDS.podPulled.severityText).toBe("Normal")
    expect(EVENT_RECORDS.podBackOff.severityText).toBe("Warning")
  })
})

describe("Tempo's trace-to-events link", () => {
  const datasources = readYaml("grafana/provisioning/datasources/datasources.yaml")
  const tempo = arr(at(datasources, "datasources")).find((d) => at(d, "type") === "tempo")
  const link = at(tempo, "jsonData", "tracesToLogsV2")
  const raw = text(at(link, "query"), "tracesToLogsV2.query")
  // Grafana's provisioning reads `$NAME` and `${NAME}` as environment variables; `$$` is a literal `$`.
  const template = raw.replaceAll("$$", "$")
  const span = {
    "k8s.namespace.name": NAMESPACE,
    "k8s.pod.name": POD,
    "k8s.deployment.name": DEPLOYMENT
  }
  const found = (s: LokiOtlpSettings, tags: Readonly<Record<string, string>>): ReadonlyArray<Name> => {
    const [query, ...more] = logQueries(interpolate(template, {}, tags))
    if (query === undefined || more.length > 0) throw new Error(`one log query expected: ${template}`)
    return entriesUnder(s)
      .filter(({ entry }) => selects(query, entry))
      .map(({ name }) => name)
  }
  const POD_AND_OWNERS: ReadonlyArray<Name> = [
    "podBackOff",
    "podPulled",
    "podFailed",
    "replicaSetCreated",
    "deploymentScaled"
  ]

  it("is a custom query, escaped for provisioning", () => {
    expect(at(link, "customQuery")).toBe(true)
    expect(raw.replaceAll("$$", "")).not.toContain("$")
    expect(readText("grafana/provisioning/datasources/datasources.yaml").replaceAll("$$", "")).not.toMatch(/\$\{?[A-Z]/)
  })

  it("selects by the namespace and the events label only, index labels with the pod name indexed or not", () => {
    const [query] = logQueries(interpolate(template, {}, span))
    expect(query?.selector.map((m) => m.name).sort()).toEqual([EVENTS_LABEL, lokiName("k8s.namespace.name")].sort())
    expect(query === undefined ? [] : nonEmptyMatchers(query, EVENTS_LABEL)).toHaveLength(1)
    for (const s of [settings, podIndexed]) {
      for (const m of query?.selector ?? [])
        expect(resourceAction(s, m.name.replaceAll("_", ".")), m.name).toBe("index_label")
    }
  })

  for (const [what, s] of [
    ["with k8s.pod.name as structured metadata (grafana/loki.yaml)", settings],
    ["with k8s.pod.name as an index label (Loki's default)", podIndexed]
  ] as const) {
    describe(what, () => {
      it("finds the pod's, its ReplicaSet's and Deployment's events, not its siblings' or another namespace's", () => {
        expect([...found(s, span)].sort()).toEqual([...POD_AND_OWNERS].sort())
      })

      it("without the Deployment on the span, finds the pod's own events only", () => {
        expect([...found(s, { ...span, "k8s.deployment.name": "" })].sort()).toEqual(
          ["podBackOff", "podPulled", "podFailed"].sort()
        )
      })

      it("without the pod on the span, finds the ReplicaSet's and Deployment's events, not every pod's", () => {
        expect([...found(s, { ...span, "k8s.pod.name": "" })].sort()).toEqual(
          ["replicaSetCreated", "deploymentScaled"].sort()
        )
      })

      it("never returns the application's own logs", () => {
        const [query] = logQueries(interpolate(template, {}, span))
        expect(query !== undefined && selects(query, lokiEntry(s, APP_RECORD))).toBe(false)
      })
    })
  }

  it("would find nothing under grafana/loki.yaml with the pod name in its stream selector", () => {
    const [naive] = logQueries(`{k8s_namespace_name="${NAMESPACE}", k8s_pod_name="${POD}"}`)
    expect(entriesUnder(settings).filter(({ entry }) => naive !== undefined && selects(naive, entry))).toEqual([])
    expect(entriesUnder(podIndexed).filter(({ entry }) => naive !== undefined && selects(naive, entry))).not.toEqual([])
  })
})

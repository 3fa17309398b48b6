/**
 * Golden files: the OTLP/JSON line `consoleLines([record])` writes for chosen events, parsed and pretty-printed,
 * in test/golden/<case>.json. `UPDATE_GOLDEN=1 npx vitest run test/translate/golden.test.ts` rewrites them;
 * otherwise any difference fails.
 *
 * Written by the code they check, they prove only that the output did not change. What the output should be is
 * checked against the raw events, independently of the code, by test/domain/fixtures.test.ts (core/v1) and
 * test/domain/eventsV1.test.ts (events.k8s.io/v1).
 *
 * Volatile fields (the list the Collector's golden tests would pass to their comparer to ignore):
 *   - logRecords[].observedTimeUnixNano: the collector's clock when it saw the event.
 * It is not ignored here: every record is translated with the fixed OBSERVED_AT below, so the files are
 * compared whole. Everything else in the output is derived from the event alone.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs"
import { describe, expect, it } from "vitest"
import type { HrTime } from "@opentelemetry/api"
import { ResourceCache } from "../../src/translate/resource.ts"
import { toLogRecord } from "../../src/translate/toLogRecord.ts"
import { consoleLines } from "../../src/sink/console.ts"
import {
  at,
  loadEventsV1,
  loadOpenShiftEvents,
  mustDecode,
  nonEmpty,
  onlyRecord,
  parseLines,
  uidOf
} from "../fixtures/support.ts"

const UPDATE = process.env["UPDATE_GOLDEN"] === "1"
const GOLDEN_DIR = new URL("../golden/", import.meta.url)
/** 2023-11-14T22:13:20.000000001Z: the one volatile field, pinned. */
const OBSERVED_AT: HrTime = [1_700_000_000, 1]
const BASE_ATTRIBUTES = { "k8s.cluster.name": "golden-cluster" }

interface GoldenCase {
  readonly file: string
  readonly uid: string
  readonly why: string
}

const CASES: ReadonlyArray<GoldenCase> = [
  // core/v1, from shared/fixtures/openshift-events
  {
    file: "core-series-pod-failedscheduling",
    uid: "4a7c8420-bf86-4c0a-8bf2-0e9805a44983",
    why: "series (count, lastObservedTime in µs), eventTime only, action, reporting controller, Warning"
  },
  {
    file: "core-eventtime-only-pod-scheduled",
    uid: "99569569-d9aa-48af-9c59-9a3e1e55e6b5",
    why: "eventTime with null first/lastTimestamp, no series, no count, Normal"
  },
  {
    file: "core-node-starting",
    uid: "18fcd5ae-bf84-4887-9bff-2622f291acb0",
    why: "cluster-scoped Node, kubelet source.host"
  },
  {
    file: "core-pod-apiserver-host",
    uid: "de6b04f9-d50e-4220-b134-0213bd02abe9",
    why: "a Pod reported by an API server with its own host name in source.host: no k8s.node.name"
  },
  {
    file: "core-no-reason-no-kind-no-type",
    uid: "fdbbbf15-5ec4-4bf1-a613-12d286717e7d",
    why: "reason, type and involvedObject.kind absent"
  },
  {
    file: "core-no-kind-operator-version",
    uid: "b2fcde2f-df3d-4012-8494-13e99c18e4e0",
    why: "involvedObject.kind and namespace absent"
  },
  {
    file: "core-no-count-namespace-creation-time",
    uid: "c8e96e5a-1292-43a2-b1da-1252402cd0f5",
    why: "count absent, all event times null (creationTimestamp used), kind Namespace"
  },
  {
    file: "core-container-unhealthy",
    uid: "f3e917ad-d82f-4316-ab87-cae3056649af",
    why: "container fieldPath, count 58, Warning"
  },
  {
    file: "core-non-ascii-config-changed",
    uid: "0a7af182-dc67-4d1e-b8c6-c673b8917bfc",
    why: "non-ASCII (U+00A0) in the message, Deployment"
  },
  {
    file: "core-long-message-replicaset",
    uid: "95328608-fd54-48c2-a3b0-cb3427b896fe",
    why: "9,927-character message, ReplicaSet"
  },
  { file: "core-lowercase-kind", uid: "9f4ae252-95aa-4e4b-b1d4-d65903ec402c", why: 'involvedObject.kind "deployment"' },
  {
    file: "core-reason-with-space",
    uid: "a74769d2-e7df-459f-98ef-60d5f5502052",
    why: 'reason "Status upgrade", ClusterOperator'
  },
  { file: "core-reason-with-brackets", uid: "e58d1d16-8baa-4b88-9812-d2300b95e744", why: 'reason "<unknown>Created"' },
  {
    file: "core-huge-count",
    uid: "d87a7f74-12ad-4ebe-9744-05452b14edfa",
    why: "count 101 (the largest in the fixtures), Warning"
  },
  {
    file: "core-lease-no-name",
    uid: "dbeb8925-740b-4973-a6d7-dd54f918ab66",
    why: "involvedObject with kind and apiVersion only"
  },
  // events.k8s.io/v1, from test/fixtures/events-v1.json
  {
    file: "v1-series-pod-failedscheduling",
    uid: "6f1d2c3b-0a4e-4b5c-8d7e-9f0a1b2c3d01",
    why: "events.k8s.io/v1 series, note, reportingController"
  },
  {
    file: "v1-container-backoff",
    uid: "6f1d2c3b-0a4e-4b5c-8d7e-9f0a1b2c3d02",
    why: "deprecatedCount/First/LastTimestamp, deprecatedSource, container fieldPath"
  },
  {
    file: "v1-node-not-ready",
    uid: "6f1d2c3b-0a4e-4b5c-8d7e-9f0a1b2c3d03",
    why: "cluster-scoped Node, eventTime only"
  },
  {
    file: "v1-deployment-huge-count",
    uid: "6f1d2c3b-0a4e-4b5c-8d7e-9f0a1b2c3d04",
    why: "deprecatedCount 2147483647, related ReplicaSet"
  },
  {
    file: "v1-cronjob-non-ascii-lowercase-type",
    uid: "6f1d2c3b-0a4e-4b5c-8d7e-9f0a1b2c3d05",
    why: 'type "warning", non-ASCII note (emoji, Cyrillic, CJK)'
  },
  {
    file: "v1beta1-unknown-type-no-note",
    uid: "6f1d2c3b-0a4e-4b5c-8d7e-9f0a1b2c3d06",
    why: 'events.k8s.io/v1beta1, type "Error", null note, +02:00 offset, reason with spaces and brackets'
  }
]

const rawByUid = new Map<string, unknown>()
for (const { raw } of [...loadOpenShiftEvents(), ...loadEventsV1()]) {
  const uid = uidOf(raw)
  if (uid !== undefined) rawByUid.set(uid, raw)
}
const rawOf = (uid: string): unknown => {
  const raw = rawByUid.get(uid)
  if (raw === undefined) throw new Error(`no fixture with metadata.uid ${uid}`)
  return raw
}

const render = (raw: unknown): string => {
  const record = toLogRecord(mustDecode(raw), {
    resources: new ResourceCache(BASE_ATTRIBUTES),
    observedAt: OBSERVED_AT
  })
  const lines = parseLines(consoleLines([record]))
  expect(lines).toHaveLength(1)
  return `${JSON.stringify(lines[0], null, 2)}\n`
}

describe("golden OTLP/JSON", () => {
  it.each(CASES)("$file: $why", ({ file, uid }) => {
    const actual = render(rawOf(uid))
    const path = new URL(`${file}.json`, GOLDEN_DIR)
    if (UPDATE) {
      mkdirSync(GOLDEN_DIR, { recursive: true })
      writeFileSync(path, actual)
      return
    }
    expect(existsSync(path), `missing ${path.pathname}: run with UPDATE_GOLDEN=1`).toBe(true)
    const expected = readFileSync(path, "utf8")
    expect(JSON.parse(actual)).toEqual(JSON.parse(expected))
    expect(actual).toBe(expected)
  })

  it("pins the one volatile field", () => {
    for (const { uid } of CASES) {
      const { record } = onlyRecord(JSON.parse(render(rawOf(uid))))
      expect(record.observedTimeUnixNano).toBe("1700000000000000001")
    }
  })

  it("the chosen events cover what they are meant to", () => {
    const raws = CASES.map((c) => rawOf(c.uid))
    const some = (label: string, p: (raw: unknown) => boolean) => expect(raws.some(p), label).toBe(true)
    const kind = (raw: unknown) => nonEmpty(at(raw, "involvedObject", "kind")) ?? nonEmpty(at(raw, "regarding", "kind"))
    some("core/v1", (r) => at(r, "apiVersion") === "v1")
    some("events.k8s.io/v1", (r) => at(r, "apiVersion") === "events.k8s.io/v1")
    some("series", (r) => at(r, "series", "count") !== undefined && at(r, "series") !== null)
    some(
      "eventTime only",
      (r) => at(r, "eventTime") !== null && at(r, "firstTimestamp") === null && at(r, "lastTimestamp") === null
    )
    some("Node", (r) => kind(r) === "Node")
    const host = (r: unknown) => nonEmpty(at(r, "source", "host")) ?? nonEmpty(at(r, "deprecatedSource", "host"))
    const component = (r: unknown) => nonEmpty(at(r, "source", "component"))
    some("a Pod and its kubelet's host", (r) => kind(r) === "Pod" && component(r) === "kubelet" && !!host(r))
    some("a Pod and another reporter's host", (r) => kind(r) === "Pod" && component(r) !== "kubelet" && !!host(r))
    some("missing reason", (r) => nonEmpty(at(r, "reason")) === undefined)
    some("missing kind", (r) => kind(r) === undefined)
    some(
      "missing count",
      (r) => at(r, "count") === undefined && at(r, "series") === undefined && at(r, "apiVersion") === "v1"
    )
    some("container fieldPath", (r) =>
      String(at(r, "involvedObject", "fieldPath") ?? at(r, "regarding", "fieldPath")).startsWith("spec.containers{")
    )
    some("non-ASCII", (r) => /[^\x00-\x7f]/.test(JSON.stringify(r)))
    some("very long message", (r) => String(at(r, "message")).length === 9927)
    some("lowercase kind", (r) => /^[a-z]/.test(kind(r) ?? ""))
    some("reason with a space", (r) => / /.test(String(at(r, "reason"))))
    some("reason with brackets", (r) => /[<>[\]]/.test(String(at(r, "reason"))))
    some("huge count", (r) => Number(at(r, "deprecatedCount")) > 2 ** 31 - 2)
    some("Warning", (r) => at(r, "type") === "Warning")
    some("Normal", (r) => at(r, "type") === "Normal")
    expect(new Set(CASES.map((c) => c.file)).size).toBe(CASES.length)
  })
})

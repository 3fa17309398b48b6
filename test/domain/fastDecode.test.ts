import { describe, expect, it } from "vitest"
import { Either } from "effect"
import {
  apiOf,
  decodeKubeEvent,
  decodeKubeEventWithSchema,
  type EventApi,
  fastDecode
} from "../../src/domain/KubeEvent.ts"
import { normalizeCoreEvent, toEventsV1 } from "@k8s-event-collector/sim"
import { isObject, loadEventsV1, loadOpenShiftEvents } from "../fixtures/support.ts"

/**
 * `decodeKubeEvent` takes a fast path of plain checks and falls back to the schemas when that path gives up. The
 * two must accept exactly the same objects with the same result: these compare them on every fixture, in both
 * APIs, and on malformed variants of each.
 */
type Json = Record<string, unknown>
const clone = (u: unknown): Json => {
  const c: unknown = JSON.parse(JSON.stringify(u))
  if (!isObject(c)) throw new Error("not an object")
  return { ...c }
}
const meta = (o: Json): Json => {
  const m = o["metadata"]
  if (!isObject(m)) throw new Error("no metadata")
  const copy = { ...m }
  o["metadata"] = copy
  return copy
}

const MUTATIONS: ReadonlyArray<readonly [string, (o: Json) => void]> = [
  [
    "count as text",
    (o) => {
      o["count"] = "3"
    }
  ],
  [
    "count not whole",
    (o) => {
      o["count"] = 2.5
    }
  ],
  [
    "count beyond safe integers",
    (o) => {
      o["count"] = 2 ** 60
    }
  ],
  [
    "count null",
    (o) => {
      o["count"] = null
    }
  ],
  [
    "name a number",
    (o) => {
      meta(o)["name"] = 1
    }
  ],
  [
    "no uid",
    (o) => {
      delete meta(o)["uid"]
    }
  ],
  [
    "no resourceVersion",
    (o) => {
      delete meta(o)["resourceVersion"]
    }
  ],
  [
    "metadata an array",
    (o) => {
      o["metadata"] = []
    }
  ],
  [
    "empty namespace",
    (o) => {
      meta(o)["namespace"] = ""
    }
  ],
  [
    "creationTimestamp null",
    (o) => {
      meta(o)["creationTimestamp"] = null
    }
  ],
  [
    "creationTimestamp not a time",
    (o) => {
      meta(o)["creationTimestamp"] = "yesterday"
    }
  ],
  [
    "lastTimestamp not a time",
    (o) => {
      o["lastTimestamp"] = "bad"
      o["deprecatedLastTimestamp"] = "bad"
    }
  ],
  [
    "lastTimestamp a number",
    (o) => {
      o["lastTimestamp"] = 5
      o["deprecatedLastTimestamp"] = 5
    }
  ],
  [
    "eventTime with an offset",
    (o) => {
      o["eventTime"] = "2021-01-01T00:00:00.5+02:00"
    }
  ],
  [
    "eventTime with nanoseconds",
    (o) => {
      o["eventTime"] = "2021-01-01T00:00:00.123456789Z"
    }
  ],
  [
    "involvedObject null",
    (o) => {
      o["involvedObject"] = null
      o["regarding"] = null
    }
  ],
  [
    "involvedObject an array",
    (o) => {
      o["involvedObject"] = []
      o["regarding"] = []
    }
  ],
  [
    "regarding missing",
    (o) => {
      delete o["involvedObject"]
      delete o["regarding"]
    }
  ],
  [
    "series",
    (o) => {
      o["series"] = { count: 4, lastObservedTime: "2021-01-01T00:00:00.123456Z" }
    }
  ],
  [
    "series null",
    (o) => {
      o["series"] = null
    }
  ],
  [
    "series count text",
    (o) => {
      o["series"] = { count: "a" }
    }
  ],
  [
    "series count huge, count null",
    (o) => {
      o["count"] = null
      o["series"] = { count: 2 ** 40 }
    }
  ],
  [
    "source null",
    (o) => {
      o["source"] = null
      o["deprecatedSource"] = null
    }
  ],
  [
    "source text",
    (o) => {
      o["source"] = "x"
      o["deprecatedSource"] = "x"
    }
  ],
  [
    "related empty name",
    (o) => {
      o["related"] = { kind: "Pod", name: "" }
    }
  ],
  [
    "related an array",
    (o) => {
      o["related"] = []
    }
  ],
  [
    "reason null",
    (o) => {
      o["reason"] = null
    }
  ],
  [
    "message a number",
    (o) => {
      o["message"] = 3
      o["note"] = 3
    }
  ],
  [
    "apiVersion a number",
    (o) => {
      o["apiVersion"] = 3
    }
  ],
  [
    "kind an object",
    (o) => {
      o["kind"] = {}
    }
  ]
]

const inputs = (): ReadonlyArray<readonly [string, Json, EventApi | undefined]> => {
  const out: Array<readonly [string, Json, EventApi | undefined]> = []
  const raws = [...loadOpenShiftEvents(), ...loadEventsV1()]
  for (const { source, raw } of raws) {
    const plain = clone(raw)
    out.push([source, plain, undefined])
    if (plain["apiVersion"] === "v1" || !("regarding" in plain)) {
      const core = clone(normalizeCoreEvent(plain))
      const m = meta(core)
      const v1 = clone(
        toEventsV1({
          ...core,
          apiVersion: "v1",
          kind: "Event",
          metadata: {
            ...(typeof m["namespace"] === "string" ? { namespace: m["namespace"] } : {}),
            name: String(m["name"]),
            uid: String(m["uid"] ?? "uid-1"),
            resourceVersion: String(m["resourceVersion"] ?? "1"),
            creationTimestamp: String(m["creationTimestamp"] ?? "2024-01-01T00:00:00Z")
          }
        })
      )
      out.push([`${source} (core/v1)`, core, "core/v1"], [`${source} (events.k8s.io/v1)`, v1, "events.k8s.io/v1"])
    }
  }
  return out
}

describe("the decode fast path", () => {
  const all = inputs()

  it("takes every fixture, with the schemas' result", () => {
    expect(all.length).toBeGreaterThan(277)
    for (const [source, u, from] of all) {
      const slow = decodeKubeEventWithSchema(u, from)
      if (Either.isLeft(slow)) continue
      const fast = fastDecode(u, apiOf(u, from))
      expect(fast, source).toBeDefined()
      expect(fast, source).toEqual(slow.right)
    }
  })

  it("accepts and rejects malformed variants exactly as the schemas do", () => {
    let rejected = 0
    let accepted = 0
    for (const [source, u, from] of all) {
      for (const [what, mutate] of MUTATIONS) {
        const m = clone(u)
        mutate(m)
        const slow = decodeKubeEventWithSchema(m, from)
        const both = decodeKubeEvent(m, from)
        const fast = fastDecode(m, apiOf(m, from))
        if (Either.isLeft(slow)) {
          rejected++
          expect(fast, `${source}: ${what}`).toBeUndefined()
          expect(Either.isLeft(both), `${source}: ${what}`).toBe(true)
          if (Either.isLeft(both)) expect(both.left.issues).toEqual(slow.left.issues)
        } else {
          accepted++
          expect(Either.getOrUndefined(both), `${source}: ${what}`).toEqual(slow.right)
          if (fast !== undefined) expect(fast, `${source}: ${what}`).toEqual(slow.right)
        }
      }
    }
    // Both kinds of outcome are exercised, or this test would prove nothing.
    expect(rejected).toBeGreaterThan(1000)
    expect(accepted).toBeGreaterThan(1000)
  })
})

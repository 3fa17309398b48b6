import { describe, expect, it } from "vitest"
import { Either } from "effect"
import { parseDump } from "../../src/source/FileSource.ts"
import { jsonErrorOffset } from "../../src/source/jsonSyntax.ts"

const ev = (name: string) => ({
  apiVersion: "v1",
  kind: "Event",
  metadata: { name, uid: name, resourceVersion: "1" },
  involvedObject: {}
})
const names = (text: string) =>
  Either.getOrThrow(parseDump(text)).map((c) => {
    const o = c.object
    return typeof o === "object" &&
      o !== null &&
      "metadata" in o &&
      typeof o.metadata === "object" &&
      o.metadata !== null &&
      "name" in o.metadata
      ? o.metadata.name
      : "?"
  })
const error = (text: string) => Either.match(parseDump(text), { onLeft: (e) => e, onRight: () => "parsed" })

describe("parseDump", () => {
  it("reads an EventList, a JSON array, a single Event and JSON lines of watch events", () => {
    expect(names(JSON.stringify({ kind: "EventList", items: [ev("a"), ev("b")] }))).toEqual(["a", "b"])
    expect(names(JSON.stringify([ev("a")]))).toEqual(["a"])
    expect(names(JSON.stringify(ev("solo")))).toEqual(["solo"])
    const lines = [
      { type: "ADDED", object: ev("a") },
      { type: "BOOKMARK", object: { metadata: { resourceVersion: "9" } } },
      { type: "MODIFIED", object: ev("b") },
      { type: "DELETED", object: ev("c") }
    ]
      .map((l) => JSON.stringify(l))
      .join("\n")
    expect(names(lines)).toEqual(["a", "b"])
  })

  it("reads kubectl's YAML, including several documents", () => {
    const yaml =
      "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Event\n  metadata:\n    name: y1\n    uid: y1\n    resourceVersion: '1'\n  involvedObject: {}\n"
    expect(names(yaml)).toEqual(["y1"])
    expect(names(`${yaml}---\n${yaml.replace(/y1/g, "y2")}`)).toEqual(["y1", "y2"])
  })

  it("says where the text stops being valid", () => {
    expect(error('{\n  "items": [\n    {"metadata": }\n  ]\n}')).toMatch(/^invalid JSON at line 3 column 18/)
    expect(error("[1, 2,]")).toMatch(/^invalid JSON at line 1 column 7/)
    expect(error('{"type":"ADDED","object":{}}\n{"type": "ADDED", "object": {oops}}')).toMatch(
      /^invalid JSON at line 2 column 30/
    )
    expect(error("items:\n  - a: [1\n")).toMatch(/^invalid YAML at line \d+ column \d+/)
    expect(error("")).toMatch(/the file is empty/)
    expect(error("42")).toMatch(/expected an EventList .* found a number/)
  })
})

describe("parseDump: what is not a dump of Events", () => {
  const BOM = "\uFEFF"
  const list = { apiVersion: "v1", kind: "List", items: [ev("a"), ev("b")] }

  it("skips a UTF-8 byte order mark before JSON, JSON lines and YAML", () => {
    expect(names(BOM + JSON.stringify(list))).toEqual(["a", "b"])
    expect(names(BOM + JSON.stringify(list, null, 2))).toEqual(["a", "b"])
    expect(names(BOM + [ev("a"), ev("b")].map((e) => JSON.stringify({ type: "ADDED", object: e })).join("\n"))).toEqual(
      ["a", "b"]
    )
    expect(names(`${BOM}apiVersion: v1\nkind: List\nitems:\n- ${JSON.stringify(ev("y"))}\n`)).toEqual(["y"])
  })

  it("keeps every field of a single Event", () => {
    const [change] = Either.getOrThrow(parseDump(JSON.stringify(ev("solo"))))
    expect(change?.object).toEqual(ev("solo"))
  })

  it("refuses a dump that holds no Event, saying what it holds instead", () => {
    const configMaps = {
      apiVersion: "v1",
      kind: "List",
      items: [1, 2].map((i) => ({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: `cm${i}`, uid: `u${i}`, resourceVersion: "1" },
        data: {}
      }))
    }
    expect(error(JSON.stringify(configMaps))).toMatch(
      /^no Event in the file: found 2 objects: 2 ConfigMap; expected an EventList/
    )
    expect(error('[1, "two", null, [3], {"x": 1}, 4]')).toMatch(
      /^no Event in the file: found 6 objects: 2 number, 1 string, 1 null, 1 array, 1 object without a kind; expected/
    )
    expect(error('{"kind": "List", "items": []}')).toMatch(/^no Event in the file: it holds no objects; expected/)
    expect(error('{"type": "DELETED", "object": {"kind": "Event"}}')).toMatch(
      /^no Event in the file: it holds no objects/
    )
  })

  it("names why the Events in a dump of only unreadable Events cannot be read", () => {
    const broken = {
      kind: "EventList",
      items: [{ apiVersion: "v1", kind: "Event", metadata: { name: "x", namespace: "ns" } }]
    }
    expect(error(JSON.stringify(broken))).toMatch(
      /^no Event in the file: found 1 object: 1 Event; none of the Events can be read, the first because event ns\/x could not be decoded: metadata\.uid/
    )
  })

  it("takes a dump in which one Event of many can be read: the others are skipped one by one later", () => {
    expect(names(JSON.stringify([{ kind: "ConfigMap" }, 7, ev("ok")]))).toEqual(["?", "?", "ok"])
  })
})

describe("jsonErrorOffset", () => {
  it.each([
    ['{"a": 1}', undefined],
    ['{"a": 1,}', 8],
    ['{"a" 1}', 5],
    ['"abc', 4],
    ["[1 2]", 3],
    ['{"a": tru}', 6],
    ['{"a": "\\x"}', 8],
    ["{} {}", 3]
  ])("%s → %s", (text, offset) => {
    expect(jsonErrorOffset(text)).toBe(offset)
  })
})

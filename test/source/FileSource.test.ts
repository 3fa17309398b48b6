import { describe, expect, it } from "vitest"
import { Either } from "effect"
import { parseDump } from "../../src/source/FileSource.ts"
import { jsonErrorOffset } from "../../src/source/jsonSyntax.ts"

const ev = (name: string) => ({ apiVersion: "v1", kind: "Event", metadata: { name, uid: name, resourceVersion: "1" }, involvedObject: {} })
const names = (text: string) =>
  Either.getOrThrow(parseDump(text)).map((c) => {
    const o = c.object
    return typeof o === "object" && o !== null && "metadata" in o && typeof o.metadata === "object" && o.metadata !== null && "name" in o.metadata
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
    ].map((l) => JSON.stringify(l)).join("\n")
    expect(names(lines)).toEqual(["a", "b"])
  })

  it("reads kubectl's YAML, including several documents", () => {
    const yaml = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Event\n  metadata:\n    name: y1\n    uid: y1\n    resourceVersion: '1'\n  involvedObject: {}\n"
    expect(names(yaml)).toEqual(["y1"])
    expect(names(`${yaml}---\n${yaml.replace(/y1/g, "y2")}`)).toEqual(["y1", "y2"])
  })

  it("says where the text stops being valid", () => {
    expect(error('{\n  "items": [\n    {"metadata": }\n  ]\n}')).toMatch(/^invalid JSON at line 3 column 18/)
    expect(error('[1, 2,]')).toMatch(/^invalid JSON at line 1 column 7/)
    expect(error('{"type":"ADDED","object":{}}\n{"type": "ADDED", "object": {oops}}')).toMatch(/^invalid JSON at line 2 column 30/)
    expect(error("items:\n  - a: [1\n")).toMatch(/^invalid YAML at line \d+ column \d+/)
    expect(error("")).toMatch(/the file is empty/)
    expect(error("42")).toMatch(/expected an EventList .* found a number/)
  })
})

describe("jsonErrorOffset", () => {
  it.each([
    ['{"a": 1}', undefined],
    ['{"a": 1,}', 8],
    ['{"a" 1}', 5],
    ['"abc', 4],
    ['[1 2]', 3],
    ['{"a": tru}', 6],
    ['{"a": "\\x"}', 8],
    ['{} {}', 3]
  ])("%s → %s", (text, offset) => {
    expect(jsonErrorOffset(text)).toBe(offset)
  })
})

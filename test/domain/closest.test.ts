import { describe, expect, it } from "vitest"
import { closest, editDistance } from "../../src/domain/closest.ts"
import { OPTIONS } from "../../src/cli/options.ts"

describe("editDistance (optimal string alignment)", () => {
  it.each([
    ["", "", 0],
    ["source", "source", 0],
    ["sorce", "source", 1], // one deletion
    ["sourcex", "source", 1], // one insertion
    ["sourse", "source", 1], // one substitution
    ["batchszie", "batchsize", 1], // two neighbours swapped: one edit, not two
    ["kitten", "sitting", 3], // the textbook example
    ["ca", "abc", 3] // the alignment may not edit a swapped pair again
  ])("%s → %s: %i", (a, b, expected) => {
    expect(editDistance(a, b)).toBe(expected)
    expect(editDistance(b, a)).toBe(expected)
  })
})

describe("closest", () => {
  const flags = Object.values(OPTIONS).map((o) => o.flag)
  const keys = Object.keys(OPTIONS)
  it.each([
    ["sorce", flags, "source"],
    ["batchSzie", keys, "batchSize"],
    ["batchsize", flags, "batch-size"],
    ["namespace", flags, "namespaces"],
    ["leader-election", flags, "leader-elect"],
    ["otlp-endpiont", flags, "otlp-endpoint"],
    ["reasn", ["namespace", "reason", "minSeverity", "maxEventAge", "kind"], "reason"],
    ["namespaces", ["namespace", "reason", "minSeverity", "maxEventAge", "kind"], "namespace"],
    ["min_severity", ["namespace", "reason", "minSeverity", "maxEventAge", "kind"], "minSeverity"],
    ["max-event-age", ["namespace", "reason", "minSeverity", "maxEventAge", "kind"], "maxEventAge"],
    ["colour", ["namespace", "reason", "minSeverity", "maxEventAge", "kind"], undefined],
    ["cluster", flags, "cluster-name"], // cut short at the end
    ["concurrency", flags, "export-concurrency"], // cut short at the start
    ["queue", flags, "queue-size"],
    ["log", flags, undefined], // too little of any name to guess from
    ["name", flags, undefined],
    ["frobnicate", flags, undefined],
    ["xyz", flags, undefined]
  ])("%s → %s", (name, known, expected) => {
    expect(closest(name, known)).toBe(expected)
  })
})

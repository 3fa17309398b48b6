import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { checkpointSettings } from "../../src/app/settings.ts"
import { loadConfig } from "../../src/cli/load.ts"

const valuesOf = (argv: ReadonlyArray<string>) => {
  const loaded = loadConfig({ argv: [...argv], env: {}, readText: () => "" })
  if (Either.isLeft(loaded)) throw new Error(loaded.left.message)
  return loaded.right.values
}

describe("checkpointSettings", () => {
  it("keeps the latest 10 000 occurrences to save with a checkpoint store, and none without one", () => {
    expect(checkpointSettings(valuesOf(["--checkpoint", "file:/tmp/k8s-event-collector.json"])).maxOccurrences).toBe(
      10_000
    )
    expect(checkpointSettings(valuesOf([])).maxOccurrences).toBe(0)
  })
})

describe("basic authentication", () => {
  it("needs both the user name and the password", () => {
    for (const argv of [
      ["--otlp-username", "a"],
      ["--otlp-password", "b"]
    ]) {
      const loaded = loadConfig({ argv, env: {}, readText: () => "" })
      expect(Either.isLeft(loaded) ? loaded.left.message : "accepted").toContain(
        "--otlp-username and --otlp-password: basic authentication needs both"
      )
    }
  })
})

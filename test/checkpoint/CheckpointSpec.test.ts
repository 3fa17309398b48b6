import { describe, expect, it } from "vitest"
import { Either } from "effect"
import { formatCheckpointSpec, parseCheckpointSpec } from "../../src/checkpoint/CheckpointSpec.ts"

const parsed = (text: string) => Either.getOrThrow(parseCheckpointSpec(text))
const problem = (text: string) => Either.match(parseCheckpointSpec(text), { onLeft: (e) => e, onRight: () => "parsed" })

describe("parseCheckpointSpec", () => {
  it.each([
    ["none", { _tag: "None" }],
    ["file:/var/lib/k8s-event-collector/checkpoint", { _tag: "File", path: "/var/lib/k8s-event-collector/checkpoint" }],
    ["file:relative/c:p", { _tag: "File", path: "relative/c:p" }],
    [
      "configmap:monitoring/k8s-event-collector.checkpoint",
      { _tag: "ConfigMap", namespace: "monitoring", name: "k8s-event-collector.checkpoint" }
    ]
  ])("%s", (text, spec) => {
    expect(parsed(text)).toEqual(spec)
    expect(formatCheckpointSpec(parsed(text))).toBe(text)
  })

  it("says what is wrong in plain words", () => {
    expect(problem("s3://bucket")).toBe(
      `the checkpoint must be "none", "file:PATH" or "configmap:NAMESPACE/NAME", not "s3://bucket"`
    )
    expect(problem("")).toBe(`the checkpoint must be "none", "file:PATH" or "configmap:NAMESPACE/NAME", not ""`)
    expect(problem("file:")).toMatch(/^the checkpoint "file:" needs a path after the colon/)
    expect(problem("configmap:checkpoint")).toMatch(
      /^the checkpoint "configmap:checkpoint" needs a namespace and a name/
    )
    expect(problem("configmap:Monitoring/cp")).toMatch(
      /names the namespace "Monitoring", which is not a valid namespace/
    )
    expect(problem("configmap:monitoring/")).toMatch(/names the ConfigMap "", which is not a valid name/)
    expect(problem("configmap:monitoring/a/b")).toMatch(/names the ConfigMap "a\/b", which is not a valid name/)
  })
})

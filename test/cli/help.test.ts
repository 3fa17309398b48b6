/** `--help` as a user reads it: durations written the way the README and a user write them, options under headings. */
import { readFileSync } from "node:fs"
import { Duration, Either } from "effect"
import { describe, expect, it } from "vitest"
import { renderHelp } from "../../src/cli/help.ts"
import { OPTIONS } from "../../src/cli/options.ts"
import { duration, durationText } from "../../src/domain/valueText.ts"

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8")
const help = renderHelp("1.2.3")

describe("durationText", () => {
  const cases: ReadonlyArray<readonly [number, string]> = [
    [0, "0s"],
    [250, "250ms"],
    [1_000, "1s"],
    [60_000, "1m"],
    [90_000, "1m30s"],
    [300_000, "5m"],
    [3_600_000, "1h"],
    [5_400_500, "1h30m500ms"]
  ]
  it.each(cases)("writes %d ms as %s, which reads back as the same duration", (ms, text) => {
    expect(durationText(Duration.millis(ms))).toBe(text)
    expect(Either.map(duration(text), Duration.toMillis)).toEqual(Either.right(ms))
  })
})

describe("--help", () => {
  it("prints duration defaults as the README's option table does (5m, not 300000ms)", () => {
    expect(help).not.toMatch(/default: \d{4,}ms/)
    const durations = Object.values(OPTIONS).filter((s) => s.valueName === "DURATION" && "default" in s)
    expect(durations.length).toBeGreaterThan(15)
    for (const spec of durations) {
      const row = readme.split("\n").find((l) => l.startsWith(`| \`--${spec.flag} DURATION\``))
      const documented = row?.split(" | ")[2]?.replace(/`/g, "")
      expect(documented, `README row of --${spec.flag}`).toMatch(/^\d+(ms|s|m|h)$/)
      const block = help
        .slice(help.indexOf(`  --${spec.flag} DURATION\n`))
        .split("\n")
        .slice(0, 3)
        .join("\n")
      expect(block, `--${spec.flag}`).toContain(`default: ${documented})`)
    }
  })

  it("lists the options under the six headings, each option once", () => {
    const headings = help
      .split("\n")
      .filter((l) => /^[A-Z][a-z]+: /.test(l))
      .map((l) => l.split(":")[0])
    expect(headings).toEqual(["Source", "Export", "Delivery", "Enrichment", "Rules", "Operations"])
    for (const spec of Object.values(OPTIONS)) {
      expect(
        help.split("\n").filter((l) => l.startsWith(`  --${spec.flag} `) || l === `  --${spec.flag}`)
      ).toHaveLength(1)
    }
    const headingOf = (flag: string) => {
      const before = help
        .slice(0, help.indexOf(`\n  --${flag}`))
        .split("\n")
        .filter((l) => /^[A-Z][a-z]+: /.test(l))
      return before.at(-1)?.split(":")[0]
    }
    expect(headingOf("namespaces")).toBe("Source")
    expect(headingOf("otlp-endpoint")).toBe("Export")
    expect(headingOf("retry-give-up")).toBe("Delivery")
    expect(headingOf("pod-labels")).toBe("Enrichment")
    expect(headingOf("exclude")).toBe("Rules")
    expect(headingOf("leader-elect")).toBe("Operations")
  })
})

import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { EXIT_CODES } from "../../src/app/exitCodes.ts"
import { EXIT_INTERNAL } from "../../src/app/lastWords.ts"
import { OPTIONS } from "../../src/cli/options.ts"

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8")

describe("README", () => {
  it("documents every option with its environment variables", () => {
    for (const spec of Object.values(OPTIONS)) {
      expect(readme, `--${spec.flag}`).toContain(`\`--${spec.flag}`)
      for (const env of spec.env ?? []) expect(readme, env.name).toContain(env.name)
    }
  })

  it("opens with the install-and-run and the test commands", () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? ""
    expect(firstBlock).toMatch(/^npm ci && npm run demo/m)
    expect(firstBlock).toMatch(/^npm ci && npm test/m)
  })

  it("has a row in the table of exit codes for every code the collector exits with", () => {
    const section = readme.slice(readme.indexOf("### Exit codes"), readme.indexOf("## Performance"))
    const documented = [...section.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]))
    const given = new Set([0, ...Object.values(EXIT_CODES), EXIT_INTERNAL])
    for (const code of given) expect(documented, `exit code ${code}`).toContain(code)
  })
})

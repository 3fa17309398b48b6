import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
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
})

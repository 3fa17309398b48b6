import { defineConfig } from "vitest/config"

/** `npm run test:real`: the tests against a real control plane and a real OpenTelemetry Collector. */
export default defineConfig({
  test: {
    include: ["test/real/**/*.test.ts"],
    globalSetup: ["test/real/globalSetup.ts"],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: "forks",
    // Each file starts its own control plane: one at a time on CI's two cores.
    poolOptions: { forks: { maxForks: 1, minForks: 1 } }
  }
})

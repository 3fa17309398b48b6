import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // The collector's tests, and the workspace packages' own (packages/sim: the simulated API server).
    include: ["test/**/*.test.ts", "packages/*/test/**/*.test.ts"],
    // test/real needs Go and runs through `npm run test:real`.
    exclude: ["test/real/**", "**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // CI has two cores; the end-to-end suites start child processes and servers.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } }
  }
})

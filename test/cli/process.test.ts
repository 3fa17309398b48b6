/** Start-up checks as a user meets them: the real CLI in a child process, its exit code and what it printed. */
import { describe, expect, it } from "vitest"
import { runCli } from "../support/cli.ts"

describe("start-up checks of the command line", () => {
  it("--print-config shows the OTLP endpoint without the credentials in its URL", async () => {
    const result = await runCli(["--print-config", "--otlp-endpoint", "http://user:pass@host:4318"])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("otlpEndpoint: http://<redacted>@host:4318/v1/logs  # from --otlp-endpoint")
    expect(result.stdout).not.toMatch(/pass|user:/)
  })

  it("refuses namespaces the API server would refuse, listing every one, with exit code 2", async () => {
    const result = await runCli(["--namespaces", "Foo_Bar,a b,../x,good"])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`--namespaces: not valid namespace names`)
    expect(result.stderr).toContain(`"Foo_Bar", "a b", "../x"`)
    expect(result.stderr).not.toContain(`"good"`)
  })

  it("refuses an empty --namespaces instead of watching every namespace", async () => {
    const result = await runCli(["--namespaces", ""])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("--namespaces: names no namespace")
  })

  it("names the option that was meant, and takes the word after an unknown flag for its value", async () => {
    const result = await runCli(["--sorce", "file:/tmp/events.json"])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("--sorce: unknown option (did you mean --source?)")
    expect(result.stderr).not.toContain("unknown command")
  })
})

/** OTLP over TLS with a private CA and a client certificate, the way a locked-down Collector is reached. */
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CLIENT_AUTH, issueCertificate, makeCa } from "../support/certificates.ts"
import { cleanEnv, runCli } from "../support/cli.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"

const dir = mkdtempSync(join(tmpdir(), "kec-tls-"))
const file = (name: string) => join(dir, name)
/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
const makeCertificates = () => {
  makeCa(dir, "/CN=test CA")
  issueCertificate(dir, "server", "/CN=server", "subjectAltName=IP:127.0.0.1\n")
  issueCertificate(dir, "client", "/CN=client", CLIENT_AUTH)
}

let receiver: OtlpReceiver
beforeAll(async () => {
  makeCertificates()
  receiver = await startOtlpReceiver({
    tls: {
      key: readFileSync(file("server.key"), "utf8"),
      cert: readFileSync(file("server.crt"), "utf8"),
      ca: readFileSync(file("ca.crt"), "utf8")
    }
  })
})
afterAll(async () => {
  await receiver.close()
})

describe("OTLP over TLS", () => {
  it("exports to an endpoint with a private CA that requires a client certificate (standard OTEL_* variables)", async () => {
    const result = await runCli(["--source", "file:examples/kubectl-events.json", "--otlp-endpoint", receiver.url], {
      env: cleanEnv({
        OTEL_EXPORTER_OTLP_CERTIFICATE: file("ca.crt"),
        OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: file("client.crt"),
        OTEL_EXPORTER_OTLP_CLIENT_KEY: file("client.key"),
        OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20s3cret-token"
      })
    })
    expect(result.stderr).not.toContain("s3cret-token")
    expect(result.code).toBe(0)
    expect(receiver.records).toHaveLength(14)
    expect(receiver.requests.at(-1)?.headers["authorization"]).toBe("Bearer s3cret-token")
  })

  it("sends HTTP basic authentication from the environment the chart fills from a Secret (RFC 7617's example)", async () => {
    const before = receiver.requests.length
    const result = await runCli(["--source", "file:examples/kubectl-events.json", "--otlp-endpoint", receiver.url], {
      env: cleanEnv({
        OTEL_EXPORTER_OTLP_CERTIFICATE: file("ca.crt"),
        OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: file("client.crt"),
        OTEL_EXPORTER_OTLP_CLIENT_KEY: file("client.key"),
        OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20replaced,x-scope-orgid=team-a",
        K8S_EVENT_COLLECTOR_OTLP_USERNAME: "Aladdin",
        K8S_EVENT_COLLECTOR_OTLP_PASSWORD: "open sesame"
      })
    })
    expect(result.code).toBe(0)
    expect(result.stderr).not.toContain("open sesame")
    const sent = receiver.requests.slice(before)
    expect(sent.length).toBeGreaterThan(0)
    for (const request of sent) {
      expect(request.headers["authorization"]).toBe("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
      expect(request.headers["x-scope-orgid"]).toBe("team-a")
    }
  })

  it("is refused without the client certificate, and says so", async () => {
    const before = receiver.records.length
    const result = await runCli([
      "--source",
      "file:examples/kubectl-events.json",
      "--otlp-endpoint",
      receiver.url,
      "--otlp-certificate",
      file("ca.crt"),
      "--otlp-timeout",
      "500ms",
      "--retry-initial",
      "100ms",
      "--retry-give-up",
      "1s"
    ])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/could not be delivered/)
    expect(receiver.records).toHaveLength(before)
  })

  it("stops at start-up when a certificate file cannot be read", async () => {
    const result = await runCli([
      "--source",
      "file:examples/kubectl-events.json",
      "--otlp-client-certificate",
      file("nope.crt"),
      "--otlp-client-key",
      file("client.key")
    ])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--otlp-client-certificate .*nope\.crt: cannot read it/)
  })

  it("never prints the headers or the key path with --print-config", async () => {
    const result = await runCli(["--print-config", "--otlp-client-key", "/secret/key.pem"], {
      env: cleanEnv({ OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20s3cret-token" })
    })
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("authorization: <redacted>")
    expect(result.stdout).toContain("otlpClientKey: <redacted>")
    expect(result.stdout).not.toContain("s3cret")
    expect(result.stdout).not.toContain("/secret/key.pem")
  })
})

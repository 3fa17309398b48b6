/** A private CA and certificates it signs, made with the `openssl` CLI, for the tests that speak TLS. */
import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"

export const openssl = (dir: string, args: ReadonlyArray<string>): void => {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })
}

/** `ca.key` and `ca.crt` in `dir`: a P-256 CA valid for two days. */
export const makeCa = (dir: string, subject: string): void => {
  openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"])
  openssl(dir, [
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    subject,
    "-days",
    "2",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    "ca.crt"
  ])
}

/** `NAME.key` and `NAME.crt`: a P-256 key and a certificate signed by the CA in `dir`, with X.509v3 extensions. */
export const issueCertificate = (dir: string, name: string, subject: string, extensions: string): void => {
  openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`])
  openssl(dir, ["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`])
  writeFileSync(join(dir, `${name}.ext`), extensions)
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.crt`
  ])
}

/** The extensions of a client certificate. */
export const CLIENT_AUTH = "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"

/**
 * The prometheus-operator CustomResourceDefinitions of the chart's ServiceMonitor and PrometheusRule, so the real
 * API server accepts those objects and checks them against the operator's own schemas. They are the files
 * prometheus-operator v0.85.0 ships in its Go module (`example/prometheus-operator-crd/`), fetched through the module
 * proxy like the other real components. `MONITORING_CRDS_DIR`, a folder holding the same two files, replaces the
 * download on a machine without Go.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { parse } from "yaml"
import { REPO_ROOT } from "../../support/cli.ts"
import type { KubeObject } from "./controlPlane.ts"

// Its own check rather than controlPlane.ts's, whose module loads vitest: this one also runs outside a test.
const isObject = (u: unknown): u is KubeObject => typeof u === "object" && u !== null && !Array.isArray(u)

const MODULE = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

/** File name to the CRD's name, which is checked so that a renamed or reshaped file fails here, not in a test. */
const CRDS: ReadonlyArray<readonly [string, string]> = [
  ["monitoring.coreos.com_servicemonitors.yaml", "servicemonitors.monitoring.coreos.com"],
  ["monitoring.coreos.com_prometheusrules.yaml", "prometheusrules.monitoring.coreos.com"]
]

const crdsDir = (): string => {
  const override = process.env["MONITORING_CRDS_DIR"]
  if (override !== undefined) return override
  // Run in one of the repository's modules so the download uses the Go toolchain its go.mod names; the module is
  // only downloaded, not added to that go.mod or go.sum.
  const download: unknown = JSON.parse(
    execFileSync("go", ["mod", "download", "-json", MODULE], {
      cwd: join(REPO_ROOT, "test", "real", "helm"),
      encoding: "utf8"
    })
  )
  const dir = isObject(download) ? download["Dir"] : undefined
  if (typeof dir !== "string") throw new Error(`go mod download ${MODULE} gave no Dir`)
  return join(dir, "example", "prometheus-operator-crd")
}

/** The ServiceMonitor and PrometheusRule CRDs, as parsed objects ready to be created through the API. */
export const monitoringCrds = (): ReadonlyArray<KubeObject> => {
  const dir = crdsDir()
  return CRDS.map(([file, name]) => {
    const crd: unknown = parse(readFileSync(join(dir, file), "utf8"))
    const metadata = isObject(crd) ? crd["metadata"] : undefined
    if (!isObject(crd) || crd["kind"] !== "CustomResourceDefinition" || !isObject(metadata)) {
      throw new Error(`${join(dir, file)} is not a CustomResourceDefinition`)
    }
    if (metadata["name"] !== name)
      throw new Error(`${join(dir, file)} defines ${String(metadata["name"])}, not ${name}`)
    return crd
  })
}

/**
 * The Helm chart as `helm` (built from its Go module by goBinaries.ts) renders it: `helm template` with values,
 * `helm lint`, and the text deploy/ holds (the chart rendered with its default values).
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseAllDocuments, stringify } from "yaml"
import { REPO_ROOT } from "../../support/cli.ts"
import { goBinary } from "./goBinaries.ts"
import { isKubeObject, type KubeObject } from "./kubeObject.ts"

export const CHART_DIR = join(REPO_ROOT, "charts", "k8s-event-collector")

/** deploy/: the chart's default rendering, and the Namespace it is meant for (the chart creates none). */
export const DEPLOY_FILE = join(REPO_ROOT, "deploy", "k8s-event-collector.yaml")
const DEPLOY_RELEASE = "k8s-event-collector"
const DEPLOY_NAMESPACE = "k8s-event-collector"

export type Values = { readonly [key: string]: unknown }

export interface HelmResult {
  readonly status: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs helm with its caches and configuration in a folder of its own, so no user's setup leaks in. */
export const helm = (args: ReadonlyArray<string>): HelmResult => {
  const home = mkdtempSync(join(tmpdir(), "kec-helm-"))
  try {
    const result = spawnSync(goBinary("helm"), args, {
      encoding: "utf8",
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: home,
        HELM_CACHE_HOME: join(home, "cache"),
        HELM_CONFIG_HOME: join(home, "config"),
        HELM_DATA_HOME: join(home, "data")
      }
    })
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr }
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}

/** `helm template` arguments for a release with `values` given as a file (what `-f` does for a user). */
const templateArgs = (release: string, namespace: string, values: Values, valuesFile: string) => {
  writeFileSync(valuesFile, stringify(values))
  return ["template", release, CHART_DIR, "--namespace", namespace, "--values", valuesFile]
}

/** `helm template` with these values: its result as helm gave it (a refused value is status 1 and stderr). */
export const template = (release: string, namespace: string, values: Values = {}): HelmResult => {
  const dir = mkdtempSync(join(tmpdir(), "kec-values-"))
  try {
    return helm(templateArgs(release, namespace, values, join(dir, "values.yaml")))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The objects of a rendering, one per document; throws with helm's message when it refused. */
export const render = (release: string, namespace: string, values: Values = {}): ReadonlyArray<KubeObject> => {
  const result = template(release, namespace, values)
  if (result.status !== 0) throw new Error(`helm template ${release} failed:\n${result.stderr}`)
  return parseManifests(result.stdout)
}

const parseManifests = (yaml: string): ReadonlyArray<KubeObject> =>
  parseAllDocuments(yaml)
    .map((doc) => doc.toJS() as unknown)
    .filter((object) => object !== null)
    .map((object) => {
      if (!isKubeObject(object)) throw new Error(`a document that is not an object: ${String(object)}`)
      return object
    })

const DEPLOY_HEADER = [
  "# The Helm chart charts/k8s-event-collector rendered with its default values, for `kubectl apply`:",
  "#   kubectl apply -f deploy/namespace.yaml -f deploy/k8s-event-collector.yaml",
  "# Written by `npm run chart:deploy`; npm run test:real fails when it differs from `helm template`. Edit the chart.",
  ""
].join("\n")

/** What deploy/k8s-event-collector.yaml holds: `helm template` of the default values, under a header. */
export const deployManifest = (): string => {
  const result = helm(["template", DEPLOY_RELEASE, CHART_DIR, "--namespace", DEPLOY_NAMESPACE])
  if (result.status !== 0) throw new Error(`helm template failed:\n${result.stderr}`)
  return DEPLOY_HEADER + result.stdout
}

/** deploy/'s objects as `kubectl apply -f deploy/` sends them: the Namespace, then the rendered chart. */
export const deployObjects = (): ReadonlyArray<KubeObject> => [
  ...parseManifests(readFileSync(join(REPO_ROOT, "deploy", "namespace.yaml"), "utf8")),
  ...parseManifests(readFileSync(DEPLOY_FILE, "utf8"))
]

/** `npm run chart:deploy`: writes deploy/k8s-event-collector.yaml from the chart. */
export const writeDeploy = (): void => {
  writeFileSync(DEPLOY_FILE, deployManifest())
  console.log(`wrote ${DEPLOY_FILE}`)
}

/** The one object of a kind (and name, when given) in a rendering; throws naming what is missing. */
export const single = (objects: ReadonlyArray<KubeObject>, kind: string, name?: string): KubeObject => {
  const found = objects.filter((o) => o["kind"] === kind && (name === undefined || nameOf(o) === name))
  if (found.length !== 1) throw new Error(`${found.length} ${kind}${name === undefined ? "" : ` ${name}`} rendered`)
  const [object] = found
  if (object === undefined) throw new Error(kind)
  return object
}

export const nameOf = (object: KubeObject): string => {
  const metadata = object["metadata"]
  const name = isKubeObject(metadata) ? metadata["name"] : undefined
  if (typeof name !== "string") throw new Error(`an object without a name: ${JSON.stringify(object)}`)
  return name
}

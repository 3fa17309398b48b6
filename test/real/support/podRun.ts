/**
 * The collector started the way a rendered Deployment's pod would run it: the container's arguments and
 * environment (downward API, Secrets and ConfigMaps resolved from the API server, as the kubelet does), its
 * volumes written under a folder that stands for the pod's filesystem, and the API read with a token of the pod's
 * ServiceAccount. Two things differ, because there is no kubelet or pod network here: the token comes in a
 * kubeconfig instead of the in-cluster mount, and each process listens on a free port of 127.0.0.1.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { single } from "./chart.ts"
import { startCollector, type RealCollector } from "./collectorRun.ts"
import { type ControlPlane, field, isKubeObject, type KubeObject } from "./controlPlane.ts"

const list = (u: unknown): ReadonlyArray<KubeObject> => (Array.isArray(u) ? u.filter(isKubeObject) : [])
const child = (object: unknown, key: string): KubeObject => {
  const value = isKubeObject(object) ? object[key] : undefined
  return isKubeObject(value) ? value : {}
}

/** A Secret's data, decoded, read from the API server. */
const secretData = async (cp: ControlPlane, namespace: string, name: string): Promise<Record<string, string>> => {
  const secret = await cp.admin.ok("GET", `/api/v1/namespaces/${namespace}/secrets/${name}`)
  return Object.fromEntries(
    Object.entries(child(secret, "data")).map(([k, v]) => [k, Buffer.from(String(v), "base64").toString("utf8")])
  )
}

/** A ConfigMap of the rendering's data. */
const configMapData = (objects: ReadonlyArray<KubeObject>, name: string): Record<string, string> =>
  Object.fromEntries(Object.entries(child(single(objects, "ConfigMap", name), "data")).map(([k, v]) => [k, String(v)]))

export interface Pod {
  readonly collector: RealCollector
  /** The folder standing for the pod's filesystem root. */
  readonly root: string
}

/**
 * Starts the first container of the rendering's Deployment as pod `podName` would run it. Paths under a volume's
 * mount point, in the arguments and in the mounted configuration, are moved under the pod's root folder.
 */
export const runPod = async (cp: ControlPlane, objects: ReadonlyArray<KubeObject>, podName: string): Promise<Pod> => {
  const deployment = single(objects, "Deployment")
  const namespace = field(deployment, "metadata", "namespace")
  const podSpec = child(child(child(deployment, "spec"), "template"), "spec")
  const [container] = list(podSpec["containers"])
  if (container === undefined) throw new Error("the Deployment has no container")
  const root = mkdtempSync(join(tmpdir(), `kec-pod-${podName}-`))
  const mounts = list(container["volumeMounts"]).map((m) => field(m, "mountPath"))
  // One pass, longest first, so that a mount inside another (the TLS folder inside the config folder) moves as
  // itself and a moved path is not moved again; a mount point counts only as a whole path at the start of a value.
  const escape = (path: string) => path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  const mountPaths = new RegExp(
    `(?<=^|[\\s"':=])(${[...mounts]
      .sort((a, b) => b.length - a.length)
      .map(escape)
      .join("|")})(?=/|$|[\\s"'])`,
    "gm"
  )
  const relocate = (text: string) => (mounts.length === 0 ? text : text.replace(mountPaths, (m) => join(root, m)))

  for (const mount of list(container["volumeMounts"])) {
    const volume = list(podSpec["volumes"]).find((v) => v["name"] === mount["name"])
    const dir = join(root, field(mount, "mountPath"))
    mkdirSync(dir, { recursive: true })
    const files = isKubeObject(volume?.["configMap"])
      ? configMapData(objects, field(volume, "configMap", "name"))
      : isKubeObject(volume?.["secret"])
        ? await secretData(cp, namespace, field(volume, "secret", "secretName"))
        : {}
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true })
      writeFileSync(join(dir, name), relocate(content))
    }
  }

  const env: Record<string, string> = {}
  for (const variable of list(container["env"])) {
    env[field(variable, "name")] = await envValue(cp, objects, namespace, podName, variable)
  }
  const kubeconfig = await cp.serviceAccountKubeconfig(namespace, field(podSpec, "serviceAccountName"))
  // No `command`: the image's entrypoint, the collector, gets the container's arguments.
  const args = Array.isArray(container["args"]) ? container["args"].map((a) => relocate(String(a))) : []
  const collector = await startCollector([...args, "--kubeconfig", kubeconfig], env)
  return { collector, root }
}

/** What the kubelet puts in an environment variable: its value, or what its `valueFrom` names. */
const envValue = async (
  cp: ControlPlane,
  objects: ReadonlyArray<KubeObject>,
  namespace: string,
  podName: string,
  variable: KubeObject
): Promise<string> => {
  if (typeof variable["value"] === "string") return variable["value"]
  const from = child(variable, "valueFrom")
  if (isKubeObject(from["fieldRef"])) {
    const path = field(from, "fieldRef", "fieldPath")
    if (path === "metadata.name") return podName
    if (path === "metadata.namespace") return namespace
    throw new Error(`no value known for the downward API's ${path}`)
  }
  if (isKubeObject(from["secretKeyRef"])) {
    const data = await secretData(cp, namespace, field(from, "secretKeyRef", "name"))
    const value = data[field(from, "secretKeyRef", "key")]
    if (value === undefined) throw new Error(`${JSON.stringify(variable)}: no such key in the Secret`)
    return value
  }
  if (isKubeObject(from["configMapKeyRef"])) {
    const value = configMapData(objects, field(from, "configMapKeyRef", "name"))[field(from, "configMapKeyRef", "key")]
    if (value === undefined) throw new Error(`${JSON.stringify(variable)}: no such key in the ConfigMap`)
    return value
  }
  throw new Error(`an environment variable this harness cannot fill: ${JSON.stringify(variable)}`)
}

/**
 * A real control plane on 127.0.0.1 for `npm run test:real`: etcd, kube-apiserver and, on request,
 * kube-controller-manager and kube-scheduler, built by `goBinaries.ts`. Certificates and the service-account
 * signing key are made at start with the `openssl` CLI; every port is a free one; there are no kubelets.
 *
 * It writes an admin kubeconfig (a client certificate in `system:masters`) and applies deploy/'s RBAC and
 * ServiceAccount (the Helm chart rendered with its default values) through the API, so that a test can run the
 * collector with exactly the rights the shipped manifests give it. Everything it starts is stopped by `stop()`, and killed when the test
 * process exits however it ends.
 */
import type { ChildProcess } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Https from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { stringify } from "yaml"
import { eventually } from "../../support/collector.ts"
import { goBinary } from "./goBinaries.ts"
import { deployObjects } from "./chart.ts"
import { isKubeObject, type KubeObject } from "./kubeObject.ts"
import { CLIENT_AUTH, issueCertificate, makeCa, openssl } from "../../support/certificates.ts"
import { freePort, startTracked, stopProcess } from "./children.ts"

// ---- certificates ----

/** The CA, the serving certificate, client certificates for the admin and the components, the SA signing key. */
const makeCertificates = (dir: string): void => {
  makeCa(dir, "/CN=test-real-ca")
  issueCertificate(
    dir,
    "apiserver",
    "/CN=kube-apiserver",
    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" +
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n"
  )
  issueCertificate(dir, "admin", "/O=system:masters/CN=test-admin", CLIENT_AUTH)
  issueCertificate(dir, "controller-manager", "/CN=system:kube-controller-manager", CLIENT_AUTH)
  issueCertificate(dir, "scheduler", "/CN=system:kube-scheduler", CLIENT_AUTH)
  openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key"])
  openssl(dir, ["ec", "-in", "sa.key", "-pubout", "-out", "sa.pub"])
}

// ---- a small API client, independent of the collector's own ----

export interface KubeResponse {
  readonly status: number
  readonly text: string
  /** The JSON body, or undefined when it is not JSON. */
  readonly body: unknown
  /** The `Warning` headers (RFC 7234 form: `299 - "text"`), e.g. what Pod Security admission says of a Deployment. */
  readonly warnings: ReadonlyArray<string>
}

export type Credentials = { readonly cert: string; readonly key: string } | { readonly token: string }

export class KubeClient {
  readonly server: string
  readonly #ca: string
  readonly #credentials: Credentials

  constructor(server: string, ca: string, credentials: Credentials) {
    this.server = server
    this.#ca = ca
    this.#credentials = credentials
  }

  request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<KubeResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    return new Promise((resolve, reject) => {
      const req = Https.request(
        new URL(path, this.server),
        {
          method,
          ca: this.#ca,
          ...("token" in this.#credentials
            ? { headers: { authorization: `Bearer ${this.#credentials.token}` } }
            : { cert: this.#credentials.cert, key: this.#credentials.key }),
          timeout: 30_000
        },
        (res) => {
          let text = ""
          res.setEncoding("utf8").on("data", (d: string) => (text += d))
          res.on("end", () => {
            let parsed: unknown
            try {
              parsed = JSON.parse(text)
            } catch {
              parsed = undefined
            }
            const warning = res.headers["warning"]
            const warnings = warning === undefined ? [] : [warning].flat()
            resolve({ status: res.statusCode ?? 0, text, body: parsed, warnings })
          })
        }
      )
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)))
      req.on("error", reject)
      if (payload !== undefined) req.setHeader("content-type", contentType)
      req.end(payload)
    })
  }

  /** The request's JSON object; any answer other than 2xx throws with what the server said. */
  async ok(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeObject> {
    const response = await this.request(method, path, body, contentType)
    if (response.status < 200 || response.status > 299 || !isKubeObject(response.body)) {
      throw new Error(`${method} ${path}: HTTP ${response.status} ${response.text.slice(0, 500)}`)
    }
    return response.body
  }

  create(object: KubeObject): Promise<KubeObject> {
    return this.ok("POST", collectionPath(object), object)
  }

  /** Server-side apply, as `kubectl apply --server-side` sends it: the whole object, owned by one field manager. */
  async apply(object: KubeObject, fieldManager = "test-real"): Promise<KubeResponse> {
    const path = `${objectPath(object)}?fieldManager=${fieldManager}&force=true`
    const response = await this.request("PATCH", path, object, "application/apply-patch+yaml")
    if (response.status < 200 || response.status > 299) {
      throw new Error(`apply ${path}: HTTP ${response.status} ${response.text.slice(0, 1000)}`)
    }
    return response
  }

  /** A JSON merge patch of the named object. */
  patch(object: KubeObject, patch: unknown, subresource = ""): Promise<KubeObject> {
    return this.ok("PATCH", `${objectPath(object)}${subresource}`, patch, "application/merge-patch+json")
  }
}

export { isKubeObject, type KubeObject } from "./kubeObject.ts"

/** A string at a path of a decoded object; throws when it is not one, so a test fails with the path. */
export const field = (object: unknown, ...path: ReadonlyArray<string>): string => {
  let at: unknown = object
  for (const key of path) at = isKubeObject(at) ? at[key] : undefined
  if (typeof at !== "string") throw new Error(`${path.join(".")} is not a string in ${JSON.stringify(object)}`)
  return at
}

/** Resource names of the kinds the tests and deploy/ create. */
const PLURALS: Readonly<Record<string, string>> = {
  Namespace: "namespaces",
  Node: "nodes",
  ServiceAccount: "serviceaccounts",
  ConfigMap: "configmaps",
  Pod: "pods",
  Event: "events",
  ClusterRole: "clusterroles",
  ClusterRoleBinding: "clusterrolebindings",
  Role: "roles",
  RoleBinding: "rolebindings",
  Deployment: "deployments",
  ReplicaSet: "replicasets",
  Job: "jobs",
  CronJob: "cronjobs",
  Lease: "leases",
  Secret: "secrets",
  Service: "services",
  PodDisruptionBudget: "poddisruptionbudgets",
  NetworkPolicy: "networkpolicies",
  CustomResourceDefinition: "customresourcedefinitions",
  ServiceMonitor: "servicemonitors",
  PrometheusRule: "prometheusrules"
}

const collectionPath = (object: KubeObject): string => {
  const apiVersion = field(object, "apiVersion")
  const kind = field(object, "kind")
  const plural = PLURALS[kind]
  if (plural === undefined) throw new Error(`no resource name known for kind ${kind}`)
  const namespace = isKubeObject(object["metadata"]) ? object["metadata"]["namespace"] : undefined
  const group = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`
  return `${group}${typeof namespace === "string" ? `/namespaces/${namespace}` : ""}/${plural}`
}

export const objectPath = (object: KubeObject): string =>
  `${collectionPath(object)}/${field(object, "metadata", "name")}`

// ---- kubeconfigs ----

const kubeconfigYaml = (server: string, ca: string, user: Record<string, string>): string =>
  stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "real", cluster: { server, "certificate-authority-data": Buffer.from(ca).toString("base64") } }],
    users: [{ name: "user", user }],
    contexts: [{ name: "real", context: { cluster: "real", user: "user" } }],
    "current-context": "real"
  })

const certUser = (dir: string, name: string): Record<string, string> => ({
  "client-certificate-data": readFileSync(join(dir, `${name}.crt`)).toString("base64"),
  "client-key-data": readFileSync(join(dir, `${name}.key`)).toString("base64")
})

// ---- the control plane ----

export interface ControlPlaneOptions {
  /** Also run kube-controller-manager (Deployments, ReplicaSets, Jobs, node lifecycle emit events). */
  readonly controllerManager?: boolean
  /** Also run kube-scheduler (pods no node can take get FailedScheduling). */
  readonly scheduler?: boolean
}

/** deploy/'s objects that give the collector its rights. */
const RBAC_KINDS = new Set(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"])

export interface ControlPlane {
  readonly dir: string
  readonly server: string
  readonly admin: KubeClient
  readonly adminKubeconfig: string
  /** kube-apiserver's audit log: one JSON line per request and stage (`collectorRun.ts` reads it). */
  readonly auditLog: string
  /** The namespace deploy/ creates, with its ServiceAccount. */
  readonly deployNamespace: string
  readonly deployServiceAccount: string
  /** A kubeconfig for a ServiceAccount, with a token from the TokenRequest API. */
  readonly serviceAccountKubeconfig: (namespace: string, name: string) => Promise<string>
  /**
   * Stops kube-apiserver, runs `whileDown`, and starts it again on the same port with the same etcd; resolves
   * once it is ready.
   */
  readonly restartApiServer: (whileDown?: () => Promise<void>) => Promise<void>
  /** Writes outside /registry, then compacts etcd's history up to the newest revision; that revision. */
  readonly compactEtcd: () => Promise<number>
  /** The log file of a component (etcd, kube-apiserver, kube-controller-manager, kube-scheduler). */
  readonly logOf: (component: string) => string
  readonly stop: () => Promise<void>
}

const etcdJson = async (port: number, path: string, body: unknown): Promise<unknown> => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", body: JSON.stringify(body) })
  const json: unknown = await response.json()
  if (!response.ok) throw new Error(`etcd ${path}: HTTP ${response.status} ${JSON.stringify(json)}`)
  return json
}

export const startControlPlane = async (options: ControlPlaneOptions = {}): Promise<ControlPlane> => {
  const dir = mkdtempSync(join(tmpdir(), "kec-real-"))
  const children: Array<ChildProcess> = []
  const logOf = (component: string) => join(dir, `${component}.log`)
  const run = (component: string, args: ReadonlyArray<string>): ChildProcess => {
    const child = startTracked(goBinary(component), args, logOf(component))
    children.push(child)
    return child
  }
  let apiServer: ChildProcess | undefined
  const stop = async () => {
    for (const child of children.splice(0).reverse()) await stopProcess(child)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    makeCertificates(dir)
    const ca = readFileSync(join(dir, "ca.crt"), "utf8")
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()]

    run("etcd", [
      "--name=default",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      "--unsafe-no-fsync",
      "--log-level=warn"
    ])
    await eventually(
      async () => {
        const health = await fetch(`http://127.0.0.1:${etcdPort}/health`).then((r) => r.json())
        if (!isKubeObject(health) || health["health"] !== "true") throw new Error(`etcd: ${JSON.stringify(health)}`)
      },
      30_000,
      100
    )

    const server = `https://127.0.0.1:${apiPort}`
    const auditLog = join(dir, "audit.log")
    writeFileSync(
      join(dir, "audit-policy.yaml"),
      stringify({
        apiVersion: "audit.k8s.io/v1",
        kind: "Policy",
        omitStages: ["RequestReceived"],
        rules: [
          // Each stored write of an Event with the object as stored: what the collector must export, step by step.
          {
            level: "RequestResponse",
            verbs: ["create", "update", "patch"],
            resources: [
              { group: "", resources: ["events"] },
              { group: "events.k8s.io", resources: ["events"] }
            ]
          },
          { level: "Metadata" }
        ]
      })
    )
    const admin = new KubeClient(server, ca, {
      cert: readFileSync(join(dir, "admin.crt"), "utf8"),
      key: readFileSync(join(dir, "admin.key"), "utf8")
    })
    const apiServerArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${join(dir, "apiserver.crt")}`,
      `--tls-private-key-file=${join(dir, "apiserver.key")}`,
      `--client-ca-file=${join(dir, "ca.crt")}`,
      `--cert-dir=${join(dir, "apiserver-certs")}`,
      "--authorization-mode=Node,RBAC",
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${join(dir, "sa.pub")}`,
      `--service-account-signing-key-file=${join(dir, "sa.key")}`,
      "--service-cluster-ip-range=10.96.0.0/24",
      "--endpoint-reconciler-type=none",
      // No kubelet would mount a token; pods need no ServiceAccount to exist.
      "--disable-admission-plugins=ServiceAccount",
      // Every answer, for what the collector was told (403s, 410s, the query of each watch).
      `--audit-policy-file=${join(dir, "audit-policy.yaml")}`,
      `--audit-log-path=${auditLog}`,
      "--audit-log-mode=blocking"
    ]
    const startApiServer = async () => {
      apiServer = run("kube-apiserver", apiServerArgs)
      await eventually(
        async () => {
          const ready = await admin.request("GET", "/readyz")
          if (ready.status !== 200) throw new Error(`kube-apiserver /readyz: ${ready.status} ${ready.text}`)
        },
        120_000,
        250
      )
    }
    await startApiServer()

    const adminKubeconfig = join(dir, "admin.kubeconfig")
    writeFileSync(adminKubeconfig, kubeconfigYaml(server, ca, certUser(dir, "admin")))

    const componentKubeconfig = (name: string) => {
      const path = join(dir, `${name}.kubeconfig`)
      writeFileSync(path, kubeconfigYaml(server, ca, certUser(dir, name)))
      return path
    }
    if (options.controllerManager === true) {
      const kubeconfig = componentKubeconfig("controller-manager")
      run("kube-controller-manager", [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${await freePort()}`,
        "--use-service-account-credentials=true",
        `--service-account-private-key-file=${join(dir, "sa.key")}`,
        `--root-ca-file=${join(dir, "ca.crt")}`,
        // A Node with no kubelet behind it goes NotReady after this long.
        "--node-monitor-grace-period=8s",
        "--node-monitor-period=2s"
      ])
    }
    if (options.scheduler === true) {
      const kubeconfig = componentKubeconfig("scheduler")
      run("kube-scheduler", [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${await freePort()}`
      ])
    }

    const rights = deployObjects().filter((o) => RBAC_KINDS.has(field(o, "kind")))
    for (const object of rights) await admin.create(object)
    const serviceAccount = rights.find((o) => field(o, "kind") === "ServiceAccount")
    if (serviceAccount === undefined) throw new Error("deploy/ has no ServiceAccount")

    const serviceAccountKubeconfig = async (namespace: string, name: string) => {
      const request = await admin.ok("POST", `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds: 3600 }
      })
      const path = join(dir, `sa-${namespace}-${name}.kubeconfig`)
      writeFileSync(path, kubeconfigYaml(server, ca, { token: field(request, "status", "token") }))
      return path
    }

    return {
      dir,
      server,
      admin,
      adminKubeconfig,
      auditLog,
      deployNamespace: field(serviceAccount, "metadata", "namespace"),
      deployServiceAccount: field(serviceAccount, "metadata", "name"),
      serviceAccountKubeconfig,
      restartApiServer: async (whileDown = async () => {}) => {
        if (apiServer !== undefined) {
          await stopProcess(apiServer)
          children.splice(children.indexOf(apiServer), 1)
        }
        await whileDown()
        await startApiServer()
      },
      compactEtcd: async () => {
        // etcd's KV API through its HTTP/JSON gateway: two writes outside /registry move the revision past
        // everything the API server served (a watch from the newest revision it served starts at the first of
        // them), then the history up to the second is compacted away.
        const write = () =>
          etcdJson(etcdPort, "/v3/kv/put", {
            key: Buffer.from("/test-real/compaction").toString("base64"),
            value: Buffer.from(new Date().toISOString()).toString("base64")
          })
        await write()
        const revision = field(await write(), "header", "revision")
        await etcdJson(etcdPort, "/v3/kv/compaction", { revision, physical: true })
        return Number(revision)
      },
      logOf,
      stop
    }
  } catch (error) {
    const logs = ["etcd", "kube-apiserver"].map((c) => {
      try {
        return `--- ${c}:\n${readFileSync(logOf(c), "utf8").split("\n").slice(-30).join("\n")}`
      } catch {
        return ""
      }
    })
    await stop()
    throw new Error(`the control plane did not start: ${String(error)}\n${logs.join("\n")}`)
  }
}

/** One object of deploy/. */
export const deployObject = (kind: string, name: string): KubeObject => {
  const found = deployObjects().find((o) => field(o, "kind") === kind && field(o, "metadata", "name") === name)
  if (found === undefined) throw new Error(`deploy/ renders no ${kind} ${name}`)
  return found
}

/** deploy/'s collector configuration (`config.yaml` of its ConfigMap), written into `dir`; its path. */
export const writeDeployConfig = (dir: string): string => {
  const path = join(dir, "config.yaml")
  writeFileSync(path, field(deployObject("ConfigMap", "k8s-event-collector-config"), "data", "config.yaml"))
  return path
}

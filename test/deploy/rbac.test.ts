/**
 * The RBAC in deploy/ (the chart's default rendering) grants exactly the Kubernetes API calls the collector makes,
 * as src/domain/apiCalls.ts (and the enricher) list them: cluster-wide reads (and the get of the one namespace whose
 * uid is the cluster's) in the ClusterRole, the checkpoint and the Lease in a Role in the collector's own namespace.
 * A call added to the code without its rule, or a rule with no call behind it, fails.
 */
import { describe, expect, it } from "vitest"
import { Context, Duration, Effect, Either, Layer } from "effect"
import { parse } from "yaml"
import { loadConfig } from "../../src/cli/load.ts"
import { enrichSettings } from "../../src/app/settings.ts"
import { CollectorMetrics, Metrics } from "../../src/observability/Metrics.ts"
import { Resources, simKubeConfig, startSimServer } from "@k8s-event-collector/sim"
import { eventAbout } from "../enrich/support.ts"
import {
  type ApiCall,
  CHECKPOINT_API_CALLS,
  CLUSTER_UID_API_CALLS,
  LEADER_ELECTION_API_CALLS,
  SOURCE_API_CALLS
} from "../../src/domain/apiCalls.ts"
import { Enricher, ENRICHMENT_API_CALLS } from "../../src/enrich/Enricher.ts"
import { arr, at, deployObject, type Obj, obj, str, strings, text } from "./support.ts"

/** What RBAC needs of a call (the enricher's own call type has no `feature`). */
type Call = Pick<ApiCall, "verb" | "group" | "resource" | "resourceName">

/** `group|resource|verb` for every permission, and `|name` when it is limited to one object. */
type Grant = string
const grant = (group: string, resource: string, verb: string, name = ""): Grant =>
  `${group}|${resource}|${verb}${name === "" ? "" : `|${name}`}`
const verbOf = (g: Grant): string => g.split("|")[2] ?? ""
/** The grant whatever object it is limited to (the Role's names are checked against the configuration instead). */
const anyName = (grants: ReadonlySet<Grant>): ReadonlySet<Grant> =>
  new Set([...grants].map((g) => g.split("|").slice(0, 3).join("|")))
const grantsOfCalls = (calls: ReadonlyArray<Call>): ReadonlySet<Grant> =>
  new Set(calls.map((c) => grant(c.group, c.resource, c.verb, c.resourceName)))

interface Rule {
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<string>
  readonly resourceNames: ReadonlyArray<string>
  readonly raw: Obj
}

const rulesOf = (role: Obj): ReadonlyArray<Rule> =>
  arr(role["rules"]).map((r) => {
    const raw = obj(r, "rule")
    return {
      apiGroups: strings(raw["apiGroups"]),
      resources: strings(raw["resources"]),
      verbs: strings(raw["verbs"]),
      resourceNames: strings(raw["resourceNames"]),
      raw
    }
  })

const grantsOfRules = (rules: ReadonlyArray<Rule>): ReadonlySet<Grant> =>
  new Set(
    rules.flatMap((r) =>
      r.apiGroups.flatMap((g) =>
        r.resources.flatMap((res) =>
          r.verbs.flatMap((v) =>
            r.resourceNames.length === 0 ? [grant(g, res, v)] : r.resourceNames.map((n) => grant(g, res, v, n))
          )
        )
      )
    )
  )

const clusterRole = deployObject("ClusterRole")
const role = deployObject("Role")
const clusterRoleBinding = deployObject("ClusterRoleBinding")
const roleBinding = deployObject("RoleBinding")
const serviceAccount = deployObject("ServiceAccount")
const configMap = deployObject("ConfigMap")
const namespace = text(at(deployObject("Namespace"), "metadata", "name"), "Namespace name")

/** The collector's configuration in the ConfigMap: where the checkpoint and the Lease are. */
const collectorConfig = obj(parse(text(at(configMap, "data", "config.yaml"), "config.yaml")), "config.yaml")

const [checkpointNamespace, checkpointName] = text(collectorConfig["checkpoint"], "checkpoint")
  .replace(/^configmap:/, "")
  .split("/")
const [leaseNamespace, leaseName] = text(collectorConfig["lease"], "lease").split("/")

describe("ClusterRole: cluster-wide reads", () => {
  it("grants exactly the source, enrichment and cluster uid calls", async () => {
    const required = grantsOfCalls([...SOURCE_API_CALLS, ...ENRICHMENT_API_CALLS, ...CLUSTER_UID_API_CALLS])
    expect([...grantsOfRules(rulesOf(clusterRole))].sort()).toEqual([...required].sort())
  })

  it("reads no namespace but kube-system, whose uid is k8s.cluster.uid", () => {
    const namespaceRules = rulesOf(clusterRole).filter((r) => r.resources.includes("namespaces"))
    expect(namespaceRules.map((r) => ({ resources: r.resources, names: r.resourceNames, verbs: r.verbs }))).toEqual([
      { resources: ["namespaces"], names: ["kube-system"], verbs: ["get"] }
    ])
  })

  it("only reads", () => {
    for (const r of rulesOf(clusterRole)) for (const v of r.verbs) expect(["get", "list", "watch"]).toContain(v)
  })
})

describe("Role: the checkpoint ConfigMap and the leader election Lease, in the collector's namespace", () => {
  it("grants exactly the checkpoint and leader election calls", () => {
    const required = grantsOfCalls([...CHECKPOINT_API_CALLS, ...LEADER_ELECTION_API_CALLS])
    expect([...anyName(grantsOfRules(rulesOf(role)))].sort()).toEqual([...required].sort())
  })

  it("lives in the namespace of the checkpoint and the Lease the configuration names", () => {
    expect(at(role, "metadata", "namespace")).toBe(namespace)
    expect(checkpointNamespace).toBe(namespace)
    expect(leaseNamespace).toBe(namespace)
  })

  it("limits get and update to the objects the configuration names (create cannot be limited by name)", () => {
    for (const r of rulesOf(role)) {
      if (r.verbs.includes("create")) {
        expect(r.resourceNames, "create with resourceNames would never match").toEqual([])
        continue
      }
      const expected = r.resources.includes("configmaps")
        ? checkpointName
        : r.resources.includes("leases")
          ? leaseName
          : undefined
      expect(expected, `rule on ${r.resources.join(",")}`).toBeDefined()
      expect(r.resourceNames).toEqual([expected])
    }
  })
})

describe("no more than that", () => {
  for (const [name, r] of [
    ["ClusterRole", clusterRole],
    ["Role", role]
  ] as const) {
    it(`${name}: no wildcard, no secrets, no non-resource URLs, no escalation`, () => {
      for (const rule of rulesOf(r)) {
        for (const list of [rule.apiGroups, rule.resources, rule.verbs, rule.resourceNames])
          expect(list).not.toContain("*")
        expect(rule.resources).not.toContain("secrets")
        expect(
          rule.resources.some((res) => res.includes("/")),
          "no subresources"
        ).toBe(false)
        expect(rule.raw["nonResourceURLs"]).toBeUndefined()
        for (const v of ["escalate", "bind", "impersonate", "delete", "deletecollection", "patch"])
          expect(rule.verbs).not.toContain(v)
      }
      expect(r["aggregationRule"]).toBeUndefined()
    })
  }
})

describe("bindings", () => {
  const account = { name: text(at(serviceAccount, "metadata", "name"), "ServiceAccount name"), namespace }
  const subjectsOf = (binding: Obj) =>
    arr(binding["subjects"]).map((s) => ({
      kind: str(at(s, "kind")),
      name: str(at(s, "name")),
      namespace: str(at(s, "namespace"))
    }))

  it("the ClusterRoleBinding gives the ClusterRole to the collector's ServiceAccount only", () => {
    expect(at(clusterRoleBinding, "roleRef")).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: at(clusterRole, "metadata", "name")
    })
    expect(subjectsOf(clusterRoleBinding)).toEqual([{ kind: "ServiceAccount", ...account }])
  })

  it("the RoleBinding gives the Role to the collector's ServiceAccount only, in the same namespace", () => {
    expect(at(roleBinding, "roleRef")).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Role",
      name: at(role, "metadata", "name")
    })
    expect(subjectsOf(roleBinding)).toEqual([{ kind: "ServiceAccount", ...account }])
    expect(at(roleBinding, "metadata", "namespace")).toBe(namespace)
  })

  it("the ServiceAccount is the one the Deployment runs as", () => {
    const deployment = deployObject("Deployment")
    expect(at(deployment, "spec", "template", "spec", "serviceAccountName")).toBe(account.name)
    expect(at(serviceAccount, "metadata", "namespace")).toBe(namespace)
  })
})

describe("the enricher's calls, as an API server sees them", () => {
  /** `group|resource|verb` of every request the enricher makes with the default settings, until its watches are up. */
  const callsSeen = async (extraArgs: ReadonlyArray<string>) => {
    const sim = await startSimServer()
    try {
      const deployment = sim.objects.deployment({ name: "web", namespace: "shop" })
      const rs = sim.objects.replicaSet({ name: "web-7d9f8b", namespace: "shop", owner: deployment })
      const pod = sim.objects.pod({ name: "web-7d9f8b-x2x9q", namespace: "shop", owner: rs, nodeName: "node-1" })
      const cronJob = sim.objects.cronJob({ name: "backup", namespace: "shop" })
      const job = sim.objects.job({ name: "backup-1", namespace: "shop", owner: cronJob })
      const gone = sim.objects.pod({ name: "gone", namespace: "shop", owner: job })
      sim.store.delete(Resources.pods, "shop", "gone")
      const loaded = loadConfig({ argv: [...extraArgs], env: {}, readText: () => "" })
      if (Either.isLeft(loaded)) throw new Error(loaded.left.message)
      const layer = Enricher.layer(simKubeConfig(sim.url), enrichSettings(loaded.right.values)).pipe(
        Layer.provide(Layer.succeed(Metrics, new CollectorMetrics()))
      )
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const enricher = Context.get(yield* Layer.build(layer), Enricher)
            yield* enricher.enrichAll([pod, gone, deployment, job].map((o) => eventAbout(o)))
            while (sim.requests.count({ verb: "watch" }) < 3) yield* Effect.sleep(Duration.millis(5))
          })
        )
      )
      return sim.requests.filter({})
    } finally {
      await sim.close()
    }
  }

  it("are all granted by the ClusterRole, and its list and watch rules are all used", async () => {
    const requests = await callsSeen([])
    const seen = new Set(requests.map((r) => grant(r.group ?? "", r.resource ?? "", r.verb ?? "")))
    const granted = grantsOfRules(rulesOf(clusterRole))
    for (const g of seen) expect(granted, g).toContain(g)
    const watchGrants = [...granted].filter((g) => verbOf(g) !== "get" && !g.includes("|events|"))
    expect(watchGrants.sort()).toEqual([...seen].filter((g) => verbOf(g) !== "get").sort())
  })

  it("with --namespaces, every call is inside those namespaces: a Role in each is enough", async () => {
    const requests = await callsSeen(["--namespaces", "shop"])
    expect(requests.length).toBeGreaterThan(0)
    expect(requests.filter((r) => r.namespace !== "shop")).toEqual([])
  })
})

/**
 * A restart of the real kube-apiserver while the collector runs. Once it listens again, the server refuses for a
 * second or two with 403 (and may with 401) while its RBAC caches (and its authenticator) fill. The collector takes
 * that for the start-up it is, not for a missing RBAC rule: it asks again every 200 ms, so that each collection it
 * follows (the events, and the enrichment caches of pods, ReplicaSets and Jobs) is listed or watched again within a
 * second of the server being ready (/readyz), and its log gives no RBAC advice. A probe with the collector's rights
 * under another identity measures the refusals' window, from the server's first answer to its first 200.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parse } from "yaml"
import { eventually } from "../support/collector.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"
import { attribute, type RealCollector, runCollector } from "./support/collectorRun.ts"
import {
  type ControlPlane,
  deployObject,
  field,
  isKubeObject,
  KubeClient,
  startControlPlane
} from "./support/controlPlane.ts"
import { coreEvent } from "./support/eventWriter.ts"

const NS = "real-restart"
const PROBE = "restart-probe"
/** What the collector says when it takes a refusal for a missing RBAC rule or bad credentials. */
const ADVICE = /RBAC rule|give the collector|needs get|check the kubeconfig user|did not accept the credentials/

let cp: ControlPlane
let receiver: OtlpReceiver
let collector: RealCollector
let collectorUser: string
/** The same rights as the collector's (its ClusterRole), under another name: its calls are not the collector's. */
let probe: KubeClient

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

beforeAll(async () => {
  cp = await startControlPlane()
  receiver = await startOtlpReceiver()
  await cp.admin.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } })
  await cp.admin.create({
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: PROBE, namespace: cp.deployNamespace }
  })
  await cp.admin.create({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: PROBE },
    roleRef: deployObject("ClusterRoleBinding", "k8s-event-collector")["roleRef"],
    subjects: [{ kind: "ServiceAccount", name: PROBE, namespace: cp.deployNamespace }]
  })
  const probeConfig: unknown = parse(readFileSync(await cp.serviceAccountKubeconfig(cp.deployNamespace, PROBE), "utf8"))
  const users = isKubeObject(probeConfig) ? probeConfig["users"] : undefined
  const token = Array.isArray(users) ? field(users[0], "user", "token") : ""
  probe = new KubeClient(cp.server, readFileSync(join(cp.dir, "ca.crt"), "utf8"), { token })
  expect((await probe.request("GET", "/api/v1/events?limit=1")).status).toBe(200)

  collectorUser = `system:serviceaccount:${cp.deployNamespace}:${cp.deployServiceAccount}`
  const kubeconfig = await cp.serviceAccountKubeconfig(cp.deployNamespace, cp.deployServiceAccount)
  collector = await runCollector(kubeconfig, receiver, ["--api", "core/v1"])
})

afterAll(async () => {
  await collector?.stop()
  await receiver?.close()
  await cp?.stop()
})

/** A request the API server answered, from its audit log: who, what, the status, and when it answered. */
interface Answered {
  readonly user: string
  readonly verb: string
  readonly resource: string
  readonly code: number
  /** Milliseconds since the epoch: a list's end, a watch's start (its `ResponseStarted`). */
  readonly at: number
}

const answered = (): ReadonlyArray<Answered> =>
  readFileSync(cp.auditLog, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .flatMap((line): Array<Answered> => {
      const entry: unknown = JSON.parse(line)
      if (!isKubeObject(entry)) return []
      const verb = String(entry["verb"])
      const stage = entry["stage"]
      if (stage !== (verb === "watch" ? "ResponseStarted" : "ResponseComplete")) return []
      const user = isKubeObject(entry["user"]) ? String(entry["user"]["username"]) : ""
      const resource = isKubeObject(entry["objectRef"]) ? String(entry["objectRef"]["resource"]) : ""
      const status = entry["responseStatus"]
      const code = isKubeObject(status) && typeof status["code"] === "number" ? status["code"] : 0
      return [{ user, verb, resource, code, at: Date.parse(String(entry["stageTimestamp"])) }]
    })

/** What the probe was answered, each change of answer with its time: `ECONNREFUSED`, `403`, `200`... */
const probing = () => {
  const changes: Array<{ readonly at: number; readonly answer: string }> = []
  let running = true
  const done = (async () => {
    while (running) {
      const at = Date.now()
      const answer = await probe.request("GET", "/api/v1/events?limit=1").then(
        (r) => String(r.status),
        (e: unknown) => (e instanceof Error && "code" in e ? String(e.code) : "no answer")
      )
      if (changes.at(-1)?.answer !== answer) changes.push({ at, answer })
      await sleep(25)
    }
  })()
  return {
    changes,
    stop: async () => {
      running = false
      await done
    }
  }
}

/** When /readyz first says ready, polled every 25 ms from now: the time that request was sent. */
const readyAt = async (): Promise<number> => {
  for (;;) {
    const at = Date.now()
    const ready = await cp.admin.request("GET", "/readyz").then(
      (r) => r.status === 200,
      () => false
    )
    if (ready) return at
    await sleep(25)
  }
}

interface Restart {
  /** The old server has exited. */
  readonly down: number
  readonly ready: number
  /** The probe's answers from `down` on. */
  readonly probed: ReadonlyArray<{ readonly at: number; readonly answer: string }>
}

const restart = async (): Promise<Restart> => {
  let down = 0
  let ready: Promise<number> = Promise.resolve(0)
  let prober: ReturnType<typeof probing> | undefined
  await cp.restartApiServer(async () => {
    down = Date.now()
    prober = probing()
    ready = readyAt()
  })
  const at = await ready
  await sleep(2_000)
  await prober?.stop()
  return { down, ready: at, probed: prober?.changes ?? [] }
}

/** The refusals' window the probe saw: from its first 401 or 403 to its first 200 after it. */
const refusalWindow = (r: Restart) => {
  const first = r.probed.findIndex((c) => c.answer === "401" || c.answer === "403")
  const ok = r.probed.findIndex((c, i) => i > first && c.answer === "200")
  const [from, to] = [r.probed[first], r.probed[ok]]
  return first < 0 || from === undefined || to === undefined ? undefined : to.at - from.at
}

describe("kube-apiserver restarted while the collector runs", () => {
  it("reads every collection again within 1 s of /readyz, and says its refusals are its start-up", async () => {
    // Every collection the collector follows, once it follows them all.
    let followed = new Set<string>()
    await eventually(
      () => {
        const calls = answered().filter((a) => a.user === collectorUser && a.code === 200 && a.verb === "watch")
        followed = new Set(calls.map((a) => a.resource))
        expect([...followed].sort()).toEqual(["events", "jobs", "pods", "replicasets"])
      },
      60_000,
      250
    )

    const measured: Array<string> = []
    for (let round = 1; round <= 3; round++) {
      const r = await restart()
      const after = answered().filter((a) => a.user === collectorUser && a.at > r.down)
      const refusedCollector = after.filter((a) => a.code === 401 || a.code === 403)
      for (const resource of followed) {
        const first = after.find((a) => a.resource === resource && a.code === 200)
        expect(first, `${resource} read again after restart ${round}`).toBeDefined()
        const late = (first?.at ?? Infinity) - r.ready
        expect(late, `${resource}: ${first?.verb} ${late} ms after /readyz (restart ${round})`).toBeLessThanOrEqual(
          1_000
        )
      }
      const firsts = [...followed].map((resource) => {
        const first = after.find((a) => a.resource === resource && a.code === 200)
        return `${resource} ${(first?.at ?? 0) - r.ready} ms`
      })
      const window = refusalWindow(r)
      measured.push(
        `restart ${round}: ready ${r.ready - r.down} ms after the old server exited; the probe's ` +
          `${r.probed.map((c) => `${c.answer}@${c.at - r.down}`).join(" ")}; refusals for ${window ?? "no"} ms; ` +
          `the collector refused ${refusedCollector.length} times; read again (after /readyz): ${firsts.join(", ")}`
      )
    }
    console.info(measured.join("\n"))

    // Still delivering: an Event written now is exported.
    await cp.admin.create(coreEvent(NS, "after-restarts"))
    await eventually(
      () => {
        const names = receiver.records.map((rec) => attribute(rec, "k8s.event.name"))
        expect(names).toContain("after-restarts")
      },
      30_000,
      250
    )
    // It met the refusals (about 4 calls in each restart, one per collection, when its first call after the failed
    // connection lands within the window) and gave no advice. The source says a refusal of its own as the start-up;
    // the caches say only their first failure, the cut connection, so their refusals leave no line.
    const refused = answered().filter((a) => a.user === collectorUser && (a.code === 401 || a.code === 403))
    expect(refused.length).toBeGreaterThan(0)
    const log = collector.output.stderr
    if (refused.some((a) => a.resource === "events"))
      expect(log).toMatch(/the API server is starting \((authorization|authentication) not ready yet\)/)
    expect(log).not.toMatch(ADVICE)
  })
})

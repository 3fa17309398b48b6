/** The real event shapes the benchmark stamps its events from: the OpenShift fixture dumps (JSON arrays). */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import type { KubeObject } from "@k8s-event-collector/sim"
import { REPO } from "./collector.ts"

const FIXTURES = join(REPO, "../shared/fixtures/openshift-events")

let cached: ReadonlyArray<KubeObject> | undefined

const isObject = (u: unknown): u is KubeObject => typeof u === "object" && u !== null && !Array.isArray(u)

export const fixtureTemplates = (): ReadonlyArray<KubeObject> => {
  if (cached !== undefined) return cached
  const out: Array<KubeObject> = []
  for (const file of readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const parsed: unknown = JSON.parse(readFileSync(join(FIXTURES, file), "utf8"))
    if (Array.isArray(parsed)) for (const e of parsed) if (isObject(e)) out.push(e)
  }
  if (out.length === 0) throw new Error(`no fixture events found in ${FIXTURES}`)
  cached = out
  return out
}

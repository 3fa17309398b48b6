import { CoreV1Api } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { collectWatch, field, podRef, simPerTest } from "./helpers.ts"

const sims = simPerTest()
const start = sims.start

/** The HTTP status of a plain GET, or the network error's code when nothing answered. */
const probe = async (url: string): Promise<number | string> => {
  try {
    return (await fetch(`${url}/api/v1/events`)).status
  } catch (e) {
    const cause = e instanceof Error ? e.cause : undefined
    return cause instanceof Error && "code" in cause ? String(cause.code) : String(e)
  }
}

describe("restart", () => {
  it("ends open watches, refuses connections while down, then serves the same store on the same port", async () => {
    const s = await start()
    const before = s.events.create({ involvedObject: podRef("a", "before") })
    const url = s.url
    const w = await collectWatch(sims.kc, "/api/v1/events", { resourceVersion: String(s.store.resourceVersion) })

    const restarted = s.restart({ downMs: 300 })
    expect(await w.done).toBeNull()
    await new Promise((r) => setTimeout(r, 100))
    expect(await probe(url)).toBe("ECONNREFUSED")
    // Written while it is down, as another API server would.
    const during = s.events.create({ involvedObject: podRef("a", "during") })
    await restarted

    expect(s.url).toBe(url)
    expect(s.restarts).toBe(1)
    const list = await sims.kc.makeApiClient(CoreV1Api).listEventForAllNamespaces()
    expect(list.items.map((e) => e.metadata?.uid).sort()).toEqual([before.metadata.uid, during.metadata.uid].sort())
    // Without compaction the change log is whole: a watch from before the restart gets what it missed.
    const again = await collectWatch(sims.kc, "/api/v1/events", {
      resourceVersion: before.metadata.resourceVersion ?? ""
    })
    await again.waitFor((evs) => evs.some((e) => e.type === "ADDED"))
    expect(again.events.map((e) => field(e.object, "metadata.uid"))).toEqual([during.metadata.uid])
    again.abort()
  })

  it("with compact, answers 410 to a watch from a resourceVersion before the restart", async () => {
    const s = await start()
    const before = s.events.create({ involvedObject: podRef("a", "before") })
    s.events.create({ involvedObject: podRef("a", "after") })
    await s.restart({ compact: true })
    expect(s.store.compactedResourceVersion).toBe(s.store.resourceVersion)
    const w = await collectWatch(sims.kc, "/api/v1/events", { resourceVersion: before.metadata.resourceVersion ?? "" })
    await w.waitFor((evs) => evs.length > 0)
    expect(w.events[0]?.type).toBe("ERROR")
    expect(field(w.events[0]?.object, "code")).toBe(410)
    w.abort()
  })
})

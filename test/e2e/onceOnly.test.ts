/**
 * Once-only at any size: more live events than the once-only window holds (1 000 against a window of 100 uids),
 * the real pipeline against the simulated API server over HTTP. What a relist repeats is kept out by the
 * watermark (the list's items at or below the last resourceVersion passed on are skipped), not by the window: a
 * relist after a 410, and a restart from a checkpoint whose resourceVersion was compacted away, send only what
 * changed meanwhile, each occurrence once (counted per `log.record.uid`, the event's uid and resourceVersion).
 * The window is the guard for what the watermark cannot tell: a change above it that is no new occurrence.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Effect, Either, Fiber, Logger } from "effect"
import {
  Resources,
  type SimServer,
  simKubeConfig,
  startSimServer,
  StatusBodies,
  type StoredKubeObject
} from "@k8s-event-collector/sim"
import { runKube } from "../../src/app/kube.ts"
import { kubeSettings } from "../../src/app/settings.ts"
import { loadConfig } from "../../src/cli/load.ts"
import { eventually } from "../support/collector.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"

const LIVE = 1_000
const WINDOW = 100

let sim: SimServer
let receiver: OtlpReceiver
let dir: string
const running: Array<Fiber.RuntimeFiber<unknown, unknown>> = []

beforeEach(async () => {
  sim = await startSimServer({ bookmarkIntervalMs: 200 })
  receiver = await startOtlpReceiver()
  dir = mkdtempSync(join(tmpdir(), "kec-once-only-"))
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((f) => Effect.runPromise(Fiber.interrupt(f))))
  await sim.close()
  await receiver.close()
  rmSync(dir, { recursive: true, force: true })
})

/** The collector in this process, its once-only window `WINDOW` uids; `stop` is a SIGTERM (flush, save). */
const start = (checkpoint: string) => {
  const argv = [
    ...["--listen", "off", "--otlp-endpoint", receiver.url, "--otlp-compression", "none"],
    ...["--checkpoint", `file:${checkpoint}`, "--checkpoint-interval", "0s", "--list-page-size", "100"],
    ...["--batch-linger", "20ms", "--api-retry-initial", "50ms", "--api-retry-max", "300ms"]
  ]
  const loaded = loadConfig({ argv, env: {}, readText: () => "" })
  if (Either.isLeft(loaded)) throw new Error(loaded.left.message)
  const settings = kubeSettings(loaded.right.values, loaded.right.rules)
  const small = { ...settings, pipeline: { ...settings.pipeline, windowSize: WINDOW } }
  const fiber = Effect.runFork(
    runKube(small, simKubeConfig(sim.url)).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
  )
  running.push(fiber)
  return {
    stop: async () => {
      running.splice(running.indexOf(fiber), 1)
      await Effect.runPromise(Fiber.interrupt(fiber))
    }
  }
}

const occurrence = (o: StoredKubeObject) => `${o.metadata.uid}:${o.metadata.resourceVersion}`
const keyOf = (o: StoredKubeObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`
/** The live events in the order a list returns them (etcd's: by key). */
const live = () =>
  [...sim.store.all(Resources.events)]
    .map((s) => s.object)
    .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0))

/** Records received per occurrence (`log.record.uid`). */
const perOccurrence = () => {
  const counts = new Map<string, number>()
  for (const r of receiver.records) {
    const uid = String(r.attributes["log.record.uid"])
    counts.set(uid, (counts.get(uid) ?? 0) + 1)
  }
  return counts
}

/** Every expected occurrence arrived once, and nothing else arrived. */
const expectEachOnce = async (expected: ReadonlySet<string>) => {
  await eventually(() => expect(new Set(perOccurrence().keys())).toEqual(expected), 20_000)
  // Anything sent again would follow within a batch or two.
  await new Promise((r) => setTimeout(r, 500))
  const counts = perOccurrence()
  expect([...counts].filter(([, n]) => n > 1)).toEqual([])
  expect(new Set(counts.keys())).toEqual(expected)
}

let seq = 0
/**
 * A new event. Series-style ones carry their time to the microsecond: created after the bulk load, they are the
 * newest occurrences, and so among the last the checkpoint keeps (core/v1 times have whole seconds, which the
 * bulk load's may equal).
 */
const create = (style: "core" | "series" = "core") =>
  sim.events.create({
    style,
    namespace: "gap",
    reason: "Pulled",
    message: `pulled image ${++seq}`,
    involvedObject: { apiVersion: "v1", kind: "Pod", namespace: "gap", name: `gap-${seq}`, uid: `gap-${seq}` }
  })

/**
 * What changes while the collector cannot see it: new events, new occurrences of the first-listed events (long
 * gone from the window), and changes to `recent` events (still in the window) that are no new occurrence: above
 * the watermark, they are the window's to keep out. Returns the occurrences among them.
 */
const changesInTheGap = (recent: ReadonlyArray<StoredKubeObject>) => {
  const made = new Set<string>()
  for (let i = 0; i < 20; i++) made.add(occurrence(create()))
  for (const e of live().slice(0, 10)) made.add(occurrence(sim.events.repeat(e.metadata.uid)))
  for (const e of recent) sim.events.updateWithoutNewOccurrence(e.metadata.uid)
  return made
}

/** The live events listed, each once; then 5 new ones, the newest occurrences the window (and checkpoint) hold. */
const listedThenRecent = async (checkpoint: string) => {
  sim.events.bulkLoad(LIVE)
  const expected = new Set(live().map(occurrence))
  const collector = start(checkpoint)
  await expectEachOnce(expected)
  const recent = Array.from({ length: 5 }, () => create("series"))
  for (const o of recent) expected.add(occurrence(o))
  await expectEachOnce(expected)
  return { collector, expected, recent }
}

/** List requests that started a list (not the next page of one). */
const lists = () =>
  sim.requests.filter({ verb: "list", resource: "events" }).filter((r) => r.query["continue"] === undefined).length

describe(`once-only with ${LIVE} live events and a window of ${WINDOW} uids`, () => {
  it("a relist after a 410 sends only what changed meanwhile, each occurrence once", async () => {
    const { expected, recent } = await listedThenRecent(join(dir, "checkpoint"))
    expect(lists()).toBe(1)

    // The watch ends; before the collector is back, the server moves on and compacts its history away.
    sim.endWatches()
    for (const o of changesInTheGap(recent)) expected.add(o)
    sim.store.compact()
    await expectEachOnce(expected)
    expect(lists()).toBe(2)
    expect(expected.size).toBe(LIVE + 5 + 30)
  })

  it("a restart from a checkpoint whose resourceVersion is gone sends only what changed meanwhile", async () => {
    const checkpoint = join(dir, "checkpoint")
    const { collector, expected, recent } = await listedThenRecent(checkpoint)
    await collector.stop()

    for (const o of changesInTheGap(recent)) expected.add(o)
    sim.store.compact()
    const watches = sim.requests.count({ verb: "watch", resource: "events" })
    start(checkpoint)
    await expectEachOnce(expected)
    // It resumed from the checkpoint: a watch first, refused with a 410, then one list.
    const resumed = sim.requests.filter({ resource: "events" }).slice(-3)
    expect(sim.requests.count({ verb: "watch", resource: "events" })).toBeGreaterThan(watches + 1)
    expect(lists()).toBe(2)
    expect(resumed.some((r) => r.verb === "list")).toBe(true)
    expect(expected.size).toBe(LIVE + 5 + 30)
  })

  for (const [how, action] of [
    ["its connection is reset", { type: "resetConnection" }],
    [
      "its continue token has expired (410)",
      { type: "status", status: StatusBodies.expired(StatusBodies.EXPIRED_CONTINUE_MESSAGE) }
    ]
  ] as const) {
    it(`a list that fails half-way (${how}) and starts over sends each event once`, async () => {
      sim.events.bulkLoad(LIVE)
      const expected = new Set(live().map(occurrence))
      // The sixth page fails, once: the list starts over from its first page.
      sim.faults.add({ verb: "list", resource: "events", after: 5, times: 1, action })
      start(join(dir, "checkpoint"))
      await expectEachOnce(expected)
      const pages = sim.requests.filter({ verb: "list", resource: "events" })
      expect(pages.filter((r) => r.query["continue"] === undefined)).toHaveLength(2)
      expect(pages.length).toBe(5 + 1 + LIVE / 100)
      // And after the list, the watch: nothing passed on twice there either.
      const more = Array.from({ length: 3 }, () => create())
      for (const o of more) expected.add(occurrence(o))
      await expectEachOnce(expected)
    })
  }

  it("a restart while the list is under way loses nothing, and sends again at most what the first run sent", async () => {
    const checkpoint = join(dir, "checkpoint")
    sim.events.bulkLoad(LIVE)
    const expected = new Set(live().map(occurrence))
    // The sixth page is held back: the collector is stopped (as by SIGTERM) with five pages exported.
    sim.faults.add({ verb: "list", resource: "events", after: 5, times: 1, action: { type: "delay", ms: 3_000 } })
    const first = start(checkpoint)
    await eventually(() => expect(perOccurrence().size).toBe(500), 20_000)
    await first.stop()
    start(checkpoint)
    await eventually(() => expect(new Set(perOccurrence().keys())).toEqual(expected), 20_000)
    // The checkpoint did not move while the list was under way (its items come in key order, not in
    // resourceVersion order): the next run lists again, and what the window does not hold is sent again.
    const twice = [...perOccurrence()].filter(([, n]) => n > 1)
    expect(twice.length).toBeLessThanOrEqual(500)
    expect(twice.every(([, n]) => n === 2)).toBe(true)
  })
})

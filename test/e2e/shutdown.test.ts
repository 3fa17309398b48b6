/**
 * SIGTERM while the OTLP backend is down, with the real CLI as a child process: delivery gets at most
 * --shutdown-timeout, what is left is counted and named (reason shutdown), the exit code says so, and the
 * checkpoint holds only what the backend acknowledged, so that the next run sends the rest.
 */
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type SimServer, startSimServer } from "@k8s-event-collector/sim"
import { FIXTURES } from "../support/cli.ts"
import { eventually } from "../support/collector.ts"
import { type OtlpReceiver, startOtlpReceiver } from "../support/otlp-receiver.ts"
import { type CollectorProcess, EventGenerator, spawnCollector, tally, writeKubeconfig } from "../support/processes.ts"

const AWS = join(FIXTURES, "openshift-mgc-aws.json")
const eventsInDump = (JSON.parse(readFileSync(AWS, "utf8")) as ReadonlyArray<unknown>).length

let receiver: OtlpReceiver
const running = new Set<CollectorProcess>()

beforeEach(async () => {
  receiver = await startOtlpReceiver()
})
afterEach(async () => {
  for (const p of running) p.child.kill("SIGKILL")
  await Promise.all([...running].map((p) => p.exited))
  running.clear()
  await receiver.close()
})

const start = (args: ReadonlyArray<string>) => {
  const p = spawnCollector(args)
  running.add(p)
  void p.exited.then(() => running.delete(p))
  return p
}

/** Sends SIGTERM once the collector has failed to export at least once; resolves with the exit code and the time. */
const stopWhileFailing = async (p: CollectorProcess) => {
  await eventually(() => expect(p.output.stderr).toMatch(/will retry/), 20_000)
  const signalledAt = Date.now()
  p.child.kill("SIGTERM")
  const code = await p.exited
  return { code, seconds: (Date.now() - signalledAt) / 1000 }
}

const SHUTDOWN_TIMEOUT_S = 2

/** Replays the dump to the receiver's URL, which the test has closed. */
const replayToClosedPort = (extra: ReadonlyArray<string>) =>
  start([
    "--source",
    `file:${AWS}`,
    "--otlp-endpoint",
    receiver.url,
    "--shutdown-timeout",
    `${SHUTDOWN_TIMEOUT_S}s`,
    "--retry-initial",
    "100ms",
    ...extra
  ])

describe("SIGTERM with the OTLP backend down", () => {
  let sim: SimServer
  beforeEach(async () => {
    sim = await startSimServer({ bookmarkIntervalMs: 500 })
  })
  afterEach(async () => {
    await sim.close()
  })

  it("--source kube: stops within --shutdown-timeout, names the dropped records, exits 1; a restart sends them", async () => {
    const generator = new EventGenerator(sim)
    const checkpoint = join(mkdtempSync(join(tmpdir(), "kec-shutdown-")), "checkpoint")
    const port = receiver.port
    const args = [
      "--kubeconfig",
      writeKubeconfig(sim),
      "--otlp-endpoint",
      receiver.url,
      "--checkpoint",
      `file:${checkpoint}`,
      "--checkpoint-interval",
      "0s",
      "--shutdown-timeout",
      `${SHUTDOWN_TIMEOUT_S}s`,
      "--batch-linger",
      "20ms",
      "--retry-initial",
      "100ms",
      "--retry-max",
      "500ms"
    ]
    // One event before the start, the rest once it watches: a list shows only an event's latest occurrence.
    generator.step()
    const first = start(args)
    await eventually(() => expect(received()).toHaveLength(1), 20_000)
    for (let i = 0; i < 9; i++) generator.step()
    await eventually(() => expect(tally(generator.occurrences, received()).lost).toBe(0), 20_000)
    const acknowledged = received().length

    await receiver.close()
    for (let i = 0; i < 20; i++) generator.step()
    const { code, seconds } = await stopWhileFailing(first)
    console.log(
      `[shutdown] kube: exit ${code} ${seconds.toFixed(2)} s after SIGTERM (--shutdown-timeout ${SHUTDOWN_TIMEOUT_S}s)`
    )
    expect(seconds).toBeLessThanOrEqual(SHUTDOWN_TIMEOUT_S + 1)
    expect(code).toBe(1)
    const missed = generator.occurrences.size - acknowledged
    expect(missed).toBe(20)
    expect(first.output.stderr).toMatch(new RegExp(`${missed} records could not be delivered \\(${missed} shutdown\\)`))
    expect(first.output.stderr).toMatch(/"reason":"shutdown"/)

    // The checkpoint did not move past what was dropped: the next run sends exactly that.
    const before = received()
    receiver = await startOtlpReceiver({ port })
    const second = start(args)
    const all = () => [...before, ...received()]
    await eventually(() => expect(tally(generator.occurrences, all()).lost).toBe(0), 20_000)
    second.child.kill("SIGTERM")
    expect(await second.exited).toBe(0)
    const t = tally(generator.occurrences, all())
    expect(t.duplicates).toBe(0)
    expect(t.unexpected).toBe(0)
    expect(received()).toHaveLength(missed)
  }, 60_000)

  it("--source file: says how many records were not delivered and exits 1, within --shutdown-timeout", async () => {
    await receiver.close()
    const p = replayToClosedPort([])
    const { code, seconds } = await stopWhileFailing(p)
    console.log(
      `[shutdown] file: exit ${code} ${seconds.toFixed(2)} s after SIGTERM (--shutdown-timeout ${SHUTDOWN_TIMEOUT_S}s)`
    )
    expect(seconds).toBeLessThanOrEqual(SHUTDOWN_TIMEOUT_S + 1)
    expect(code).toBe(1)
    expect(p.output.stderr).toMatch(
      new RegExp(`${eventsInDump} records could not be delivered \\(${eventsInDump} shutdown\\)`)
    )
    expect(p.output.stderr).not.toMatch(/stopped before all/)
  }, 30_000)

  it("--source file: says so when the stop came before the whole dump was read (the queue was full)", async () => {
    await receiver.close()
    const p = replayToClosedPort(["--queue-size", "10", "--batch-size", "10", "--export-concurrency", "1"])
    const { code } = await stopWhileFailing(p)
    expect(code).toBe(1)
    // Only what had reached the sink is counted (a batch in flight, one waiting, a full queue): not the whole dump.
    const counted = Number(/(\d+) records could not be delivered \(\1 shutdown\)/.exec(p.output.stderr)?.[1])
    expect(counted).toBeGreaterThan(0)
    expect(counted).toBeLessThan(eventsInDump)
    expect(p.output.stderr).toMatch(/stopped before all of .*openshift-mgc-aws.json was read/)
  }, 30_000)
})

const received = () => receiver.records.map((r) => String(r.attributes["log.record.uid"]))

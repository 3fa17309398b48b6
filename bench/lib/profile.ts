/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per package, so that the
 * performance notes can say where the collector's CPU goes.
 */
import { readFileSync } from "node:fs"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}
interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
  readonly startTime: number
  readonly endTime: number
}

interface ProfileLine {
  readonly name: string
  readonly selfMs: number
  readonly pct: number
}

export interface ProfileSummary {
  readonly totalMs: number
  /** Sampled time that was not idle. */
  readonly busyMs: number
  readonly functions: ReadonlyArray<ProfileLine>
  readonly packages: ReadonlyArray<ProfileLine>
  /** Inclusive (self + callees) time of the project's own functions and of the exporter's serializer. */
  readonly inclusive: ReadonlyArray<ProfileLine>
}

const shortUrl = (url: string): string => {
  const nm = url.lastIndexOf("node_modules/")
  if (nm >= 0) return url.slice(nm + "node_modules/".length)
  const src = url.indexOf("/src/")
  if (src >= 0) return url.slice(src + 1)
  return url.replace(/^file:\/\//, "")
}

/** Which package (or `src/<dir>`, or the runtime) a frame belongs to. */
const packageOf = (url: string, functionName: string): string => {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)"
  if (url.startsWith("node:")) return "node:" + url.slice(5).split("/")[0]
  const nm = url.lastIndexOf("node_modules/")
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/")
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url)
  }
  const src = url.indexOf("/src/")
  if (src >= 0)
    return url
      .slice(src + 1)
      .split("/")
      .slice(0, 2)
      .join("/")
  return shortUrl(url)
}

const frameKey = (f: CallFrame): string =>
  `${f.functionName || "(anonymous)"} ${f.url === "" ? "" : `${shortUrl(f.url)}:${f.lineNumber + 1}`}`.trim()

/** Frames whose inclusive time is worth showing: the project's own code and the OTLP serializer's entry. */
const INCLUSIVE = (f: CallFrame): boolean =>
  (f.url.includes("/src/") && !f.url.includes("node_modules")) ||
  /serializeRequest|ProtobufLogsSerializer|JSON\.parse|^parse$/.test(f.functionName) ||
  (f.url.includes("client-node") && f.url.includes("watch.js"))

/**
 * `skipMs`: leave out the first milliseconds of the profile (module loading and start-up), so that the summary
 * is about the measured phase.
 */
export const summariseProfile = (path: string, top = 25, skipMs = 0): ProfileSummary => {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const selfUs = new Map<number, number>()
  const inclusiveUs = new Map<string, number>()
  let elapsedUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number
    const delta = profile.timeDeltas[i] ?? 0
    elapsedUs += delta
    if (elapsedUs < skipMs * 1000) continue
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta)
    const seen = new Set<string>()
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const f = byId.get(n)?.callFrame
      if (f === undefined || !INCLUSIVE(f)) continue
      const key = frameKey(f)
      if (seen.has(key)) continue
      seen.add(key)
      inclusiveUs.set(key, (inclusiveUs.get(key) ?? 0) + delta)
    }
  }
  const fns = new Map<string, number>()
  const pkgs = new Map<string, number>()
  let total = 0
  for (const [id, us] of selfUs) {
    const f = byId.get(id)?.callFrame
    if (f === undefined) continue
    total += us
    const fn = frameKey(f)
    fns.set(fn, (fns.get(fn) ?? 0) + us)
    const pkg = packageOf(f.url, f.functionName)
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us)
  }
  const lines = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, pct: (100 * us) / total }))
  const idle = [...fns].filter(([k]) => k === "(idle)").reduce((a, [, us]) => a + us, 0)
  return {
    totalMs: total / 1000,
    busyMs: (total - idle) / 1000,
    functions: lines(fns),
    packages: lines(pkgs),
    inclusive: lines(inclusiveUs)
  }
}

export const formatProfile = (s: ProfileSummary): string => {
  const fmt = (l: ProfileLine) => `${l.selfMs.toFixed(0).padStart(7)} ms ${l.pct.toFixed(1).padStart(5)} %  ${l.name}`
  return [
    `sampled ${s.totalMs.toFixed(0)} ms, of which ${s.busyMs.toFixed(0)} ms not idle (percentages are of all sampled time)`,
    "self time by package:",
    ...s.packages.map(fmt),
    "self time by function:",
    ...s.functions.map(fmt),
    "inclusive time (self + callees) of the project's functions:",
    ...s.inclusive.map(fmt)
  ].join("\n")
}

if (import.meta.main) {
  const file = process.argv[2]
  if (file === undefined) throw new Error("usage: node bench/lib/profile.ts FILE.cpuprofile [TOP] [SKIP_MS]")
  process.stdout.write(
    `${formatProfile(summariseProfile(file, Number(process.argv[3] ?? 30), Number(process.argv[4] ?? 0)))}\n`
  )
}

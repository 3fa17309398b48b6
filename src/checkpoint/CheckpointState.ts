/**
 * What the collector remembers across restarts: where each watch stream stopped, and which event occurrences
 * were recently exported (so a relist after a restart emits only what the backend does not have yet).
 * The collector decides what goes in and when it is saved; this module only holds, bounds and describes it.
 */
export { decodeState, encodeState } from "./codec.ts"

/** One exported occurrence of an event: its uid, its count at that occurrence, the occurrence time. */
export interface ExportedOccurrence {
  readonly uid: string
  readonly count: number
  /** Occurrence time, whole milliseconds since the epoch (the encoding drops fractions). */
  readonly timeMs: number
}

/** Watch stream key (e.g. "core/v1/*", "core/v1/shop") → resourceVersion read or acknowledged through. */
export type StreamPositions = Readonly<Record<string, string>>

/**
 * How far the collector has got, the one path of checkpoint progress: the source gives each change its stream and
 * resourceVersion, the pipeline gathers a chunk's `Progress` and puts it in the sink behind the chunk's records as
 * a marker, the checkpoint takes it when the backend has acknowledged them all, and a later run's source resumes
 * from its `streams`.
 */
export interface Progress {
  readonly streams: StreamPositions
  /** The occurrences handled (exported, filtered or held back): a relist must not send them again. */
  readonly occurrences: ReadonlyArray<ExportedOccurrence>
}

export interface CheckpointState extends Progress {
  /** Recently exported occurrences, oldest first; at most one per uid (the latest). */
  readonly occurrences: ReadonlyArray<ExportedOccurrence>
  readonly savedAtMs: number
}

export const emptyState: CheckpointState = { streams: {}, occurrences: [], savedAtMs: 0 }

export interface PruneOptions {
  readonly nowMs: number
  /** Occurrences older than `nowMs - ttlMs` are dropped (the API server has deleted those events by then). */
  readonly ttlMs: number
  /** Keep at most this many, the newest. */
  readonly maxOccurrences: number
}

/**
 * Drops occurrences older than the TTL, keeps one per uid (the latest by time; on a tie the later one in the
 * list) and at most `maxOccurrences`, the newest, in time order.
 */
export const prune = (state: CheckpointState, options: PruneOptions): CheckpointState => {
  const oldestKept = options.nowMs - options.ttlMs
  const latest = new Map<string, ExportedOccurrence>()
  for (const o of state.occurrences) {
    if (o.timeMs < oldestKept) continue
    const seen = latest.get(o.uid)
    if (seen === undefined || o.timeMs >= seen.timeMs) latest.set(o.uid, o)
  }
  const kept = [...latest.values()].sort((a, b) => a.timeMs - b.timeMs)
  const cap = Math.max(0, Math.floor(options.maxOccurrences))
  return { ...state, occurrences: kept.length > cap ? kept.slice(kept.length - cap) : kept }
}

const iso = (ms: number): string => {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString()
}

/** A few lines a person can read in `kubectl get configmap -o yaml`: the binary part is not. */
export const describeState = (state: CheckpointState): string => {
  const streams = Object.entries(state.streams).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const first = state.occurrences[0]
  const last = state.occurrences[state.occurrences.length - 1]
  const lines = [
    `saved at: ${iso(state.savedAtMs)}`,
    `exported occurrences remembered: ${state.occurrences.length}` +
      (first !== undefined && last !== undefined ? ` (from ${iso(first.timeMs)} to ${iso(last.timeMs)})` : ""),
    `streams (${streams.length}):`,
    ...streams.map(([key, rv]) => `  ${key}: resourceVersion ${rv}`)
  ]
  return `${lines.join("\n")}\n`
}

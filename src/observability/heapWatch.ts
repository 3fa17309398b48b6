/**
 * The heap against its cap. V8 aborts the process when the heap reaches its limit (`--max-old-space-size`)
 * without calling back into JavaScript, so no last log line could say why. The heap is read every second instead:
 * above `HIGH` of the cap the collector says so (the heap used, the cap, what it holds and how much), sheds what
 * can be read again (the enrichment caches) and slows intake to a chunk per `HOLD` (the watch is read that much
 * less: backpressure reaches the API server) until the heap is below `LOW` of the cap again. Slowed, not stopped:
 * the heap's used size counts garbage not collected yet, which a process that allocates nothing gives V8 no reason
 * to collect, and what is live may go only once the pipeline moves on (a list's pages, records being sent).
 */
import { getHeapStatistics } from "node:v8"
import { Context, Duration, Effect, Layer, Schedule, Stream, SubscriptionRef } from "effect"

export interface HeapUse {
  readonly usedBytes: number
  readonly limitBytes: number
}

/** The heap now: V8's used size (live objects and garbage not collected yet) and the limit it aborts at. */
const readHeapUse = (): HeapUse => {
  const s = getHeapStatistics()
  return { usedBytes: s.used_heap_size, limitBytes: s.heap_size_limit }
}

/** Above this share of the cap the heap is short; below `LOW` it is not any more (apart, so as not to flap). */
export const HIGH = 0.85
export const LOW = 0.7

/** While the heap is short, a chunk of intake waits this long, or until the heap is not short any more. */
export const HOLD = Duration.seconds(2)

/** Whether the heap is short, given whether it was at the last reading. */
export const isShort = (wasShort: boolean, use: HeapUse): boolean =>
  use.usedBytes / use.limitBytes >= (wasShort ? LOW : HIGH)

/** Something that takes room: its size, for the warning, and how to let go of what can be read again. */
export interface Holder {
  readonly name: string
  readonly size: () => number
  readonly shed?: () => void
}

export interface HeapWatchShape {
  /** Counts `holder` in the warning, and sheds it when the heap is short. */
  readonly register: (holder: Holder) => Effect.Effect<void>
  /** Returns at once, or while the heap is short when it is no longer short or after `HOLD`. */
  readonly roomToGrow: Effect.Effect<void>
}

const mb = (bytes: number): string => `${Math.round(bytes / 2 ** 20)} MB`
const percent = (use: HeapUse): string => `${Math.round((use.usedBytes / use.limitBytes) * 100)} %`

const describeShort = (use: HeapUse, holders: ReadonlyArray<Holder>): string => {
  const held = holders.map((h) => `${h.name} ${h.size()}`).join(", ") || "nothing counted"
  const shed = holders.filter((h) => h.shed !== undefined).map((h) => h.name)
  return (
    `memory: the heap holds ${mb(use.usedBytes)} of its ${mb(use.limitBytes)} cap (${percent(use)}); ` +
    `${shed.length > 0 ? `dropping ${shed.join(", ")} and ` : ""}slowing intake to a chunk every ` +
    `${Duration.format(HOLD)} until it is below ${LOW * 100} %; held: ${held}. ` +
    "If this recurs, give the process more memory (--max-old-space-size and the container's limit) or watch fewer " +
    "namespaces"
  )
}

const make = (read: () => HeapUse, every: Duration.DurationInput) =>
  Effect.gen(function* () {
    const holders: Array<Holder> = []
    const short = yield* SubscriptionRef.make(false)
    let shortNow = false
    const check = Effect.gen(function* () {
      const was = shortNow
      const use = read()
      const now = isShort(was, use)
      if (now === was) return
      if (now) {
        yield* Effect.logWarning(describeShort(use, holders))
        for (const h of holders) h.shed?.()
      } else {
        yield* Effect.logInfo(`memory: the heap is at ${percent(use)} of its cap again; intake goes on`)
      }
      shortNow = now
      yield* SubscriptionRef.set(short, now)
    })
    yield* Effect.forkScoped(Effect.repeat(check, Schedule.spaced(every)))
    return HeapWatch.of({
      register: (holder) => Effect.sync(() => void holders.push(holder)),
      // Read per chunk of events: a plain read while the heap is not short. `changes` starts with the current
      // value, so a heap short now waits for the reading that says it is not, or for `HOLD`.
      roomToGrow: Effect.suspend(() =>
        shortNow
          ? short.changes.pipe(
              Stream.takeUntil((isNow) => !isNow),
              Stream.runDrain,
              Effect.timeoutTo({ duration: HOLD, onSuccess: () => undefined, onTimeout: () => undefined })
            )
          : Effect.void
      )
    })
  })

export class HeapWatch extends Context.Tag("HeapWatch")<HeapWatch, HeapWatchShape>() {
  /** Reads the heap every `every` (a second unless a test says otherwise). */
  static readonly layer = (read: () => HeapUse = readHeapUse, every: Duration.DurationInput = Duration.seconds(1)) =>
    Layer.scoped(HeapWatch, make(read, every))
  /** Never short: nothing watched (a dump read once, tests of other parts). */
  static readonly layerNoop: Layer.Layer<HeapWatch> = Layer.succeed(HeapWatch, {
    register: () => Effect.void,
    roomToGrow: Effect.void
  })
}

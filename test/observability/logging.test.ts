/** The collector's own log lines: which format when, and the readable line itself. */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, FiberRefs, HashMap, List, type Logger, LogLevel } from "effect"
import { logFormatFor, readableLogLine } from "../../src/observability/logging.ts"

const AT = new Date("2026-12-01T08:09:21.432Z")

const line = (over: Partial<Logger.Logger.Options<unknown>>, colour = false) =>
  Effect.map(Effect.fiberId, (fiberId) =>
    readableLogLine(
      {
        fiberId,
        logLevel: LogLevel.Info,
        message: "exported 14 records",
        cause: Cause.empty,
        context: FiberRefs.empty(),
        spans: List.empty(),
        annotations: HashMap.empty(),
        date: AT,
        ...over
      },
      colour
    )
  )

describe("logFormatFor", () => {
  it("is text for a terminal and JSON for a pipe or file unless a format was chosen", () => {
    expect(logFormatFor(undefined, { isTTY: true })).toBe("text")
    expect(logFormatFor(undefined, { isTTY: false })).toBe("json")
    expect(logFormatFor(undefined, {})).toBe("json")
    expect(logFormatFor("json", { isTTY: true })).toBe("json")
    expect(logFormatFor("logfmt", { isTTY: true })).toBe("logfmt")
    expect(logFormatFor("text", {})).toBe("text")
  })
})

describe("readableLogLine", () => {
  it.effect("is time, level, message, then key=value with values quoted where they hold spaces", () =>
    Effect.gen(function* () {
      const annotations = HashMap.make(["exported", 14], ["lease", "default/kec"], ["why", "a b"], ["empty", ""])
      const text = yield* line({ annotations })
      expect(text.startsWith("2026-12-01T08:09:21.432Z INFO  exported 14 records ")).toBe(true)
      // In the annotations' own order, which a HashMap does not keep.
      const pairs = text
        .slice("2026-12-01T08:09:21.432Z INFO  exported 14 records ".length)
        .split(/ (?=\w+=)/)
        .sort()
      expect(pairs).toEqual(['empty=""', "exported=14", "lease=default/kec", 'why="a b"'])
    })
  )

  it.effect("keeps a message with line breaks on one line", () =>
    Effect.gen(function* () {
      expect(yield* line({ logLevel: LogLevel.Warning, message: ["cannot read", "a\nb\u001b[2J"] })).toBe(
        "2026-12-01T08:09:21.432Z WARN  cannot read a\\nb\\u001b[2J"
      )
    })
  )

  it.effect("colours WARN yellow and ERROR red when asked to, INFO never", () =>
    Effect.gen(function* () {
      expect(yield* line({ logLevel: LogLevel.Warning }, true)).toContain(" \u001b[33mWARN \u001b[39m exported")
      expect(yield* line({ logLevel: LogLevel.Error }, true)).toContain(" \u001b[31mERROR\u001b[39m exported")
      expect(yield* line({ logLevel: LogLevel.Info }, true)).not.toContain("\u001b")
    })
  )

  it.effect("puts a failure's cause on the indented lines after it", () =>
    Effect.gen(function* () {
      const text = yield* line({ logLevel: LogLevel.Error, cause: Cause.fail(new Error("boom")) })
      const [first, ...rest] = text.split("\n")
      expect(first).toBe("2026-12-01T08:09:21.432Z ERROR exported 14 records")
      expect(rest[0]).toMatch(/^ {4}Error: boom$/)
    })
  )
})

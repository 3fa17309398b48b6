import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import { ReportOnce } from "../../src/observability/reportOnce.ts"

describe("ReportOnce", () => {
  it.effect("says each kind of failure once, repeats quietly, and says once that it works again", () =>
    Effect.gen(function* () {
      const said = yield* Ref.make<ReadonlyArray<string>>([])
      const say = (text: string) => Ref.update(said, (all) => [...all, text])
      const once = new ReportOnce()
      yield* once.succeeded(say("works again"))
      yield* once.failed("list:403", say("forbidden"), say("(quiet) forbidden"))
      yield* once.failed("list:403", say("forbidden"), say("(quiet) forbidden"))
      yield* once.failed("list:network", say("unreachable"))
      yield* once.succeeded(say("works again"))
      yield* once.succeeded(say("works again"))
      yield* once.failed("list:403", say("forbidden"))
      expect(yield* Ref.get(said)).toEqual([
        "forbidden",
        "(quiet) forbidden",
        "unreachable",
        "works again",
        "forbidden"
      ])
    })
  )
})

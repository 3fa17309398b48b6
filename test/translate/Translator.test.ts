/** The Translator service: the observed time it stamps is its clock's, at each translation; a summary's too. */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import type { KubeEvent } from "../../src/domain/KubeEvent.ts"
import { Translator } from "../../src/translate/Translator.ts"

const event: KubeEvent = {
  api: "core/v1",
  name: "e.1",
  namespace: "ns",
  uid: "uid-1",
  resourceVersion: "10",
  reason: "BackOff",
  regarding: { kind: "Pod", namespace: "ns", name: "p" }
}

describe("Translator", () => {
  it.effect("stamps each record with the clock's time when it is translated", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_750_000_000_250)
      const translator = yield* Translator
      expect(translator.translate(event).hrTimeObserved).toEqual([1_750_000_000, 250_000_000])
      yield* TestClock.adjust(Duration.millis(1_500))
      expect(translator.translate(event).hrTimeObserved).toEqual([1_750_000_001, 750_000_000])
      const summary = translator.summarize(
        {
          key: "ns/Pod/p/BackOff",
          event,
          suppressed: 3,
          passed: 1,
          firstSuppressedMs: 1_749_999_990_000,
          lastSuppressedMs: 1_749_999_995_000,
          windowStartMs: 1_749_999_989_000,
          windowMs: 60_000,
          closed: "ended"
        },
        { resource: {} }
      )
      expect(summary.hrTimeObserved).toEqual([1_750_000_001, 750_000_000])
    }).pipe(Effect.provide(Translator.layer({ baseAttributes: {}, resourceCacheSize: 10 })))
  )
})

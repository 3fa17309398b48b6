/**
 * A list's pages are passed on one at a time and not kept: memory stays flat however many pages the collection
 * has. Each page's items are watched with a `WeakRef`; once the list has passed on its last page, a full garbage
 * collection must have taken all but the last few.
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { describe, expect, it } from "vitest"
import { Duration, Effect, Stream } from "effect"
import type { KubeApiShape, ListPage } from "../../src/kube/KubeApi.ts"
import { listWatch } from "../../src/kube/listWatch.ts"
import { ALL_CORE_EVENTS } from "./support.ts"
import { turn } from "../support/eventLoop.ts"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

const PAGES = 200

describe("listWatch's list", () => {
  it(`keeps none of the ${PAGES} pages it passed on`, async () => {
    const pages: Array<WeakRef<ReadonlyArray<unknown>>> = []
    const api: KubeApiShape = {
      server: "http://fake.invalid",
      // Each page in a turn of the event loop of its own, as over HTTP: a WeakRef's target is kept until the end of
      // the turn that made it.
      list: (request) =>
        Effect.zipRight(
          turn,
          Effect.sync((): ListPage => {
            const n = request.continueToken === undefined ? 0 : Number(request.continueToken)
            const items = Array.from({ length: request.limit }, (_, i) => ({ metadata: { name: `e-${n}-${i}` } }))
            pages.push(new WeakRef(items))
            const last = n + 1 === PAGES
            return { items, resourceVersion: "1000", continueToken: last ? undefined : String(n + 1) }
          })
        ),
      watch: () => Stream.never
    }
    let alive = -1
    await Effect.runPromise(
      listWatch(api, {
        collection: ALL_CORE_EVENTS,
        pageSize: 100,
        watchTimeout: Duration.minutes(5),
        watchIdleTimeout: Duration.minutes(5),
        retryInitial: Duration.seconds(1),
        retryMax: Duration.seconds(1)
      }).pipe(
        Stream.takeUntil((o) => o._tag === "Listed"),
        Stream.runForEach((o) =>
          o._tag !== "Listed"
            ? Effect.void
            : Effect.zipRight(
                turn,
                Effect.sync(() => {
                  gc()
                  alive = pages.filter((p) => p.deref() !== undefined).length
                })
              )
        )
      )
    )
    expect(pages).toHaveLength(PAGES)
    // The last page is still in hand where `Listed` is read; the few before it may be in flight.
    expect(alive).toBeGreaterThanOrEqual(0)
    expect(alive).toBeLessThanOrEqual(4)
  })
})

import { describe, expect, it } from "vitest"
import { ListProgress } from "../../src/source/ListProgress.ts"

/** A list item: the API server lists them in key order (namespace/name). */
const item = (name: string, rv: string) => ({ metadata: { namespace: "ns", name, resourceVersion: rv } })
const names = (items: ReadonlyArray<unknown>) =>
  items.map((i) => {
    const meta = (i as ReturnType<typeof item>).metadata
    return `${meta.name}@${meta.resourceVersion}`
  })

describe("ListProgress", () => {
  it("passes on what is above the watermark", () => {
    const list = new ListProgress()
    list.listing()
    expect(names(list.page([item("a", "5"), item("b", "12"), item("c", "10")], "10"))).toEqual(["b@12"])
    list.listed()
  })

  it("leaves out, in a list that started over, what an earlier attempt passed on and has not changed since", () => {
    const list = new ListProgress()
    list.listing()
    expect(names(list.page([item("a", "11"), item("b", "12"), item("c", "5")], "10"))).toEqual(["a@11", "b@12"])
    // The next page failed: the list starts over, at a later snapshot in which b and d changed.
    list.listing()
    const again = [item("a", "11"), item("b", "30"), item("c", "5"), item("d", "31"), item("e", "12")]
    expect(names(list.page(again, "10"))).toEqual(["b@30", "d@31", "e@12"])
    list.listed()
    // A list after a complete one starts afresh: only the watermark counts.
    list.listing()
    expect(names(list.page([item("a", "11")], "10"))).toEqual(["a@11"])
  })

  it("remembers each earlier attempt's own reach: an item changed beyond where the second one stopped is new", () => {
    const list = new ListProgress()
    list.listing()
    expect(names(list.page([item("a", "11"), item("b", "12"), item("c", "13")], "10"))).toEqual([
      "a@11",
      "b@12",
      "c@13"
    ])
    list.listing()
    // The second attempt reads up to a only; a changed there, and so did c, after the first attempt's snapshot.
    expect(names(list.page([item("a", "40")], "10"))).toEqual(["a@40"])
    list.listing()
    const third = [item("a", "40"), item("b", "12"), item("c", "35")]
    expect(names(list.page(third, "10"))).toEqual(["c@35"])
  })

  it("cannot order resourceVersions that are not decimals, and so leaves nothing out by them", () => {
    const list = new ListProgress()
    list.listing()
    expect(names(list.page([item("a", "x1")], "x0"))).toEqual(["a@x1"])
    list.listing()
    expect(names(list.page([item("a", "x1")], "x0"))).toEqual(["a@x1"])
  })
})

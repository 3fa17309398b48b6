import { describe, expect, it } from "vitest"
import { LineSplitter } from "../../src/kube/lines.ts"

/** Every line `next` gives now, until it has no more. */
const taken = (lines: LineSplitter): Array<string> => {
  const out: Array<string> = []
  for (let line = lines.next(); line !== undefined; line = lines.next()) out.push(line)
  return out
}

/** The lines of a stream that arrives as `chunks`, read to its end. */
const splitAll = (chunks: ReadonlyArray<Buffer>): Array<string> => {
  const lines = new LineSplitter()
  const out: Array<string> = []
  for (const chunk of chunks) {
    lines.push(chunk)
    out.push(...taken(lines))
  }
  lines.end()
  return [...out, ...taken(lines)]
}

const bytes = (text: string) => Buffer.from(text, "utf8")

// Two, three and four bytes in UTF-8 (é U+00E9, 日 U+65E5, 🚀 U+1F680), and plain ASCII between them.
const texts = ['{"message":"café crème"}', '{"message":"日本のノード"}', "", '{"message":"rocket 🚀 launched"}']
const stream = bytes(texts.map((t) => `${t}\n`).join(""))

describe("LineSplitter", () => {
  it("gives each line once its newline has come, without the newline", () => {
    const lines = new LineSplitter()
    lines.push(bytes("first\nsecond\nthi"))
    expect(taken(lines)).toEqual(["first", "second"])
    lines.push(bytes("rd\n"))
    expect(taken(lines)).toEqual(["third"])
    expect(lines.next()).toBeUndefined()
  })

  it("joins a line whose bytes came in several chunks", () => {
    expect(splitAll([bytes("a\nbe"), bytes("gin"), bytes("ning, "), bytes("middle"), bytes(" and end\nz\n")])).toEqual([
      "a",
      "beginning, middle and end",
      "z"
    ])
  })

  it("decodes every multi-byte character whole, however the stream is cut in two", () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      expect(splitAll([stream.subarray(0, cut), stream.subarray(cut)]), `cut at byte ${cut}`).toEqual(texts)
    }
  })

  it("decodes every multi-byte character whole when the stream comes one byte at a time", () => {
    const single = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1))
    expect(splitAll(single)).toEqual(texts)
  })

  it("leaves out the \\r of a \\r\\n line end, also when the two come in different chunks", () => {
    expect(splitAll([bytes("a\r\nb\r\n\r\nc\r")])).toEqual(["a", "b", "", "c"])
    expect(splitAll([bytes("a\r"), bytes("\nb\r"), bytes("\n")])).toEqual(["a", "b"])
    // A \r inside a line is part of it.
    expect(splitAll([bytes("x\ry\n")])).toEqual(["x\ry"])
  })

  it("gives empty lines as empty strings", () => {
    expect(splitAll([bytes("\n\na\n\n")])).toEqual(["", "", "a", ""])
  })

  it("gives the last line without a newline only once the stream has ended", () => {
    const lines = new LineSplitter()
    lines.push(bytes("a\nlast"))
    expect(taken(lines)).toEqual(["a"])
    lines.push(bytes(" one"))
    expect(lines.next()).toBeUndefined()
    lines.end()
    expect(lines.next()).toBe("last one")
    expect(lines.next()).toBeUndefined()
  })

  it("gives nothing more at the end of a stream that ends with a newline, or is empty", () => {
    expect(splitAll([bytes("a\n")])).toEqual(["a"])
    expect(splitAll([])).toEqual([])
    expect(splitAll([Buffer.alloc(0)])).toEqual([])
  })

  it("a reader that stops in the middle of a chunk goes on from there, also after more chunks came", () => {
    const lines = new LineSplitter()
    lines.push(bytes("p-0\np-1\np-2\np-"))
    expect(lines.next()).toBe("p-0")
    // The reader stops (a pause) while the chunk still holds p-1, p-2 and the start of p-3.
    lines.push(bytes("3\np-4"))
    lines.push(bytes("\np-5\n"))
    expect(lines.next()).toBe("p-1")
    lines.end()
    expect(taken(lines)).toEqual(["p-2", "p-3", "p-4", "p-5"])
  })
})

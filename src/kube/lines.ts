/**
 * A byte stream cut into lines at `\n`, each decoded from UTF-8 once it is complete: the bytes are not decoded
 * chunk by chunk nor joined into one growing string, and a character whose bytes two chunks share comes out whole.
 * The reader pulls one line at a time, so it can stop in the middle of a chunk and go on later from there.
 */
const NEWLINE = 0x0a
const CARRIAGE_RETURN = 0x0d

/** The text of `bytes[start, end)`, a line without its `\n`; a `\r` before the `\n` is left out too. */
const lineText = (bytes: Buffer, start: number, end: number): string =>
  bytes.toString("utf8", start, end > start && bytes[end - 1] === CARRIAGE_RETURN ? end - 1 : end)

export class LineSplitter {
  /** The chunk being cut, from `#start`; undefined once cut to its end. */
  #chunk: Buffer | undefined
  #start = 0
  /** The start of the next line, from chunks already cut to their end: joined when its newline comes. */
  readonly #partial: Array<Buffer> = []
  #ended = false

  /** Adds the stream's next bytes, after what is not yet taken. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    // Only when the reader stopped in the middle of the last chunk (a pause) do two wait together.
    this.#chunk = this.#chunk === undefined ? chunk : Buffer.concat([this.#chunk.subarray(this.#start), chunk])
    this.#start = 0
  }

  /** The stream has ended: what follows its last newline is a line too. */
  end(): void {
    this.#ended = true
  }

  /** Whether `end` was called: once `next` gives no more, there is no more. */
  get ended(): boolean {
    return this.#ended
  }

  /**
   * The next line, without its line end: a complete one, or after `end` the last one, which had no newline.
   * Undefined when the bytes pushed so far hold no more.
   */
  next(): string | undefined {
    const chunk = this.#chunk
    if (chunk === undefined) return this.#ended && this.#partial.length > 0 ? this.#joinPartial() : undefined
    const start = this.#start
    const newline = chunk.indexOf(NEWLINE, start)
    if (newline === -1) {
      this.#partial.push(start === 0 ? chunk : chunk.subarray(start))
      this.#chunk = undefined
      return this.next()
    }
    this.#start = newline + 1
    if (this.#start === chunk.length) this.#chunk = undefined
    if (this.#partial.length === 0) return lineText(chunk, start, newline)
    this.#partial.push(chunk.subarray(start, newline))
    return this.#joinPartial()
  }

  #joinPartial(): string {
    const bytes = Buffer.concat(this.#partial)
    this.#partial.length = 0
    return lineText(bytes, 0, bytes.length)
  }
}

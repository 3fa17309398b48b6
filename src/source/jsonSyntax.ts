/**
 * Finds where JSON text stops being valid. `JSON.parse` says what is wrong but, for most mistakes, not where
 * (V8 quotes a snippet instead of a position); a user fixing a dump needs the line and column.
 */
const WS = new Set([0x20, 0x09, 0x0a, 0x0d])

/** The offset of the first syntax error in `text`, or `undefined` when it is valid JSON. */
export const jsonErrorOffset = (text: string): number | undefined => {
  let i = 0
  const skip = () => {
    while (i < text.length && WS.has(text.charCodeAt(i))) i++
  }
  const fail = (): never => {
    throw i
  }
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length
    else fail()
  }
  const string = () => {
    i++ // opening quote
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        i++
        return
      }
      if (c < 0x20) fail()
      if (c === 0x5c) {
        const n = text[i + 1]
        if (n === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail()
          i += 6
        } else if (n !== undefined && '"\\/bfnrt'.includes(n)) i += 2
        else {
          i++
          fail()
        }
      } else i++
    }
    fail()
  }
  const number = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
    if (m === null) fail()
    else i += m[0].length
  }
  const value = (): void => {
    skip()
    const c = text[i]
    if (c === "{") {
      i++
      skip()
      if (text[i] === "}") return void i++
      for (;;) {
        skip()
        if (text[i] !== '"') fail()
        string()
        skip()
        if (text[i] !== ":") fail()
        i++
        value()
        skip()
        if (text[i] === ",") i++
        else if (text[i] === "}") return void i++
        else fail()
      }
    }
    if (c === "[") {
      i++
      skip()
      if (text[i] === "]") return void i++
      for (;;) {
        value()
        skip()
        if (text[i] === ",") i++
        else if (text[i] === "]") return void i++
        else fail()
      }
    }
    if (c === '"') return string()
    if (c === "t") return literal("true")
    if (c === "f") return literal("false")
    if (c === "n") return literal("null")
    return number()
  }
  try {
    value()
    skip()
    return i < text.length ? i : undefined
  } catch (at) {
    return typeof at === "number" ? at : 0
  }
}

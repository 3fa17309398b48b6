/**
 * How a rule's condition value is written and matched:
 *   - `/pattern/flags`: a JavaScript regular expression that may match anywhere in the text (anchor it with
 *     `^...$`); flags i, m, s and u only, since g and y make `test` stateful.
 *   - a glob (`*` any run of characters, `?` one character), anchored at both ends, for names and label values;
 *   - otherwise exact text, or for messages a substring.
 * Patterns are parsed once, when the configuration is read; a `Pattern` value is always valid.
 */
import { Either } from "effect"

export type Pattern =
  | { readonly _tag: "Exact"; readonly text: string }
  | { readonly _tag: "Glob"; readonly text: string }
  | { readonly _tag: "Substring"; readonly text: string }
  /** `text` is the regex as the user wrote it, slashes and flags included. */
  | { readonly _tag: "Regex"; readonly text: string; readonly regex: RegExp }

const ALLOWED_FLAGS = "imsu"

export const exact = (text: string): Pattern => ({ _tag: "Exact", text })
const substring = (text: string): Pattern => ({ _tag: "Substring", text })

/** A glob; text without `*` or `?` is an exact match (and can be sent to the API server as such). */
export const glob = (text: string): Pattern => (/[*?]/.test(text) ? { _tag: "Glob", text } : { _tag: "Exact", text })

/** Whether the text is written as a regex, i.e. starts with a slash. */
const looksLikeRegex = (text: string): boolean => text.startsWith("/")

/** Parses `/pattern/flags`; the reason is a sentence such as `invalid regex /(/: Unterminated group`. */
const regex = (text: string): Either.Either<Pattern, string> => {
  const close = text.lastIndexOf("/")
  const flags = close > 0 ? text.slice(close + 1) : ""
  if (!text.startsWith("/") || close <= 0 || !/^[a-z]*$/i.test(flags)) {
    return Either.left(
      `${JSON.stringify(text)} starts with / but is not a regex written /pattern/flags; ` +
        "to match text that starts with /, write a regex such as /^\\/var/"
    )
  }
  const body = text.slice(1, close)
  if (body === "") return Either.left(`empty regex ${text}`)
  for (const [i, f] of [...flags].entries()) {
    if (!ALLOWED_FLAGS.includes(f)) return Either.left(`regex flag ${f} in ${text} is not allowed: use i, m, s or u`)
    if (flags.indexOf(f) !== i) return Either.left(`regex flag ${f} repeated in ${text}`)
  }
  try {
    return Either.right({ _tag: "Regex", text, regex: new RegExp(body, flags) })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    // V8 says "Invalid regular expression: /(/i: Unterminated group"; the regex is already in our sentence.
    const reason = /^Invalid regular expression: \/[\s\S]*\/[a-z]*: ([\s\S]*)$/.exec(message)?.[1] ?? message
    return Either.left(`invalid regex ${text}: ${reason}`)
  }
}

/** Exact text, or a regex when written `/.../` (reason, component). */
export const exactOrRegex = (text: string): Either.Either<Pattern, string> =>
  looksLikeRegex(text) ? regex(text) : Either.right(exact(text))

/** A substring, or a regex when written `/.../` (message). */
export const substringOrRegex = (text: string): Either.Either<Pattern, string> =>
  looksLikeRegex(text) ? regex(text) : Either.right(substring(text))

const globToRegExp = (text: string): RegExp => {
  let source = "^"
  for (const ch of text) {
    source += ch === "*" ? "[\\s\\S]*" : ch === "?" ? "[\\s\\S]" : ch.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&")
  }
  return new RegExp(source + "$", "u")
}

/** A test for one text, built once per pattern. */
export const compilePattern = (p: Pattern): ((s: string) => boolean) => {
  switch (p._tag) {
    case "Exact": {
      const text = p.text
      return (s) => s === text
    }
    case "Substring": {
      const text = p.text
      return (s) => s.includes(text)
    }
    case "Glob": {
      const re = globToRegExp(p.text)
      return (s) => re.test(s)
    }
    case "Regex": {
      const re = p.regex
      return (s) => re.test(s)
    }
  }
}

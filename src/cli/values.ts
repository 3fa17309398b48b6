/** Parsers for option values: those of `domain/valueText.ts`, and the OTLP endpoint's URL. */
import { Either } from "effect"
import { type Parsed, show } from "../domain/valueText.ts"
import { redactUrl } from "../observability/redact.ts"

export * from "../domain/valueText.ts"

export const url = (raw: unknown): Parsed<string> => {
  const s = typeof raw === "string" ? raw.trim() : ""
  const shown = typeof raw === "string" ? show(redactUrl(raw)) : show(raw)
  const wrong = Either.left(`must be an http:// or https:// URL; got ${shown}`)
  try {
    const u = new URL(s)
    return u.protocol === "http:" || u.protocol === "https:" ? Either.right(s) : wrong
  } catch {
    return wrong
  }
}

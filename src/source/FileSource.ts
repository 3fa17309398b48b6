import { Effect, Either, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { parseAllDocuments } from "yaml"
import type { Change } from "./Change.ts"
import { jsonErrorOffset } from "./jsonSyntax.ts"

/** The dump could not be read or is not one of the accepted shapes. */
export class DumpError extends Schema.TaggedError<DumpError>()("DumpError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.path}: ${this.detail}`
  }
}

const WatchEvent = Schema.Struct({
  type: Schema.Literal("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"),
  object: Schema.Unknown
})
const List = Schema.Struct({ items: Schema.Array(Schema.Unknown) })
/** A single Event object on its own. */
const SingleEvent = Schema.Struct({ metadata: Schema.Object })
const Dump = Schema.Union(List, Schema.Array(Schema.Unknown), WatchEvent, SingleEvent)
const decodeDump = Schema.decodeUnknownEither(Dump)
const decodeWatchEvent = Schema.decodeUnknownEither(WatchEvent)

const SHAPES = "an EventList (`kubectl get events -o json|yaml`), a JSON array of Events, or JSON lines of watch events {\"type\",\"object\"}"

/** Line and column (1-based) of a character offset. */
export const lineColumn = (text: string, offset: number): string => {
  let line = 1
  let lineStart = 0
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      lineStart = i + 1
    }
  }
  return `line ${line} column ${offset - lineStart + 1}`
}

const jsonErrorAt = (text: string, error: unknown, lineOffset = 0): string => {
  const message = (error instanceof Error ? error.message : String(error)).split(", \"")[0] ?? ""
  const offset = jsonErrorOffset(text)
  if (offset === undefined) return `invalid JSON: ${message}`
  const where = lineColumn(text, offset).replace(/^line (\d+)/, (_, n: string) => `line ${Number(n) + lineOffset}`)
  const near = JSON.stringify(text.slice(offset, offset + 20))
  return `invalid JSON at ${where} (near ${near}): ${message}`
}

const watchEventChange = (e: typeof WatchEvent.Type): Change | undefined =>
  e.type === "ADDED" || e.type === "MODIFIED" ? { type: e.type, object: e.object } : undefined

/** Turns one parsed document into changes, or says why its shape is not a dump. */
const fromDocument = (doc: unknown): Either.Either<ReadonlyArray<Change>, string> =>
  Either.match(decodeDump(doc), {
    onLeft: () => {
      const found = Array.isArray(doc) ? "an array" : doc === null ? "null" : typeof doc === "object"
        ? `an object with keys ${Object.keys(doc).slice(0, 8).join(", ") || "(none)"}`
        : `a ${typeof doc}`
      return Either.left(`expected ${SHAPES}; found ${found}`)
    },
    onRight: (d) => {
      if (Array.isArray(d)) return Either.right(d.map((object): Change => ({ type: "ADDED", object })))
      if ("items" in d) return Either.right(d.items.map((object): Change => ({ type: "ADDED", object })))
      if ("type" in d && "object" in d) {
        const change = watchEventChange(d)
        return Either.right(change === undefined ? [] : [change])
      }
      return Either.right([{ type: "ADDED", object: d }])
    }
  })

/** JSON lines: one watch event (or one Event) per line. */
const fromJsonLines = (text: string): Either.Either<ReadonlyArray<Change>, string> => {
  const changes: Array<Change> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]?.trim() ?? ""
    if (line === "") continue
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch (error) {
      return Either.left(jsonErrorAt(line, error, i))
    }
    const asWatch = decodeWatchEvent(parsed)
    if (Either.isRight(asWatch)) {
      const change = watchEventChange(asWatch.right)
      if (change !== undefined) changes.push(change)
    } else {
      changes.push({ type: "ADDED", object: parsed })
    }
  }
  return Either.right(changes)
}

/** Parses a dump's text. JSON first (a document or JSON lines), YAML when it does not look like JSON. */
export const parseDump = (text: string): Either.Either<ReadonlyArray<Change>, string> => {
  const trimmed = text.trimStart()
  if (trimmed === "") return Either.left(`the file is empty; expected ${SHAPES}`)
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return fromDocument(JSON.parse(text))
    } catch (error) {
      // More than one top-level value on separate lines: JSON lines.
      const firstLine = trimmed.slice(0, trimmed.indexOf("\n") === -1 ? undefined : trimmed.indexOf("\n"))
      if (trimmed.startsWith("{") && isJson(firstLine)) return fromJsonLines(text)
      return Either.left(jsonErrorAt(text, error))
    }
  }
  const docs = parseAllDocuments(text)
  const all = Array.isArray(docs) ? docs : [docs]
  const changes: Array<Change> = []
  for (const doc of all) {
    const error = doc.errors[0]
    if (error !== undefined) {
      const pos = error.linePos?.[0]
      return Either.left(`invalid YAML${pos ? ` at line ${pos.line} column ${pos.col}` : ""}: ${error.message.split("\n")[0]}`)
    }
    const content: unknown = doc.toJS({ maxAliasCount: 100 })
    if (content === null || content === undefined) continue
    const result = fromDocument(content)
    if (Either.isLeft(result)) return result
    changes.push(...result.right)
  }
  return changes.length === 0 && all.length === 0 ? Either.left(`no documents; expected ${SHAPES}`) : Either.right(changes)
}

const isJson = (text: string): boolean => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** Reads a `kubectl get events` dump into changes. */
export const readDump = (path: string): Effect.Effect<ReadonlyArray<Change>, DumpError> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (error) => new DumpError({ path, detail: `cannot read the file: ${error instanceof Error ? error.message : String(error)}` })
  }).pipe(
    Effect.flatMap((text) =>
      Either.match(parseDump(text), {
        onLeft: (detail) => Effect.fail(new DumpError({ path, detail })),
        onRight: Effect.succeed
      })
    )
  )


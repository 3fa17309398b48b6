import { Effect, Either, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { parseAllDocuments } from "yaml"
import { type Change, decodeChange } from "./Change.ts"
import { jsonErrorOffset } from "./jsonSyntax.ts"
import { decodeKubeEvent } from "../domain/KubeEvent.ts"
import { errorText } from "../domain/errorText.ts"
import { isRecord } from "../domain/isRecord.ts"

/**
 * The dump could not be read (`Unreadable`, the file system's error as `cause`) or is not one of the accepted
 * shapes (`Malformed`, what is wrong with it as `description`).
 */
export class DumpError extends Schema.TaggedError<DumpError>()("DumpError", {
  path: Schema.String,
  reason: Schema.Literal("Unreadable", "Malformed"),
  cause: Schema.optional(Schema.Defect),
  description: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return this.reason === "Unreadable"
      ? `${this.path}: cannot read the file: ${errorText(this.cause)}`
      : `${this.path}: ${this.description ?? "not a dump of events"}`
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

const SHAPES =
  "an EventList (`kubectl get events -o json|yaml`), a JSON array of Events, " +
  'or JSON lines of watch events {"type","object"}'

/** Line and column (1-based) of a character offset. */
const lineColumn = (text: string, offset: number): string => {
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
  const message = (error instanceof Error ? error.message : String(error)).split(', "')[0] ?? ""
  const offset = jsonErrorOffset(text)
  if (offset === undefined) return `invalid JSON: ${message}`
  const where = lineColumn(text, offset).replace(/^line (\d+)/, (_, n: string) => `line ${Number(n) + lineOffset}`)
  const near = JSON.stringify(text.slice(offset, offset + 20))
  return `invalid JSON at ${where} (near ${near}): ${message}`
}

/** One object of a dump as it was read, before decoding. */
interface DumpObject {
  readonly type: "ADDED" | "MODIFIED"
  readonly object: unknown
}

const watchEventChange = (e: typeof WatchEvent.Type): DumpObject | undefined =>
  e.type === "ADDED" || e.type === "MODIFIED" ? { type: e.type, object: e.object } : undefined

/** Turns one parsed document into changes, or says why its shape is not a dump. */
const fromDocument = (doc: unknown): Either.Either<ReadonlyArray<DumpObject>, string> =>
  Either.match(decodeDump(doc), {
    onLeft: () => {
      const found = Array.isArray(doc)
        ? "an array"
        : doc === null
          ? "null"
          : typeof doc === "object"
            ? `an object with keys ${Object.keys(doc).slice(0, 8).join(", ") || "(none)"}`
            : `a ${typeof doc}`
      return Either.left(`expected ${SHAPES}; found ${found}`)
    },
    onRight: (d) => {
      if (Array.isArray(d)) return Either.right(d.map((object): DumpObject => ({ type: "ADDED", object })))
      if ("items" in d) return Either.right(d.items.map((object): DumpObject => ({ type: "ADDED", object })))
      if ("type" in d && "object" in d) {
        const change = watchEventChange(d)
        return Either.right(change === undefined ? [] : [change])
      }
      // The object as it was read: the decoded one kept only the fields the shape names.
      return Either.right([{ type: "ADDED", object: doc }])
    }
  })

/** JSON lines: one watch event (or one Event) per line. */
const fromJsonLines = (text: string): Either.Either<ReadonlyArray<DumpObject>, string> => {
  const changes: Array<DumpObject> = []
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

/** What a value is, for saying what a dump held instead of Events: its `kind`, else its type. */
const kindOf = (u: unknown): string =>
  isRecord(u)
    ? typeof u["kind"] === "string" && u["kind"] !== ""
      ? u["kind"]
      : "object without a kind"
    : Array.isArray(u)
      ? "array"
      : u === null
        ? "null"
        : typeof u

/** "3 objects: 2 ConfigMap, 1 number", the commonest kinds first. */
const describeFound = (changes: ReadonlyArray<DumpObject>): string => {
  if (changes.length === 0) return "it holds no objects"
  const counts = new Map<string, number>()
  for (const { object } of changes) counts.set(kindOf(object), (counts.get(kindOf(object)) ?? 0) + 1)
  const kinds = [...counts].sort((a, b) => b[1] - a[1])
  const shown = kinds
    .slice(0, 5)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(", ")
  const more = kinds.length > 5 ? ` and ${kinds.length - 5} other kinds` : ""
  return `found ${changes.length} object${changes.length === 1 ? "" : "s"}: ${shown}${more}`
}

/**
 * A dump must hold at least one Event the collector can read: one that holds none (a list of ConfigMaps, an
 * array of junk) was not the file meant, and saying "exported 0" would hide that.
 */
const requireAnEvent = (changes: ReadonlyArray<DumpObject>): Either.Either<ReadonlyArray<DumpObject>, string> => {
  let firstFailure: string | undefined
  for (const { object } of changes) {
    const decoded = decodeKubeEvent(object)
    if (Either.isRight(decoded)) return Either.right(changes)
    if (firstFailure === undefined && kindOf(object) === "Event") firstFailure = decoded.left.message
  }
  const why = firstFailure === undefined ? "" : `; none of the Events can be read, the first because ${firstFailure}`
  return Either.left(`no Event in the file: ${describeFound(changes)}${why}; expected ${SHAPES}`)
}

/** A UTF-8 byte order mark, which some editors and Windows tools write at the start of a file. */
const BOM = "\uFEFF"

/**
 * Parses a dump's text into its changes; at least one of them is an Event. A leading byte order mark is skipped.
 * JSON first (a document or JSON lines), YAML when it does not look like JSON.
 */
export const parseDump = (text: string): Either.Either<ReadonlyArray<DumpObject>, string> =>
  Either.flatMap(parseDocuments(text.startsWith(BOM) ? text.slice(BOM.length) : text), requireAnEvent)

const parseDocuments = (text: string): Either.Either<ReadonlyArray<DumpObject>, string> => {
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
  const changes: Array<DumpObject> = []
  for (const doc of all) {
    const error = doc.errors[0]
    if (error !== undefined) {
      const pos = error.linePos?.[0]
      return Either.left(
        `invalid YAML${pos ? ` at line ${pos.line} column ${pos.col}` : ""}: ${error.message.split("\n")[0]}`
      )
    }
    const content: unknown = doc.toJS({ maxAliasCount: 100 })
    if (content === null || content === undefined) continue
    const result = fromDocument(content)
    if (Either.isLeft(result)) return result
    changes.push(...result.right)
  }
  return changes.length === 0 && all.length === 0
    ? Either.left(`no documents; expected ${SHAPES}`)
    : Either.right(changes)
}

const isJson = (text: string): boolean => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** Reads a `kubectl get events` dump into decoded changes. */
export const readDump = (path: string): Effect.Effect<ReadonlyArray<Change>, DumpError> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (error) => new DumpError({ path, reason: "Unreadable", cause: error })
  }).pipe(
    Effect.flatMap((text) =>
      Either.match(parseDump(text), {
        onLeft: (description) => Effect.fail(new DumpError({ path, reason: "Malformed", description })),
        onRight: (objects) => Effect.succeed(objects.map(({ type, object }) => decodeChange(type, object)))
      })
    )
  )

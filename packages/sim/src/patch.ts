/** PATCH bodies: JSON merge patch (RFC 7386, also used for strategic merge) and JSON patch (RFC 6902). */

import { isRecord } from "./isRecord.ts"

export type Patched = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string }

export const mergePatch = (target: unknown, patch: unknown): unknown => {
  if (!isRecord(patch)) return patch
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

const parsePointer = (p: string): string[] | undefined => {
  if (p === "") return []
  if (!p.startsWith("/")) return undefined
  return p
    .slice(1)
    .split("/")
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"))
}

const deepEqual = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

type Container = Record<string, unknown> | unknown[]

/** Walks to the parent of the last token; returns the container and the last token. */
const walk = (doc: unknown, tokens: ReadonlyArray<string>): { parent: Container; last: string } | undefined => {
  let cur: unknown = doc
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)]
    else if (isRecord(cur)) cur = cur[t]
    else return undefined
  }
  const last = tokens[tokens.length - 1]
  if (last === undefined || !(Array.isArray(cur) || isRecord(cur))) return undefined
  return { parent: cur, last }
}

const getAt = (doc: unknown, tokens: ReadonlyArray<string>): unknown => {
  let cur: unknown = doc
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[Number(t)]
    else if (isRecord(cur)) cur = cur[t]
    else return undefined
  }
  return cur
}

export const jsonPatch = (target: unknown, ops: unknown): Patched => {
  if (!Array.isArray(ops)) return { ok: false, message: "json patch must be an array of operations" }
  let doc: unknown = structuredClone(target)
  for (const op of ops) {
    if (!isRecord(op) || typeof op["op"] !== "string" || typeof op["path"] !== "string") {
      return { ok: false, message: "invalid json patch operation" }
    }
    const tokens = parsePointer(op["path"])
    if (tokens === undefined) return { ok: false, message: `invalid path ${op["path"]}` }
    const kind = op["op"]
    if (kind === "test") {
      if (!deepEqual(getAt(doc, tokens), op["value"]))
        return { ok: false, message: `testing value ${op["path"]} failed: test failed` }
      continue
    }
    let value = op["value"]
    if (kind === "move" || kind === "copy") {
      if (typeof op["from"] !== "string") return { ok: false, message: `${kind} operation requires "from"` }
      const from = parsePointer(op["from"])
      if (from === undefined) return { ok: false, message: `invalid path ${op["from"]}` }
      value = structuredClone(getAt(doc, from))
      if (kind === "move") {
        const r = applyOne(doc, from, "remove", undefined)
        if (!r.ok) return r
        doc = r.value
      }
    }
    const r = applyOne(doc, tokens, kind === "move" || kind === "copy" ? "add" : kind, value)
    if (!r.ok) return r
    doc = r.value
  }
  return { ok: true, value: doc }
}

const applyOne = (doc: unknown, tokens: ReadonlyArray<string>, kind: string, value: unknown): Patched => {
  if (tokens.length === 0) return kind === "remove" ? { ok: true, value: null } : { ok: true, value }
  const w = walk(doc, tokens)
  if (w === undefined) return { ok: false, message: `doc is missing path: /${tokens.join("/")}` }
  const { parent, last } = w
  if (Array.isArray(parent)) {
    const idx = last === "-" ? parent.length : Number(last)
    if (!Number.isInteger(idx) || idx < 0 || idx > parent.length) return { ok: false, message: `invalid index ${last}` }
    if (kind === "add") parent.splice(idx, 0, value)
    else if (kind === "remove") parent.splice(idx, 1)
    else if (kind === "replace") parent[idx] = value
    else return { ok: false, message: `unsupported operation ${kind}` }
  } else {
    if ((kind === "remove" || kind === "replace") && !Object.hasOwn(parent, last)) {
      return { ok: false, message: `doc is missing key: /${tokens.join("/")}` }
    }
    if (kind === "add" || kind === "replace") parent[last] = value
    else if (kind === "remove") delete parent[last]
    else return { ok: false, message: `unsupported operation ${kind}` }
  }
  return { ok: true, value: doc }
}

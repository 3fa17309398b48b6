/**
 * `fieldSelector` and `labelSelector` as kube-apiserver parses and applies them
 * (k8s.io/apimachinery `fields.ParseSelector`, `labels.Parse`; events: `pkg/registry/core/event/strategy.go`).
 */
import { EVENT_FIELD_LABELS, type ResourceType } from "./resources.ts"
import type { StoredKubeObject } from "./store.ts"
import { isRecord } from "./isRecord.ts"

export interface FieldRequirement {
  readonly field: string
  readonly op: "=" | "!="
  readonly value: string
}

export type Parsed<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly message: string }

const ok = <A>(value: A): Parsed<A> => ({ ok: true, value })
const err = <A>(message: string): Parsed<A> => ({ ok: false, message })

/** Splits on unescaped `sep` (backslash escapes, as in `fields.ParseSelector`). */
const splitUnescaped = (s: string, sep: string): string[] => {
  const parts: string[] = []
  let cur = ""
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string
    if (ch === "\\" && i + 1 < s.length) {
      cur += ch + (s[i + 1] as string)
      i++
    } else if (ch === sep) {
      parts.push(cur)
      cur = ""
    } else cur += ch
  }
  parts.push(cur)
  return parts
}

const unescapeValue = (v: string): Parsed<string> => {
  let out = ""
  for (let i = 0; i < v.length; i++) {
    const ch = v[i] as string
    if (ch === "\\") {
      const next = v[i + 1]
      if (next === undefined || !"\\,=".includes(next)) return err(`invalid escape sequence`)
      out += next
      i++
    } else if (ch === "," || ch === "=") {
      return err(`unescaped ${ch}`)
    } else out += ch
  }
  return ok(out)
}

/** Parses a field selector; an empty string selects everything. */
export const parseFieldSelector = (selector: string): Parsed<ReadonlyArray<FieldRequirement>> => {
  if (selector.trim() === "") return ok([])
  const reqs: FieldRequirement[] = []
  for (const term of splitUnescaped(selector, ",")) {
    if (term === "") continue
    let found: { index: number; op: "!=" | "==" | "=" } | undefined
    for (let i = 0; i < term.length && found === undefined; i++) {
      if (term[i] === "\\") {
        i++
        continue
      }
      if (term.startsWith("!=", i)) found = { index: i, op: "!=" }
      else if (term.startsWith("==", i)) found = { index: i, op: "==" }
      else if (term[i] === "=") found = { index: i, op: "=" }
    }
    if (found === undefined) return err(`invalid selector: '${selector}'; can't understand '${term}'`)
    const field = term.slice(0, found.index).trim()
    const raw = term.slice(found.index + found.op.length)
    const value = unescapeValue(raw)
    if (!value.ok) return err(`invalid field selector value '${raw}': ${value.message}`)
    reqs.push({ field, op: found.op === "!=" ? "!=" : "=", value: value.value })
  }
  return ok(reqs)
}

/** events.k8s.io/v1 field labels, translated to the core/v1 ones (pkg/apis/events/v1/conversion.go). */
const EVENTS_V1_FIELD_LABELS: Readonly<Record<string, string>> = {
  reason: "reason",
  "regarding.kind": "involvedObject.kind",
  "regarding.namespace": "involvedObject.namespace",
  "regarding.name": "involvedObject.name",
  "regarding.uid": "involvedObject.uid",
  "regarding.apiVersion": "involvedObject.apiVersion",
  "regarding.resourceVersion": "involvedObject.resourceVersion",
  "regarding.fieldPath": "involvedObject.fieldPath",
  reportingController: "reportingComponent",
  // No `source`: the real server answers "field label not supported: source" through this API.
  type: "type",
  "metadata.namespace": "metadata.namespace",
  "metadata.name": "metadata.name"
}

/**
 * Translates requirements into the storage's field labels, or fails with the apiserver's message
 * `field label not supported: <label>` for a label this resource/API version does not support.
 */
export const convertFieldLabels = (
  resource: ResourceType,
  viaEventsV1: boolean,
  reqs: ReadonlyArray<FieldRequirement>
): Parsed<ReadonlyArray<FieldRequirement>> => {
  const out: FieldRequirement[] = []
  for (const r of reqs) {
    let field: string | undefined
    if (viaEventsV1) field = EVENTS_V1_FIELD_LABELS[r.field]
    else if (
      r.field === "metadata.name" ||
      r.field === "metadata.namespace" ||
      resource.extraFieldLabels.includes(r.field)
    ) {
      field = r.field
    }
    if (field === undefined) return err(`field label not supported: ${r.field}`)
    out.push({ ...r, field })
  }
  return ok(out)
}

const str = (u: unknown): string =>
  typeof u === "string" ? u : typeof u === "number" || typeof u === "boolean" ? String(u) : ""

const path = (o: unknown, dotted: string): unknown => {
  let cur: unknown = o
  for (const part of dotted.split(".")) {
    if (!isRecord(cur)) return undefined
    cur = cur[part]
  }
  return cur
}

const eventFieldValue = (o: StoredKubeObject, field: string): string => {
  if (field === "source") {
    const component = str(path(o, "source.component"))
    return component !== "" ? component : str(o["reportingComponent"])
  }
  return str(path(o, field))
}

/** The value of a (converted) field label on a stored object. */
const fieldValue = (resource: ResourceType, o: StoredKubeObject, field: string): string => {
  if (field === "metadata.name") return o.metadata.name
  if (field === "metadata.namespace") return o.metadata.namespace ?? ""
  if (resource.extraFieldLabels === EVENT_FIELD_LABELS) return eventFieldValue(o, field)
  const v = path(o, field)
  return v === undefined && field === "spec.unschedulable" ? "false" : str(v)
}

export const matchesFields = (
  resource: ResourceType,
  o: StoredKubeObject,
  reqs: ReadonlyArray<FieldRequirement>
): boolean => {
  for (const r of reqs) {
    const v = fieldValue(resource, o, r.field)
    if (r.op === "=" ? v !== r.value : v === r.value) return false
  }
  return true
}

export type LabelRequirement =
  | { readonly key: string; readonly op: "in" | "notin"; readonly values: ReadonlyArray<string> }
  | { readonly key: string; readonly op: "exists" | "!exists" }
  | { readonly key: string; readonly op: "gt" | "lt"; readonly n: number }

const LABEL_KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/

const splitTopLevel = (s: string): string[] => {
  const parts: string[] = []
  let depth = 0
  let cur = ""
  for (const ch of s) {
    if (ch === "(") depth++
    if (ch === ")") depth--
    if (ch === "," && depth === 0) {
      parts.push(cur)
      cur = ""
    } else cur += ch
  }
  parts.push(cur)
  return parts
}

/**
 * A practical subset of `labels.Parse`: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, `k>1`,
 * `k<1`.
 */
export const parseLabelSelector = (selector: string): Parsed<ReadonlyArray<LabelRequirement>> => {
  if (selector.trim() === "") return ok([])
  const reqs: LabelRequirement[] = []
  for (const rawTerm of splitTopLevel(selector)) {
    const term = rawTerm.trim()
    const bad = err<ReadonlyArray<LabelRequirement>>(
      `unable to parse requirement: found '${term}', expected: label selector term`
    )
    let m: RegExpMatchArray | null
    if ((m = /^!\s*(\S+)$/.exec(term)) !== null) {
      const key = m[1] ?? ""
      if (!LABEL_KEY.test(key)) return bad
      reqs.push({ key, op: "!exists" })
    } else if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term)) !== null) {
      const key = m[1] ?? ""
      if (!LABEL_KEY.test(key)) return bad
      const values = (m[3] ?? "").split(",").map((v) => v.trim())
      reqs.push({ key, op: m[2] === "in" ? "in" : "notin", values })
    } else if ((m = /^([^=!<>\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term)) !== null) {
      const key = m[1] ?? ""
      if (!LABEL_KEY.test(key)) return bad
      reqs.push({ key, op: m[2] === "!=" ? "notin" : "in", values: [m[3] ?? ""] })
    } else if ((m = /^([^=!<>\s]+)\s*([<>])\s*(-?\d+)$/.exec(term)) !== null) {
      const key = m[1] ?? ""
      if (!LABEL_KEY.test(key)) return bad
      reqs.push({ key, op: m[2] === ">" ? "gt" : "lt", n: Number(m[3]) })
    } else if (LABEL_KEY.test(term)) {
      reqs.push({ key: term, op: "exists" })
    } else return bad
  }
  return ok(reqs)
}

export const matchesLabels = (o: StoredKubeObject, reqs: ReadonlyArray<LabelRequirement>): boolean => {
  const labels = o.metadata.labels ?? {}
  for (const r of reqs) {
    const has = Object.hasOwn(labels, r.key)
    const v = labels[r.key]
    switch (r.op) {
      case "exists":
        if (!has) return false
        break
      case "!exists":
        if (has) return false
        break
      case "in":
        if (v === undefined || !r.values.includes(v)) return false
        break
      case "notin":
        if (v !== undefined && r.values.includes(v)) return false
        break
      case "gt":
      case "lt": {
        const n = Number(v)
        if (v === undefined || Number.isNaN(n) || (r.op === "gt" ? !(n > r.n) : !(n < r.n))) return false
        break
      }
    }
  }
  return true
}

/**
 * Metadata-only answers (meta.k8s.io/v1 `PartialObjectMetadata`), chosen by the `Accept` header as the API
 * server's content negotiation chooses them: `application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`
 * for a list, `application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1` for a get or a watch. A plain
 * `application/json` (or no header) is the whole object; the first clause that can be served wins.
 */
import type { View } from "./watch.ts"

export const PARTIAL_METADATA_VIEW: View = {
  name: "meta.k8s.io/v1 PartialObjectMetadata",
  apiVersion: "meta.k8s.io/v1",
  kind: "PartialObjectMetadata",
  listKind: "PartialObjectMetadataList",
  render: (o) => ({ apiVersion: "meta.k8s.io/v1", kind: "PartialObjectMetadata", metadata: o.metadata })
}

export type Negotiated = "object" | "metadata" | "not-acceptable"

const JSON_TYPES = new Set(["application/json", "application/*", "*/*"])

/** What to answer a `verb` request that sent `accept`. */
export const negotiate = (accept: string | undefined, verb: "list" | "get" | "watch"): Negotiated => {
  if (accept === undefined || accept.trim() === "") return "object"
  const wanted = verb === "list" ? "PartialObjectMetadataList" : "PartialObjectMetadata"
  for (const clause of accept.split(",")) {
    const [type = "", ...rest] = clause.split(";").map((p) => p.trim())
    if (!JSON_TYPES.has(type.toLowerCase())) continue
    const params = new Map(rest.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)] as const))
    const as = params.get("as")
    if (as === undefined) return "object"
    if (as === wanted && params.get("g") === "meta.k8s.io" && params.get("v") === "v1") return "metadata"
  }
  return "not-acceptable"
}

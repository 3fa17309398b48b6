/**
 * Reads one object of the owner chain with a GET through client-node's HTTP library (its KubeConfig does the
 * authentication and TLS). The answer stays raw JSON decoded by a schema that keeps only what the enricher
 * uses, so a pod with a large `last-applied-configuration` costs one parse and nothing more.
 */
import { Context, Duration, Effect, Layer, Schema } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { makeKubeHttp } from "../kube/KubeHttp.ts"
import { KubeApiError, type KubeResponse, parseJson } from "../kube/KubeApiError.ts"
import { SERVICE_NAME_ANNOTATION, SERVICE_NAMESPACE_ANNOTATION } from "../domain/serviceName.ts"
import { type ControllerRef, objectPath, type Workload, type WorkloadObject } from "./workloads.ts"

export interface ObjectKey {
  readonly workload: Workload
  readonly namespace: string
  readonly name: string
}

export const describeKey = (k: ObjectKey): string => `${k.workload.resource} ${k.namespace}/${k.name}`

/** What the API server answered: the object, or that there is none (404). */
export type LookupAnswer = { readonly _tag: "Found"; readonly object: WorkloadObject } | { readonly _tag: "NotFound" }

const NOT_FOUND: LookupAnswer = { _tag: "NotFound" }

export interface OwnerLookupShape {
  /**
   * The object, or `NotFound`. Any other answer (a 403 included), no answer within the time allowed, or an answer
   * that is not an object, is the call's `KubeApiError`, whose `reason` says which.
   */
  readonly get: (key: ObjectKey) => Effect.Effect<LookupAnswer, KubeApiError>
}

/** A GET that hangs must end: while it is in flight, every lookup of that object waits on it. */
const REQUEST_TIMEOUT = Duration.seconds(15)

export class OwnerLookup extends Context.Tag("OwnerLookup")<OwnerLookup, OwnerLookupShape>() {
  static readonly layer = (kc: KubeConfig) => Layer.sync(OwnerLookup, () => makeHttp(kc))
}

const OptString = Schema.optional(Schema.NullOr(Schema.String))
const StringMap = Schema.optional(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.String })))
const OwnerReference = Schema.Struct({
  apiVersion: OptString,
  kind: Schema.String,
  name: Schema.String,
  uid: OptString,
  controller: Schema.optional(Schema.NullOr(Schema.Boolean))
})
const ObjectJson = Schema.Struct({
  metadata: Schema.Struct({
    name: OptString,
    namespace: OptString,
    uid: OptString,
    labels: StringMap,
    annotations: StringMap,
    ownerReferences: Schema.optional(Schema.NullOr(Schema.Array(OwnerReference)))
  }),
  spec: Schema.optional(Schema.NullOr(Schema.Struct({ nodeName: OptString })))
})
type ObjectJson = typeof ObjectJson.Type
const decodeObject = Schema.decodeUnknownEither(ObjectJson)

/** An object of a list or a watch (whole, or `PartialObjectMetadata`): where it is and what enrichment keeps of it. */
export interface NamedObject {
  readonly namespace: string
  readonly name: string
  readonly object: WorkloadObject
}

/** `undefined` when `u` is not a namespaced Kubernetes object. */
export const decodeNamedObject = (u: unknown): NamedObject | undefined => {
  const decoded = decodeObject(u)
  if (decoded._tag === "Left") return undefined
  const { name, namespace } = decoded.right.metadata
  if (name === undefined || name === null || namespace === undefined || namespace === null) return undefined
  return { namespace, name, object: toWorkloadObject(decoded.right) }
}

const text = (s: string | null | undefined) => (s === null || s === undefined || s === "" ? undefined : s)

const toWorkloadObject = (o: ObjectJson): WorkloadObject => {
  const owner = o.metadata.ownerReferences?.find((r) => r.controller === true)
  const controller: ControllerRef | undefined =
    owner === undefined
      ? undefined
      : { apiVersion: text(owner.apiVersion), kind: owner.kind, name: owner.name, uid: text(owner.uid) }
  const annotations = o.metadata.annotations ?? {}
  return {
    uid: text(o.metadata.uid),
    labels: o.metadata.labels ?? {},
    serviceName: text(annotations[SERVICE_NAME_ANNOTATION]),
    serviceNamespace: text(annotations[SERVICE_NAMESPACE_ANNOTATION]),
    controller,
    nodeName: text(o.spec?.nodeName)
  }
}

const found = (response: KubeResponse): Effect.Effect<LookupAnswer, KubeApiError> => {
  const decoded = decodeObject(parseJson(response.text))
  return decoded._tag === "Left"
    ? Effect.fail(KubeApiError.decode("get", "the answer is not a Kubernetes object", decoded.left))
    : Effect.succeed({ _tag: "Found", object: toWorkloadObject(decoded.right) })
}

const makeHttp = (kc: KubeConfig): OwnerLookupShape => {
  const http = makeKubeHttp(kc)
  return {
    get: Effect.fn("OwnerLookup.get")((key: ObjectKey) =>
      http.call("get", "GET", objectPath(key.workload, key.namespace, key.name)).pipe(
        Effect.timeoutFail({
          duration: REQUEST_TIMEOUT,
          onTimeout: () =>
            KubeApiError.transport("get", undefined, `no answer within ${Duration.format(REQUEST_TIMEOUT)}`)
        }),
        Effect.flatMap(found),
        Effect.catchIf(
          (e) => e.reason === "NotFound",
          () => Effect.succeed(NOT_FOUND)
        )
      )
    )
  }
}

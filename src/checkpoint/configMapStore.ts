/**
 * The checkpoint in a ConfigMap, so that a restarted or newly elected collector resumes where the last leader
 * stopped. The encoded checkpoint sits in `binaryData.checkpoint`; `data.summary` says in words what it holds.
 *
 * Writes use optimistic concurrency: a PUT carries the resourceVersion this store last saw. Leader election means
 * one writer, so a 409 means a deposed leader or a manual edit got in between: it is logged, the ConfigMap is read
 * again and the write retried (the leader's checkpoint wins). Needs `get`, `create` and `update` on configmaps in
 * the namespace.
 */
import { Duration, Effect, Either, Option, Ref, Schema } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { makeKubeHttp } from "../kube/KubeHttp.ts"
import { KubeApiError, type KubeResponse } from "../kube/KubeApiError.ts"
import { CheckpointError } from "./CheckpointError.ts"
import { type CheckpointState, decodeState, describeState, encodeState } from "./CheckpointState.ts"
import type { CheckpointStoreShape } from "./CheckpointStore.ts"

const CHECKPOINT_KEY = "checkpoint"
const SUMMARY_KEY = "summary"
const CHECKPOINT_LABELS: Readonly<Record<string, string>> = { "app.kubernetes.io/name": "k8s-event-collector" }

/** The API server refuses ConfigMaps whose data and binaryData together exceed 1 MiB; leave room for the rest. */
const MAX_STORED_BYTES = 1024 * 1024 - 16 * 1024
/** Attempts at one save: the first, then a re-read and retry after each conflict. */
const MAX_ATTEMPTS = 3

/** The calls this store makes, by the verb of the RBAC rule that allows each. */
const METHODS = { get: "GET", create: "POST", update: "PUT" } as const
type Verb = keyof typeof METHODS
type Operation = "load" | "save"

export interface ConfigMapStoreOptions {
  /** Give up on one request after this long (default 30 s). */
  readonly requestTimeout?: Duration.DurationInput
}

const StringMap = Schema.Record({ key: Schema.String, value: Schema.String })

const ConfigMapBody = Schema.Struct({
  metadata: Schema.Struct({
    resourceVersion: Schema.String,
    labels: Schema.optional(Schema.NullOr(StringMap)),
    annotations: Schema.optional(Schema.NullOr(StringMap))
  }),
  binaryData: Schema.optional(Schema.NullOr(StringMap))
})
const decodeConfigMap = Schema.decodeUnknownEither(Schema.parseJson(ConfigMapBody))

const decodeBase64 = Schema.decodeUnknownEither(Schema.Uint8ArrayFromBase64)

/** What this store knows of the ConfigMap: nothing yet, that it does not exist, or the version it last saw. */
type Known =
  | { readonly _tag: "Unknown" }
  | { readonly _tag: "Absent" }
  | {
      readonly _tag: "Present"
      readonly resourceVersion: string
      readonly labels: Readonly<Record<string, string>>
      readonly annotations: Readonly<Record<string, string>>
    }

type Present = Extract<Known, { readonly _tag: "Present" }>

const unknown: Known = { _tag: "Unknown" }
const absent: Known = { _tag: "Absent" }

const presentOf = ({ metadata }: typeof ConfigMapBody.Type): Present => ({
  _tag: "Present",
  resourceVersion: metadata.resourceVersion,
  labels: metadata.labels ?? {},
  annotations: metadata.annotations ?? {}
})

/** The ConfigMap's body, or a `Decode` failure of the call that answered it. */
const configMapOf = (verb: Verb, answer: KubeResponse) =>
  Either.mapLeft(decodeConfigMap(answer.text), (e) => KubeApiError.decode(verb, e.message, e))

/** The ConfigMap a write sends: the checkpoint and its summary, keeping the labels and annotations it has. */
const configMapObject = (
  where: { readonly namespace: string; readonly name: string },
  present: Present | undefined,
  encoded: string,
  summary: string
) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    ...where,
    labels: { ...present?.labels, ...CHECKPOINT_LABELS },
    ...(present !== undefined && Object.keys(present.annotations).length > 0
      ? { annotations: present.annotations }
      : {}),
    ...(present !== undefined ? { resourceVersion: present.resourceVersion } : {})
  },
  data: { [SUMMARY_KEY]: summary },
  binaryData: { [CHECKPOINT_KEY]: encoded }
})

/** What the API server said of a refused call: the HTTP status, its `Status` reason, its message. */
const answered = (error: KubeApiError): string =>
  `HTTP ${error.status}${error.statusReason ? ` ${error.statusReason}` : ""}: ${error.explanation}`

/** A failed call, in words, with a hint for the usual suspects. */
const describeFailure = (
  error: KubeApiError,
  call: { readonly verb: Verb; readonly path: string; readonly server: string; readonly namespace: string }
): string => {
  const method = METHODS[call.verb]
  switch (error.reason) {
    case "Transport":
      return `${method} ${call.path}: cannot reach the Kubernetes API at ${call.server}: ${error.explanation}`
    case "Decode":
      return `${method} answered something that is not a ConfigMap: ${error.explanation}`
    case "Forbidden":
      return (
        `${method} answered ${answered(error)}; the collector's identity needs get, create and update on ` +
        `configmaps in namespace ${call.namespace}`
      )
    case "Unauthorized":
      return `${method} answered ${answered(error)}; check the kubeconfig user or the service account token`
    default:
      return `${method} answered ${answered(error)}`
  }
}

/** What one write did: the ConfigMap holds the checkpoint, was deleted meanwhile, or was changed meanwhile. */
type Outcome =
  | { readonly _tag: "Written" }
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Conflict"; readonly error: KubeApiError }

const written: Outcome = { _tag: "Written" }
const missing: Outcome = { _tag: "Missing" }

export const makeConfigMapStore = (
  kc: KubeConfig,
  namespace: string,
  name: string,
  options: ConfigMapStoreOptions = {}
): Effect.Effect<CheckpointStoreShape> =>
  Effect.gen(function* () {
    const http = makeKubeHttp(kc)
    const timeout = Duration.decode(options.requestTimeout ?? Duration.seconds(30))
    const store = `ConfigMap ${namespace}/${name}`
    const collectionPath = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`
    const objectPath = `${collectionPath}/${encodeURIComponent(name)}`
    const known = yield* Ref.make<Known>(unknown)
    const lock = yield* Effect.makeSemaphore(1)

    const fail = (operation: Operation, detail: string, cause?: KubeApiError) =>
      new CheckpointError({ operation, store, detail, ...(cause === undefined ? {} : { cause }) })

    /** One call; no answer within the timeout is a `Transport` failure like any other. */
    const call = (verb: Verb, path: string, body?: unknown) =>
      http.call(verb, METHODS[verb], path, body === undefined ? {} : { body }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => KubeApiError.transport(verb, undefined, `no answer within ${Duration.format(timeout)}`)
        })
      )

    /** A failed call as the checkpoint's error: in words, and the call's error as its cause. */
    const failedCall = (operation: Operation, verb: Verb, path: string) => (error: KubeApiError) =>
      fail(operation, describeFailure(error, { verb, path, server: http.server, namespace }), error)

    /** The ConfigMap as it is now: remembered as `known`, with the checkpoint bytes if it holds any. */
    const read = (operation: Operation) =>
      Effect.gen(function* () {
        const answer = yield* call("get", objectPath).pipe(
          Effect.flatMap((a) => configMapOf("get", a)),
          Effect.map(Option.some),
          Effect.catchIf(
            (e) => e.reason === "NotFound",
            () => Effect.succeedNone
          ),
          Effect.mapError(failedCall(operation, "get", objectPath))
        )
        if (Option.isNone(answer)) {
          yield* Ref.set(known, absent)
          return Option.none<Uint8Array>()
        }
        yield* Ref.set(known, presentOf(answer.value))
        const encoded = answer.value.binaryData?.[CHECKPOINT_KEY]
        if (encoded === undefined) return Option.none<Uint8Array>()
        const bytes = decodeBase64(encoded)
        if (Either.isLeft(bytes)) return yield* fail(operation, `binaryData.${CHECKPOINT_KEY} is not base64`)
        return Option.some(bytes.right)
      })

    const load = Effect.gen(function* () {
      const bytes = yield* read("load")
      // A ConfigMap without the key (created empty by a deployment, say) is a fresh start, not an error.
      if (Option.isNone(bytes)) return Option.none()
      const state = decodeState(bytes.value)
      if (Either.isLeft(state)) return yield* fail("load", `binaryData.${CHECKPOINT_KEY}: ${state.left}`)
      return Option.some(state.right)
    }).pipe(lock.withPermits(1), Effect.withSpan("CheckpointStore.configMap.load"))

    /** What a write answered: without a readable version the next save reads the ConfigMap first. */
    const remember = (verb: Verb, answer: KubeResponse) =>
      Ref.set(known, Either.match(configMapOf(verb, answer), { onLeft: (): Known => unknown, onRight: presentOf }))

    const conflict = (verb: Verb, error: KubeApiError) =>
      Effect.logWarning(
        `the checkpoint ${store} was changed by another writer since this collector last read it ` +
          `(a collector that lost leadership, or a manual edit; ${METHODS[verb]} answered ${answered(error)}); ` +
          "reading it again and overwriting it with this collector's checkpoint"
      ).pipe(Effect.as<Outcome>({ _tag: "Conflict", error }))

    const write = (current: Known, encoded: string, summary: string) => {
      const present = current._tag === "Present" ? current : undefined
      const object = configMapObject({ name, namespace }, present, encoded, summary)
      const verb: Verb = present === undefined ? "create" : "update"
      const path = present === undefined ? collectionPath : objectPath
      return call(verb, path, object).pipe(
        Effect.flatMap((answer) => Effect.as(remember(verb, answer), written)),
        Effect.catchAll((error) =>
          error.reason === "Conflict"
            ? conflict(verb, error)
            : error.reason === "NotFound" && present !== undefined
              ? Effect.succeed(missing)
              : Effect.fail(failedCall("save", verb, path)(error))
        )
      )
    }

    const save = Effect.fn("CheckpointStore.configMap.save")(function* (state: CheckpointState) {
      const encoded = Buffer.from(encodeState(state)).toString("base64")
      const summary = describeState(state)
      const size = encoded.length + summary.length
      if (size > MAX_STORED_BYTES) {
        return yield* fail(
          "save",
          `the checkpoint takes ${size} bytes, more than a ConfigMap can hold (1 MiB); ` +
            `remember fewer exported occurrences (${state.occurrences.length} now)`
        )
      }
      yield* lock.withPermits(1)(
        Effect.gen(function* () {
          for (let attempt = 1; ; attempt++) {
            if ((yield* Ref.get(known))._tag === "Unknown") yield* read("save")
            const outcome = yield* write(yield* Ref.get(known), encoded, summary)
            if (outcome._tag === "Written") return
            yield* Ref.set(known, outcome._tag === "Missing" ? absent : unknown)
            if (attempt >= MAX_ATTEMPTS) {
              return yield* fail(
                "save",
                `gave up after ${attempt} attempts: the ConfigMap kept being changed, created or deleted ` +
                  "by another writer between this collector's read and write",
                outcome._tag === "Conflict" ? outcome.error : undefined
              )
            }
          }
        })
      )
    })

    return { describe: store, load, save }
  })

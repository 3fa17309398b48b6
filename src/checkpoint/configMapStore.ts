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
import { failureDetail, type KubeResponse } from "../kube/KubeApiError.ts"

type Method = "GET" | "POST" | "PUT"
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

const unknown: Known = { _tag: "Unknown" }
const absent: Known = { _tag: "Absent" }

type Answer = KubeResponse

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

    const fail = (operation: "load" | "save", detail: string, status?: number) =>
      new CheckpointError({ operation, store, detail, ...(status === undefined ? {} : { status }) })

    const call = (operation: "load" | "save", method: Method, path: string, body?: unknown) =>
      http.request(method, path, body).pipe(
        Effect.mapError((e) =>
          fail(operation, `${method} ${path}: cannot reach the Kubernetes API at ${http.server}: ${e.message}`)
        ),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            fail(operation, `${method} ${path}: no answer from the Kubernetes API within ${Duration.format(timeout)}`)
        })
      )

    /** An answer the store does not expect, in words, with a hint for the usual suspects. */
    const unexpected = (operation: "load" | "save", method: Method, answer: Answer) => {
      const { detail: said, status } = failureDetail(answer)
      const hint =
        answer.status === 403
          ? `; the collector's identity needs get, create and update on configmaps in namespace ${namespace}`
          : answer.status === 401
            ? "; check the kubeconfig user or the service account token"
            : ""
      return fail(
        operation,
        `${method} answered HTTP ${answer.status}${status?.reason ? ` ${status.reason}` : ""}: ${said}${hint}`,
        answer.status
      )
    }

    /** The ConfigMap as it is now: remembered as `known`, with the checkpoint bytes if it holds any. */
    const read = (operation: "load" | "save") =>
      Effect.gen(function* () {
        const answer = yield* call(operation, "GET", objectPath)
        if (answer.status === 404) {
          yield* Ref.set(known, absent)
          return Option.none<Uint8Array>()
        }
        if (answer.status !== 200) return yield* unexpected(operation, "GET", answer)
        const body = decodeConfigMap(answer.text)
        if (Either.isLeft(body))
          return yield* fail(operation, `GET answered something that is not a ConfigMap: ${body.left.message}`)
        const { metadata, binaryData } = body.right
        yield* Ref.set(known, {
          _tag: "Present",
          resourceVersion: metadata.resourceVersion,
          labels: metadata.labels ?? {},
          annotations: metadata.annotations ?? {}
        })
        const encoded = binaryData?.[CHECKPOINT_KEY]
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

    const remember = (answer: Answer) =>
      Effect.gen(function* () {
        const body = decodeConfigMap(answer.text)
        // The write succeeded; without a readable version the next save reads the ConfigMap first.
        yield* Ref.set(
          known,
          Either.isRight(body)
            ? {
                _tag: "Present",
                resourceVersion: body.right.metadata.resourceVersion,
                labels: body.right.metadata.labels ?? {},
                annotations: body.right.metadata.annotations ?? {}
              }
            : unknown
        )
      })

    type Outcome = "written" | "conflict" | "missing"

    const write = (current: Known, encoded: string, summary: string) =>
      Effect.gen(function* () {
        const present = current._tag === "Present" ? current : undefined
        const object = {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name,
            namespace,
            labels: { ...present?.labels, ...CHECKPOINT_LABELS },
            ...(present !== undefined && Object.keys(present.annotations).length > 0
              ? { annotations: present.annotations }
              : {}),
            ...(present !== undefined ? { resourceVersion: present.resourceVersion } : {})
          },
          data: { [SUMMARY_KEY]: summary },
          binaryData: { [CHECKPOINT_KEY]: encoded }
        }
        const method = present === undefined ? "POST" : "PUT"
        const answer = yield* call("save", method, present === undefined ? collectionPath : objectPath, object)
        if (answer.status === 200 || answer.status === 201) {
          yield* remember(answer)
          return "written" satisfies Outcome
        }
        if (answer.status === 409) {
          const { detail, status } = failureDetail(answer)
          yield* Effect.logWarning(
            `the checkpoint ${store} was changed by another writer since this collector last read it ` +
              `(a collector that lost leadership, or a manual edit; ${method} answered HTTP 409` +
              `${status?.reason ? ` ${status.reason}` : ""}` +
              `: ${detail}); reading it again and overwriting it with this collector's checkpoint`
          )
          return "conflict" satisfies Outcome
        }
        if (answer.status === 404 && present !== undefined) return "missing" satisfies Outcome
        return yield* unexpected("save", method, answer)
      })

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
            if (outcome === "written") return
            if (outcome === "missing") yield* Ref.set(known, absent)
            else yield* Ref.set(known, unknown)
            if (attempt >= MAX_ATTEMPTS) {
              return yield* fail(
                "save",
                `gave up after ${attempt} attempts: the ConfigMap kept being changed, created or deleted ` +
                  "by another writer between this collector's read and write",
                409
              )
            }
          }
        })
      )
    })

    return { describe: store, load, save }
  })

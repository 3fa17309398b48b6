/**
 * Where the checkpoint is kept between runs. The collector decides what goes in and when to save; a store only
 * loads and saves it, and says in a CheckpointError what went wrong (it never throws).
 */
import { Context, Effect, Either, Layer, Option } from "effect"
import type { KubeConfig } from "@kubernetes/client-node"
import { CheckpointError } from "./CheckpointError.ts"
import type { CheckpointSpec } from "./CheckpointSpec.ts"
import { type CheckpointState, decodeState, encodeState } from "./CheckpointState.ts"
import { type ConfigMapStoreOptions, makeConfigMapStore } from "./configMapStore.ts"
import { makeFileStore } from "./fileStore.ts"

export { CheckpointError } from "./CheckpointError.ts"

export interface CheckpointStoreShape {
  /** Where the checkpoint lives, for messages: "none", "memory", "file /path", "ConfigMap ns/name". */
  readonly describe: string
  /** The last saved checkpoint; None when there is none yet. */
  readonly load: Effect.Effect<Option.Option<CheckpointState>, CheckpointError>
  /** Replaces the saved checkpoint. Saves are serialised; the last one wins. */
  readonly save: (state: CheckpointState) => Effect.Effect<void, CheckpointError>
}

/**
 * An in-memory store for tests: it keeps the encoded bytes, as a real store would, so what `load` returns went
 * through the encoding. `saved` lists every state saved, as it would be read back.
 */
export class MemoryCheckpoints {
  #bytes: Uint8Array | undefined
  readonly #saved: Array<CheckpointState> = []
  /** When set, every load and save fails with this detail (to test how the collector copes). */
  failing: string | undefined = undefined

  constructor(initial?: CheckpointState) {
    this.#bytes = initial === undefined ? undefined : encodeState(initial)
  }

  get saved(): ReadonlyArray<CheckpointState> {
    return this.#saved
  }

  /** The state a load would return now. */
  get latest(): CheckpointState | undefined {
    if (this.#bytes === undefined) return undefined
    return Either.getOrUndefined(decodeState(this.#bytes))
  }

  readonly store: CheckpointStoreShape = {
    describe: "memory",
    load: Effect.suspend(() => {
      if (this.failing !== undefined)
        return new CheckpointError({ operation: "load", store: "memory", detail: this.failing })
      if (this.#bytes === undefined) return Effect.succeed(Option.none())
      return Either.match(decodeState(this.#bytes), {
        onLeft: (detail) => new CheckpointError({ operation: "load", store: "memory", detail }),
        onRight: (state) => Effect.succeed(Option.some(state))
      })
    }),
    save: (state) =>
      Effect.suspend(() => {
        if (this.failing !== undefined)
          return new CheckpointError({ operation: "save", store: "memory", detail: this.failing })
        const bytes = encodeState(state)
        this.#bytes = bytes
        const readBack = decodeState(bytes)
        if (Either.isRight(readBack)) this.#saved.push(readBack.right)
        return Effect.void
      })
  }
}

export class CheckpointStore extends Context.Tag("CheckpointStore")<CheckpointStore, CheckpointStoreShape>() {
  /** No checkpoint: every start is a fresh start. */
  static readonly layerNoop: Layer.Layer<CheckpointStore> = Layer.succeed(CheckpointStore, {
    describe: "none",
    load: Effect.succeedNone,
    save: () => Effect.void
  })

  /** In memory, for tests; pass a `MemoryCheckpoints` to look at what was saved or to make it fail. */
  static readonly layerMemory = (
    checkpoints: MemoryCheckpoints = new MemoryCheckpoints()
  ): Layer.Layer<CheckpointStore> => Layer.succeed(CheckpointStore, checkpoints.store)

  /** A local file, replaced atomically on each save; fails at once when the path cannot be written. */
  static readonly file = (path: string): Layer.Layer<CheckpointStore, CheckpointError> =>
    Layer.effect(
      CheckpointStore,
      Effect.suspend(() => {
        const store = makeFileStore(path)
        return Effect.as(store.check, store)
      })
    )

  /** A ConfigMap, written with optimistic concurrency. */
  static readonly configMap = (
    kc: KubeConfig,
    namespace: string,
    name: string,
    options?: ConfigMapStoreOptions
  ): Layer.Layer<CheckpointStore> => Layer.effect(CheckpointStore, makeConfigMapStore(kc, namespace, name, options))

  /** The store a `--checkpoint` value names; the KubeConfig is asked for only by a ConfigMap store. */
  static readonly fromSpec = (
    spec: CheckpointSpec,
    kubeConfig: () => KubeConfig
  ): Layer.Layer<CheckpointStore, CheckpointError> => {
    switch (spec._tag) {
      case "None":
        return CheckpointStore.layerNoop
      case "File":
        return CheckpointStore.file(spec.path)
      case "ConfigMap":
        return Layer.unwrapEffect(Effect.sync(() => CheckpointStore.configMap(kubeConfig(), spec.namespace, spec.name)))
    }
  }
}

/** The checkpoint: its state, its encoding and the stores that keep it between runs. */
export {
  type CheckpointState,
  type ExportedOccurrence,
  type PruneOptions,
  CheckpointFromBytes,
  FORMAT_VERSION,
  decodeState,
  describeState,
  emptyState,
  encodeState,
  prune
} from "./CheckpointState.ts"
export { CheckpointError } from "./CheckpointError.ts"
export { CheckpointStore, type CheckpointStoreShape, MemoryCheckpoints } from "./CheckpointStore.ts"
export { type CheckpointSpec, formatCheckpointSpec, parseCheckpointSpec } from "./CheckpointSpec.ts"
export { CHECKPOINT_KEY, CHECKPOINT_LABELS, SUMMARY_KEY, type ConfigMapStoreOptions } from "./configMapStore.ts"

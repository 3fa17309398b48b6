/**
 * The simulated Kubernetes API server used by tests, benchmarks and the demo.
 *
 *   const sim = await startSimServer({ bookmarkIntervalMs: 50, compaction: { maxChanges: 1000 }, eventTtlMs: 60_000 });
 *   const kc = simKubeConfig(sim.url);
 *   sim.events.create({
 *     involvedObject: { kind: "Pod", namespace: "shop", name: "web-1" },
 *     reason: "BackOff",
 *     type: "Warning"
 *   });
 *   sim.faults.add({ verb: "watch", resource: "events", action: { type: "dropWatch", afterEvents: 3 }, times: 1 });
 *   sim.requests.count({ verb: "list", resource: "events" });
 *   await sim.close();
 */
export { SimServer, startSimServer, DEFAULT_USER, type SimServerOptions } from "./server.ts"
export {
  VersionedStore,
  StoredObject,
  StoreError,
  objectKey,
  type StoreChange,
  type ChangeType,
  type CompactionPolicy,
  type KubeObject,
  type ListQuery,
  type ListResult,
  type ObjectMeta,
  type OwnerReference,
  type StoreOptions,
  type StoredKubeObject,
  type StoredMeta,
  type WriteOptions
} from "./store.ts"
export {
  SimEvents,
  DEFAULT_TEMPLATES,
  isSeriesStyle,
  isoMicros,
  isoSeconds,
  normalizeCoreEvent,
  toEventsV1,
  type BulkLoadOptions,
  type BulkLoadResult,
  type EventInput,
  type EventRef,
  type EventSeries,
  type EventSource,
  type ObjectReference
} from "./events.ts"
export {
  SimObjects,
  KUBE_SYSTEM_UID,
  NAME_LABEL,
  SERVICE_NAME_ANNOTATION,
  objectReference,
  ownerReference,
  type MetaInput,
  type OwnedPod,
  type PodInput,
  type WorkloadInput
} from "./objects.ts"
export {
  Faults,
  RequestLog,
  matchesRequest,
  type Fault,
  type FaultAction,
  type FaultSpec,
  type RecordedRequest,
  type RequestInfo,
  type RequestMatch,
  type Verb
} from "./faults.ts"
export { Resources, EVENT_FIELD_LABELS, resourceId, apiVersionOf, type ResourceType } from "./resources.ts"
export * as StatusBodies from "./status.ts"
export type { Status, StatusDetails } from "./status.ts"
export { simKubeConfig, simKubeConfigYaml, type SimKubeConfigOptions } from "./kubeconfig.ts"
export { runScenario, type ScenarioHandle, type ScenarioOptions, type ScenarioStep } from "./scenario.ts"
export { startDemoTraces, type DemoTracesOptions } from "./traces.ts"

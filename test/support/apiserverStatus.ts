/**
 * Status bodies the API server sends, as shared/reference/apiserver-error-shapes.md quotes them from the
 * Kubernetes sources, for the tests that make the simulated server answer with one.
 */
import type { Status } from "@k8s-event-collector/sim"

/** A watch from a resourceVersion older than the watch cache's history (pkg/storage/cacher/watch_cache_history.go). */
export const expiredWatchStatus: Status = {
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message: "too old resource version: 1 (9)",
  reason: "Expired",
  code: 410
}

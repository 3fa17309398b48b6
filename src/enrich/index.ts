/** Owner-chain enrichment: the public surface. */
export {
  type ApiCall,
  EMPTY_ENRICHMENT,
  Enricher,
  type EnricherShape,
  ENRICHMENT_API_CALLS,
  type EnrichSettings,
  type Enrichment
} from "./Enricher.ts"
export { EnrichmentMetrics, LOOKUP_RESULTS, type LookupResult } from "./EnrichmentMetrics.ts"
export { OwnerLookup, OwnerLookupError, type LookupAnswer, type ObjectKey } from "./OwnerLookup.ts"

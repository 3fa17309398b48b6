import { Context, Effect, Layer } from "effect"
import type { Attributes, HrTime } from "@opentelemetry/api"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import type { KubeEvent } from "../domain/KubeEvent.ts"
import { Resource as R } from "../domain/attributes.ts"
import { ResourceCache } from "./resource.ts"
import type { Summary } from "../rules/throttle.ts"
import { summaryParts } from "./summary.ts"
import { type RecordParts, toLogRecord } from "./toLogRecord.ts"

export interface TranslatorSettings {
  /** Attributes every record's resource starts from: `OTEL_RESOURCE_ATTRIBUTES`, service and cluster name. */
  readonly baseAttributes: Attributes
  readonly resourceCacheSize: number
}

/** Holds what translation shares between records (the resource cache) and stamps the observed time, the clock's. */
export class Translator extends Context.Tag("Translator")<
  Translator,
  {
    readonly translate: (e: KubeEvent, parts?: RecordParts) => ReadableLogRecord
    /** The record standing for what noise control held back: the summary's last event, said as a summary. */
    readonly summarize: (s: Summary, parts: Pick<RecordParts, "resource" | "severity">) => ReadableLogRecord
  }
>() {
  static readonly layer = (settings: TranslatorSettings) =>
    Layer.effect(
      Translator,
      Effect.map(Effect.clock, (clock) => {
        const resources = new ResourceCache(settings.baseAttributes, settings.resourceCacheSize)
        const translate = (e: KubeEvent, parts?: RecordParts) => {
          const now = clock.unsafeCurrentTimeMillis()
          const observedAt: HrTime = [Math.floor(now / 1000), (now % 1000) * 1_000_000]
          return toLogRecord(e, { resources, observedAt }, parts)
        }
        return { translate, summarize: (s, parts) => translate(s.event, { ...parts, ...summaryParts(s) }) }
      })
    )
}

/**
 * The base resource attributes from the configuration and the cluster: explicit settings, and the uid read from
 * the cluster, win over `OTEL_RESOURCE_ATTRIBUTES`.
 */
export const baseAttributes = (
  opts: {
    readonly resourceAttributes: Readonly<Record<string, string>>
    readonly serviceName: string | undefined
    readonly clusterName: string | undefined
  },
  clusterUid?: string
): Attributes => ({
  ...opts.resourceAttributes,
  ...(opts.serviceName === undefined ? {} : { [R.serviceName]: opts.serviceName }),
  ...(opts.clusterName === undefined ? {} : { [R.clusterName]: opts.clusterName }),
  ...(clusterUid === undefined ? {} : { [R.clusterUid]: clusterUid })
})

import { SeverityNumber } from "@opentelemetry/api-logs"

export interface Severity {
  readonly number: SeverityNumber | undefined
  readonly text: string | undefined
}

/**
 * The default severity: `Normal` → INFO, `Warning` → WARN (matched without regard to case, as the Collector's
 * receiver does); any other type leaves the number unset rather than guessing. The text is the type as sent.
 */
export const severityOfType = (type: string | undefined): Severity => {
  switch (type?.toLowerCase()) {
    case "normal":
      return { number: SeverityNumber.INFO, text: type }
    case "warning":
      return { number: SeverityNumber.WARN, text: type }
    default:
      return { number: undefined, text: type }
  }
}

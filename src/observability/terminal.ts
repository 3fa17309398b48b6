/**
 * Output a person reads in a terminal: colour only there (and never with `NO_COLOR`), severities coloured the same
 * way in the console exporter's text lines and in the collector's own logs, and one line for each record.
 */

/** Colour for a stream that is a terminal, unless `NO_COLOR` is set to anything but the empty string (no-color.org). */
export const colourFor = (stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean =>
  stream.isTTY === true && (env["NO_COLOR"] ?? "") === ""

const YELLOW = "\x1b[33m"
const RED = "\x1b[31m"
const DEFAULT_COLOUR = "\x1b[39m"

/** OpenTelemetry severity numbers: WARN (13-16) in yellow, ERROR and FATAL (17-24) in red, the others unchanged. */
export const paintBySeverity = (text: string, severityNumber: number | undefined): string =>
  severityNumber === undefined || severityNumber < 13
    ? text
    : `${severityNumber >= 17 ? RED : YELLOW}${text}${DEFAULT_COLOUR}`

const escaped = (c: string): string =>
  c === "\n" ? "\\n" : c === "\r" ? "\\r" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`

/**
 * The text with line breaks and other control characters (tabs excepted) written as escapes (`\n`, `\u001b`),
 * so that one record stays one line and a message cannot move the cursor or change the terminal's colours.
 */
export const oneLine = (text: string): string =>
  text.replace(/[\u0000-\u0008\u000a-\u001f\u007f\u2028\u2029]/g, escaped)

/**
 * The collector's own logs, on stderr: JSON or logfmt for a log shipper, or lines a person reads at a terminal
 * (time, level, message, key=value), which is what an unset `--log-format` gives when stderr is a terminal.
 */
import { Cause, Inspectable, Logger, type LogLevel } from "effect"
import { colourFor, oneLine, paintBySeverity } from "./terminal.ts"

export type LogFormat = "json" | "logfmt" | "text"

/** The format asked for; when none was, text for a person at a terminal and JSON for everything else. */
export const logFormatFor = (chosen: LogFormat | undefined, stderr: { readonly isTTY?: boolean }): LogFormat =>
  chosen ?? (stderr.isTTY === true ? "text" : "json")

/** Effect's levels as OpenTelemetry severity numbers, for the colours the console exporter uses too. */
const SEVERITY_OF_LEVEL: Partial<Record<LogLevel.LogLevel["_tag"], number>> = { Warning: 13, Error: 17, Fatal: 21 }

const plain = /^[^\s"=]*$/
const shown = (value: unknown): string => {
  const text = oneLine(Inspectable.toStringUnknown(value, 0))
  return text !== "" && plain.test(text) ? text : JSON.stringify(text)
}

/**
 * `2026-12-01T08:09:21.432Z WARN  message key=value key2="a value"`: one line, whatever the message holds; a
 * failure's cause follows on indented lines. With `colour`, the level is coloured as record severities are.
 */
export const readableLogLine = (options: Logger.Logger.Options<unknown>, colour: boolean): string => {
  const { annotations, cause, date, logLevel, message } = options
  const level = logLevel.label.padEnd(5)
  const messages = (Array.isArray(message) ? message : [message]).map((m) => oneLine(Inspectable.toStringUnknown(m, 0)))
  const painted = colour ? paintBySeverity(level, SEVERITY_OF_LEVEL[logLevel._tag]) : level
  let line = `${date.toISOString()} ${painted} ${messages.join(" ")}`
  for (const [key, value] of annotations) line += ` ${oneLine(key)}=${shown(value)}`
  if (!Cause.isEmpty(cause)) line += `\n${Cause.pretty(cause).replace(/^/gm, "    ")}`
  return line
}

/** The logger of one format, writing to stderr (stdout belongs to the console exporter). */
export const stderrLogger = (format: LogFormat): Logger.Logger<unknown, void> => {
  switch (format) {
    case "json":
      return Logger.withConsoleError(Logger.jsonLogger)
    case "logfmt":
      return Logger.withConsoleError(Logger.logfmtLogger)
    case "text": {
      const colour = colourFor(process.stderr)
      return Logger.withConsoleError(Logger.make((options) => readableLogLine(options, colour)))
    }
  }
}

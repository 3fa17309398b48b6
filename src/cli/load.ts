/**
 * Loads the configuration from flags, environment and an optional YAML file (flags > environment > file >
 * default), checks every value, and reports every problem at once.
 */
import { Duration, Either, Schema } from "effect"
import { parseArgs } from "node:util"
import { parseDocument } from "yaml"
import { decodeRulesConfig, RULES_SECTIONS, type RulesConfig } from "../rules/config.ts"
import { SEVERITY_NUMBERS } from "../rules/severity.ts"
import { brokenTimingRules, type LeaseTiming } from "../leader/LeaderElection.ts"
import { closest } from "../domain/closest.ts"
import { type OptionKey, OPTIONS, type OptionSpec, type OptionValues } from "./options.ts"

export class ConfigProblems extends Schema.TaggedError<ConfigProblems>()("ConfigProblems", {
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `invalid configuration:\n${this.problems.map((p) => `  - ${p}`).join("\n")}`
  }
}

type Command = "run" | "demo" | "help" | "version"
const COMMANDS: ReadonlyArray<Command> = ["run", "demo", "help", "version"]
const isCommand = (s: string): s is Command => COMMANDS.some((c) => c === s)

export interface Loaded {
  readonly command: Command
  readonly values: OptionValues
  /** Filters, severity rules and noise control: the file's sections, overridden by their flags. */
  readonly rules: RulesConfig
  /** Where each value came from: `--flag`, `env NAME`, `FILE: key`, or `default`. */
  readonly origins: Readonly<Partial<Record<OptionKey, string>>>
}

export interface LoadInput {
  readonly argv: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string | undefined>>
  /** Reads the `--config` file; a thrown error becomes a problem. */
  readonly readText: (path: string) => string
}

const KEYS = Object.keys(OPTIONS) as ReadonlyArray<OptionKey>
const spec = (key: OptionKey): OptionSpec<unknown> => OPTIONS[key]
const BY_FLAG = new Map(KEYS.map((k) => [spec(k).flag, k]))

interface Raw {
  readonly value: unknown
  readonly origin: string
}

/** Parses argv into raw values by option key; unknown flags and missing values are problems. */
const fromArgv = (argv: ReadonlyArray<string>, problems: Array<string>) => {
  const raw = new Map<OptionKey, Raw>()
  const parsed = parseArgs({
    args: [...argv],
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: Object.fromEntries([
      ...KEYS.map(
        (k) =>
          [
            spec(k).flag,
            { type: spec(k).boolean === true ? "boolean" : "string", multiple: spec(k).multiple === true }
          ] as const
      ),
      ["help", { type: "boolean", short: "h" }],
      ["version", { type: "boolean" }]
    ])
  })
  let command: Command = "run"
  let asked: "help" | "version" | undefined
  const tokens = parsed.tokens ?? []
  const valuesOfUnknown = new Set<number>()
  for (const token of tokens) {
    if (token.kind !== "option") continue
    if (token.name === "help") asked = "help"
    else if (token.name === "version") asked = asked ?? "version"
    else {
      const key = BY_FLAG.get(token.name)
      if (key === undefined) {
        problems.push(`${token.rawName}: unknown option${suggest(token.name, [...BY_FLAG.keys()], "--")}`)
        // `--sorce kube`: the word after an unknown flag is taken for its value, not for a command.
        const next = tokens[tokens.indexOf(token) + 1]
        if (token.value === undefined && next?.kind === "positional") valuesOfUnknown.add(next.index)
      } else if (spec(key).boolean === true) {
        raw.set(key, { value: token.value ?? true, origin: token.rawName })
      } else if (token.value === undefined) {
        problems.push(`${token.rawName}: needs a value (${spec(key).valueName})`)
      } else if (spec(key).multiple === true) {
        const before = raw.get(key)?.value
        raw.set(key, { value: [...(Array.isArray(before) ? before : []), token.value], origin: token.rawName })
      } else {
        raw.set(key, { value: token.value, origin: token.rawName })
      }
    }
  }
  const positionals = tokens.flatMap((t) => (t.kind === "positional" && !valuesOfUnknown.has(t.index) ? [t.value] : []))
  const [first, ...extra] = positionals
  if (first !== undefined) {
    if (isCommand(first)) command = first
    else problems.push(`unknown command ${JSON.stringify(first)}: the commands are run (the default) and demo`)
    for (const e of extra) problems.push(`unexpected argument ${JSON.stringify(e)}`)
  }
  return { command: asked ?? command, raw }
}

const fromEnv = (env: LoadInput["env"]) => {
  const raw = new Map<OptionKey, Raw>()
  for (const key of KEYS) {
    for (const source of spec(key).env ?? []) {
      const value = env[source.name]
      if (value === undefined || value.trim() === "") continue
      raw.set(key, { value: source.map ? source.map(value.trim()) : value, origin: `env ${source.name}` })
      break
    }
  }
  return raw
}

const fromFile = (path: string, readText: LoadInput["readText"], problems: Array<string>) => {
  const raw = new Map<OptionKey, Raw>()
  const sections: Record<string, unknown> = {}
  let text: string
  try {
    text = readText(path)
  } catch (error) {
    problems.push(
      `${path}: cannot read the configuration file: ${error instanceof Error ? error.message : String(error)}`
    )
    return { raw, sections }
  }
  const doc = parseDocument(text)
  for (const error of doc.errors) {
    const pos = error.linePos?.[0]
    problems.push(`${path}${pos ? `:${pos.line}:${pos.col}` : ""}: invalid YAML: ${error.message.split("\n")[0]}`)
  }
  if (doc.errors.length > 0) return { raw, sections }
  const content: unknown = doc.toJS()
  if (content === null || content === undefined) return { raw, sections }
  if (typeof content !== "object" || Array.isArray(content)) {
    problems.push(`${path}: must be a mapping of option names to values`)
    return { raw, sections }
  }
  for (const [name, value] of Object.entries(content)) {
    const key = KEYS.find((k) => k === name)
    const section = spec(key ?? "config").fileSection
    if (RULES_SECTIONS.some((r) => r === name)) {
      sections[name] = value
    } else if (key === undefined || key === "config") {
      const known = [...KEYS.filter((k) => k !== "config" && spec(k).fileSection === undefined), ...RULES_SECTIONS]
      problems.push(`${path}: ${name}: not an option${suggest(name, known, "")}`)
    } else if (section !== undefined) {
      problems.push(`${path}: ${name}: write it as ${section} in the file`)
    } else {
      raw.set(key, { value, origin: `${path}: ${name}` })
    }
  }
  return { raw, sections }
}

/** " (did you mean --x?)" for a near miss. */
const suggest = (name: string, candidates: ReadonlyArray<string>, prefix: string): string => {
  const hit = closest(name, candidates)
  return hit === undefined ? "" : ` (did you mean ${prefix}${hit}?)`
}

/** The file's rule sections with what flags and environment said of them on top. */
const mergeRules = (file: RulesConfig, v: OptionValues, origins: Partial<Record<OptionKey, string>>): RulesConfig => {
  const given = (k: OptionKey) => origins[k] !== undefined && origins[k] !== "default"
  const minSeverity = v.minSeverity === undefined ? file.filters.minSeverity : SEVERITY_NUMBERS[v.minSeverity]
  const maxEventAgeMs = v.maxEventAge === undefined ? file.filters.maxEventAgeMs : Duration.toMillis(v.maxEventAge)
  return {
    filters: {
      include: given("include") ? v.include : file.filters.include,
      exclude: given("exclude") ? v.exclude : file.filters.exclude,
      ...(minSeverity === undefined ? {} : { minSeverity }),
      ...(maxEventAgeMs === undefined ? {} : { maxEventAgeMs })
    },
    severity: file.severity,
    throttle: !given("throttle")
      ? file.throttle
      : v.throttle === undefined
        ? { ...file.throttle, enabled: false }
        : { ...file.throttle, enabled: true, limit: v.throttle.limit, windowMs: v.throttle.windowMs }
  }
}

const LEASE_FLAG: Record<LeaseTiming, string> = {
  leaseDuration: "--lease-duration",
  renewDeadline: "--lease-renew-deadline",
  retryPeriod: "--lease-retry-period"
}

/** Rules between options, checked once each option is valid on its own. */
const crossChecks = (v: Record<string, unknown>): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const ms = (key: string) => (Duration.isDuration(v[key]) ? Duration.toMillis(v[key]) : 0)
  // The server is asked for whole seconds, at least one.
  if (ms("watchIdleTimeout") <= 2 * Math.max(1000, ms("watchTimeout"))) {
    problems.push(
      "--watch-idle-timeout: must be longer than twice --watch-timeout: the server ends a quiet watch only after up " +
        "to twice --watch-timeout, and a watch ended sooner for silence would look dead"
    )
  }
  if (ms("stallTimeout") <= ms("watchIdleTimeout")) {
    problems.push(
      "--stall-timeout: must be longer than --watch-idle-timeout, so that a silent watch is restarted before the pod is"
    )
  }
  if ((v["otlpUsername"] === undefined) !== (v["otlpPassword"] === undefined)) {
    problems.push("--otlp-username and --otlp-password: basic authentication needs both")
  }
  if (v["leaderElect"] === true) {
    if (v["lease"] === undefined) problems.push("--leader-elect: needs --lease NAMESPACE/NAME")
    const timings = {
      leaseDuration: Duration.millis(ms("leaseDuration")),
      renewDeadline: Duration.millis(ms("leaseRenewDeadline")),
      retryPeriod: Duration.millis(ms("leaseRetryPeriod"))
    }
    for (const rule of brokenTimingRules(timings)) {
      problems.push(`${LEASE_FLAG[rule.shorter]}: must be shorter than ${LEASE_FLAG[rule.longer]}: ${rule.why}`)
    }
    const cp = v["checkpoint"]
    if (typeof cp === "object" && cp !== null && "_tag" in cp && cp._tag === "File") {
      problems.push(
        "--checkpoint file:...: replicas under --leader-elect need a shared checkpoint: use configmap:NAMESPACE/NAME"
      )
    }
  }
  return problems
}

export const loadConfig = (input: LoadInput): Either.Either<Loaded, ConfigProblems> => {
  const problems: Array<string> = []
  const argv = fromArgv(input.argv, problems)
  const env = fromEnv(input.env)
  const configPath = argv.raw.get("config") ?? env.get("config")
  const fileData =
    configPath !== undefined && typeof configPath.value === "string"
      ? fromFile(configPath.value, input.readText, problems)
      : { raw: new Map<OptionKey, Raw>(), sections: {} }
  const file = fileData.raw
  const rulesFromFile = decodeRulesConfig(fileData.sections)
  if (Either.isLeft(rulesFromFile)) {
    for (const p of rulesFromFile.left) problems.push(`${configPath?.value ?? "config"}: ${p}`)
  }
  const values: Record<string, unknown> = {}
  const origins: Partial<Record<OptionKey, string>> = {}
  for (const key of KEYS) {
    const s = spec(key)
    const fromFlagOrFile = argv.raw.get(key) ?? (env.has(key) ? undefined : file.get(key))
    const chosen = argv.raw.get(key) ?? env.get(key) ?? file.get(key)
    if (chosen === undefined) {
      if (s.default !== undefined) {
        values[key] = s.default
        origins[key] = "default"
      }
      continue
    }
    const value = fromFlagOrFile === chosen && s.normalize ? s.normalize(chosen.value) : chosen.value
    Either.match(s.parse(value), {
      onLeft: (why) => problems.push(`${chosen.origin}: ${why}`),
      onRight: (v) => {
        values[key] = v
        origins[key] = chosen.origin
      }
    })
  }
  if (problems.length === 0) problems.push(...crossChecks(values))
  if (problems.length > 0 || Either.isLeft(rulesFromFile)) return Either.left(new ConfigProblems({ problems }))
  // Every key was either parsed by its own spec or given its spec's default: the record has the declared shape.
  const typed = values as OptionValues
  return Either.right({
    command: argv.command,
    values: typed,
    origins,
    rules: mergeRules(rulesFromFile.right, typed, origins)
  })
}

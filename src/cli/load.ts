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
import { isOptionKey, OPTION_KEYS, type OptionKey, OPTIONS, type OptionSpec, type OptionValues } from "./options.ts"

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

/** The table, each entry typed by its own option's value: `SPECS[key].parse` gives an `OptionValues[key]`. */
const SPECS: { readonly [K in OptionKey]: OptionSpec<OptionValues[K]> } = OPTIONS
const BY_FLAG = new Map(OPTION_KEYS.map((k) => [SPECS[k].flag, k]))

interface Raw {
  readonly value: unknown
  readonly origin: string
}

/** How `parseArgs` reads each flag: with a value or without, once or repeated. */
const ARG_OPTIONS = Object.fromEntries([
  ...OPTION_KEYS.map(
    (k) =>
      [
        SPECS[k].flag,
        { type: SPECS[k].boolean === true ? "boolean" : "string", multiple: SPECS[k].multiple === true }
      ] as const
  ),
  ["help", { type: "boolean", short: "h" }],
  ["version", { type: "boolean" }]
])

type Token = NonNullable<ReturnType<typeof parseArgs>["tokens"]>[number]

/** Puts a flag's value into `raw`; false for an unknown flag. Unknown flags and missing values are problems. */
const takeFlag = (token: Extract<Token, { kind: "option" }>, raw: Map<OptionKey, Raw>, problems: Array<string>) => {
  const key = BY_FLAG.get(token.name)
  if (key === undefined) {
    problems.push(`${token.rawName}: unknown option${suggest(token.name, [...BY_FLAG.keys()], "--")}`)
    return false
  }
  if (SPECS[key].boolean === true) {
    raw.set(key, { value: token.value ?? true, origin: token.rawName })
  } else if (token.value === undefined) {
    problems.push(`${token.rawName}: needs a value (${SPECS[key].valueName})`)
  } else if (SPECS[key].multiple === true) {
    const before = raw.get(key)?.value
    raw.set(key, { value: [...(Array.isArray(before) ? before : []), token.value], origin: token.rawName })
  } else {
    raw.set(key, { value: token.value, origin: token.rawName })
  }
  return true
}

/** The command the words after the flags name (`run` when none does); any other word is a problem. */
const commandOf = (words: ReadonlyArray<string>, problems: Array<string>): Command => {
  const [first, ...extra] = words
  if (first === undefined) return "run"
  if (!isCommand(first)) {
    problems.push(`unknown command ${JSON.stringify(first)}: the commands are run (the default) and demo`)
  }
  for (const e of extra) problems.push(`unexpected argument ${JSON.stringify(e)}`)
  return isCommand(first) ? first : "run"
}

/** Parses argv into raw values by option key; unknown flags and missing values are problems. */
const fromArgv = (argv: ReadonlyArray<string>, problems: Array<string>) => {
  const raw = new Map<OptionKey, Raw>()
  const tokens = parseArgs({
    args: [...argv],
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: ARG_OPTIONS
  }).tokens
  let asked: "help" | "version" | undefined
  const valuesOfUnknown = new Set<number>()
  for (const [at, token] of tokens.entries()) {
    if (token.kind !== "option") continue
    if (token.name === "help") asked = "help"
    else if (token.name === "version") asked = asked ?? "version"
    else if (!takeFlag(token, raw, problems)) {
      // `--sorce kube`: the word after an unknown flag is taken for its value, not for a command.
      const next = tokens[at + 1]
      if (token.value === undefined && next?.kind === "positional") valuesOfUnknown.add(next.index)
    }
  }
  const words = tokens.flatMap((t) => (t.kind === "positional" && !valuesOfUnknown.has(t.index) ? [t.value] : []))
  const command = commandOf(words, problems)
  return { command: asked ?? command, raw }
}

const fromEnv = (env: LoadInput["env"]) => {
  const raw = new Map<OptionKey, Raw>()
  for (const key of OPTION_KEYS) {
    for (const source of SPECS[key].env) {
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
    const key = isOptionKey(name) ? name : undefined
    const section = SPECS[key ?? "config"].fileSection
    if (RULES_SECTIONS.some((r) => r === name)) {
      sections[name] = value
    } else if (key === undefined || key === "config") {
      const known = [
        ...OPTION_KEYS.filter((k) => k !== "config" && SPECS[k].fileSection === undefined),
        ...RULES_SECTIONS
      ]
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
const crossChecks = (v: OptionValues): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const ms = Duration.toMillis
  // The server is asked for whole seconds, at least one.
  if (ms(v.watchIdleTimeout) <= 2 * Math.max(1000, ms(v.watchTimeout))) {
    problems.push(
      "--watch-idle-timeout: must be longer than twice --watch-timeout: the server ends a quiet watch only after up " +
        "to twice --watch-timeout, and a watch ended sooner for silence would look dead"
    )
  }
  if (ms(v.stallTimeout) <= ms(v.watchIdleTimeout)) {
    problems.push(
      "--stall-timeout: must be longer than --watch-idle-timeout, so that a silent watch is restarted before the pod is"
    )
  }
  if ((v.otlpUsername === undefined) !== (v.otlpPassword === undefined)) {
    problems.push("--otlp-username and --otlp-password: basic authentication needs both")
  }
  if (v.leaderElect) problems.push(...leaderChecks(v))
  return problems
}

/** What `--leader-elect` needs of the other options. */
const leaderChecks = (v: OptionValues): ReadonlyArray<string> => {
  const problems: Array<string> = []
  if (v.lease === undefined) problems.push("--leader-elect: needs --lease NAMESPACE/NAME")
  const timings = {
    leaseDuration: v.leaseDuration,
    renewDeadline: v.leaseRenewDeadline,
    retryPeriod: v.leaseRetryPeriod
  }
  for (const rule of brokenTimingRules(timings)) {
    problems.push(`${LEASE_FLAG[rule.shorter]}: must be shorter than ${LEASE_FLAG[rule.longer]}: ${rule.why}`)
  }
  if (v.checkpoint._tag === "File") {
    problems.push(
      "--checkpoint file:...: replicas under --leader-elect need a shared checkpoint: use configmap:NAMESPACE/NAME"
    )
  }
  return problems
}

/** The values parsed so far: an option is missing until it has one. */
type Decoded = { -readonly [K in OptionKey]?: OptionValues[K] }

/** Whether every option has its value; one without a default may be absent, and is read as `undefined`. */
const isComplete = (values: Decoded): values is OptionValues =>
  OPTION_KEYS.every((key) => key in values || SPECS[key].default === undefined)

/** Where the raw values came from, in the order that decides: flags, then the environment, then the file. */
interface Given {
  readonly argv: ReadonlyMap<OptionKey, Raw>
  readonly env: ReadonlyMap<OptionKey, Raw>
  readonly file: ReadonlyMap<OptionKey, Raw>
}

/** Puts into `values` the option's value as given (parsed, or a problem) or its default. */
const decodeOption = <K extends OptionKey>(
  key: K,
  given: Given,
  into: { readonly values: Decoded; readonly origins: Partial<Record<OptionKey, string>> },
  problems: Array<string>
): void => {
  const s = SPECS[key]
  const fromFlagOrFile = given.argv.get(key) ?? (given.env.has(key) ? undefined : given.file.get(key))
  const chosen = given.argv.get(key) ?? given.env.get(key) ?? given.file.get(key)
  if (chosen === undefined) {
    if (s.default !== undefined) {
      into.values[key] = s.default
      into.origins[key] = "default"
    }
    return
  }
  const value = fromFlagOrFile === chosen && s.normalize ? s.normalize(chosen.value) : chosen.value
  Either.match(s.parse(value), {
    onLeft: (why) => problems.push(`${chosen.origin}: ${why}`),
    onRight: (v) => {
      into.values[key] = v
      into.origins[key] = chosen.origin
    }
  })
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
  const rulesFromFile = decodeRulesConfig(fileData.sections)
  if (Either.isLeft(rulesFromFile)) {
    for (const p of rulesFromFile.left) problems.push(`${configPath?.value ?? "config"}: ${p}`)
  }
  const values: Decoded = {}
  const origins: Partial<Record<OptionKey, string>> = {}
  const given = { argv: argv.raw, env, file: fileData.raw }
  for (const key of OPTION_KEYS) decodeOption(key, given, { values, origins }, problems)
  if (problems.length > 0 || Either.isLeft(rulesFromFile) || !isComplete(values)) {
    return Either.left(new ConfigProblems({ problems }))
  }
  const between = crossChecks(values)
  if (between.length > 0) return Either.left(new ConfigProblems({ problems: between }))
  return Either.right({
    command: argv.command,
    values,
    origins,
    rules: mergeRules(rulesFromFile.right, values, origins)
  })
}

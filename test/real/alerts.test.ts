/**
 * The chart's PrometheusRule, rendered by the real helm and run by the real promtool: `promtool check rules` on the
 * rendered groups, `promtool test rules` with the unit tests of test/real/alerts/ (series as Prometheus labels them
 * when the chart's ServiceMonitor scrapes: job is the Service's name), and every metric the alerts name checked
 * against what a running collector serves on /metrics.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { parse, stringify } from "yaml"
import { REPO_ROOT } from "../support/cli.ts"
import { eventually } from "../support/collector.ts"
import { probeBaseUrl, spawnCollector } from "../support/processes.ts"
import { stopProcess, track } from "./support/children.ts"
import { goBinary } from "./support/goBinaries.ts"

/** The release the unit tests' series belong to: its ServiceMonitor labels them job="events-k8s-event-collector". */
const RELEASE = "events"
const NAMESPACE = "observability"
const CHART = join(REPO_ROOT, "charts", "k8s-event-collector")
const UNIT_TESTS = join(REPO_ROOT, "test", "real", "alerts")

interface AlertRule {
  readonly alert: string
  readonly expr: string
  readonly for?: string
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
}

interface UnitTestFile {
  readonly rule_files: ReadonlyArray<string>
  readonly tests: ReadonlyArray<{
    readonly input_series: ReadonlyArray<{ readonly series: string }>
    readonly alert_rule_test?: ReadonlyArray<{
      readonly alertname: string
      readonly exp_alerts?: ReadonlyArray<unknown>
    }>
  }>
}

const dirs: Array<string> = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** `helm template` of the PrometheusRule alone, with `--set` pairs on top of prometheusRule.enabled=true. */
const renderRule = (sets: ReadonlyArray<string> = []) => {
  const args = ["template", RELEASE, CHART, "--namespace", NAMESPACE, "--show-only", "templates/prometheusrule.yaml"]
  for (const set of ["prometheusRule.enabled=true", ...sets]) args.push("--set", set)
  const rule = parse(execFileSync(goBinary("helm"), args, { encoding: "utf8" })) as {
    readonly kind: string
    readonly metadata: {
      readonly name: string
      readonly namespace: string
      readonly labels: Readonly<Record<string, string>>
    }
    readonly spec: { readonly groups: ReadonlyArray<{ readonly name: string; readonly rules: Array<AlertRule> }> }
  }
  const alerts = rule.spec.groups.flatMap((g) => g.rules)
  return { rule, alerts, groups: rule.spec.groups }
}

/** The groups as a Prometheus rules file in a fresh folder. */
const writeRulesFile = (groups: unknown): { dir: string; rules: string } => {
  const dir = mkdtempSync(join(tmpdir(), "kec-alerts-"))
  dirs.push(dir)
  const rules = join(dir, "rules.yaml")
  writeFileSync(rules, stringify({ groups }, { lineWidth: 0 }))
  return { dir, rules }
}

const promtool = (args: ReadonlyArray<string>, cwd: string) => {
  const r = spawnSync(goBinary("promtool"), args, { cwd, encoding: "utf8" })
  return { code: r.status, output: `${r.stdout}${r.stderr}` }
}

const unitTestFiles = (folder: string): ReadonlyArray<string> =>
  readdirSync(folder)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(folder, f))

const readUnitTest = (file: string): UnitTestFile => parse(readFileSync(file, "utf8")) as UnitTestFile

/**
 * Copies the unit tests beside the rendered rules and runs `promtool test rules` on them. Copied as written, not
 * rewritten: a YAML 1.2 reader takes series values such as `0x20` for hexadecimal numbers, promtool for 0 repeated.
 */
const runUnitTests = (files: ReadonlyArray<string>, dir: string, rules: string) => {
  const copies = files.map((file) => {
    // Relative to the test file: the copy beside the rendered rules reads them.
    expect(readUnitTest(file).rule_files, file).toEqual([basename(rules)])
    const copy = join(dir, basename(file))
    copyFileSync(file, copy)
    return copy
  })
  return promtool(["test", "rules", ...copies], dir)
}

const METRIC = /\bk8s_event_collector_[a-z0-9_]+/g

describe("the chart's PrometheusRule", () => {
  const { rule, alerts, groups } = renderRule()

  it("is the release's, in its namespace, and passes promtool check rules with every lint fatal", () => {
    expect(rule.kind).toBe("PrometheusRule")
    expect(rule.metadata).toMatchObject({ name: `${RELEASE}-k8s-event-collector`, namespace: NAMESPACE })
    const { dir, rules } = writeRulesFile(groups)
    const r = promtool(["check", "rules", "--lint=all", "--lint-fatal", rules], dir)
    expect(r.output).toContain(`SUCCESS: ${alerts.length} rules found`)
    expect(r.code, r.output).toBe(0)
  })

  it("selects this release's job and namespace in every expression, and says what to do in every alert", () => {
    const selector = `job="${RELEASE}-k8s-event-collector", namespace="${NAMESPACE}"`
    for (const a of alerts) {
      const selectors = a.expr.match(/\{[^}]*\}/g) ?? []
      expect(selectors.length, a.alert).toBeGreaterThan(0)
      for (const s of selectors) expect(s, `${a.alert}: ${s}`).toContain(selector)
      expect(["warning", "critical"], a.alert).toContain(a.labels["severity"])
      expect(Object.keys(a.annotations).sort(), a.alert).toEqual(["description", "summary"])
    }
  })

  it("takes additionalLabels onto the object and alertLabels onto every alert, without overriding its severity", () => {
    const labelled = renderRule([
      "prometheusRule.additionalLabels.release=kube-prometheus-stack",
      "prometheusRule.alertLabels.team=platform",
      "prometheusRule.alertLabels.severity=x"
    ])
    expect(labelled.rule.metadata.labels).toMatchObject({
      "app.kubernetes.io/instance": RELEASE,
      release: "kube-prometheus-stack"
    })
    expect(labelled.alerts.map((a) => a.alert)).toEqual(alerts.map((a) => a.alert))
    for (const [i, a] of labelled.alerts.entries()) {
      expect(a.labels, a.alert).toEqual({ team: "platform", severity: alerts[i]?.labels["severity"] })
    }
  })

  it("fires each alert when it should and not when it should not (promtool test rules)", () => {
    const files = unitTestFiles(UNIT_TESTS)
    // Each alert has a case that fires it and one that must not: a new alert without tests fails here.
    const cases = files.flatMap((f) => readUnitTest(f).tests.flatMap((t) => t.alert_rule_test ?? []))
    for (const a of alerts) {
      const mine = cases.filter((c) => c.alertname === a.alert)
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${a.alert} fires in some test`
      ).toBe(true)
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${a.alert} stays quiet in some test`
      ).toBe(true)
    }
    const { dir, rules } = writeRulesFile(groups)
    const r = runUnitTests(files, dir, rules)
    expect(r.code, r.output).toBe(0)
    expect(r.output).toContain("SUCCESS")
  })

  it("without a checkpoint: no checkpoint alert, and records dropped on shutdown are lost, so they alert", () => {
    const without = renderRule(["checkpoint.enabled=false"])
    expect(without.alerts.map((a) => a.alert)).not.toContain("K8sEventCollectorCheckpointFailing")
    const { dir, rules } = writeRulesFile(without.groups)
    const r = runUnitTests(unitTestFiles(join(UNIT_TESTS, "without-checkpoint")), dir, rules)
    expect(r.code, r.output).toBe(0)
  })

  it("names only metrics a running collector serves, and so do the unit tests' series", async () => {
    const demo = spawnCollector(["demo", "--listen", "127.0.0.1:0"])
    track(demo.child)
    try {
      let body = ""
      await eventually(async () => {
        const base = probeBaseUrl(demo)
        expect(base, demo.output.stderr).toBeDefined()
        const res = await fetch(`${base}/metrics`)
        expect(res.status).toBe(200)
        body = await res.text()
      }, 60_000)
      const served = new Set<string>()
      for (const [, name, type] of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        if (name === undefined) continue
        served.add(name)
        if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) served.add(name + s)
      }
      const named = new Set(alerts.flatMap((a) => a.expr.match(METRIC) ?? []))
      // Sanity: the expressions were read at all, and the served names include the alerts' core metrics.
      expect(named.size).toBeGreaterThanOrEqual(5)
      for (const name of named) expect(served, `${name}, named by an alert`).toContain(name)
      const files = [...unitTestFiles(UNIT_TESTS), ...unitTestFiles(join(UNIT_TESTS, "without-checkpoint"))]
      for (const file of files) {
        for (const s of readUnitTest(file).tests.flatMap((t) => t.input_series)) {
          for (const name of s.series.match(METRIC) ?? []) expect(served, `${name}, in ${file}`).toContain(name)
        }
      }
    } finally {
      await stopProcess(demo.child)
    }
  })
})

/**
 * The chart's own files, without helm: values.schema.json's `config` and the README's tables are what
 * `npm run chart:docs` derives from the options table and values.yaml; every value is documented; the chart runs
 * this version. (helm itself lints, renders and applies the chart in npm run test:real.)
 */
import { readdirSync, readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { OPTIONS } from "../../src/cli/options.ts"
import {
  CHART_DERIVED,
  CHART_FILES,
  configSchema,
  renderedReadme,
  renderedSchema,
  undocumentedValues,
  valueRows
} from "../../scripts/chartDocs.ts"
import { at, obj, readJson, readText, readYaml, text } from "./support.ts"

const valuesYaml = readFileSync(CHART_FILES.values, "utf8")
const values = obj(parse(valuesYaml), "values.yaml")

describe("values.schema.json and README.md", () => {
  it("are what npm run chart:docs writes", () => {
    expect(readFileSync(CHART_FILES.schema, "utf8")).toBe(renderedSchema(readFileSync(CHART_FILES.schema, "utf8")))
    expect(readFileSync(CHART_FILES.readme, "utf8")).toBe(
      renderedReadme(readFileSync(CHART_FILES.readme, "utf8"), valuesYaml)
    )
  })

  it("document every value of values.yaml", () => {
    expect(undocumentedValues(valuesYaml)).toEqual([])
    const readme = readFileSync(CHART_FILES.readme, "utf8")
    for (const row of valueRows(valuesYaml)) expect(readme).toContain(`| \`${row.key}\` |`)
  })

  it("allow under config exactly the collector's options that the chart does not set itself", () => {
    const properties = obj(at(configSchema(), "properties"), "config properties")
    const allowed = Object.entries(OPTIONS)
      .filter(([key]) => !(key in CHART_DERIVED))
      .map(([key, spec]) => spec.fileSection?.split(".")[0] ?? key)
    expect(Object.keys(properties).sort()).toEqual([...new Set([...allowed, "severity"])].sort())
    for (const derived of ["otlpEndpoint", "lease", "checkpoint", "leaderElect", "listen", "otlpPassword"]) {
      expect(properties[derived], derived).toBeUndefined()
    }
  })

  it("schema every top-level value of values.yaml, and nothing values.yaml does not have", () => {
    const schema = obj(readJson("charts/k8s-event-collector/values.schema.json"), "schema")
    const properties = Object.keys(obj(schema["properties"], "schema properties")).filter((k) => k !== "global")
    expect(properties.sort()).toEqual(Object.keys(values).sort())
    expect(schema["additionalProperties"]).toBe(false)
  })
})

describe("Chart.yaml", () => {
  it("is an apiVersion v2 application chart whose appVersion is the collector's version", () => {
    const chart = obj(readYaml("charts/k8s-event-collector/Chart.yaml"), "Chart.yaml")
    expect(chart["apiVersion"]).toBe("v2")
    expect(chart["type"]).toBe("application")
    expect(chart["appVersion"]).toBe(text(at(readJson("package.json"), "version"), "version"))
  })

  it("ships the Grafana dashboards that docker-compose.yml mounts, and every template is YAML or a helper", () => {
    expect(readdirSync(new URL("../../charts/k8s-event-collector/dashboards/", import.meta.url))).toContain(
      "k8s-events.json"
    )
    expect(readText("docker-compose.yml")).toContain("./charts/k8s-event-collector/dashboards:/etc/grafana/dashboards")
    for (const file of readdirSync(new URL("../../charts/k8s-event-collector/templates/", import.meta.url))) {
      expect(file).toMatch(/\.(yaml|tpl|txt)$/)
    }
  })
})

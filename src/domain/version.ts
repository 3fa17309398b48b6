/**
 * The collector's version, from package.json and nowhere else: `--version`, `--help` and the instrumentation scope
 * of every record say it, the chart's appVersion repeats it (test/deploy/chart.test.ts), and esbuild embeds it in
 * the bundle (scripts/build.ts), which reads no package.json at run time.
 */
import packageJson from "../../package.json" with { type: "json" }

export const COLLECTOR_VERSION: string = packageJson.version

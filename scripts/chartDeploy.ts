/**
 * `npm run chart:deploy`: writes deploy/k8s-event-collector.yaml, the chart rendered with its default values, with
 * the helm that npm run test:real uses (built from its Go module into the test cache when missing; HELM_BIN
 * overrides it). npm run test:real fails when deploy/ differs from this rendering.
 */
import { buildGoBinaries } from "../test/real/support/goBinaries.ts"
import { writeDeploy } from "../test/real/support/chart.ts"

buildGoBinaries(["helm"])
writeDeploy()

/** Global setup of `npm run test:real`: builds the real components once, before any test's clock starts. */
import { buildGoBinaries } from "./support/goBinaries.ts"

export default function setup(): void {
  buildGoBinaries()
}

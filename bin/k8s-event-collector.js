#!/usr/bin/env node
// Node 24 runs the TypeScript sources directly (type stripping). The image runs the bundle `npm run build` makes.
import "../src/main.ts"

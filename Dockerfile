# syntax=docker/dockerfile:1
#
# k8s-event-collector: the build stage bundles the TypeScript sources and their production dependencies into ES
# modules with esbuild (`npm run build`, scripts/build.ts); the runtime image holds only that bundle and its
# launcher, which runs it with the V8 flags scripts/build.ts names (NODE_FLAGS; docs/PERFORMANCE.md says why).
#
#   docker build -t k8s-event-collector .
#   docker run --rm k8s-event-collector demo          # against the simulated cluster
#
# The node version is the one package.json's `node` devDependency pins for development and CI.
ARG NODE_VERSION=24.21.0

# ---- build ----------------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The workspace package's manifest too: npm ci links it into node_modules (packages/sim, the simulator of `demo`).
COPY packages/sim/package.json ./packages/sim/
# Install exactly the lock file, devDependencies included (esbuild). Install scripts stay off: esbuild finds its
# binary in its platform package without one, no production dependency needs one (package.json's allowScripts
# says the same), and the `node` package's would download a second Node (the image has it).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY packages/sim/src ./packages/sim/src
# dist/: main.mjs, its chunks, and the launcher dist/k8s-event-collector. Nothing in it reads node_modules.
RUN npm run build

# ---- runtime --------------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-slim
# Nothing is written at run time; HOME and TMPDIR on /tmp keep a read-only root filesystem working (in
# Kubernetes /tmp is an emptyDir, in Compose a tmpfs).
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
# Owned by root and only readable by the runtime user: the process cannot change its own code. The bundle is
# self-contained: no node_modules, no sources.
COPY --from=build /app/dist ./dist
# A numeric non-root uid (the distroless "nonroot" convention), so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# /healthz, /readyz and /metrics (--listen, 0.0.0.0:8080 by default).
EXPOSE 8080
# The slim image has no curl: Node's fetch asks /healthz. (Kubernetes ignores this and uses the Deployment's
# probes; Docker and Compose use it.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The launcher execs `node <NODE_FLAGS> dist/main.mjs "$@"`, so Node is PID 1 and handles SIGTERM itself: it stops
# reading, delivers what is queued, saves the checkpoint, exits 0. Arguments (demo, --config ...) go to the collector.
ENTRYPOINT ["/app/dist/k8s-event-collector"]

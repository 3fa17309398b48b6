# syntax=docker/dockerfile:1
#
# k8s-event-collector: Node 24 runs the TypeScript sources directly (type stripping), so the image holds the
# sources and the production dependencies, nothing built.
#
#   docker build -t k8s-event-collector .
#   docker run --rm k8s-event-collector demo          # against the simulated cluster
#
# The node version is the one package.json's `node` devDependency pins for development and CI.
ARG NODE_VERSION=24.21.0

# ---- dependencies ---------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Install exactly the lock file, then drop the devDependencies (vitest, typescript, and the `node` package, whose
# only job is to provide Node 24 on machines that lack it: the image has it). Install scripts stay off: no
# production dependency needs one (package.json's allowScripts says the same), and the `node` package's would
# download a second Node.
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npm prune --omit=dev --no-audit --no-fund --ignore-scripts \
 && test ! -e node_modules/node

# ---- runtime --------------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-slim
# Nothing is written at run time; HOME and TMPDIR on /tmp keep a read-only root filesystem working (in
# Kubernetes /tmp is an emptyDir, in Compose a tmpfs).
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
# Owned by root and only readable by the runtime user: the process cannot change its own code.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY src ./src
# A numeric non-root uid (the distroless "nonroot" convention), so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# /healthz, /readyz and /metrics (--listen, 0.0.0.0:8080 by default).
EXPOSE 8080
# The slim image has no curl: Node's fetch asks /healthz. (Kubernetes ignores this and uses the Deployment's
# probes; Docker and Compose use it.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself: it stops reading, delivers what is queued, saves the checkpoint, exits 0.
ENTRYPOINT ["node", "src/main.ts"]

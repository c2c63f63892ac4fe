# Parley server image. See docs/deploy.md.
#
#   docker build -t parley .
#   docker run --rm -p 8080:8080 -v parley-data:/data parley                 # one node, embedded SQLite
#   docker run --rm parley migrate                                           # with DATABASE_URL=postgres://… set
#
# One stage is enough: there is no build step. Node 24 runs the .ts sources
# directly (type stripping). Locally, Node 24 comes from the `node`
# devDependency; in the image it comes from the base image, so the
# devDependencies (the `node` package, TypeScript, vitest, …) are left out.
FROM node:24-slim

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data

WORKDIR /app

# Dependencies first, so that a change to src/ reuses this layer. --ignore-scripts:
# the `prepare` script builds the web client with Vite, a devDependency; the
# image serves the API only (`/` answers that the web client is not built).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

COPY bin/ ./bin/
COPY src/ ./src/

# DATA_DIR holds the SQLite store and the generated jwt-secret when they are used
# (single node). In a cluster, with DATABASE_URL and JWT_SECRET set, nothing is
# written there.
RUN mkdir -p /data && chown node:node /data

# The base image's unprivileged `node` user (uid 1000, gid 1000).
USER node

EXPOSE 8080

# Liveness only: /healthz answers while the process runs. Readiness (/readyz) is for
# load balancers; an orchestrator such as Kubernetes ignores HEALTHCHECK and uses
# its own probes. If you pass --port instead of PORT, adjust this.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# node is PID 1 and handles SIGTERM itself (the drain); no shell in between.
ENTRYPOINT ["node", "src/cli.ts"]
CMD ["serve"]

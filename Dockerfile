# One image for every service; docker-compose.yml picks the command (npm run start:<service>, or the
# one-shot `npx prisma migrate deploy`). TypeScript runs with tsx: there is no build step.
FROM node:20-slim
WORKDIR /app
# NODE_ENV=production: no made-up secrets, no demo data (lib/deployment.ts). HUB_HOST stays at its
# default 127.0.0.1: a container that must be reached from outside says so (docker-compose.yml sets
# HUB_HOST=0.0.0.0 per service: the subgraphs on an internal network, only the gateway published).
ENV NODE_ENV=production CHECKPOINT_DISABLE=1
# Dependencies first (cached while package*.json are unchanged). --ignore-scripts: the root
# postinstall (prisma generate) needs the schema, copied below; no dependency needs its install script.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
# The Prisma client is generated at build time (prisma/generated is not in git); nothing is
# downloaded: prisma.config.ts points the CLI at the WASM schema engine (prisma/engine/).
# The services run as the unprivileged `node` user; the only place they write is .data/ (the
# gateway's signing keys when HUB_SIGNING_KEYS is not set).
RUN npx prisma generate && mkdir -p .data && chown node:node .data
USER node
# Only the gateway is meant to be published; the subgraphs' ports are for the internal network.
EXPOSE 4000
CMD ["npm", "run", "start:gateway"]

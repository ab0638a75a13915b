# One image for every service; docker-compose.yml picks the command (npm run start:<service>, or the
# one-shot `npx prisma migrate deploy`). TypeScript runs with tsx: there is no build step.
FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production CHECKPOINT_DISABLE=1 HUB_HOST=0.0.0.0
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
EXPOSE 4000 4001 4002 4003
CMD ["npm", "run", "start:gateway"]

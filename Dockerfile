# One image for every service; docker-compose picks the command (npm run start:<service>).
FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production CHECKPOINT_DISABLE=1
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx prisma generate
EXPOSE 4000 4001 4002 4003
CMD ["npm", "run", "start:gateway"]

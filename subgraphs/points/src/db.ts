import type { PrismaClient } from "../../../lib/db.ts";

// The points subgraph's Prisma client, chosen at start-up (PostgreSQL pool or the shared PGlite).
// Code here reads and writes only the "points" Postgres schema.
let client: PrismaClient | undefined;

export function usePrisma(c: PrismaClient) {
  client = c;
}

export function prisma(): PrismaClient {
  if (!client) throw new Error("points subgraph: database not initialised (call usePrisma first)");
  return client;
}

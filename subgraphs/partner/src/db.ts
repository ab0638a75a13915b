import type { PrismaClient } from "../../../lib/db.ts";

// The partner subgraph's Prisma client, chosen at start-up (PostgreSQL pool or the shared PGlite).
// Code here reads and writes only the "partner" Postgres schema.
let client: PrismaClient | undefined;

export function usePrisma(c: PrismaClient) {
  client = c;
}

export function prisma(): PrismaClient {
  if (!client) throw new Error("partner subgraph: database not initialised (call usePrisma first)");
  return client;
}

import type { PrismaClient } from "../../../lib/db.ts";

// The member subgraph's Prisma client, chosen at start-up (PostgreSQL pool or the shared PGlite).
// Code here reads and writes only the "member" Postgres schema.
let client: PrismaClient | undefined;

export function usePrisma(c: PrismaClient) {
  client = c;
}

export function prisma(): PrismaClient {
  if (!client) throw new Error("member subgraph: database not initialised (call usePrisma first)");
  return client;
}

/**
 * The client for plumbing reads that are not a request's work: the gateway's revocation-feed polls
 * (every second). The embedded hub gives it the relays' client, so tests' per-request query counts
 * (N+1 guards) never see a poll that happened to run meanwhile; alone, it is the subgraph's client.
 */
let plumbing: PrismaClient | undefined;

export function usePlumbingPrisma(c: PrismaClient) {
  plumbing = c;
}

export const plumbingPrisma = (): PrismaClient => plumbing ?? prisma();

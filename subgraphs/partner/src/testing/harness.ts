import { randomUUID } from "node:crypto";
import type { Database, PrismaClient } from "../../../../lib/db.ts";
import type { Principal } from "../../../../lib/principal.ts";
import type { RunningSubgraph } from "../../../../lib/subgraph-server.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, callInternal, callSubgraph, memberPrincipal, partnerPrincipal, testInternalKey } from "../../../../tests/support/subgraph.ts";
import { startPartnerSubgraph } from "../server.ts";
import { registerPartner } from "../services/partners.ts";

/**
 * Test harness for the partner subgraph: a fresh database, the subgraph on port 0, a counter of
 * Prisma operations (N+1 guards), and fixture builders that write through the domain services.
 */
export interface PartnerHarness {
  db: Database;
  subgraph: RunningSubgraph;
  url: string;
  queries(): number;
  as<T = Record<string, unknown>>(principal: Principal, query: string, variables?: Record<string, unknown>): ReturnType<typeof callSubgraph<T>>;
  internal(route: string, body: unknown): ReturnType<typeof callInternal>;
  close(): Promise<void>;
}

export async function startPartnerHarness(): Promise<PartnerHarness> {
  const db = await freshDatabase();
  let queries = 0;
  const counted = db.client().$extends({
    query: {
      async $allOperations({ args, query }) {
        queries++;
        return query(args);
      },
    },
  }) as unknown as PrismaClient;
  const subgraph = await startPartnerSubgraph({ prisma: counted, internalKey: testInternalKey });
  return {
    db,
    subgraph,
    url: subgraph.url,
    queries: () => queries,
    as: (principal, query, variables = {}) => callSubgraph(subgraph.url, principal, query, variables),
    internal: (route, body) => callInternal(subgraph.url, route, body),
    async close() {
      await subgraph.close();
      await db.close();
    },
  };
}

let seq = 0;
/** Registers a partner through the domain service (unique name and slug per call). */
export async function newPartner(opts: { name?: string; category?: string; issuePrice?: string; redemptionRate?: string } = {}) {
  seq++;
  const name = opts.name ?? `Partner ${seq} ${randomUUID().slice(0, 6)}`;
  return registerPartner(adminPrincipal(), {
    name,
    category: opts.category ?? "ECOMMERCE",
    issuePrice: opts.issuePrice ?? "0.015",
    redemptionRate: opts.redemptionRate ?? "0.01",
  });
}

export const codes = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => (r.errors ?? []).map((e) => e.extensions?.code);

export { adminPrincipal, memberPrincipal, partnerPrincipal };

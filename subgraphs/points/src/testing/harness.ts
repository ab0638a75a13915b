import { randomUUID } from "node:crypto";
import type { Database } from "../../../../lib/db.ts";
import { applyEvent, type DomainEvent } from "../../../../lib/events/inbox.ts";
import type { Principal } from "../../../../lib/principal.ts";
import type { RunningSubgraph } from "../../../../lib/subgraph-server.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, callInternal, callSubgraph, memberPrincipal, partnerPrincipal, testInternalKey } from "../../../../tests/support/subgraph.ts";
import { prisma } from "../db.ts";
import { startPointsSubgraph } from "../server.ts";
import { eventConsumer } from "../events.ts";

/** Test harness for the points subgraph: a fresh database, the subgraph on port 0, event delivery as the relay would. */
export interface PointsHarness {
  db: Database;
  subgraph: RunningSubgraph;
  as<T = Record<string, unknown>>(principal: Principal, query: string, variables?: Record<string, unknown>): ReturnType<typeof callSubgraph<T>>;
  /** Delivers events to POST /internal/events (as the member/partner relays do). */
  deliver(...events: { type: string; payload: unknown }[]): Promise<void>;
  close(): Promise<void>;
}

export async function startPointsHarness(): Promise<PointsHarness> {
  const db = await freshDatabase();
  const subgraph = await startPointsSubgraph({ prisma: db.client(), internalKey: testInternalKey });
  return {
    db,
    subgraph,
    as: (principal, query, variables = {}) => callSubgraph(subgraph.url, principal, query, variables),
    async deliver(...events) {
      const body: DomainEvent[] = events.map((e) => ({ id: randomUUID(), type: e.type, payload: e.payload, createdAt: new Date().toISOString() }));
      const r = await callInternal(subgraph.url, "events", { events: body });
      const results = (r.body as { results: { ok: boolean; error?: string }[] }).results;
      const failed = results.filter((x) => !x.ok);
      if (failed.length) throw new Error(`event delivery failed: ${JSON.stringify(failed)}`);
    },
    async close() {
      await subgraph.close();
      await db.close();
    },
  };
}

/** Applies events directly through the handlers (no server), for service-level tests. */
export async function applyEvents(...events: { type: string; payload: unknown }[]): Promise<void> {
  for (const e of events) {
    await prisma().$transaction((tx) => applyEvent(eventConsumer, tx, { id: randomUUID(), type: e.type, payload: e.payload, createdAt: new Date().toISOString() }));
  }
}

export const enrolled = (memberId: string, partnerId: string | null = null) => ({
  type: "member.enrolled",
  payload: { memberId, email: `${memberId}@example.com`, joinedAt: new Date().toISOString(), partnerId },
});
export const linked = (memberId: string, partnerId: string) => ({ type: "member.linked", payload: { memberId, partnerId, externalRef: "x", linkedAt: new Date().toISOString() } });
export const registered = (partnerId: string, earnRate = "1") => ({ type: "partner.registered", payload: { partnerId, name: "P", slug: "p", category: "ECOMMERCE", earnRate } });

export { adminPrincipal, memberPrincipal, partnerPrincipal };

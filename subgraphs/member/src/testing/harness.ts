import { randomUUID } from "node:crypto";
import type { Database, PrismaClient } from "../../../../lib/db.ts";
import type { Principal } from "../../../../lib/principal.ts";
import type { RunningSubgraph } from "../../../../lib/subgraph-server.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, callSubgraph, memberPrincipal, partnerPrincipal, testInternalKey } from "../../../../tests/support/subgraph.ts";
import type { MemberSettings } from "../config.ts";
import { prisma } from "../db.ts";
import { startMemberSubgraph } from "../server.ts";
import { type GrantConsentInput, grantConsent } from "../services/consents.ts";
import type { DataCategory, Purpose } from "../../../../lib/vocabulary.ts";
import { confirmPartnerLink, enrollMember, enrollMembers } from "../services/members.ts";

/**
 * Test harness for the member subgraph: a fresh database, the subgraph on port 0, a counter of
 * data-access log INSERTs, and fixture builders that write through the same service functions as
 * the API (and the demo seed). Reusable from e2e tests: the fixtures only need the member
 * subgraph's database client (`usePrisma`), not this server.
 */
export interface MemberHarness {
  db: Database;
  subgraph: RunningSubgraph;
  url: string;
  /** INSERT statements into the data-access log so far. */
  accessLogInserts(): number;
  /** Prisma operations (model queries and raw SQL) the subgraph has issued so far (N+1 guards). */
  queries(): number;
  /** GraphQL as `principal`, straight to the subgraph (signed like the gateway does). */
  as<T = Record<string, unknown>>(principal: Principal, query: string, variables?: Record<string, unknown>): ReturnType<typeof callSubgraph<T>>;
  close(): Promise<void>;
}

export async function startMemberHarness(settings: Partial<MemberSettings> = {}): Promise<MemberHarness> {
  const db = await freshDatabase();
  let inserts = 0;
  let queries = 0;
  // Count at the client, where every query of the subgraph passes.
  const counted = db.client().$extends({
    query: {
      async $allOperations({ args, query }) {
        queries++;
        return query(args);
      },
      dataAccessEvent: {
        async createMany({ args, query }) {
          inserts++;
          return query(args);
        },
        async create({ args, query }) {
          inserts++;
          return query(args);
        },
      },
    },
  }) as unknown as PrismaClient;
  const subgraph = await startMemberSubgraph({ prisma: counted, internalKey: testInternalKey, settings });
  return {
    db,
    subgraph,
    url: subgraph.url,
    accessLogInserts: () => inserts,
    queries: () => queries,
    as: (principal, query, variables = {}) => callSubgraph(subgraph.url, principal, query, variables),
    async close() {
      await subgraph.close();
      await db.close();
    },
  };
}

export const newPartnerId = () => randomUUID();

let seq = 0;
/** Enrols a member at a partner (a new email each call unless given) through the domain service. */
export async function enrolAt(partnerId: string, opts: { email?: string; externalRef?: string; displayName?: string; phone?: string; birthday?: string; joinedAt?: Date } = {}) {
  seq++;
  const email = opts.email ?? `member${seq}-${randomUUID().slice(0, 8)}@example.com`;
  const { member } = await enrollMember(
    partnerPrincipal(partnerId),
    {
      email,
      externalRef: opts.externalRef ?? `ref-${seq}-${randomUUID().slice(0, 8)}`,
      displayName: opts.displayName ?? `Member ${seq}`,
      phone: opts.phone ?? `+86138${String(10_000_000 + seq).slice(-8)}`,
      birthday: opts.birthday ?? "1990-04-01",
    },
    { joinedAt: opts.joinedAt },
  );
  return member;
}

/** Links an existing member to another partner: the partner's request by email, then the member's confirmation (as the seed must). */
export async function linkAt(partnerId: string, email: string, externalRef = `ref-${randomUUID().slice(0, 8)}`) {
  const [r] = await enrollMembers(partnerPrincipal(partnerId), [{ email, externalRef }]);
  if (!r || !("error" in r) || !r.error.linkPending) throw new Error(`expected a pending link request, got ${JSON.stringify(r)}`);
  const member = await prisma().member.findUniqueOrThrow({ where: { email }, select: { id: true } });
  return confirmPartnerLink(memberPrincipal(member.id), partnerId);
}

/** The member grants a consent through the domain service. */
export function consentTo(memberId: string, partnerId: string, categories: DataCategory[], purpose: Purpose, extra: Partial<GrantConsentInput> & { now?: Date } = {}) {
  const { now, ...input } = extra;
  return grantConsent(memberPrincipal(memberId), { partnerId, categories, purpose, noticeVersion: "2026-11", ...input }, { now });
}

export { adminPrincipal, memberPrincipal, partnerPrincipal };

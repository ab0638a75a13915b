// Helpers of the crash tests: the hub as separate processes (bench/processes.ts) on a PostgreSQL
// database, driven over HTTP exactly as clients drive it.
import { randomBytes, randomUUID } from "node:crypto";
import type { PrismaClient } from "../../lib/db.ts";

/** Crash tests kill processes and restart PostgreSQL: they need a real server, never PGlite. */
export function requirePostgres(): string {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new Error("tests/crash needs PostgreSQL: set DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres). `.ci/run` sets it; on PGlite these tests cannot run and must not pass silently.");
  }
  return url;
}

export interface GqlResult<T = any> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** POST /graphql; a network failure (a killed gateway) rejects. */
export async function gql<T = any>(gatewayUrl: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<GqlResult<T>> {
  const res = await fetch(gatewayUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...((await res.json()) as Omit<GqlResult<T>, "status">) };
}

/** The data of a result without errors (else throws with them). */
export function ok<T>(r: GqlResult<T>): T {
  if (r.errors?.length || !r.data) throw new Error(`GraphQL errors (HTTP ${r.status}): ${JSON.stringify(r.errors ?? r)}`);
  return r.data;
}

export async function clientToken(baseUrl: string, clientId: string, secret: string): Promise<string> {
  const res = await fetch(`${baseUrl}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: secret }) });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** Polls `cond` every 20 ms until it holds (or throws after `ms`). */
export async function until(what: string, cond: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function count(db: PrismaClient, sql: string, ...params: unknown[]): Promise<number> {
  const [r] = await db.$queryRawUnsafe<{ n: bigint | number }[]>(sql, ...params);
  return Number(r?.n ?? 0);
}

/**
 * A partner with its API client and `members` members enrolled by it (through the gateway, as the
 * admin and the partner), waiting until the points subgraph has their links (the events arrived).
 */
export async function setUpCoalition(gatewayBase: string, adminToken: string, db: PrismaClient, members: number) {
  const gw = `${gatewayBase}/graphql`;
  const slug = `crash-${randomBytes(3).toString("hex")}`;
  const partner = ok(
    await gql<{ registerPartner: { id: string } }>(gw, adminToken, `mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }`, {
      i: { name: "Crash Mart", category: "ECOMMERCE", slug, issuePrice: "0.0150", redemptionRate: "0.0100", earnRate: "1" },
    }),
  ).registerPartner;
  const client = ok(
    await gql<{ createApiClient: { clientId: string; clientSecret: string } }>(gw, adminToken, `mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }`, { p: partner.id }),
  ).createApiClient;
  const partnerToken = await clientToken(gatewayBase, client.clientId, client.clientSecret);
  const memberIds: string[] = [];
  for (let i = 0; i < members; i++) {
    const m = ok(
      await gql<{ enrollMember: { id: string } }>(gw, partnerToken, `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }`, {
        i: { email: `crash-${randomUUID()}@example.com`, externalRef: `C-${i}` },
      }),
    ).enrollMember;
    memberIds.push(m.id);
  }
  await until("the points subgraph's member links", async () => (await count(db, `SELECT count(*) AS n FROM "points"."MemberLink" WHERE "partnerId" = $1::uuid`, partner.id)) === members);
  return { partnerId: partner.id, partnerToken, memberIds, scope: `partner:${partner.id}` };
}

/** Waits until every outbox event of the three schemas is delivered (a killed relay's claims lapse after 30 s). */
export async function outboxesDrained(db: PrismaClient, ms = 120_000): Promise<void> {
  await until(
    "every outbox event delivered",
    async () =>
      (await count(
        db,
        `SELECT (SELECT count(*) FROM "member"."OutboxEvent" WHERE "deliveredAt" IS NULL) + (SELECT count(*) FROM "points"."OutboxEvent" WHERE "deliveredAt" IS NULL)
              + (SELECT count(*) FROM "partner"."OutboxEvent" WHERE "deliveredAt" IS NULL) AS n`,
      )) === 0,
    ms,
  );
}

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Principal } from "../../lib/principal.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { callSubgraph, expectNoGraphQLErrors } from "../support/subgraph.ts";

// Issue 14 §6: a partner's read of member data whose data-access record cannot be written is not
// answered. The log write is made to fail with a trigger that raises (as a full disk, a lost
// connection or a revoked grant would), through the gateway, for both places that record reads:
// the member subgraph's own log INSERT, and the points.data_accessed / partner.data_accessed outbox
// events of the points and partner subgraphs.

let hub: TestHub;
let partner: { id: string; token: string };
let memberId: string;
const READ_PROFILE = "query($m: ID!) { member(id: $m) { id displayName } }";
const READ_WALLET = "query($m: ID!) { member(id: $m) { id wallet { balance } } }";

const sql = (statement: string) => hub.db.client().$executeRawUnsafe(statement);
/** Installs a trigger that makes every INSERT into `table` (matching `when`) raise. */
async function failInserts(table: string, when = "") {
  await sql(`CREATE OR REPLACE FUNCTION public.fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit storage unavailable (test)'; END $$`);
  await sql(`CREATE TRIGGER fail_audit BEFORE INSERT ON ${table} FOR EACH ROW ${when} EXECUTE FUNCTION public.fail_audit()`);
}

beforeAll(async () => {
  hub = await startTestHub();
  const admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(await hub.gql(admin, 'mutation { registerPartner(input: { name: "Epsilon Energy", category: "ENERGY", issuePrice: "0.015", redemptionRate: "0.010" }) { id } }'));
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  partner = { id: registerPartner.id, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  memberId = expectNoGraphQLErrors(await hub.gql(partner.token, 'mutation { enrollMember(input: { email: "audit@example.com", displayName: "Audited", externalRef: "AU-1" }) { id } }')).enrollMember.id;
  await hub.flushEvents();
  expectNoGraphQLErrors(await hub.gql(partner.token, 'mutation($m: ID!) { awardPoints(input: { memberId: $m, idempotencyKey: "au-1", points: 250 }) { id } }', { m: memberId }));
  const self: Principal = { sub: memberId, role: "MEMBER", memberId, partnerId: null, scope: "member", purpose: null, authority: "PERSON" };
  expectNoGraphQLErrors(
    await callSubgraph(hub.subgraphs.member.url, self, "mutation($i: GrantConsentInput!) { grantConsent(input: $i) { id } }", {
      i: { partnerId: partner.id, categories: ["PROFILE_BASIC", "POINTS_BALANCE", "ACTIVITY"], purpose: "ACCOUNT_SERVICING", noticeVersion: "2026-12" },
    }),
  );
  await hub.flushEvents();
}, 120_000);
afterAll(() => hub?.close());

describe("fail closed when the data-access log cannot be written", () => {
  test("member subgraph: the log INSERT fails → no member data, ACCESS_LOG_UNAVAILABLE; data again once the log works", async () => {
    expect(expectNoGraphQLErrors(await hub.gql(partner.token, READ_PROFILE, { m: memberId })).member.displayName).toBe("Audited");
    await failInserts(`"member"."DataAccessEvent"`);
    try {
      const r = await hub.gql(partner.token, READ_PROFILE, { m: memberId });
      expect(r.status).toBeLessThan(500);
      expect(JSON.stringify(r.data ?? null)).not.toContain("Audited");
      expect(r.data?.member?.displayName ?? null).toBeNull();
      expect(r.errors?.map((e) => e.extensions?.code)).toContain("ACCESS_LOG_UNAVAILABLE");
      // A read that discloses nothing consent-scoped is not recorded, so it still answers.
      expect(expectNoGraphQLErrors(await hub.gql(partner.token, "query($m: ID!) { member(id: $m) { id joinedAt } }", { m: memberId })).member.id).toBe(memberId);
    } finally {
      await sql(`DROP TRIGGER fail_audit ON "member"."DataAccessEvent"`);
    }
    expect(expectNoGraphQLErrors(await hub.gql(partner.token, READ_PROFILE, { m: memberId })).member.displayName).toBe("Audited");
  });

  test("points subgraph: the points.data_accessed event cannot be written → no wallet, ACCESS_LOG_UNAVAILABLE; the member subgraph's part still answers", async () => {
    expect(expectNoGraphQLErrors(await hub.gql(partner.token, READ_WALLET, { m: memberId })).member.wallet.balance).toBe(250);
    await failInserts(`"points"."OutboxEvent"`, `WHEN (NEW.type = 'points.data_accessed')`);
    try {
      const r = await hub.gql(partner.token, READ_WALLET, { m: memberId });
      expect(r.status).toBeLessThan(500);
      expect(r.data?.member?.id).toBe(memberId);
      expect(r.data?.member?.wallet ?? null).toBeNull();
      expect(r.errors?.map((e) => e.extensions?.code)).toContain("ACCESS_LOG_UNAVAILABLE");
      // balanceAfter is recorded the same way.
      const tx = await hub.gql(partner.token, "query($m: ID!) { member(id: $m) { activity { edges { node { balanceAfter } } } } }", { m: memberId });
      expect(JSON.stringify(tx.data ?? null)).not.toContain("250");
      expect(tx.errors?.map((e) => e.extensions?.code)).toContain("ACCESS_LOG_UNAVAILABLE");
      // Writes that record no read are untouched.
      expect(expectNoGraphQLErrors(await hub.gql(partner.token, 'mutation($m: ID!) { awardPoints(input: { memberId: $m, idempotencyKey: "au-2", points: 1 }) { points } }', { m: memberId })).awardPoints.points).toBe(1);
    } finally {
      await sql(`DROP TRIGGER fail_audit ON "points"."OutboxEvent"`);
    }
    expect(expectNoGraphQLErrors(await hub.gql(partner.token, READ_WALLET, { m: memberId })).member.wallet.balance).toBe(251);
  });

  test("partner subgraph: the partner.data_accessed event cannot be written → no claimedOffers (ACTIVITY), ACCESS_LOG_UNAVAILABLE; the other subgraphs' parts still answer", async () => {
    const READ_CLAIMS = "query($m: ID!) { member(id: $m) { id displayName claimedOffers { id } } }";
    expect(expectNoGraphQLErrors(await hub.gql(partner.token, READ_CLAIMS, { m: memberId })).member.claimedOffers).toEqual([]);
    await failInserts(`"partner"."OutboxEvent"`, `WHEN (NEW.type = 'partner.data_accessed')`);
    try {
      const r = await hub.gql(partner.token, READ_CLAIMS, { m: memberId });
      expect(r.status).toBeLessThan(500);
      expect(r.data?.member?.displayName).toBe("Audited");
      expect(r.data?.member?.claimedOffers ?? null).toBeNull();
      expect(r.errors?.map((e) => e.extensions?.code)).toContain("ACCESS_LOG_UNAVAILABLE");
    } finally {
      await sql(`DROP TRIGGER fail_audit ON "partner"."OutboxEvent"`);
    }
    expect(expectNoGraphQLErrors(await hub.gql(partner.token, READ_CLAIMS, { m: memberId })).member.claimedOffers).toEqual([]);
  });
});

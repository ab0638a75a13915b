import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Issue 14 §2 through the gateway: a partner past 2^31 issued points. Before, its issuance account
// stopped at -2,147,483,648 and every later award was a 500; 30 awards of 100,000,000 points in one
// bulk call were a 500 (integer out of range). Now: the awards succeed, the wallet, running balances
// and the settlement statement read back exactly as BigInt decimal strings, the deprecated Int
// fields say AMOUNT_EXCEEDS_INT, and an award input of 2^31 points is BAD_USER_INPUT.
let hub: TestHub;
let admin: string;
let partner: { id: string; token: string };
const gql = (token: string, query: string, variables: Record<string, unknown> = {}) => hub.gql(token, query, variables);
const codes = (r: { errors?: readonly { extensions?: { code?: unknown } }[] }) => (r.errors ?? []).map((e) => e.extensions?.code);

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", {
      i: { name: "BigCo", category: "ECOMMERCE", issuePrice: "0.001234", redemptionRate: "0.001" },
    }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  partner = { id: registerPartner.id, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  await hub.flushEvents();
}, 120_000);
afterAll(() => hub?.close());

const BATCH = `mutation($inputs: [AwardPointsInput!]!) { awardPointsBatch(inputs: $inputs) { accepted rejected { index code } transactions { id } } }`;
/** A running balance as the admin reads it (for the partner, balanceAfter64 is POINTS_BALANCE-gated and this partner has no consent). */
const balanceAfter = async (id: string) => (expectNoGraphQLErrors(await gql(admin, "query($id: ID!) { transaction(id: $id) { balanceAfter64 } }", { id })).transaction as { balanceAfter64: string }).balanceAfter64;

test("a partner past 2^31 issued points: bulk and single awards succeed; wallet, running balances and statement read back exactly", async () => {
  const periodStart = new Date(Date.now() - 60_000).toISOString();
  const enrol = async () => {
    const ref = `big-${randomUUID()}`;
    const { enrollMember } = expectNoGraphQLErrors(await gql(partner.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: `${ref}@example.com`, externalRef: ref } }));
    return enrollMember.id as string;
  };
  const [m1, m2] = [await enrol(), await enrol()];
  await hub.flushEvents();

  // 30 awards of 100,000,000 points in ONE bulk call (the 500 of the defect): 3,000,000,000.
  const r = expectNoGraphQLErrors(await gql(partner.token, BATCH, { inputs: Array.from({ length: 30 }, (_, i) => ({ memberId: m1, points: 100_000_000, idempotencyKey: `e2e-${i}` })) }));
  expect(r.awardPointsBatch.accepted).toBe(30);
  expect(r.awardPointsBatch.rejected).toEqual([]);
  const last = r.awardPointsBatch.transactions.at(-1) as { id: string };
  expect(await balanceAfter(last.id)).toBe("3000000000");
  // The partner's issuance account is now at -3,000,000,000: its next awards still work.
  const one = expectNoGraphQLErrors(await gql(partner.token, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id points } }", { i: { memberId: m2, points: 7, idempotencyKey: "after-1" } }));
  expect(one.awardPoints.points).toBe(7);
  expect(await balanceAfter(one.awardPoints.id)).toBe("7");
  await hub.flushEvents();

  // The wallet, exactly, through the gateway (admin: not consent-gated).
  const w = await gql(admin, "query($id: ID!) { member(id: $id) { wallet { balance64 available64 held64 lifetimeEarned64 } tier { tier qualifyingPoints64 } } }", { id: m1 });
  expect(expectNoGraphQLErrors(w).member).toEqual({
    wallet: { balance64: "3000000000", available64: "3000000000", held64: "0", lifetimeEarned64: "3000000000" },
    tier: { tier: "GOLD", qualifyingPoints64: "3000000000" }, // the classic program: diamond is by spend only (issue 16)
  });
  // The deprecated Int field: a clear error code, never a wrapped value or a 500.
  const old = await gql(admin, "query($id: ID!) { member(id: $id) { wallet { balance } } }", { id: m1 });
  expect(codes(old)).toEqual(["AMOUNT_EXCEEDS_INT"]);

  // Settlement over 3,000,000,007 points: exact money (× 0.001234 = 3,702,000.008638 → 3,702,000.01).
  const periodEnd = new Date().toISOString();
  const { createSettlementRun } = expectNoGraphQLErrors(
    await gql(
      admin,
      `mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) {
         statements { partner { id } pointsIssued64 liabilityPoints64 amountDue lines { points64 amount } } } }`,
      { s: periodStart, e: periodEnd },
    ),
  );
  const st = createSettlementRun.statements.find((s: { partner: { id: string } }) => s.partner.id === partner.id);
  expect(st).toEqual({
    partner: { id: partner.id },
    pointsIssued64: "3000000007",
    liabilityPoints64: "3000000007",
    amountDue: "3702000.01",
    lines: [{ points64: "3000000007", amount: "3702000.01" }],
  });
});

test("an award input of 2^31 points is BAD_USER_INPUT (not a 500), through the gateway", async () => {
  const ref = `in-${randomUUID()}`;
  const { enrollMember } = expectNoGraphQLErrors(await gql(partner.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: `${ref}@example.com`, externalRef: ref } }));
  await hub.flushEvents();
  for (const points of [2 ** 31, 2 ** 31 - 1]) {
    const r = await gql(partner.token, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId: enrollMember.id, points, idempotencyKey: randomUUID() } });
    expect(r.status).toBeLessThan(500);
    expect(codes(r)).toEqual(["BAD_USER_INPUT"]);
  }
  const bulk = await gql(partner.token, BATCH, { inputs: [{ memberId: enrollMember.id, points: 2 ** 31, idempotencyKey: "b" }] });
  expect(bulk.status).toBeLessThan(500);
  expect(codes(bulk)).toEqual(["BAD_USER_INPUT"]);
});

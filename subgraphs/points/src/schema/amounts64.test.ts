import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectNoGraphQLErrors } from "../../../../tests/support/subgraph.ts";
import { rates } from "../testing/ledger-ops.ts";
import { adminPrincipal, enrolled, memberPrincipal, partnerPrincipal, type PointsHarness, registered, startPointsHarness } from "../testing/harness.ts";

// Issue 14 §2 through the points subgraph's GraphQL: amounts past 2^31 come back exactly in the
// 64-bit fields (BigInt, decimal strings); the deprecated Int fields answer while the value fits and
// raise AMOUNT_EXCEEDS_INT (naming the replacement) instead of overflowing; an award input of 2^31
// points is refused as bad input, never a 500.
let h: PointsHarness;
const partner = randomUUID();
const other = randomUUID();
const base = Date.now() - 30 * 86_400_000;
beforeAll(async () => {
  h = await startPointsHarness();
  await h.deliver(registered(partner), registered(other), rates(partner, "0.001234", "0.001", new Date(base)), rates(other, "0.01", "0.001", new Date(base)));
});
afterAll(() => h?.close());

type Err = { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> };
const codes = (r: { errors?: Err[] }) => (r.errors ?? []).map((e) => e.extensions?.code);
const BATCH = `mutation($inputs: [AwardPointsInput!]!) { awardPointsBatch(inputs: $inputs) { accepted rejected { index code message } transactions { id points64 } } }`;
const AWARD = `mutation($input: AwardPointsInput!) { awardPoints(input: $input) { id points points64 } }`;
/**
 * The running balances of transactions as the gateway reads them for a partner: balanceAfter and
 * balanceAfter64 are consent-gated (POINTS_BALANCE) through `@requires(member { sharedScopes })`,
 * so the planner sends the member's sharedScopes with each representation.
 */
async function runningBalances(principal: ReturnType<typeof partnerPrincipal>, ids: string[], fields = "balanceAfter64") {
  const r = await h.as<{ _entities: { balanceAfter?: number | null; balanceAfter64?: string }[] }>(principal, `query($r: [_Any!]!) { _entities(representations: $r) { ... on PointsTransaction { ${fields} } } }`, {
    r: ids.map((id) => ({ __typename: "PointsTransaction", id, member: { sharedScopes: ["POINTS_BALANCE"] } })),
  });
  return expectNoGraphQLErrors(r)._entities;
}
const member = (id: string) => ({ r: [{ __typename: "Member", id, sharedScopes: ["POINTS_BALANCE", "TIER", "ACTIVITY"] }] });

describe("64-bit amounts through GraphQL", () => {
  test("30 awards of 100,000,000 points in one awardPointsBatch: exact running balances and wallet as BigInt strings", async () => {
    const m = randomUUID();
    await h.deliver(enrolled(m, partner));
    const inputs = Array.from({ length: 30 }, (_, i) => ({ memberId: m, points: 100_000_000, idempotencyKey: `gql-${i}` }));
    const r = expectNoGraphQLErrors(await h.as(partnerPrincipal(partner), BATCH, { inputs })).awardPointsBatch as {
      accepted: number;
      transactions: { id: string; points64: string }[];
    };
    expect(r.accepted).toBe(30);
    expect(
      (
        await runningBalances(
          partnerPrincipal(partner),
          r.transactions.map((t) => t.id),
        )
      ).map((t) => t.balanceAfter64),
    ).toEqual(Array.from({ length: 30 }, (_, i) => String(100_000_000n * BigInt(i + 1))));
    expect(r.transactions.every((t) => t.points64 === "100000000")).toBe(true);

    const wallet = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { wallet { balance64 available64 held64 lifetimeEarned64 } tier { tier qualifyingPoints64 pointsToNextTier } } } }`;
    const w = expectNoGraphQLErrors(await h.as(memberPrincipal(m), wallet, member(m)))._entities as unknown[];
    expect(w[0]).toEqual({
      wallet: { balance64: "3000000000", available64: "3000000000", held64: "0", lifetimeEarned64: "3000000000" },
      // The classic program: gold is the top tier points reach; diamond is by spend only (issue 16).
      tier: { tier: "GOLD", qualifyingPoints64: "3000000000", pointsToNextTier: null },
    });

    // The deprecated Int fields: AMOUNT_EXCEEDS_INT naming the field to read instead, not a wrapped value.
    const old = await h.as(adminPrincipal(), `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { wallet { balance held } } } }`, member(m));
    expect(codes(old)).toEqual(["AMOUNT_EXCEEDS_INT"]);
    expect(old.errors![0]!.extensions).toMatchObject({ field: "Wallet.balance", replacement: "balance64" });
    expect(old.errors![0]!.message).toContain("balance64");

    // Activity: every running balance exact in balanceAfter64; the old field answers up to 2^31 − 1
    // (21 × 100,000,000) and refuses the 9 beyond it, each error at its own path.
    const act = await h.as(memberPrincipal(m), `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { activity(first: 30) { edges { node { points balanceAfter balanceAfter64 } } } } } }`, member(m));
    expect(codes(act)).toEqual(Array(9).fill("AMOUNT_EXCEEDS_INT"));
    expect(act.errors!.every((e) => e.path?.at(-1) === "balanceAfter")).toBe(true);
    const nodes = (act.data as { _entities: { activity: { edges: { node: { points: number; balanceAfter: number | null; balanceAfter64: string } }[] } }[] })._entities[0]!.activity.edges.map((e) => e.node);
    expect(nodes.map((n) => BigInt(n.balanceAfter64)).sort((x, y) => (x < y ? -1 : 1))).toEqual(Array.from({ length: 30 }, (_, i) => 100_000_000n * BigInt(i + 1)));
    for (const n of nodes) expect(n.balanceAfter).toBe(BigInt(n.balanceAfter64) > 2_147_483_647n ? null : Number(n.balanceAfter64));
    expect(nodes.every((n) => n.points === 100_000_000)).toBe(true);
  });

  test("a partner past 2^31 issued points: awards go on; its settlement statement carries exact 64-bit sums and money", async () => {
    const members = [randomUUID(), randomUUID(), randomUUID()];
    for (const m of members) await h.deliver(enrolled(m, other));
    for (const [k, m] of members.entries()) {
      const inputs = Array.from({ length: 8 }, (_, i) => ({ memberId: m, points: 100_000_000, idempotencyKey: `p-${k}-${i}` }));
      expect((expectNoGraphQLErrors(await h.as(partnerPrincipal(other), BATCH, { inputs })).awardPointsBatch as { accepted: number }).accepted).toBe(8);
    }
    // 2,400,000,000 issued: the next award still succeeds (it failed with a 500 on int4).
    const next = expectNoGraphQLErrors(await h.as(partnerPrincipal(other), AWARD, { input: { memberId: members[0], points: 5, idempotencyKey: "after" } })).awardPoints as { id: string };
    expect(next).toEqual({ id: expect.any(String), points: 5, points64: "5" });
    expect(await runningBalances(partnerPrincipal(other), [next.id], "balanceAfter balanceAfter64")).toEqual([{ balanceAfter: 800_000_005, balanceAfter64: "800000005" }]);

    const admin = adminPrincipal();
    const run = expectNoGraphQLErrors(
      await h.as(admin, `mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }`, {
        s: new Date(base).toISOString(),
        e: new Date(Date.now() - 1).toISOString(),
      }),
    ).createSettlementRun as { id: string };
    const q = `query { settlementRuns(first: 5) { edges { node { id statements { partner { id } pointsIssued64 liabilityPoints64 amountDue lines { points64 amount } } } } } }`;
    const runs = expectNoGraphQLErrors(await h.as(admin, q)).settlementRuns as { edges: { node: { id: string; statements: { partner: { id: string } }[] } }[] };
    const st = runs.edges.find((e) => e.node.id === run.id)!.node.statements.find((s) => s.partner.id === other);
    // 2,400,000,005 × 0.01 = 24,000,000.05.
    expect(st).toEqual({ partner: { id: other }, pointsIssued64: "2400000005", liabilityPoints64: "2400000005", amountDue: "24000000.05", lines: [{ points64: "2400000005", amount: "24000000.05" }] });
    const old = await h.as(admin, `query { settlementRuns(first: 5) { edges { node { statements { pointsIssued } } } } }`);
    expect(codes(old)).toContain("AMOUNT_EXCEEDS_INT");
  });

  test("an award of 2^31 points (Int input) is BAD_USER_INPUT or a validation error naming the value, never a 500", async () => {
    const m = randomUUID();
    await h.deliver(enrolled(m, partner));
    for (const points of [2 ** 31, 2 ** 31 - 1, 100_000_001]) {
      const r = await h.as(partnerPrincipal(partner), AWARD, { input: { memberId: m, points, idempotencyKey: randomUUID() } });
      expect(r.errors).toHaveLength(1);
      expect(codes(r)[0]).toBe("BAD_USER_INPUT");
      expect(r.errors![0]!.message).toMatch(/points/);
    }
    const inline = await h.as(partnerPrincipal(partner), `mutation { awardPoints(input: { memberId: "${m}", points: 2147483648, idempotencyKey: "inline" }) { id } }`);
    expect(codes(inline)[0]).toMatch(/^(BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED)$/);
  });
});

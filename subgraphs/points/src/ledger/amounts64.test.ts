import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled, linked, registered } from "../testing/harness.ts";
import { rates, redeem } from "../testing/ledger-ops.ts";
import { awardPoints } from "../earning/award.ts";
import { awardPointsBatch } from "../earning/bulk.ts";
import { setEarnGroupCommit } from "../earning/group-commit.ts";
import { runPointsExpiry } from "../jobs.ts";
import { issuanceCode, walletCode } from "./ledger.ts";
import { memberFacts } from "../reads.ts";
import { exportRun } from "../settlement/export.ts";
import { createSettlementRun } from "../settlement/runs.ts";
import { tierStatuses } from "../tiers/tiers.ts";

// Issue 14 §2: ledger columns were int4. A partner's issuance account overflowed at -2^31 and every
// later award of that partner failed; 30 awards of 100,000,000 points in one bulk call failed on an
// `::int` cast. These drive a partner, a wallet and a settlement past 2^31 on the real ledger
// (PostgreSQL with DATABASE_URL, else PGlite) and read every amount back exactly.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const INT32_MAX = 2_147_483_647n;
const HUNDRED_M = 100_000_000;
const DAY = 86_400_000;

const account = async (code: string) => await prisma().ledgerAccount.findUniqueOrThrow({ where: { code } });
const code = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e: unknown) => (e instanceof HubError ? String(e.extensions.code) : String(e)),
  );

async function partnerWithMembers(n: number, issuePrice = "0.01", redemptionRate = "0.008", since = new Date(Date.now() - 400 * DAY)) {
  const partner = randomUUID();
  const members = Array.from({ length: n }, () => randomUUID());
  await applyEvents(registered(partner), rates(partner, issuePrice, redemptionRate, since), ...members.map((m) => enrolled(m, partner)));
  return { partner, members };
}

describe("64-bit amounts on the ledger", () => {
  test("30 awards of 100,000,000 points in ONE bulk call are accepted and sum exactly (3,000,000,000)", async () => {
    const { partner, members } = await partnerWithMembers(1);
    const m = members[0]!;
    const inputs = Array.from({ length: 30 }, (_, i) => ({ memberId: m, points: HUNDRED_M, idempotencyKey: `big-${i}` }));
    const r = await awardPointsBatch(partnerPrincipal(partner), inputs);
    expect(r.rejected).toEqual([]);
    expect(r.accepted).toBe(30);
    // Running balances are exact and past 2^31 (21st item on).
    expect(r.transactions.map((t) => t.balanceAfter)).toEqual(Array.from({ length: 30 }, (_, i) => BigInt(HUNDRED_M) * BigInt(i + 1)));
    expect(r.transactions[29]!.balanceAfter! > INT32_MAX).toBe(true);
    const w = await account(walletCode(m));
    expect(w.balance).toBe(3_000_000_000n);
    expect(w.lifetimeEarned).toBe(3_000_000_000n);
    expect((await account(issuanceCode(partner))).balance).toBe(-3_000_000_000n);
    const lots = await prisma().lot.aggregate({ where: { memberId: m }, _sum: { remaining: true } });
    expect(lots._sum.remaining).toBe(3_000_000_000n);
    // A replay of the whole call writes nothing and returns the same running balances.
    const again = await awardPointsBatch(partnerPrincipal(partner), inputs);
    expect(again.replayed).toBe(30);
    expect(again.transactions.map((t) => t.balanceAfter)).toEqual(r.transactions.map((t) => t.balanceAfter));
    // Read side: wallet and tier status carry the exact bigint.
    const facts = (await memberFacts([m], new Set([m]), new Set([m]), new Date())).get(m)!;
    expect(facts.wallet).toEqual({ balance: 3_000_000_000n, held: 0n, available: 3_000_000_000n, lifetimeEarned: 3_000_000_000n });
    expect((await tierStatuses(prisma(), [m], new Date())).get(m)).toMatchObject({ tier: "GOLD", qualifyingPoints: 3_000_000_000n }); // classic program: DIAMOND is by spend only
  });

  test("a partner past 2^31 issued points keeps awarding (group commit and single path), redeeming and expiring; every balance exact", async () => {
    const { partner, members } = await partnerWithMembers(3);
    // 22 × 100,000,000 = 2,200,000,000 issued: past 2^31 (the old account stuck at -2,147,483,648).
    for (const [k, m] of members.entries()) {
      const n = k === 0 ? 10 : 6;
      await awardPointsBatch(
        partnerPrincipal(partner),
        Array.from({ length: n }, (_, i) => ({ memberId: m, points: HUNDRED_M, idempotencyKey: `${m}-${i}` })),
      );
    }
    expect((await account(issuanceCode(partner))).balance).toBe(-2_200_000_000n);
    // Single awards after the overflow point: the group-commit path and the one-transaction path.
    const viaGroup = await awardPoints(partnerPrincipal(partner), { memberId: members[0]!, points: HUNDRED_M, idempotencyKey: "g1" });
    expect(viaGroup.balanceAfter).toBe(1_100_000_000n);
    setEarnGroupCommit(false);
    try {
      const single = await awardPoints(partnerPrincipal(partner), { memberId: members[0]!, points: HUNDRED_M, idempotencyKey: "s1" });
      expect(single.balanceAfter).toBe(1_200_000_000n);
    } finally {
      setEarnGroupCommit(true);
    }
    // One member's wallet past 2^31 too: 9 more awards → 2,100,000,000, then 1 more → 2,200,000,000.
    await awardPointsBatch(
      partnerPrincipal(partner),
      Array.from({ length: 10 }, (_, i) => ({ memberId: members[0]!, points: HUNDRED_M, idempotencyKey: `more-${i}` })),
    );
    const after = await awardPoints(partnerPrincipal(partner), { memberId: members[0]!, points: 1, idempotencyKey: "one" });
    expect(after.balanceAfter).toBe(2_200_000_001n);
    expect((await account(issuanceCode(partner))).balance).toBe(-3_400_000_001n);
    // Redeem from the wallet past 2^31.
    const r = await redeem(partner, members[0]!, HUNDRED_M, new Date());
    expect(r.balanceAfter).toBe(2_100_000_001n);
    // The whole wallet expires in ONE transaction of 2,100,000,001 points (beyond Int).
    const expiredAt = new Date(Date.now() + 40 * 365 * DAY);
    const expired = await runPointsExpiry(expiredAt);
    expect(expired.points).toBeGreaterThanOrEqual(2_100_000_001);
    const x = await prisma().ledgerTransaction.findFirstOrThrow({ where: { memberId: members[0]!, kind: "EXPIRY" } });
    expect(x.memberPoints).toBe(-2_100_000_001n);
    expect(x.balanceAfter).toBe(0n);
    // Every account still sums to zero, in bigint.
    const [{ total }] = await prisma().$queryRaw<{ total: bigint }[]>`SELECT coalesce(sum(balance), 0)::bigint AS total FROM "points"."LedgerAccount"`;
    expect(total).toBe(0n);
  });

  test("a settlement over more than 2^31 points gives exact money, liabilities and flows", async () => {
    const base = Date.now() - 30 * DAY;
    const A = randomUUID();
    const B = randomUUID();
    const m = randomUUID();
    await applyEvents(registered(A), registered(B), rates(A, "0.001234", "0.001", new Date(base)), rates(B, "0.01", "0.000777", new Date(base)));
    await applyEvents(enrolled(m, A), linked(m, B));
    // 3,000,000,007 issued by A in one bulk call (30 × 100,000,000 + 7), back-dated into the period.
    const items = [...Array.from({ length: 30 }, (_, i) => ({ memberId: m, points: HUNDRED_M, idempotencyKey: `s-${i}` })), { memberId: m, points: 7, idempotencyKey: "s-extra" }];
    const r = await awardPointsBatch(partnerPrincipal(A), items, { postedAt: new Date(base + DAY) });
    expect(r.accepted).toBe(31);
    // 300,000,000 redeemed at B.
    for (let i = 0; i < 3; i++) await redeem(B, m, HUNDRED_M, new Date(base + 2 * DAY));
    const run = await createSettlementRun(adminPrincipal(), { periodStart: new Date(base), periodEnd: new Date(base + 10 * DAY) }, { now: new Date(base + 11 * DAY) });
    const st = new Map((await prisma().settlementStatement.findMany({ where: { runId: run.id } })).map((s) => [s.partnerId, s]));
    const a = st.get(A)!;
    const b = st.get(B)!;
    expect(a.pointsIssued).toBe(3_000_000_007n);
    // 3,000,000,007 × 0.001234 = 3,702,000.008638 → 3,702,000.01 (half-even, once per line).
    expect(a.amountDue.toFixed(2)).toBe("3702000.01");
    expect(b.pointsRedeemed).toBe(300_000_000n);
    // 300,000,000 × 0.000777 = 233,100.
    expect(b.amountOwed.toFixed(2)).toBe("233100.00");
    expect(a.liabilityPoints).toBe(2_700_000_007n);
    const flows = await prisma().settlementFlow.findMany({ where: { runId: run.id } });
    expect(flows.map((f) => [f.fromPartnerId, f.toPartnerId, f.points])).toEqual([[A, B, 300_000_000n]]);
    // The JSON export carries the same exact figures.
    const json = JSON.parse(await exportRun(adminPrincipal(), run.id, "JSON", A)) as { statements: { pointsIssued: number; amountDue: string; liabilityPoints: number }[] };
    expect(json.statements[0]).toMatchObject({ pointsIssued: 3_000_000_007, amountDue: "3702000.01", liabilityPoints: 2_700_000_007 });
  });

  test("an award of 2^31 points or more is BAD_USER_INPUT naming the field, in single and bulk form (never an overflow)", async () => {
    const { partner, members } = await partnerWithMembers(1);
    for (const points of [2 ** 31, 2 ** 53, HUNDRED_M + 1]) {
      const e = await awardPoints(partnerPrincipal(partner), { memberId: members[0]!, points, idempotencyKey: randomUUID() }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(HubError);
      expect((e as HubError).extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "points" });
    }
    // A purchase that would earn beyond the per-award maximum is refused the same way.
    expect(await code(awardPoints(partnerPrincipal(partner), { memberId: members[0]!, purchaseAmount: "999999999999", idempotencyKey: randomUUID() }))).toBe("BAD_USER_INPUT");
    const r = await awardPointsBatch(partnerPrincipal(partner), [{ memberId: members[0]!, points: 2 ** 31, idempotencyKey: "x" }]);
    expect(r.rejected).toEqual([{ index: 0, code: "BAD_USER_INPUT", message: expect.stringContaining("points") }]);
  });
});

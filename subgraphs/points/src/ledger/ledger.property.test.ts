import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { memberPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import "../testing/verify-after-each.ts";
import { applyEvents, enrolled } from "../testing/harness.ts";
import { awardPoints } from "../earning/award.ts";
import { awardPointsBatch } from "../earning/bulk.ts";
import { runHoldExpiry, runPointsExpiry } from "../jobs.ts";
import { authorizeRedemption, captureHold, createRedemptionCode, redeemPoints, reverseTransaction, voidHold } from "../redemption/redeem.ts";

// Random sequences of earn / redeem / hold / capture / void / reverse / expire over two members and
// two partners, at a moving clock. After every sequence: every transaction balances, every wallet
// is >= 0 with 0 <= held <= balance, balance = sum of the lots' remaining points (and no lot past
// its expiry keeps points once the expiry job ran without pending holds), and all accounts sum to 0.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const P = [randomUUID(), randomUUID()];
const DAY = 86_400_000;

type Op =
  | { op: "earn"; m: number; p: number; points: number }
  | { op: "bulk"; m: number; p: number; items: number[] }
  | { op: "redeem"; m: number; p: number; points: number }
  | { op: "hold"; m: number; p: number; points: number }
  | { op: "capture"; h: number; part: number }
  | { op: "void"; h: number }
  | { op: "reverse"; t: number; part: number }
  | { op: "advance"; days: number }
  | { op: "expire" };

// Amounts reach the 64-bit range (issue 14 §2): small ones, and up to the per-operation maximum of
// 100,000,000, so a bulk earn of up to 30 of them takes a wallet and a partner's issuance account
// past 2^31 in one operation.
const MAX = 100_000_000;
const pointsArb = (small: number) => fc.oneof({ arbitrary: fc.integer({ min: 1, max: small }), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: MAX }), weight: 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("earn" as const), m: fc.nat(1), p: fc.nat(1), points: pointsArb(500) }),
  fc.record({ op: fc.constant("bulk" as const), m: fc.nat(1), p: fc.nat(1), items: fc.array(fc.integer({ min: MAX / 2, max: MAX }), { minLength: 1, maxLength: 30 }) }),
  fc.record({ op: fc.constant("redeem" as const), m: fc.nat(1), p: fc.nat(1), points: pointsArb(400) }),
  fc.record({ op: fc.constant("hold" as const), m: fc.nat(1), p: fc.nat(1), points: pointsArb(400) }),
  fc.record({ op: fc.constant("capture" as const), h: fc.nat(5), part: fc.double({ min: 0.01, max: 1, noNaN: true }) }),
  fc.record({ op: fc.constant("void" as const), h: fc.nat(5) }),
  fc.record({ op: fc.constant("reverse" as const), t: fc.nat(10), part: fc.double({ min: 0.01, max: 1, noNaN: true }) }),
  fc.record({ op: fc.constant("advance" as const), days: fc.integer({ min: 1, max: 800 }) }),
  fc.constant({ op: "expire" as const }),
);

const expected = new Set(["INSUFFICIENT_POINTS", "HOLD_ALREADY_RESOLVED", "BAD_USER_INPUT", "REDEMPTION_CODE_INVALID"]);

async function checkInvariants(memberIds: string[], now: Date, expiredRan: boolean) {
  const unbalanced = await prisma().$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM (SELECT "transactionId" FROM "points"."Posting" GROUP BY 1 HAVING sum(amount) <> 0) t`;
  expect(unbalanced[0]!.n).toBe(0);
  // sum() of bigint is numeric: compared as text, no cast that could overflow.
  const [{ total }] = await prisma().$queryRaw<{ total: string }[]>`SELECT coalesce(sum(balance), 0)::text AS total FROM "points"."LedgerAccount"`;
  expect(total).toBe("0");
  const mismatched = await prisma().$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM "points"."LedgerAccount" a
    WHERE a.balance <> (SELECT coalesce(sum(amount), 0) FROM "points"."Posting" p WHERE p."accountId" = a.id)`;
  expect(mismatched[0]!.n).toBe(0);
  for (const m of memberIds) {
    const w = await prisma().ledgerAccount.findUnique({ where: { code: `wallet:${m}` } });
    const lots = await prisma().lot.aggregate({ where: { memberId: m }, _sum: { remaining: true } });
    expect(w!.balance).toBeGreaterThanOrEqual(0n);
    expect(w!.held).toBeGreaterThanOrEqual(0n);
    expect(w!.held).toBeLessThanOrEqual(w!.balance);
    expect(lots._sum.remaining ?? 0n).toBe(w!.balance);
    // The running balance recorded by the wallet's latest posting is the wallet's balance (bigint, exact past 2^31).
    const [last] = await prisma().$queryRaw<{ balanceAfter: bigint | null }[]>`
      SELECT t."balanceAfter" FROM "points"."Posting" p JOIN "points"."LedgerTransaction" t ON t.id = p."transactionId"
      WHERE p."accountId" = ${w!.id} ORDER BY p.id DESC LIMIT 1`;
    if (last) expect(BigInt(last.balanceAfter!)).toBe(w!.balance);
    if (expiredRan && w!.held === 0n) {
      const stale = await prisma().lot.count({ where: { memberId: m, remaining: { gt: 0 }, expiresAt: { lte: now } } });
      expect(stale).toBe(0);
    }
  }
}

test("random ledger operation sequences keep the ledger's invariants", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 25 }), async (ops) => {
      const members = [randomUUID(), randomUUID()];
      await applyEvents(...members.flatMap((m) => [enrolled(m, P[0]!), { type: "member.linked", payload: { memberId: m, partnerId: P[1]!, linkedAt: new Date().toISOString() } }]));
      let now = new Date(Date.UTC(2026, 0, 1));
      const holds: string[] = [];
      const txs: string[] = [];
      let expiredRan = false;
      for (const o of ops) {
        try {
          switch (o.op) {
            case "earn": {
              const t = await awardPoints(partnerPrincipal(P[o.p]!), { memberId: members[o.m]!, points: o.points, idempotencyKey: randomUUID() }, { now });
              txs.push(t.id);
              break;
            }
            case "bulk": {
              const r = await awardPointsBatch(
                partnerPrincipal(P[o.p]!),
                o.items.map((points) => ({ memberId: members[o.m]!, points, idempotencyKey: randomUUID() })),
                { now, postedAt: now },
              );
              expect(r.rejected).toEqual([]);
              txs.push(...r.transactions.map((t) => t.id));
              break;
            }
            case "redeem": {
              const c = await createRedemptionCode(memberPrincipal(members[o.m]!), { partnerId: P[o.p]!, points: o.points }, { now });
              const t = await redeemPoints(partnerPrincipal(P[o.p]!), { redemptionCode: c.code, points: o.points, idempotencyKey: randomUUID() }, { now });
              txs.push(t.id);
              break;
            }
            case "hold": {
              const c = await createRedemptionCode(memberPrincipal(members[o.m]!), { partnerId: P[o.p]!, points: o.points }, { now });
              const h = await authorizeRedemption(partnerPrincipal(P[o.p]!), { redemptionCode: c.code, points: o.points, idempotencyKey: randomUUID() }, { now });
              holds.push(h.id);
              break;
            }
            case "capture": {
              const id = holds[o.h % Math.max(1, holds.length)];
              if (!id) break;
              const h = await prisma().pointsHold.findUniqueOrThrow({ where: { id } });
              const t = await captureHold(partnerPrincipal(h.partnerId), id, Math.max(1, Math.floor(h.points * o.part)), randomUUID(), { now });
              txs.push(t.id);
              break;
            }
            case "void": {
              const id = holds[o.h % Math.max(1, holds.length)];
              if (!id) break;
              const h = await prisma().pointsHold.findUniqueOrThrow({ where: { id } });
              await voidHold(partnerPrincipal(h.partnerId), id, { now });
              break;
            }
            case "reverse": {
              const id = txs[o.t % Math.max(1, txs.length)];
              if (!id) break;
              const t = await prisma().ledgerTransaction.findUniqueOrThrow({ where: { id } });
              if (!t.partnerId) break;
              const r = await reverseTransaction(
                partnerPrincipal(t.partnerId),
                { transactionId: id, points: Math.max(1, Math.floor(Math.abs(Number(t.memberPoints)) * o.part)), idempotencyKey: randomUUID(), reason: "property" },
                { now },
              );
              txs.push(r.id);
              break;
            }
            case "advance":
              now = new Date(now.getTime() + o.days * DAY);
              break;
            case "expire":
              await runHoldExpiry(now);
              await runPointsExpiry(now);
              expiredRan = true;
              break;
          }
        } catch (e) {
          if (!(e instanceof HubError) || !expected.has(String(e.extensions.code))) throw e;
        }
      }
      await runHoldExpiry(new Date(now.getTime() + 365 * DAY));
      await runPointsExpiry(now);
      await checkInvariants(members, now, true);
      void expiredRan;
    }),
    { numRuns: 25 },
  );
}, 240_000); // bulk earns of up to 30 items per operation: ~30 s on PostgreSQL, longer on PGlite under load

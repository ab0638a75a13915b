import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, memberPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import { awardPoints } from "../earning/award.ts";
import { authorizeRedemption, captureHold, createRedemptionCode, redeemPoints, reverseTransaction, voidHold } from "./redeem.ts";

// The spending rules one at a time, with exact outcomes: whose points a code spends, what a manual
// redemption and a hold need, capture limits, how a resolved hold reports itself, and reversals
// (never twice the same points; an earn's reversal takes back that earn's own lot).
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const shop = randomUUID();
const P = partnerPrincipal(shop);
const A = adminPrincipal();
beforeAll(async () => {
  await applyEvents(registered(shop));
});

async function memberWith(points: number, postedAt?: Date) {
  const m = randomUUID();
  await applyEvents(enrolled(m, shop));
  await awardPoints(P, { memberId: m, points, idempotencyKey: randomUUID() }, postedAt ? { postedAt } : {});
  return m;
}
const code = async (m: string, points: number) => (await createRedemptionCode(memberPrincipal(m), { partnerId: shop, points })).code;
async function wallet(m: string) {
  const w = await prisma().ledgerAccount.findUnique({ where: { code: `wallet:${m}` } });
  return w ? { balance: Number(w.balance), held: Number(w.held) } : null;
}
const holdsOf = (m: string) => prisma().pointsHold.count({ where: { memberId: m } });

test("a code spends its own member's points: with another memberId it is REDEMPTION_CODE_INVALID, spends nothing and stays usable", async () => {
  const m = await memberWith(500);
  const c = await code(m, 100);
  await expect(redeemPoints(P, { redemptionCode: c, memberId: randomUUID(), points: 100, idempotencyKey: randomUUID() })).rejects.toMatchObject({
    extensions: { code: "REDEMPTION_CODE_INVALID" },
  });
  expect(await wallet(m)).toEqual({ balance: 500, held: 0 });
  const t = await redeemPoints(P, { redemptionCode: c, memberId: m, points: 100, idempotencyKey: randomUUID() });
  expect(t).toMatchObject({ memberId: m, memberPoints: -100 });
  expect(await wallet(m)).toEqual({ balance: 400, held: 0 });
});

test("a manual redemption needs an existing wallet (NOT_FOUND, none created); a hold is at a partner, so an admin needs a code", async () => {
  const ghost = randomUUID();
  await expect(redeemPoints(A, { memberId: ghost, points: 10, idempotencyKey: randomUUID() })).rejects.toMatchObject({ extensions: { code: "NOT_FOUND" } });
  expect(await wallet(ghost)).toBeNull();
  const m = await memberWith(100);
  await expect(authorizeRedemption(A, { memberId: m, points: 10, idempotencyKey: randomUUID() })).rejects.toMatchObject({
    extensions: { code: "BAD_USER_INPUT", field: "redemptionCode" },
  });
  expect(await wallet(m)).toEqual({ balance: 100, held: 0 });
  expect(await holdsOf(m)).toBe(0);
});

test("a hold beyond the available points is INSUFFICIENT_POINTS (naming the points asked) and reserves nothing", async () => {
  const m = await memberWith(300);
  const c = await code(m, 200); // covered when created
  await redeemPoints(A, { memberId: m, points: 150, idempotencyKey: randomUUID() }); // 150 left
  await expect(authorizeRedemption(P, { redemptionCode: c, points: 200, idempotencyKey: randomUUID() })).rejects.toMatchObject({
    extensions: { code: "INSUFFICIENT_POINTS", points: 200 },
  });
  expect(await wallet(m)).toEqual({ balance: 150, held: 0 });
  expect(await holdsOf(m)).toBe(0);
});

test("capture at most the hold's points; a resolved hold says how it ended (CAPTURED, VOIDED, or EXPIRED before the expiry job ran)", async () => {
  const m = await memberWith(1_000);
  const now = new Date();
  const h1 = await authorizeRedemption(P, { redemptionCode: await code(m, 400), points: 400, idempotencyKey: randomUUID() }, { now });
  await expect(captureHold(P, h1.id, 401, randomUUID(), { now })).rejects.toMatchObject({ extensions: { code: "BAD_USER_INPUT", field: "points" } });
  expect(await wallet(m)).toEqual({ balance: 1_000, held: 400 });
  expect((await captureHold(P, h1.id, 400, randomUUID(), { now })).memberPoints).toBe(-400);
  expect(await wallet(m)).toEqual({ balance: 600, held: 0 });
  await expect(captureHold(P, h1.id, null, randomUUID(), { now })).rejects.toMatchObject({ extensions: { code: "HOLD_ALREADY_RESOLVED", status: "CAPTURED" } });
  await expect(voidHold(P, h1.id, { now })).rejects.toMatchObject({ extensions: { code: "HOLD_ALREADY_RESOLVED", status: "CAPTURED" } });

  const h2 = await authorizeRedemption(P, { redemptionCode: await code(m, 100), points: 100, idempotencyKey: randomUUID() }, { now });
  await voidHold(P, h2.id, { now });
  await expect(captureHold(P, h2.id, null, randomUUID(), { now })).rejects.toMatchObject({ extensions: { code: "HOLD_ALREADY_RESOLVED", status: "VOIDED" } });
  expect(await wallet(m)).toEqual({ balance: 600, held: 0 });

  const h3 = await authorizeRedemption(P, { redemptionCode: await code(m, 100), points: 100, idempotencyKey: randomUUID() }, { now });
  const late = new Date(h3.expiresAt.getTime() + 1_000);
  await expect(captureHold(P, h3.id, null, randomUUID(), { now: late })).rejects.toMatchObject({ extensions: { code: "HOLD_ALREADY_RESOLVED", status: "EXPIRED" } });
  // Still reserved until the hold-expiry job releases it; nothing was captured.
  expect(await wallet(m)).toEqual({ balance: 600, held: 100 });
});

test("reversals: an earn's reversal takes back that earn's own lot (not the soonest-expiring one); a fully reversed transaction is BAD_USER_INPUT", async () => {
  const m = await memberWith(100, new Date(Date.now() - 30 * 86_400_000)); // the older lot expires first
  const second = await awardPoints(P, { memberId: m, points: 100, idempotencyKey: randomUUID() }, { postedAt: new Date() });
  const lots = async () => (await prisma().lot.findMany({ where: { memberId: m }, orderBy: { earnedAt: "asc" } })).map((l) => [l.sourceTransactionId === second.id ? "second" : "first", Number(l.remaining)]);
  await reverseTransaction(P, { transactionId: second.id, points: 40, idempotencyKey: randomUUID(), reason: "returned" });
  expect(await lots()).toEqual([
    ["first", 100],
    ["second", 60],
  ]);
  await reverseTransaction(P, { transactionId: second.id, idempotencyKey: randomUUID(), reason: "returned" });
  expect(await lots()).toEqual([
    ["first", 100],
    ["second", 0],
  ]);
  await expect(reverseTransaction(P, { transactionId: second.id, idempotencyKey: randomUUID(), reason: "again" })).rejects.toMatchObject({
    extensions: { code: "BAD_USER_INPUT", field: "transactionId" },
  });
  expect(await wallet(m)).toEqual({ balance: 100, held: 0 });
});

test("a hold resolved by another request between voidHold's read and its update reports the status it has now (CAPTURED), not the stale PENDING", async () => {
  // The race, made deterministic: voidHold reads the hold, then opens its transaction; the
  // capture runs just before that transaction starts (a client whose first $transaction call
  // captures the hold first). The guarded UPDATE finds nothing and the error names the hold's
  // status as it is now. (redeem.ts `cur ?? hold` → `cur && hold` reported PENDING.)
  const m = await memberWith(300);
  const hold = await authorizeRedemption(P, { redemptionCode: await code(m, 120), memberId: m, points: 120, idempotencyKey: randomUUID() });
  const real = db.client();
  let armed = true;
  const racing = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === "$transaction" && armed) {
        armed = false;
        return async (...args: Parameters<typeof real.$transaction>) => {
          usePrisma(real);
          await captureHold(P, hold.id, null, randomUUID());
          return (real.$transaction as (...a: unknown[]) => unknown)(...args);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  usePrisma(racing);
  try {
    await expect(voidHold(P, hold.id)).rejects.toMatchObject({ extensions: { code: "HOLD_ALREADY_RESOLVED", status: "CAPTURED" } });
  } finally {
    usePrisma(real);
  }
  expect(armed).toBe(false);
  expect(await wallet(m)).toEqual({ balance: 180, held: 0 });
});

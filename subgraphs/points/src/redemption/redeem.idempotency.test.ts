import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, memberPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import { awardPoints } from "../earning/award.ts";
import { adjustPoints, authorizeRedemption, captureHold, createRedemptionCode, redeemPoints, reverseTransaction } from "./redeem.ts";

// The other idempotent writers (issue 14 "Tests that can fail", same hole as earn): a committed key
// re-sent with a different body is IDEMPOTENCY_CONFLICT and writes nothing (no ledger row, no
// balance or hold change, no redemption code consumed); the same body returns the original result.
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

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "OK",
    (e: unknown) => (e instanceof HubError ? e.extensions.code : String(e)),
  );

async function memberWith(points: number) {
  const m = randomUUID();
  await applyEvents(enrolled(m, shop));
  await awardPoints(P, { memberId: m, points, idempotencyKey: randomUUID() });
  return m;
}
const code = async (m: string, points: number) => (await createRedemptionCode(memberPrincipal(m), { partnerId: shop, points })).code;

/** Everything a write could change for a member. */
async function state(m: string) {
  const w = await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: `wallet:${m}` } });
  return {
    balance: Number(w.balance),
    held: Number(w.held),
    txs: await prisma().ledgerTransaction.count({ where: { memberId: m } }),
    postings: await prisma().posting.count({ where: { transaction: { memberId: m } } }),
    holds: await prisma().pointsHold.findMany({ where: { memberId: m }, orderBy: { createdAt: "asc" }, select: { id: true, status: true, capturedPoints: true } }),
    lots: await prisma().lot.findMany({ where: { memberId: m }, orderBy: { id: "asc" }, select: { id: true, remaining: true } }),
    unusedCodes: await prisma().pointsRedemptionCode.count({ where: { memberId: m, usedAt: null } }),
  };
}

describe("idempotent spending writes: a committed key with another body is IDEMPOTENCY_CONFLICT, nothing written", () => {
  test("redeemPoints (partner, with a code)", async () => {
    const m = await memberWith(1_000);
    const key = randomUUID();
    const c1 = await code(m, 100);
    const original = await redeemPoints(P, { redemptionCode: c1, points: 100, idempotencyKey: key });
    const c2 = await code(m, 50);
    const c3 = await code(m, 100);
    const before = await state(m);
    expect(before.unusedCodes).toBe(2);
    for (const body of [
      { redemptionCode: c2, points: 50 }, // another code and amount
      { redemptionCode: c3, points: 100 }, // another code, same amount
      { redemptionCode: c1, points: 100, reference: "till 4" }, // a reference added
    ]) {
      expect(await codeOf(redeemPoints(P, { ...body, idempotencyKey: key })), JSON.stringify(body)).toBe("IDEMPOTENCY_CONFLICT");
      expect(await state(m)).toEqual(before);
    }
    expect(await redeemPoints(P, { redemptionCode: c1, points: 100, idempotencyKey: key })).toMatchObject({ id: original.id, memberPoints: -100 });
    expect(await state(m)).toEqual(before);
  });

  test("redeemPoints (admin, manual)", async () => {
    const m = await memberWith(1_000);
    const m2 = await memberWith(1_000);
    const key = randomUUID();
    const original = await redeemPoints(A, { memberId: m, points: 40, idempotencyKey: key });
    const before = [await state(m), await state(m2)];
    for (const body of [
      { memberId: m, points: 41 },
      { memberId: m2, points: 40 },
    ]) {
      expect(await codeOf(redeemPoints(A, { ...body, idempotencyKey: key }))).toBe("IDEMPOTENCY_CONFLICT");
      expect([await state(m), await state(m2)]).toEqual(before);
    }
    expect(await redeemPoints(A, { memberId: m, points: 40, idempotencyKey: key })).toMatchObject({ id: original.id, memberPoints: -40 });
    // A committed reference changed to another one.
    const key2 = randomUUID();
    const withRef = await redeemPoints(A, { memberId: m, points: 10, reference: "till 1", idempotencyKey: key2 });
    const before2 = await state(m);
    expect(await codeOf(redeemPoints(A, { memberId: m, points: 10, reference: "till 2", idempotencyKey: key2 }))).toBe("IDEMPOTENCY_CONFLICT");
    expect(await state(m)).toEqual(before2);
    expect(await redeemPoints(A, { memberId: m, points: 10, reference: "till 1", idempotencyKey: key2 })).toMatchObject({ id: withRef.id });
  });

  test("authorizeRedemption (hold)", async () => {
    const m = await memberWith(1_000);
    const key = randomUUID();
    const c1 = await code(m, 200);
    const hold = await authorizeRedemption(P, { redemptionCode: c1, points: 200, idempotencyKey: key });
    const c2 = await code(m, 300);
    const before = await state(m);
    expect(before.held).toBe(200);
    expect(await codeOf(authorizeRedemption(P, { redemptionCode: c2, points: 300, idempotencyKey: key }))).toBe("IDEMPOTENCY_CONFLICT");
    expect(await codeOf(authorizeRedemption(P, { redemptionCode: c1, points: 200, reference: "r", idempotencyKey: key }))).toBe("IDEMPOTENCY_CONFLICT");
    expect(await state(m)).toEqual(before);
    expect(await authorizeRedemption(P, { redemptionCode: c1, points: 200, idempotencyKey: key })).toMatchObject({ id: hold.id, points: 200, status: "PENDING" });
    expect(await state(m)).toEqual(before);
  });

  test("captureHold", async () => {
    const m = await memberWith(1_000);
    const h1 = await authorizeRedemption(P, { redemptionCode: await code(m, 100), points: 100, idempotencyKey: randomUUID() });
    const h2 = await authorizeRedemption(P, { redemptionCode: await code(m, 100), points: 100, idempotencyKey: randomUUID() });
    const key = randomUUID();
    const t = await captureHold(P, h1.id, 60, key);
    const before = await state(m);
    expect(await codeOf(captureHold(P, h1.id, 70, key))).toBe("IDEMPOTENCY_CONFLICT"); // other amount
    expect(await codeOf(captureHold(P, h1.id, null, key))).toBe("IDEMPOTENCY_CONFLICT"); // whole instead of part
    expect(await codeOf(captureHold(P, h2.id, 60, key))).toBe("IDEMPOTENCY_CONFLICT"); // another hold
    expect(await state(m)).toEqual(before);
    expect(before.holds.find((h) => h.id === h2.id)!.status).toBe("PENDING");
    expect(await captureHold(P, h1.id, 60, key)).toMatchObject({ id: t.id, memberPoints: -60 });
    expect(await state(m)).toEqual(before);
  });

  test("reverseTransaction", async () => {
    const m = await memberWith(1_000);
    const earn = await awardPoints(P, { memberId: m, points: 300, idempotencyKey: randomUUID() });
    const earn2 = await awardPoints(P, { memberId: m, points: 300, idempotencyKey: randomUUID() });
    const key = randomUUID();
    const t = await reverseTransaction(P, { transactionId: earn.id, points: 100, idempotencyKey: key, reason: "returned" });
    const before = await state(m);
    for (const body of [
      { transactionId: earn.id, points: 101, reason: "returned" },
      { transactionId: earn.id, points: null, reason: "returned" },
      { transactionId: earn.id, points: 100, reason: "another reason" },
      { transactionId: earn2.id, points: 100, reason: "returned" },
    ]) {
      expect(await codeOf(reverseTransaction(P, { ...body, idempotencyKey: key })), JSON.stringify(body)).toBe("IDEMPOTENCY_CONFLICT");
      expect(await state(m)).toEqual(before);
    }
    expect(await reverseTransaction(P, { transactionId: earn.id, points: 100, idempotencyKey: key, reason: "returned" })).toMatchObject({ id: t.id, memberPoints: -100 });
    expect(await state(m)).toEqual(before);
  });

  test("adjustPoints", async () => {
    const m = await memberWith(1_000);
    const m2 = await memberWith(1_000);
    const key = randomUUID();
    const t = await adjustPoints(A, { memberId: m, points: 50, reason: "goodwill", idempotencyKey: key });
    const before = [await state(m), await state(m2)];
    for (const body of [
      { memberId: m, points: 51, reason: "goodwill" },
      { memberId: m, points: -50, reason: "goodwill" },
      { memberId: m, points: 50, reason: "other" },
      { memberId: m2, points: 50, reason: "goodwill" },
    ]) {
      expect(await codeOf(adjustPoints(A, { ...body, idempotencyKey: key })), JSON.stringify(body)).toBe("IDEMPOTENCY_CONFLICT");
      expect([await state(m), await state(m2)]).toEqual(before);
    }
    expect(await adjustPoints(A, { memberId: m, points: 50, reason: "goodwill", idempotencyKey: key })).toMatchObject({ id: t.id, memberPoints: 50 });
  });

  test("keys are per actor: the same key used by another writer is not a replay of this one's", async () => {
    const m = await memberWith(1_000);
    const key = randomUUID();
    const a = await adjustPoints(A, { memberId: m, points: 5, reason: "x", idempotencyKey: key });
    const b = await adjustPoints(adminPrincipal("another-admin"), { memberId: m, points: 6, reason: "x", idempotencyKey: key });
    expect(b.id).not.toBe(a.id);
    expect(b.memberPoints).toBe(6);
  });
});

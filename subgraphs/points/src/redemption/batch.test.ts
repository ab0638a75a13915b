import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, memberPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { awardPoints } from "../earning/award.ts";
import "../testing/verify-after-each.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import { REDEEM_BATCH_MAX_ITEMS, redeemPointsBatch } from "./batch.ts";
import { authorizeRedemption, createRedemptionCode, redeemPoints } from "./redeem.ts";

// The batch of redemptions, rule by rule: each item as redeemPoints would do it, rejections by
// index that change nothing, replays (within the batch, of an earlier batch, of a single
// redemption), one transaction per call; and the two reads createRedemptionCode merged.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const shop = randomUUID();
const P = partnerPrincipal(shop);
beforeAll(async () => {
  await applyEvents(registered(shop));
});

async function memberWith(points: number) {
  const m = randomUUID();
  await applyEvents(enrolled(m, shop));
  await awardPoints(P, { memberId: m, points, idempotencyKey: randomUUID() });
  return m;
}
const code = async (m: string, points: number, partnerId = shop) => (await createRedemptionCode(memberPrincipal(m), { partnerId, points })).code;
const item = (redemptionCode: string, points: number, extra: Record<string, unknown> = {}) => ({ redemptionCode, points, idempotencyKey: randomUUID(), ...extra });
async function wallet(m: string) {
  const w = await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: `wallet:${m}` } });
  return { balance: Number(w.balance), held: Number(w.held) };
}
const redemptionBalance = async () => Number((await prisma().ledgerAccount.findUnique({ where: { code: `redemption:${shop}` } }))?.balance ?? 0);
const activity = (memberIds: string[]) =>
  prisma().$queryRaw<{ memberId: string; points: number; kind: string }[]>`
    SELECT payload->>'memberId' AS "memberId", (payload->>'points')::int AS points, payload->>'kind' AS kind FROM "points"."OutboxEvent"
    WHERE type = 'points.activity' AND payload->>'kind' = 'REDEEM' AND payload->>'memberId' = ANY(${memberIds}::text[]) ORDER BY "createdAt", payload->>'memberId'`;

test("each item is a REDEEM as redeemPoints posts it: wallet, lots, the partner's redemption account, the code used, one activity event", async () => {
  const [a, b] = [await memberWith(500), await memberWith(300)];
  const before = await redemptionBalance();
  const inputs = [item(await code(a, 120), 120, { reference: "R-1" }), item(await code(b, 300), 300), item(await code(a, 80), 80)];
  const r = await redeemPointsBatch(P, inputs);
  expect(r).toMatchObject({ accepted: 3, replayed: 0, rejected: [] });
  expect(r.transactions.map((t) => [t.memberId, t.memberPoints, t.balanceAfter, t.kind, t.reference, t.idempotencyKey])).toEqual([
    [a, -120, 380n, "REDEEM", "R-1", inputs[0]!.idempotencyKey],
    [b, -300, 0n, "REDEEM", null, inputs[1]!.idempotencyKey],
    [a, -80, 300n, "REDEEM", null, inputs[2]!.idempotencyKey],
  ]);
  expect(await wallet(a)).toEqual({ balance: 300, held: 0 });
  expect(await wallet(b)).toEqual({ balance: 0, held: 0 });
  expect(await redemptionBalance()).toBe(before + 500);
  // Lots: each redemption consumed the member's lot by exactly its points.
  const consumed = await prisma().lotConsumption.findMany({ where: { transactionId: { in: r.transactions.map((t) => t.id) } } });
  expect(consumed.map((c) => Number(c.points)).sort((x, y) => x - y)).toEqual([80, 120, 300]);
  expect(await prisma().pointsRedemptionCode.count({ where: { memberId: { in: [a, b] }, usedAt: null } })).toBe(0);
  expect(await activity([a, b])).toEqual(
    expect.arrayContaining([
      { memberId: a, points: -120, kind: "REDEEM" },
      { memberId: b, points: -300, kind: "REDEEM" },
      { memberId: a, points: -80, kind: "REDEEM" },
    ]),
  );
  // A replay of the same call posts nothing and answers the same transactions.
  const again = await redeemPointsBatch(P, inputs);
  expect(again).toMatchObject({ accepted: 0, replayed: 3, rejected: [] });
  expect(again.transactions.map((t) => t.id)).toEqual(r.transactions.map((t) => t.id));
  expect(await wallet(a)).toEqual({ balance: 300, held: 0 });
});

test("rejections come back by index, change nothing and block no other item; a rejected item's code stays usable", async () => {
  const a = await memberWith(250);
  const b = await memberWith(100);
  const other = randomUUID();
  await applyEvents(registered(other), { type: "member.linked", payload: { memberId: a, partnerId: other, externalRef: "x", linkedAt: new Date().toISOString() } });
  const c1 = await code(a, 200);
  const c2 = await code(a, 100); // a has 250: after c1 only 50 are left
  const c3 = await code(b, 100);
  const foreign = await code(a, 10, other); // another partner's code
  const dupKey = randomUUID();
  const inputs = [
    item(c1, 200),
    item(c2, 100),
    item(c3, 99), // the code is for 100
    item(foreign, 10),
    { redemptionCode: c3, points: 0, idempotencyKey: randomUUID() },
    item(c1, 200), // already used by item 0
    { points: 100, idempotencyKey: randomUUID() }, // a partner needs a code
    item(c3, 100, { memberId: a }), // the code is b's
    item(c3, 100, { idempotencyKey: dupKey }),
    item(c3, 100, { idempotencyKey: dupKey, reference: "other body" }),
    item(c3, 100, { idempotencyKey: dupKey }), // the same request again: item 8's outcome
  ];
  const r = await redeemPointsBatch(P, inputs);
  expect(r.rejected.map((x) => [x.index, x.code])).toEqual([
    [1, "INSUFFICIENT_POINTS"],
    [2, "REDEMPTION_CODE_INVALID"],
    [3, "REDEMPTION_CODE_INVALID"],
    [4, "BAD_USER_INPUT"],
    [5, "REDEMPTION_CODE_INVALID"],
    [6, "REDEMPTION_CODE_INVALID"],
    [7, "REDEMPTION_CODE_INVALID"],
    [9, "IDEMPOTENCY_CONFLICT"],
  ]);
  expect(r).toMatchObject({ accepted: 2, replayed: 1 });
  expect(r.transactions.map((t) => [t.memberId, t.memberPoints])).toEqual([
    [a, -200],
    [b, -100],
    [b, -100],
  ]);
  expect(r.transactions[2]!.id).toBe(r.transactions[1]!.id);
  expect(await wallet(a)).toEqual({ balance: 50, held: 0 });
  expect(await wallet(b)).toEqual({ balance: 0, held: 0 });
  // c2 was not spent by its rejected item: once a has the points, it redeems.
  await awardPoints(P, { memberId: a, points: 50, idempotencyKey: randomUUID() });
  expect(await redeemPoints(P, { redemptionCode: c2, points: 100, idempotencyKey: randomUUID() })).toMatchObject({ memberId: a, memberPoints: -100 });
});

test("points held by a pending hold are not available to the batch", async () => {
  const m = await memberWith(300);
  // Both codes made while 300 were available; the hold then reserves 250 of them.
  const forHold = await code(m, 250);
  const forBatch = await code(m, 100);
  await authorizeRedemption(P, { redemptionCode: forHold, points: 250, idempotencyKey: randomUUID() });
  const r = await redeemPointsBatch(P, [item(forBatch, 100)]);
  expect(r.rejected.map((x) => x.code)).toEqual(["INSUFFICIENT_POINTS"]);
  expect(await wallet(m)).toEqual({ balance: 300, held: 250 });
});

test("replays across the single and the batch path: a key redeemPoints used answers its transaction, another body is a conflict", async () => {
  const m = await memberWith(400);
  const first = item(await code(m, 100), 100);
  const t = await redeemPoints(P, first);
  const inputs = [first, { ...first, reference: "changed" }, item(await code(m, 100), 100)];
  const r = await redeemPointsBatch(P, inputs);
  expect(r.rejected.map((x) => [x.index, x.code])).toEqual([[1, "IDEMPOTENCY_CONFLICT"]]);
  expect(r).toMatchObject({ accepted: 1, replayed: 1 });
  expect(r.transactions[0]!.id).toBe(t.id);
  // And the batch's own item, sent one by one, is a replay of the batch's transaction.
  expect((await redeemPoints(P, inputs[2]!)).id).toBe(r.transactions[1]!.id);
  expect(await wallet(m)).toEqual({ balance: 200, held: 0 });
});

describe("who and how many", () => {
  test("only a partner redeems in a batch; at most REDEEM_BATCH_MAX_ITEMS items", async () => {
    await expect(redeemPointsBatch(adminPrincipal(), [])).rejects.toMatchObject({ extensions: { code: "FORBIDDEN" } });
    await expect(redeemPointsBatch(memberPrincipal(randomUUID()), [])).rejects.toMatchObject({ extensions: { code: "FORBIDDEN" } });
    const many = Array.from({ length: REDEEM_BATCH_MAX_ITEMS + 1 }, () => item("x", 1));
    await expect(redeemPointsBatch(P, many)).rejects.toMatchObject({ extensions: { code: "BAD_USER_INPUT", field: "inputs" } });
    expect(await redeemPointsBatch(P, [])).toEqual({ accepted: 0, replayed: 0, rejected: [], transactions: [] });
  });
});

describe("createRedemptionCode (partner and wallet read in one statement)", () => {
  test("an inactive partner is BAD_USER_INPUT; no wallet or too few available points is INSUFFICIENT_POINTS; otherwise a code", async () => {
    const m = await memberWith(100);
    const closed = randomUUID();
    await applyEvents(registered(closed), { type: "partner.status_changed", payload: { partnerId: closed, active: false } });
    await expect(code(m, 10, closed)).rejects.toMatchObject({ extensions: { code: "BAD_USER_INPUT", field: "partnerId" } });
    await expect(code(randomUUID(), 10)).rejects.toMatchObject({ extensions: { code: "INSUFFICIENT_POINTS", points: 10, available: 0 } });
    await expect(code(m, 101)).rejects.toMatchObject({ extensions: { code: "INSUFFICIENT_POINTS", points: 101, available: 100 } });
    // A partner the points subgraph has not heard of yet is not refused here (the redemption checks the code's partner).
    expect(await code(m, 100, randomUUID())).toEqual(expect.any(String));
    expect(await code(m, 100)).toEqual(expect.any(String));
  });
});

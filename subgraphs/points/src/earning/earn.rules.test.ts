import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import { addMonths, useSettings } from "../config.ts";
import { MAX_POINTS_PER_EARN } from "../domain.ts";
import { awardPoints } from "./award.ts";
import { awardPointsBatch, BATCH_MAX_ITEMS } from "./bulk.ts";
import { purchasePoints } from "./rules.ts";

// Earning rules through the public service functions, single and bulk (found by mutation testing,
// bench/MUTATION.md): points for a purchase (the program's tier rate × the partner's earn rate, rounded down), the 1-point
// floor and the per-award maximum, rejections by index in a bulk call (unlinked, inactive partner,
// duplicates of rejected items, items with an offer), the bulk call's limits, and what one bulk
// call writes (balances after each item, issuance, lifetime, events, the inactivity expiry policy).
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());
afterEach(() => useSettings({}));

const shop = randomUUID(); // earns 2 points per currency unit
const plain = randomUUID(); // 1 point per unit
const P = partnerPrincipal(shop);
beforeAll(async () => {
  await applyEvents(registered(shop, "2"), registered(plain));
});

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "OK",
    (e: unknown) => (e instanceof HubError ? `${e.extensions.code}${e.extensions.field ? `:${String(e.extensions.field)}` : ""}` : String(e)),
  );

async function member(partnerId = shop) {
  const m = randomUUID();
  await applyEvents(enrolled(m, partnerId));
  return m;
}
const account = async (code: string) => prisma().ledgerAccount.findUnique({ where: { code } });

describe("points for a purchase", () => {
  test("purchasePoints: amount × rate (points per 1 unit of currency), rounded down", () => {
    expect(purchasePoints("10.99", "2")).toBe(21);
    expect(purchasePoints("10", "1.25")).toBe(12); // 12.5 → 12
    expect(purchasePoints("10", "1.5")).toBe(15);
    expect(purchasePoints("10.5", "2")).toBe(21);
    expect(purchasePoints("0.99", "1")).toBe(0);
  });

  test("single and bulk use the classic program's tier rate × the partner's earn rate and the member's stored tier", async () => {
    const m = await member();
    // BASE: 1 point per unit × the partner's 2 = 2 per unit.
    expect(await awardPoints(P, { memberId: m, purchaseAmount: "10.99", idempotencyKey: randomUUID() })).toMatchObject({ memberPoints: 21 });
    // 1,021 points in 12 months (more than 1,000): SILVER (2 per unit × 2) from now on.
    await awardPoints(P, { memberId: m, points: 1_000, idempotencyKey: randomUUID() });
    expect(await awardPoints(P, { memberId: m, purchaseAmount: "10", idempotencyKey: randomUUID() })).toMatchObject({ memberPoints: 40 });
    expect(await awardPoints(P, { memberId: m, purchaseAmount: "10", idempotencyKey: randomUUID() }, { now: new Date() })).toMatchObject({ memberPoints: 40 });
    const r = await awardPointsBatch(P, [{ memberId: m, purchaseAmount: "10", idempotencyKey: randomUUID() }]);
    expect(r.transactions.map((t) => t.memberPoints)).toEqual([40]);
  });

  test("a partner whose partner.registered has not arrived earns at 1 point per unit", async () => {
    const unknown = randomUUID();
    const m = await member(unknown);
    expect(await awardPoints(partnerPrincipal(unknown), { memberId: m, purchaseAmount: "7.9", idempotencyKey: randomUUID() })).toMatchObject({ memberPoints: 7 });
    const r = await awardPointsBatch(partnerPrincipal(unknown), [{ memberId: m, purchaseAmount: "3", idempotencyKey: randomUUID() }]);
    expect(r).toMatchObject({ accepted: 1, rejected: [] });
    expect(r.transactions[0]!.memberPoints).toBe(3);
  });

  test("below 1 point is refused; exactly 1 is fine; above the per-award maximum is refused on the field that caused it", async () => {
    const m = await member(plain);
    const Q = partnerPrincipal(plain);
    expect(await codeOf(awardPoints(Q, { memberId: m, purchaseAmount: "0.99", idempotencyKey: randomUUID() }))).toBe("BAD_USER_INPUT:purchaseAmount");
    expect(await codeOf(awardPoints(Q, { memberId: m, purchaseAmount: "1", idempotencyKey: randomUUID() }))).toBe("OK");
    expect(await codeOf(awardPoints(Q, { memberId: m, purchaseAmount: String(MAX_POINTS_PER_EARN + 1), idempotencyKey: randomUUID() }))).toBe("BAD_USER_INPUT:purchaseAmount");
    expect(await codeOf(awardPoints(Q, { memberId: m, points: MAX_POINTS_PER_EARN + 1, idempotencyKey: randomUUID() }))).toBe("BAD_USER_INPUT:points");
    const r = await awardPointsBatch(Q, [
      { memberId: m, purchaseAmount: "0.5", idempotencyKey: randomUUID() },
      { memberId: m, purchaseAmount: String(MAX_POINTS_PER_EARN + 1), idempotencyKey: randomUUID() },
      { memberId: m, purchaseAmount: String(MAX_POINTS_PER_EARN), idempotencyKey: randomUUID() },
    ]);
    expect(r.rejected).toEqual([
      { index: 0, code: "BAD_USER_INPUT", message: expect.stringMatching(/no points/), field: "purchaseAmount" },
      { index: 1, code: "BAD_USER_INPUT", message: expect.stringMatching(/at most/), field: "purchaseAmount" },
    ]);
    expect(r.transactions.map((t) => t.memberPoints)).toEqual([MAX_POINTS_PER_EARN]);
    // + the classic program's welcome bonus (200 points) on the member's first purchase (perks/bonuses.ts).
    expect((await account(`wallet:${m}`))!.balance).toBe(BigInt(MAX_POINTS_PER_EARN + 1 + 200));
  });
});

describe("back-dated awards (the demo seed's history)", () => {
  test("postedAt alone takes the one-transaction path and is the transaction's time", async () => {
    const m = await member();
    const past = new Date(Date.UTC(2025, 2, 3, 4, 5, 6));
    const t = await awardPoints(P, { memberId: m, points: 9, idempotencyKey: randomUUID() }, { postedAt: past });
    expect(t.postedAt).toEqual(past);
    expect((await prisma().ledgerTransaction.findUniqueOrThrow({ where: { id: t.id } })).postedAt).toEqual(past);
  });
});

describe("who may be awarded", () => {
  test("an unlinked member is NOT_FOUND; an inactive partner cannot award (single and bulk, by index)", async () => {
    const m = await member();
    const stranger = await member(plain);
    expect(await codeOf(awardPoints(P, { memberId: stranger, points: 5, idempotencyKey: randomUUID() }, { now: new Date() }))).toBe("NOT_FOUND");
    const r = await awardPointsBatch(P, [
      { memberId: m, points: 5, idempotencyKey: randomUUID() },
      { memberId: stranger, points: 5, idempotencyKey: randomUUID() },
    ]);
    expect(r).toMatchObject({ accepted: 1, replayed: 0 });
    expect(r.rejected).toEqual([{ index: 1, code: "NOT_FOUND", message: expect.stringContaining(stranger) }]);
    expect((await account(`wallet:${stranger}`))?.balance ?? 0n).toBe(0n);

    const closed = randomUUID();
    await applyEvents(registered(closed));
    const c = await member(closed);
    await applyEvents({ type: "partner.status_changed", payload: { partnerId: closed, active: false } });
    const C = partnerPrincipal(closed);
    expect(await codeOf(awardPoints(C, { memberId: c, points: 5, idempotencyKey: randomUUID() }))).toBe("BAD_USER_INPUT");
    expect(await codeOf(awardPoints(C, { memberId: c, points: 5, idempotencyKey: randomUUID() }, { now: new Date() }))).toBe("BAD_USER_INPUT");
    const b = await awardPointsBatch(C, [{ memberId: c, points: 5, idempotencyKey: randomUUID() }]);
    expect(b).toMatchObject({ accepted: 0, replayed: 0, transactions: [] });
    expect(b.rejected).toEqual([{ index: 0, code: "BAD_USER_INPUT", message: expect.stringMatching(/inactive/) }]);
    expect((await account(`wallet:${c}`))?.balance ?? 0n).toBe(0n);
    // Active again: it awards.
    await applyEvents({ type: "partner.status_changed", payload: { partnerId: closed, active: true } });
    expect(await awardPoints(C, { memberId: c, points: 5, idempotencyKey: randomUUID() })).toMatchObject({ memberPoints: 5 });
  });
});

describe("bulk earn", () => {
  test("limits: not a list, more than BATCH_MAX_ITEMS items", async () => {
    expect(await codeOf(awardPointsBatch(P, "nope" as unknown as unknown[]))).toBe("BAD_USER_INPUT");
    expect(
      await codeOf(
        awardPointsBatch(
          P,
          Array.from({ length: BATCH_MAX_ITEMS + 1 }, () => ({})),
        ),
      ),
    ).toBe("BAD_USER_INPUT:inputs");
    // Exactly the maximum is accepted as a call (here all items are invalid: rejected one by one, nothing written).
    const r = await awardPointsBatch(
      P,
      Array.from({ length: BATCH_MAX_ITEMS }, () => ({})),
    );
    expect(r).toMatchObject({ accepted: 0, replayed: 0, transactions: [] });
    expect(r.rejected.length).toBe(BATCH_MAX_ITEMS);
    expect(new Set(r.rejected.map((x) => x.code))).toEqual(new Set(["BAD_USER_INPUT"]));
  });

  test("balances after each item, issuance, lifetime and events of one call; results in input order", async () => {
    const [m1, m2] = [await member(), await member()];
    const issuedBefore = (await account(`issuance:${shop}`))?.balance ?? 0n;
    const eventsBefore = await prisma().pointsOutboxEvent.count({ where: { type: "points.activity" } });
    const keys = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const r = await awardPointsBatch(P, [
      { memberId: m1, points: 10, idempotencyKey: keys[0], reference: "r0" },
      { memberId: m2, points: 7, idempotencyKey: keys[1] },
      { memberId: m1, points: 20, idempotencyKey: keys[2] },
      { memberId: m1, purchaseAmount: "1.5", idempotencyKey: keys[3] },
    ]);
    expect(r).toMatchObject({ accepted: 4, replayed: 0, rejected: [] });
    expect(r.transactions.map((t) => [t.idempotencyKey, t.memberId, Number(t.memberPoints), Number(t.balanceAfter), t.kind, t.reference])).toEqual([
      [keys[0], m1, 10, 10, "EARN", "r0"],
      [keys[1], m2, 7, 7, "EARN", null],
      [keys[2], m1, 20, 30, "EARN", null],
      [keys[3], m1, 3, 33, "EARN", null],
    ]);
    const stored = await prisma().ledgerTransaction.findMany({ where: { idempotencyKey: { in: keys } } });
    expect(new Map(stored.map((t) => [t.idempotencyKey, [Number(t.memberPoints), Number(t.balanceAfter), t.reference, t.partnerId, t.createdBy]]))).toEqual(
      new Map([
        [keys[0], [10, 10, "r0", shop, P.sub]],
        [keys[1], [7, 7, null, shop, P.sub]],
        [keys[2], [20, 30, null, shop, P.sub]],
        [keys[3], [3, 33, null, shop, P.sub]],
      ]),
    );
    expect(r.transactions.map((t) => t.id).sort()).toEqual(stored.map((t) => t.id).sort());
    // m1: + the classic program's welcome bonus (200 points, a PROGRAM_BONUS) on its first purchase (the 1.5 item); m2 awarded points only, no purchase.
    expect(await account(`wallet:${m1}`)).toMatchObject({ balance: 233n, lifetimeEarned: 233n });
    expect(await account(`wallet:${m2}`)).toMatchObject({ balance: 7n, lifetimeEarned: 7n });
    expect((await account(`issuance:${shop}`))!.balance).toBe(issuedBefore - 40n);
    const lots = await prisma().lot.findMany({ where: { memberId: m1 }, orderBy: { id: "asc" } });
    expect(lots.map((l) => [Number(l.points), Number(l.remaining), l.issuerPartnerId])).toEqual([
      [10, 10, shop],
      [20, 20, shop],
      [3, 3, shop],
      [200, 200, null], // the welcome bonus: the coalition's, no issuer
    ]);
    const events = await prisma().pointsOutboxEvent.findMany({ where: { type: "points.activity" }, orderBy: { createdAt: "asc" }, skip: eventsBefore });
    expect(events.map((e) => e.payload as { memberId: string; points: number; kind: string; partnerId: string }).map((p) => [p.memberId, p.points, p.kind, p.partnerId])).toEqual([
      [m1, 10, "EARN", shop],
      [m2, 7, "EARN", shop],
      [m1, 20, "EARN", shop],
      [m1, 3, "EARN", shop],
      [m1, 200, "PROGRAM_BONUS", shop], // emitted with the chunk's earns' events, after them
    ]);
    // A call whose items are all replays writes nothing and answers the stored transactions.
    const again = await awardPointsBatch(P, [
      { memberId: m1, points: 10, idempotencyKey: keys[0], reference: "r0" },
      { memberId: m2, points: 7, idempotencyKey: keys[1] },
    ]);
    expect(again).toMatchObject({ accepted: 0, replayed: 2, rejected: [] });
    expect(again.transactions.map((t) => [t.id, t.balanceAfter])).toEqual(r.transactions.slice(0, 2).map((t) => [t.id, t.balanceAfter]));
    expect((await account(`issuance:${shop}`))!.balance).toBe(issuedBefore - 40n);
  });

  test("duplicates inside one call: same body follows the first (replayed), another body is IDEMPOTENCY_CONFLICT, a duplicate of a rejected item gets its code", async () => {
    const m = await member();
    const stranger = await member(plain);
    const [k1, k2] = [randomUUID(), randomUUID()];
    const r = await awardPointsBatch(P, [
      { memberId: m, points: 10, idempotencyKey: k1 },
      { memberId: m, points: 10, idempotencyKey: k1 },
      { memberId: m, points: 11, idempotencyKey: k1 },
      { memberId: stranger, points: 5, idempotencyKey: k2 },
      { memberId: stranger, points: 5, idempotencyKey: k2 },
      // In one call a key stands for its first item's body, even when that item was refused (one by
      // one, a refused award stores nothing and the key could be tried again with another body).
      { memberId: m, points: 6, idempotencyKey: k2 },
    ]);
    expect(r.accepted).toBe(1);
    expect(r.replayed).toBe(1);
    expect(r.transactions.map((t) => t.id)).toEqual([r.transactions[0]!.id, r.transactions[0]!.id]);
    expect(r.rejected).toEqual([
      { index: 2, code: "IDEMPOTENCY_CONFLICT", message: expect.any(String) },
      { index: 3, code: "NOT_FOUND", message: expect.stringContaining(stranger) },
      { index: 4, code: "NOT_FOUND", message: expect.stringContaining(stranger) },
      { index: 5, code: "IDEMPOTENCY_CONFLICT", message: expect.any(String) },
    ]);
    // Rejections come back in input order whatever stage refused them (here the database stage before the validation stage).
    const o = await awardPointsBatch(P, [{ memberId: stranger, points: 5, idempotencyKey: randomUUID() }, { memberId: m }]);
    expect(o.rejected.map((x) => [x.index, x.code])).toEqual([
      [0, "NOT_FOUND"],
      [1, "BAD_USER_INPUT"],
    ]);
    expect((await account(`wallet:${m}`))!.balance).toBe(10n);
  });

  test("items with an offer take the single-award path: their rejection comes back by index; the other items are written", async () => {
    const m = await member();
    const r = await awardPointsBatch(P, [
      { memberId: m, points: 10, idempotencyKey: randomUUID() },
      { memberId: m, points: 10, offerId: randomUUID(), idempotencyKey: randomUUID() },
    ]);
    expect(r).toMatchObject({ accepted: 1, replayed: 0 });
    expect(r.rejected).toEqual([{ index: 1, code: "OFFER_NOT_ACTIVE", message: expect.any(String) }]);
    expect((await account(`wallet:${m}`))!.balance).toBe(10n);
  });

  test("inactivity expiry policy: a bulk earn pushes the member's open lots' expiry to its time + months", async () => {
    useSettings({ expiryPolicy: { kind: "inactivity_months", months: 12 } });
    const m = await member();
    const other = await member();
    const t0 = new Date(Date.UTC(2026, 0, 10));
    const t1 = new Date(Date.UTC(2026, 5, 10));
    await awardPoints(P, { memberId: m, points: 10, idempotencyKey: randomUUID() }, { now: t0 });
    await awardPoints(P, { memberId: other, points: 10, idempotencyKey: randomUUID() }, { now: t0 });
    expect((await prisma().lot.findFirstOrThrow({ where: { memberId: m } })).expiresAt).toEqual(addMonths(t0, 12));
    await awardPointsBatch(P, [{ memberId: m, points: 5, idempotencyKey: randomUUID() }], { now: t1 });
    const lots = await prisma().lot.findMany({ where: { memberId: m }, orderBy: { id: "asc" } });
    expect(lots.map((l) => l.expiresAt)).toEqual([addMonths(t1, 12), addMonths(t1, 12)]);
    expect((await prisma().lot.findFirstOrThrow({ where: { memberId: other } })).expiresAt).toEqual(addMonths(t0, 12));
  });
});

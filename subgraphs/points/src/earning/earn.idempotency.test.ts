import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import { awardPoints } from "./award.ts";
import { awardPointsBatch } from "./bulk.ts";

// Issue 14 "Tests that can fail": a committed idempotency key sent again with a DIFFERENT body must
// be IDEMPOTENCY_CONFLICT with nothing written, and with the SAME body the original transaction.
// Before these tests the suite passed with `prev.requestHash === c.hash` → `true` in earnChunk (the
// path of every bulk earn and every group-committed single earn). Each case is checked on the three
// write paths: group-committed single earn, one-transaction single earn (opts.now), bulk earn.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const shop = randomUUID();
const other = randomUUID();
const P = partnerPrincipal(shop);

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "OK",
    (e: unknown) => (e instanceof HubError ? e.extensions.code : String(e)),
  );

async function member(partnerId = shop) {
  const m = randomUUID();
  await applyEvents(enrolled(m, partnerId));
  return m;
}

/** What the ledger holds for a member and a key: the proof that nothing more was written. */
async function state(m: string, key: string) {
  const wallet = await prisma().ledgerAccount.findUnique({ where: { code: `wallet:${m}` } });
  const issuance = await prisma().ledgerAccount.findUnique({ where: { code: `issuance:${shop}` } });
  return {
    balance: Number(wallet?.balance ?? 0),
    lifetime: Number(wallet?.lifetimeEarned ?? 0),
    issuance: Number(issuance?.balance ?? 0),
    txs: await prisma().ledgerTransaction.count({ where: { memberId: m } }),
    withKey: await prisma().ledgerTransaction.count({ where: { idempotencyScope: `partner:${shop}`, idempotencyKey: key } }),
    lots: await prisma().lot.count({ where: { memberId: m } }),
    events: await prisma().pointsOutboxEvent.count({ where: { type: "points.activity" } }),
  };
}

/** Bodies that differ from `{ memberId: m, points: 100 }` in exactly one field. */
const variants = (m: string, m2: string) => [
  { name: "other points", body: { memberId: m, points: 101 } },
  { name: "purchaseAmount instead of points", body: { memberId: m, purchaseAmount: "100" } },
  { name: "other member", body: { memberId: m2, points: 100 } },
  { name: "a reference added", body: { memberId: m, points: 100, reference: "order-1" } },
  // An offer the partner cannot apply: the key's conflict is found before the offer is looked at.
  { name: "an offer added", body: { memberId: m, points: 100, offerId: "00000000-0000-4000-8000-000000000001" } },
];

type Writer = (body: Record<string, unknown>, key: string) => Promise<{ id: string; memberPoints: number }>;
const single: Writer = (body, key) => awardPoints(P, { ...body, idempotencyKey: key });
// opts.now takes the one-transaction path (idempotentTransaction), not the group commit.
const singleDirect: Writer = (body, key) => awardPoints(P, { ...body, idempotencyKey: key }, { now: new Date() });
const bulk: Writer = async (body, key) => {
  const r = await awardPointsBatch(P, [{ ...body, idempotencyKey: key }]);
  if (r.rejected.length) throw new HubError(r.rejected[0]!.code as "IDEMPOTENCY_CONFLICT", r.rejected[0]!.message);
  return r.transactions[0]!;
};
const writers: [string, Writer][] = [
  ["single earn (group commit)", single],
  ["single earn (one transaction)", singleDirect],
  ["bulk earn", bulk],
];

beforeAll(async () => {
  await applyEvents(registered(shop), registered(other));
});

describe("earn idempotency: a committed key with another body is IDEMPOTENCY_CONFLICT, nothing written", () => {
  for (const [firstName, first] of writers) {
    for (const [againName, again] of writers) {
      test(`committed by ${firstName}, re-sent by ${againName}`, async () => {
        const m = await member();
        const m2 = await member();
        for (const v of variants(m, m2)) {
          const key = randomUUID();
          const original = await first({ memberId: m, points: 100 }, key);
          const before = await state(m, key);
          const before2 = await state(m2, key);
          expect(await codeOf(again(v.body, key)), v.name).toBe("IDEMPOTENCY_CONFLICT");
          expect(await state(m, key), v.name).toEqual(before);
          expect(await state(m2, key), v.name).toEqual(before2);
          // The same body still gets the original transaction, and writes nothing either.
          const replay = await again({ memberId: m, points: 100 }, key);
          expect(replay, v.name).toMatchObject({ id: original.id, memberPoints: 100 });
          expect(await state(m, key), v.name).toEqual(before);
        }
      });
    }
  }

  test("purchase-based awards: another purchaseAmount under a committed key is a conflict, the same one a replay", async () => {
    const m = await member();
    for (const [name, write] of writers) {
      const key = randomUUID();
      const original = await write({ memberId: m, purchaseAmount: "10" }, key);
      const before = await state(m, key);
      expect(await codeOf(write({ memberId: m, purchaseAmount: "11" }, key)), name).toBe("IDEMPOTENCY_CONFLICT");
      expect(await codeOf(write({ memberId: m, purchaseAmount: "10.5" }, key)), name).toBe("IDEMPOTENCY_CONFLICT");
      expect(await state(m, key), name).toEqual(before);
      expect(await write({ memberId: m, purchaseAmount: "10" }, key), name).toMatchObject({ id: original.id, memberPoints: original.memberPoints });
    }
  });

  test("a committed reference or offer changed to another one is a conflict, not a replay", async () => {
    const DAY = 86_400_000;
    const offer = async () => {
      const offerId = randomUUID();
      await applyEvents({
        type: "partner.offer_activated",
        payload: {
          offerId,
          kind: "BONUS_POINTS",
          bonusPoints: 5,
          multiplier: null,
          budgetPoints: 1_000,
          perMemberLimit: 10,
          startsAt: new Date(Date.now() - DAY).toISOString(),
          endsAt: new Date(Date.now() + 300 * DAY).toISOString(),
          minTier: null,
          segments: [],
          redeemableAtPartnerIds: [shop],
          fundings: [{ partnerId: shop, shareBps: 10_000 }],
        },
      });
      return offerId;
    };
    const m = await member();
    const [o1, o2] = [await offer(), await offer()];
    for (const o of [o1, o2]) await applyEvents({ type: "partner.offer_claimed", payload: { offerId: o, memberId: m, claimedAt: new Date().toISOString() } });
    for (const [name, write] of writers) {
      for (const [first, other] of [
        [{ reference: "order-1" }, { reference: "order-2" }],
        [{ offerId: o1 }, { offerId: o2 }],
      ] as const) {
        const key = randomUUID();
        const original = await write({ memberId: m, points: 100, ...first }, key);
        const before = await state(m, key);
        expect(await codeOf(write({ memberId: m, points: 100, ...other }, key)), `${name} ${JSON.stringify(other)}`).toBe("IDEMPOTENCY_CONFLICT");
        expect(await state(m, key)).toEqual(before);
        expect(await write({ memberId: m, points: 100, ...first }, key)).toMatchObject({ id: original.id });
      }
    }
  });

  test("bulk: in one call, a conflicting item is rejected by index while its neighbours are accepted or replayed", async () => {
    const m = await member();
    const [k1, k2, k3] = [randomUUID(), randomUUID(), randomUUID()];
    const first = await awardPointsBatch(P, [
      { memberId: m, points: 10, idempotencyKey: k1 },
      { memberId: m, points: 20, idempotencyKey: k2 },
    ]);
    expect(first).toMatchObject({ accepted: 2, replayed: 0, rejected: [] });
    const balance = (await state(m, k1)).balance;
    const r = await awardPointsBatch(P, [
      { memberId: m, points: 10, idempotencyKey: k1 }, // replay
      { memberId: m, points: 21, idempotencyKey: k2 }, // conflict
      { memberId: m, points: 30, idempotencyKey: k3 }, // new
    ]);
    expect(r.accepted).toBe(1);
    expect(r.replayed).toBe(1);
    expect(r.rejected).toEqual([{ index: 1, code: "IDEMPOTENCY_CONFLICT", message: expect.any(String) }]);
    expect(r.transactions.map((t) => [t.idempotencyKey, t.memberPoints])).toEqual([
      [k1, 10],
      [k3, 30],
    ]);
    expect(r.transactions[0]!.id).toBe(first.transactions[0]!.id);
    expect((await state(m, k2)).balance).toBe(balance + 30);
    const stored = await prisma().ledgerTransaction.findFirstOrThrow({ where: { idempotencyKey: k2 } });
    expect(stored.memberPoints).toBe(20n);
  });

  test("keys are per partner: another partner's identical key is its own write, not a replay or a conflict", async () => {
    const m = await member();
    await applyEvents({ type: "member.linked", payload: { memberId: m, partnerId: other, externalRef: "x", linkedAt: new Date().toISOString() } });
    const key = randomUUID();
    const a = await awardPoints(P, { memberId: m, points: 5, idempotencyKey: key });
    const b = await awardPointsBatch(partnerPrincipal(other), [{ memberId: m, points: 7, idempotencyKey: key }]);
    expect(b).toMatchObject({ accepted: 1, replayed: 0, rejected: [] });
    expect(b.transactions[0]!.id).not.toBe(a.id);
    expect((await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: `wallet:${m}` } })).balance).toBe(12n);
  });
});

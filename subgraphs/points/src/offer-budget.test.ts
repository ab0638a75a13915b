import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../lib/db.ts";
import { freshDatabase } from "../../../tests/support/db.ts";
import { adminPrincipal, partnerPrincipal } from "../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "./db.ts";
import { applyEvents, enrolled, registered } from "./testing/harness.ts";
import { awardPoints } from "./earning/award.ts";
import { splitByShares } from "./ledger/shares.ts";
import { budgetsRemaining } from "./reads.ts";
import { adjustPoints } from "./redemption/redeem.ts";

// An offer's budget (the OFFER_BUDGET account): funded once by its co-issuers in their shares when
// the offer is activated, spent by bonuses (never below zero), returned in the same shares when the
// offer ends. Exact amounts here: the property test in lifecycle.test.ts only bounds each share.

describe("splitByShares: largest remainder, exact parts", () => {
  // Partner ids in a known order for the tie-break (ids compare as strings).
  const A = "00000000-0000-4000-8000-00000000000a";
  const B = "00000000-0000-4000-8000-00000000000b";
  const C = "00000000-0000-4000-8000-00000000000c";

  test("the leftover point goes to the largest fractional part, not to the largest share", () => {
    // 1.6 and 8.4: floors 1 + 8, one point left, 0.6 > 0.4.
    expect(
      splitByShares(10, [
        { partnerId: A, shareBps: 1_600 },
        { partnerId: B, shareBps: 8_400 },
      ]),
    ).toEqual([
      { partnerId: A, points: 2 },
      { partnerId: B, points: 8 },
    ]);
    // 33.33, 33.33, 33.34: the third part's 0.34 wins.
    expect(
      splitByShares(100, [
        { partnerId: A, shareBps: 3_333 },
        { partnerId: B, shareBps: 3_333 },
        { partnerId: C, shareBps: 3_334 },
      ]).map((p) => p.points),
    ).toEqual([33, 33, 34]);
    // 2.9, 3.6, 3.5: two points left, 0.9 and 0.6 get them, 0.5 does not.
    expect(
      splitByShares(10, [
        { partnerId: A, shareBps: 2_900 },
        { partnerId: B, shareBps: 3_600 },
        { partnerId: C, shareBps: 3_500 },
      ]).map((p) => p.points),
    ).toEqual([3, 4, 3]);
  });

  test("equal remainders: the smaller partner id first; parts come back in input order", () => {
    expect(
      splitByShares(1, [
        { partnerId: B, shareBps: 5_000 },
        { partnerId: A, shareBps: 5_000 },
      ]),
    ).toEqual([
      { partnerId: B, points: 0 },
      { partnerId: A, points: 1 },
    ]);
    // 1, 0.5, 0.5: the leftover point to A over B, and C (whole share) keeps its place first.
    expect(
      splitByShares(2, [
        { partnerId: C, shareBps: 5_000 },
        { partnerId: B, shareBps: 2_500 },
        { partnerId: A, shareBps: 2_500 },
      ]),
    ).toEqual([
      { partnerId: C, points: 1 },
      { partnerId: B, points: 0 },
      { partnerId: A, points: 1 },
    ]);
  });

  test("shares are relative (need not sum to 10,000); whole shares split without leftovers; zero splits to zeros", () => {
    expect(
      splitByShares(10, [
        { partnerId: A, shareBps: 1 },
        { partnerId: B, shareBps: 4 },
      ]).map((p) => p.points),
    ).toEqual([2, 8]);
    expect(
      splitByShares(1_000, [
        { partnerId: A, shareBps: 6_000 },
        { partnerId: B, shareBps: 4_000 },
      ]).map((p) => p.points),
    ).toEqual([600, 400]);
    expect(
      splitByShares(0, [
        { partnerId: A, shareBps: 6_000 },
        { partnerId: B, shareBps: 4_000 },
      ]).map((p) => p.points),
    ).toEqual([0, 0]);
  });

  test("no shares at all is refused (no division by zero)", () => {
    expect(() => splitByShares(10, [{ partnerId: A, shareBps: 0 }])).toThrow(/no shares/);
    expect(() => splitByShares(10, [])).toThrow(/no shares/);
  });
});

describe("the budget in the ledger", () => {
  let db: Database;
  const shop = randomUUID();
  const hotel = randomUUID();
  beforeAll(async () => {
    db = await freshDatabase();
    usePrisma(db.client());
    await applyEvents(registered(shop), registered(hotel));
  });
  afterAll(() => db?.close());

  const balance = async (code: string) => (await prisma().ledgerAccount.findUnique({ where: { code } }))?.balance ?? null;
  const txsOf = (offerId: string, kind: string) => prisma().ledgerTransaction.findMany({ where: { offerId, kind: kind as never }, include: { postings: true } });

  async function activate(terms: { budgetPoints: number; fundings: { partnerId: string; shareBps: number }[]; kind?: string; bonusPoints?: number | null; multiplier?: string | null; perMemberLimit?: number }) {
    const offerId = randomUUID();
    await applyEvents(activated(offerId, terms));
    return offerId;
  }
  function activated(offerId: string, terms: Parameters<typeof activate>[0]) {
    const now = Date.now();
    return {
      type: "partner.offer_activated",
      payload: {
        offerId,
        kind: terms.kind ?? "BONUS_POINTS",
        bonusPoints: terms.bonusPoints === undefined ? 100 : terms.bonusPoints,
        multiplier: terms.multiplier ?? null,
        budgetPoints: terms.budgetPoints,
        perMemberLimit: terms.perMemberLimit ?? 10,
        startsAt: new Date(now - 60_000).toISOString(),
        endsAt: new Date(now + 86_400_000).toISOString(),
        minTier: null,
        redeemableAtPartnerIds: [shop],
        fundings: terms.fundings,
      },
    };
  }
  async function claimant(offerId: string) {
    const m = randomUUID();
    await applyEvents(enrolled(m, shop), { type: "partner.offer_claimed", payload: { offerId, memberId: m, claimedAt: new Date().toISOString() } });
    return m;
  }
  const earn = (memberId: string, points: number, offerId: string) => awardPoints(partnerPrincipal(shop), { memberId, points, offerId, idempotencyKey: randomUUID() });
  const ended = (offerId: string, endedAt: Date) => applyEvents({ type: "partner.offer_ended", payload: { offerId, endedAt: endedAt.toISOString() } });

  test("activation funds the budget once from each co-issuer's issuance account, in its share (largest remainder)", async () => {
    const offerId = await activate({
      budgetPoints: 1_001,
      fundings: [
        { partnerId: shop, shareBps: 6_000 },
        { partnerId: hotel, shareBps: 4_000 },
      ],
    });
    const [funding, ...more] = await txsOf(offerId, "OFFER_FUNDING");
    expect(more).toEqual([]);
    const byAccount = new Map(funding!.postings.map((p) => [p.accountId, p.amount]));
    expect(byAccount.size).toBe(3);
    expect(await balance(`budget:${offerId}`)).toBe(1_001n);
    // 600.6 and 400.4: the leftover point is the shop's.
    const shopIssuance = await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: `issuance:${shop}` } });
    const hotelIssuance = await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: `issuance:${hotel}` } });
    expect([byAccount.get(shopIssuance.id), byAccount.get(hotelIssuance.id)]).toEqual([-601n, -400n]);
    expect((await budgetsRemaining([offerId])).get(offerId)).toBe(1_001);
    // The same event again (a re-activation after a pause): funded once only.
    await applyEvents(
      activated(offerId, {
        budgetPoints: 1_001,
        fundings: [
          { partnerId: shop, shareBps: 6_000 },
          { partnerId: hotel, shareBps: 4_000 },
        ],
      }),
    );
    expect(await txsOf(offerId, "OFFER_FUNDING")).toHaveLength(1);
    expect(await balance(`budget:${offerId}`)).toBe(1_001n);
  });

  test("a co-issuer whose share rounds to zero posts nothing; an offer without budget is not funded at all", async () => {
    const tiny = await activate({
      budgetPoints: 1,
      fundings: [
        { partnerId: shop, shareBps: 9_000 },
        { partnerId: hotel, shareBps: 1_000 },
      ],
    });
    const [funding] = await txsOf(tiny, "OFFER_FUNDING");
    expect(funding!.postings.map((p) => p.amount).sort()).toEqual([-1n, 1n]);
    const none = await activate({ budgetPoints: 0, fundings: [{ partnerId: shop, shareBps: 10_000 }] });
    expect(await txsOf(none, "OFFER_FUNDING")).toEqual([]);
    expect(await prisma().pointsOffer.findUniqueOrThrow({ where: { offerId: none } })).toMatchObject({ status: "ACTIVE", budgetPoints: 0 });
    // Never funded: no remaining budget to report (Offer.remainingBudgetPoints is null).
    expect((await budgetsRemaining([none])).has(none)).toBe(false);
  });

  test("remaining budget: only well-formed offer ids are looked up; none asked, none answered", async () => {
    const offerId = await activate({ budgetPoints: 300, fundings: [{ partnerId: shop, shareBps: 10_000 }] });
    expect([...(await budgetsRemaining(["not-an-offer-id", offerId]))]).toEqual([[offerId, 300]]);
    expect((await budgetsRemaining(["not-an-offer-id"])).size).toBe(0);
    expect((await budgetsRemaining([])).size).toBe(0);
  });

  test("a bonus the remaining budget cannot cover is refused with OFFER_BUDGET_EXHAUSTED and nothing is written", async () => {
    const offerId = await activate({ budgetPoints: 150, bonusPoints: 100, fundings: [{ partnerId: shop, shareBps: 10_000 }] });
    const m = await claimant(offerId);
    const first = await earn(m, 10, offerId);
    expect(first.memberPoints).toBe(10);
    expect(await balance(`wallet:${m}`)).toBe(110n);
    expect((await budgetsRemaining([offerId])).get(offerId)).toBe(50);
    const before = { txs: await prisma().ledgerTransaction.count({ where: { memberId: m } }), uses: await prisma().pointsOfferUse.findMany({ where: { memberId: m } }) };
    await expect(earn(m, 10, offerId)).rejects.toMatchObject({ extensions: { code: "OFFER_BUDGET_EXHAUSTED" } });
    expect(await balance(`wallet:${m}`)).toBe(110n);
    expect(await balance(`budget:${offerId}`)).toBe(50n);
    expect({ txs: await prisma().ledgerTransaction.count({ where: { memberId: m } }), uses: await prisma().pointsOfferUse.findMany({ where: { memberId: m } }) }).toEqual(before);
    // The same guard on the member's wallet names the wallet, not the budget.
    await expect(adjustPoints(adminPrincipal(), { memberId: m, points: -111, reason: "test overdraft", idempotencyKey: randomUUID() })).rejects.toMatchObject({
      extensions: { code: "INSUFFICIENT_POINTS" },
    });
  });

  test("what the budget pays: bonusPoints, or base × (multiplier − 1) rounded down; nothing below one point; a DISCOUNT offer pays no points", async () => {
    const bonus = await activate({ budgetPoints: 1_000, bonusPoints: 70, fundings: [{ partnerId: shop, shareBps: 10_000 }] });
    const m1 = await claimant(bonus);
    await earn(m1, 5, bonus);
    expect([await balance(`wallet:${m1}`), await balance(`budget:${bonus}`)]).toEqual([75n, 930n]);

    const mult = await activate({ budgetPoints: 1_000, kind: "POINTS_MULTIPLIER", bonusPoints: null, multiplier: "1.5", fundings: [{ partnerId: shop, shareBps: 10_000 }] });
    const m2 = await claimant(mult);
    await earn(m2, 101, mult); // 101 × 0.5 = 50.5 → 50
    expect([await balance(`wallet:${m2}`), await balance(`budget:${mult}`)]).toEqual([151n, 950n]);
    await earn(m2, 1, mult); // 0.5 → 0: no bonus, no use counted, the budget untouched
    expect([await balance(`wallet:${m2}`), await balance(`budget:${mult}`)]).toEqual([152n, 950n]);
    expect((await prisma().pointsOfferUse.findFirstOrThrow({ where: { offerId: mult, memberId: m2 } })).uses).toBe(1);
    expect(await txsOf(mult, "OFFER_BONUS")).toHaveLength(1);
    await earn(m2, 2, mult); // exactly 1 point: paid
    expect([await balance(`wallet:${m2}`), await balance(`budget:${mult}`)]).toEqual([155n, 949n]);

    const discount = await activate({ budgetPoints: 1_000, kind: "DISCOUNT", bonusPoints: null, fundings: [{ partnerId: shop, shareBps: 10_000 }] });
    const m3 = await claimant(discount);
    await expect(earn(m3, 5, discount)).rejects.toMatchObject({ extensions: { code: "BAD_USER_INPUT", field: "offerId" } });
    expect(await balance(`budget:${discount}`)).toBe(1_000n);
  });

  test("the end returns the unused budget in the co-issuers' shares, once; a later end changes nothing", async () => {
    const offerId = await activate({
      budgetPoints: 1_000,
      bonusPoints: 99,
      fundings: [
        { partnerId: shop, shareBps: 7_000 },
        { partnerId: hotel, shareBps: 3_000 },
      ],
    });
    await earn(await claimant(offerId), 1, offerId); // 901 left: 630.7 and 270.3 → 631 and 270
    const issuance = async () => [await balance(`issuance:${shop}`), await balance(`issuance:${hotel}`)];
    const [shopBefore, hotelBefore] = await issuance();
    const t1 = new Date(Date.now() + 1_000);
    await ended(offerId, t1);
    expect(await balance(`budget:${offerId}`)).toBe(0n);
    expect(await issuance()).toEqual([shopBefore! + 631n, hotelBefore! + 270n]);
    expect(await txsOf(offerId, "OFFER_RETURN")).toHaveLength(1);
    expect(await prisma().pointsOffer.findUniqueOrThrow({ where: { offerId } })).toMatchObject({ status: "ENDED", endedAt: t1 });

    await ended(offerId, new Date(t1.getTime() + 60_000));
    expect(await prisma().pointsOffer.findUniqueOrThrow({ where: { offerId } })).toMatchObject({ status: "ENDED", endedAt: t1 });
    expect(await txsOf(offerId, "OFFER_RETURN")).toHaveLength(1);
    expect(await issuance()).toEqual([shopBefore! + 631n, hotelBefore! + 270n]);
  });

  test("an offer whose budget is spent ends without a return; an unknown offer's end is ignored", async () => {
    const offerId = await activate({ budgetPoints: 100, bonusPoints: 100, fundings: [{ partnerId: shop, shareBps: 10_000 }] });
    await earn(await claimant(offerId), 1, offerId);
    expect(await balance(`budget:${offerId}`)).toBe(0n);
    await ended(offerId, new Date());
    expect(await prisma().pointsOffer.findUniqueOrThrow({ where: { offerId } })).toMatchObject({ status: "ENDED" });
    expect(await txsOf(offerId, "OFFER_RETURN")).toEqual([]);
    const unknown = randomUUID();
    await ended(unknown, new Date());
    expect(await prisma().pointsOffer.findUnique({ where: { offerId: unknown } })).toBeNull();
  });
});

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled, linked, registered } from "../testing/harness.ts";
import { awardPoints } from "./award.ts";
import { runTierReview } from "../jobs.ts";

// The bonus of an offer is paid only to a member eligible at the moment of the earn: tier ≥ minTier
// and lifecycle segment among the offer's segments (lib/lifecycle.ts over joinedAt from
// member.enrolled and the last EARN/REDEEM in this ledger). A refusal writes nothing at all.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const shop = randomUUID();
const T0 = new Date(Date.UTC(2026, 0, 15, 12));
const DAY = 86_400_000;
const at = (days: number) => new Date(T0.getTime() + days * DAY);

async function offer(terms: { minTier?: string | null; segments?: string[] }): Promise<string> {
  const offerId = randomUUID();
  await applyEvents({
    type: "partner.offer_activated",
    payload: {
      offerId,
      kind: "BONUS_POINTS",
      bonusPoints: 100,
      multiplier: null,
      budgetPoints: 1_000,
      perMemberLimit: 3,
      startsAt: at(-1).toISOString(),
      endsAt: at(300).toISOString(),
      minTier: terms.minTier ?? null,
      segments: terms.segments ?? [],
      redeemableAtPartnerIds: [shop],
      fundings: [{ partnerId: shop, shareBps: 10_000 }],
    },
  });
  return offerId;
}
const claim = (offerId: string, memberId: string) => applyEvents({ type: "partner.offer_claimed", payload: { offerId, memberId, claimedAt: T0.toISOString() } });
const award = (memberId: string, points: number, now: Date, offerId?: string) => awardPoints(partnerPrincipal(shop), { memberId, points, offerId, idempotencyKey: randomUUID() }, { now });
const joined = (m: string, joinedAt: Date) => ({ ...enrolled(m, shop), payload: { ...enrolled(m, shop).payload, joinedAt: joinedAt.toISOString() } });
const balance = async (code: string) => Number((await prisma().ledgerAccount.findUnique({ where: { code } }))?.balance ?? 0); // small test amounts

async function writes(memberId: string) {
  return {
    txs: await prisma().ledgerTransaction.count({ where: { memberId } }),
    uses: await prisma().pointsOfferUse.count({ where: { memberId } }),
    events: await prisma().pointsOutboxEvent.count({ where: { payload: { path: ["memberId"], equals: memberId } } }),
    wallet: await balance(`wallet:${memberId}`),
  };
}

beforeAll(async () => {
  await applyEvents(registered(shop));
});

describe("bonus at award time: minimum tier and lifecycle segment", () => {
  test("segment: a DORMANT member's win-back earn gets the bonus, the next earn (now ACTIVE) is refused with nothing written", async () => {
    const m = randomUUID();
    await applyEvents(joined(m, at(-60)));
    const dormant = await offer({ segments: ["DORMANT"] });
    const fresh = await offer({ segments: ["NEW"] });
    await claim(dormant, m);
    await claim(fresh, m);

    const before = await writes(m);
    await expect(award(m, 10, T0, fresh)).rejects.toMatchObject({ extensions: { code: "OFFER_NOT_ELIGIBLE" } });
    expect(await writes(m)).toEqual(before); // not even the base earn

    expect((await award(m, 10, T0, dormant)).memberPoints).toBe(10);
    expect(await balance(`wallet:${m}`)).toBe(110);
    expect(await balance(`budget:${dormant}`)).toBe(900);

    const after = await writes(m);
    await expect(award(m, 10, at(1), dormant)).rejects.toThrow(/DORMANT members \(the member is ACTIVE\)/);
    expect(await writes(m)).toEqual(after);

    // 100 quiet days later the member is DORMANT again.
    expect((await award(m, 10, at(101), dormant)).memberPoints).toBe(10);
    expect(await balance(`wallet:${m}`)).toBe(220);
  });

  test("segment unknown (member.enrolled not arrived, only member.linked): segment-limited bonus refused", async () => {
    const m = randomUUID();
    await applyEvents(linked(m, shop));
    const active = await offer({ segments: ["ACTIVE", "NEW", "DORMANT", "CHURNED"] });
    await claim(active, m);
    await expect(award(m, 10, T0, active)).rejects.toMatchObject({ extensions: { code: "OFFER_NOT_ELIGIBLE" } });
    expect(await balance(`wallet:${m}`)).toBe(0);
  });

  test("tier: refused below minTier; the upgrade emits points.tier_changed and then the bonus is paid; the tier review (retention) emits it too", async () => {
    const m = randomUUID();
    await applyEvents(joined(m, at(-60)));
    const gold = await offer({ minTier: "GOLD", segments: ["ACTIVE"] });
    await claim(gold, m);
    await award(m, 100, at(-20)); // first activity (NEW → ACTIVE once 30 days have passed since joining)
    const before = await writes(m);
    await expect(award(m, 10, at(40), gold)).rejects.toMatchObject({ extensions: { code: "OFFER_NOT_ELIGIBLE" } });
    expect(await writes(m)).toEqual(before);

    await award(m, 5_000, at(41)); // qualifies for GOLD
    const changed = await prisma().pointsOutboxEvent.findMany({ where: { type: "points.tier_changed", payload: { path: ["memberId"], equals: m } } });
    expect(changed.map((e) => (e.payload as { tier: string }).tier)).toEqual(["GOLD"]);
    expect((await award(m, 10, at(42), gold)).memberPoints).toBe(10);
    expect(await balance(`budget:${gold}`)).toBe(900);

    await runTierReview(at(42 + 200));
    const all = await prisma().pointsOutboxEvent.findMany({ where: { type: "points.tier_changed", payload: { path: ["memberId"], equals: m } }, orderBy: { createdAt: "asc" } });
    // The classic program's retention (perks/retention.ts): 6 months without a purchase → the base tier, not one step down.
    expect(all.map((e) => e.payload)).toEqual([expect.objectContaining({ tier: "GOLD", previousTier: "BASE" }), expect.objectContaining({ tier: "BASE", previousTier: "GOLD", at: at(242).toISOString() })]);
  });
});

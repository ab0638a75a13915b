import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { memberPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import { addMonths, useSettings } from "../config.ts";
import { awardPoints } from "../earning/award.ts";
import { awardPointsBatch } from "../earning/bulk.ts";
import { splitByShares } from "./shares.ts";
import { runHoldExpiry, runPointsExpiry, runTierReview } from "../jobs.ts";
import { authorizeRedemption, captureHold, createRedemptionCode, redeemPoints } from "../redemption/redeem.ts";
import { tierStatuses } from "../tiers/tiers.ts";

// Lots, expiry policies, the expiry / hold-expiry / tier-review jobs, and code expiry, at a
// controlled clock through the same service functions the API calls.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());
afterEach(() => useSettings({}));

const shop = randomUUID();
const T0 = new Date(Date.UTC(2026, 0, 15, 12));
const DAY = 86_400_000;
const at = (days: number) => new Date(T0.getTime() + days * DAY);

async function member() {
  const m = randomUUID();
  await applyEvents(enrolled(m, shop));
  return m;
}
const earn = (m: string, points: number, now: Date) => awardPoints(partnerPrincipal(shop), { memberId: m, points, idempotencyKey: randomUUID() }, { now });
async function redeem(m: string, points: number, now: Date) {
  const c = await createRedemptionCode(memberPrincipal(m), { partnerId: shop, points }, { now });
  return redeemPoints(partnerPrincipal(shop), { redemptionCode: c.code, points, idempotencyKey: randomUUID() }, { now });
}
// Amounts are bigint columns; these small test amounts read as numbers.
const wallet = async (m: string) => {
  const w = await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: `wallet:${m}` } });
  return { ...w, balance: Number(w.balance), held: Number(w.held), lifetimeEarned: Number(w.lifetimeEarned) };
};
const lots = async (m: string) => (await prisma().lot.findMany({ where: { memberId: m }, orderBy: { id: "asc" } })).map((l) => ({ ...l, points: Number(l.points), remaining: Number(l.remaining) }));
const breakage = async () => Number((await prisma().ledgerAccount.findUnique({ where: { code: "breakage" } }))?.balance ?? 0);

describe("lots and expiry", () => {
  test("months after earning (default 36): redemptions take the soonest-expiring lot first; the job expires the rest once", async () => {
    useSettings({ expiryPolicy: { kind: "months_after_earning", months: 36 } });
    const m = await member();
    await earn(m, 100, T0);
    await earn(m, 50, at(40));
    const [a, b] = await lots(m);
    expect(a!.expiresAt).toEqual(addMonths(T0, 36));
    expect(b!.expiresAt).toEqual(addMonths(at(40), 36));
    await redeem(m, 30, at(41));
    expect((await lots(m)).map((l) => l.remaining)).toEqual([70, 50]);
    const before = await breakage();
    expect(await runPointsExpiry(at(1000))).toEqual({ members: 0, points: 0 }); // nothing due yet (all members)
    const due = new Date(addMonths(T0, 36).getTime() + 1000);
    const first = await runPointsExpiry(due);
    expect(first.points).toBeGreaterThanOrEqual(70);
    expect(await runPointsExpiry(due)).toEqual({ members: 0, points: 0 }); // idempotent
    expect((await lots(m)).map((l) => l.remaining)).toEqual([0, 50]);
    expect((await wallet(m)).balance).toBe(50);
    expect((await breakage()) - before).toBe(first.points);
    const expiry = await prisma().ledgerTransaction.findMany({ where: { memberId: m, kind: "EXPIRY" } });
    expect(expiry.map((t) => t.memberPoints)).toEqual([-70n]);
  });

  test("inactivity: any earn or redemption moves every open lot's expiry; never: nothing expires", async () => {
    useSettings({ expiryPolicy: { kind: "inactivity_months", months: 12 } });
    const m = await member();
    await earn(m, 100, T0);
    await earn(m, 40, at(180));
    expect((await lots(m)).map((l) => l.expiresAt)).toEqual([addMonths(at(180), 12), addMonths(at(180), 12)]);
    await runPointsExpiry(addMonths(T0, 13)); // a year after the first earn: still active
    expect((await wallet(m)).balance).toBe(140);
    await redeem(m, 10, at(200));
    await runPointsExpiry(new Date(addMonths(at(200), 12).getTime() - 1000));
    expect((await wallet(m)).balance).toBe(130);
    await runPointsExpiry(addMonths(at(200), 12));
    expect((await wallet(m)).balance).toBe(0);

    useSettings({ expiryPolicy: { kind: "never" } });
    const n = await member();
    await earn(n, 25, T0);
    expect((await lots(n))[0]!.expiresAt).toBeNull();
    await runPointsExpiry(at(365 * 50));
    expect((await wallet(n)).balance).toBe(25);
  });

  test("points held by a pending hold do not expire while the hold lasts; the hold-expiry job releases it exactly once", async () => {
    useSettings({ expiryPolicy: { kind: "months_after_earning", months: 1 }, holdTtlMinutes: 30 });
    const m = await member();
    await earn(m, 100, T0);
    const due = new Date(addMonths(T0, 1).getTime() + 1000);
    const holdAt = new Date(due.getTime() - 10 * 60_000);
    const c = await createRedemptionCode(memberPrincipal(m), { partnerId: shop, points: 60 }, { now: holdAt });
    const hold = await authorizeRedemption(partnerPrincipal(shop), { redemptionCode: c.code, points: 60, idempotencyKey: randomUUID() }, { now: holdAt });
    await runPointsExpiry(due);
    expect(await wallet(m)).toMatchObject({ balance: 60, held: 60 });
    const late = new Date(holdAt.getTime() + 31 * 60_000);
    expect(await runHoldExpiry(late)).toBe(1);
    expect(await runHoldExpiry(late)).toBe(0);
    expect(await wallet(m)).toMatchObject({ balance: 60, held: 0 });
    await expect(captureHold(partnerPrincipal(shop), hold.id, null, randomUUID(), { now: late })).rejects.toMatchObject({ extensions: { code: "HOLD_ALREADY_RESOLVED" } });
    await runPointsExpiry(late);
    expect(await wallet(m)).toMatchObject({ balance: 0, held: 0 });
  });

  test("expiry takes only the unheld part of the due lots, oldest first; when the holds cover them all it takes nothing", async () => {
    useSettings({ expiryPolicy: { kind: "months_after_earning", months: 1 }, holdTtlMinutes: 30 });
    const m = await member();
    await earn(m, 60, T0);
    await earn(m, 40, at(1));
    const due = new Date(addMonths(at(1), 1).getTime() + 1000); // both lots due
    const holdAt = new Date(due.getTime() - 10 * 60_000);
    const hold = async (who: string, points: number) => {
      const c = await createRedemptionCode(memberPrincipal(who), { partnerId: shop, points }, { now: holdAt });
      await authorizeRedemption(partnerPrincipal(shop), { redemptionCode: c.code, points, idempotencyKey: randomUUID() }, { now: holdAt });
    };
    await hold(m, 70);
    const allHeld = await member();
    await earn(allHeld, 50, T0);
    await hold(allHeld, 50);
    await runPointsExpiry(due);
    // 100 − 70 held = 30, from the older lot; one consumption row, the held points stay.
    expect((await lots(m)).map((l) => l.remaining)).toEqual([30, 40]);
    expect(await wallet(m)).toMatchObject({ balance: 70, held: 70 });
    const [expiry, ...more] = await prisma().ledgerTransaction.findMany({ where: { memberId: m, kind: "EXPIRY" } });
    expect([expiry!.memberPoints, more]).toEqual([-30n, []]);
    expect(await prisma().lotConsumption.count({ where: { transactionId: expiry!.id } })).toBe(1);
    // Everything due is held: no EXPIRY at all (and no error for the run).
    expect((await lots(allHeld)).map((l) => l.remaining)).toEqual([50]);
    expect(await prisma().ledgerTransaction.count({ where: { memberId: allHeld, kind: "EXPIRY" } })).toBe(0);
  });

  test("an expired redemption code is REDEMPTION_CODE_INVALID and spends nothing", async () => {
    useSettings({ redemptionCodeTtlSeconds: 60 });
    const m = await member();
    await earn(m, 100, T0);
    const c = await createRedemptionCode(memberPrincipal(m), { partnerId: shop, points: 10 }, { now: T0 });
    await expect(redeemPoints(partnerPrincipal(shop), { redemptionCode: c.code, points: 10, idempotencyKey: randomUUID() }, { now: new Date(T0.getTime() + 61_000) })).rejects.toMatchObject({
      extensions: { code: "REDEMPTION_CODE_INVALID" },
    });
    expect((await wallet(m)).balance).toBe(100);
  });
});

/** The classic program by points alone: silver above 1,000, gold from 5,000 (diamond is by spend). */
const classicTierByPoints = (q: number) => (q >= 5_000 ? "GOLD" : q > 1_000 ? "SILVER" : "BASE");

describe("tiers", () => {
  test("classic program, rolling 12 months: upgrade at the qualifying earn, the tier's rate on purchases; back to the base tier after 6 months without a purchase", async () => {
    const p = randomUUID();
    await applyEvents(registered(p, "1"));
    const m = randomUUID();
    await applyEvents(enrolled(m, p));
    const award = (input: Record<string, unknown>, now: Date) => awardPoints(partnerPrincipal(p), { memberId: m, idempotencyKey: randomUUID(), ...input }, { now });
    await award({ points: 999 }, T0);
    expect((await tierStatuses(prisma(), [m], T0)).get(m)).toMatchObject({ tier: "BASE", pointsToNextTier: 2 }); // silver: more than 1,000
    await award({ points: 4001 }, at(1));
    expect((await tierStatuses(prisma(), [m], at(1))).get(m)).toMatchObject({ tier: "GOLD", qualifyingPoints: 5000n, nextTier: "DIAMOND", pointsToNextTier: null, earnRate: "2" });
    expect((await award({ purchaseAmount: "101.99" }, at(2))).memberPoints).toBe(203); // 101.99 × gold's 2 × the partner's 1, rounded down
    expect(await runTierReview(addMonths(at(2), 5))).toBe(0);
    expect(await runTierReview(new Date(addMonths(at(2), 6).getTime() + 1000))).toBe(1);
    expect(await runTierReview(new Date(addMonths(at(2), 6).getTime() + 1000))).toBe(0); // idempotent
    // The classic retention rule (issue 16): six months without a purchase return the member to the
    // base tier, not one step down (perks/retention.ts).
    expect((await tierStatuses(prisma(), [m], addMonths(at(2), 7))).get(m)!.tier).toBe("BASE");
    expect(await runTierReview(new Date(addMonths(at(2), 12).getTime() + 2000))).toBe(0);
    expect((await tierStatuses(prisma(), [m], addMonths(at(2), 13))).get(m)!.tier).toBe("BASE");
  });

  test("property: the stored tier is the best tier any earn qualified for (classic program, rolling 12 months at that earn), single and bulk earns alike", async () => {
    const p = randomUUID();
    await applyEvents(registered(p, "1"));
    const TIER_ORDER = ["BASE", "SILVER", "GOLD", "DIAMOND"];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ points: fc.oneof(fc.integer({ min: 1, max: 1_200 }), fc.constantFrom(999, 1_000, 4_000, 5_000, 15_000, 20_000)), gapDays: fc.integer({ min: 0, max: 200 }), bulk: fc.boolean() }), {
          minLength: 1,
          maxLength: 8,
        }),
        async (earns) => {
          const m = randomUUID();
          await applyEvents(enrolled(m, p));
          let day = 0;
          const done: { at: Date; points: number }[] = [];
          let best = 0;
          for (const e of earns) {
            day += e.gapDays;
            const when = at(day);
            const input = { memberId: m, points: e.points, idempotencyKey: randomUUID() };
            if (e.bulk) expect((await awardPointsBatch(partnerPrincipal(p), [input], { now: when })).accepted).toBe(1);
            else await awardPoints(partnerPrincipal(p), input, { now: when });
            done.push({ at: when, points: e.points });
            const q = done.filter((d) => d.at > addMonths(when, -12) && d.at <= when).reduce((s, d) => s + d.points, 0);
            best = Math.max(best, TIER_ORDER.indexOf(classicTierByPoints(q)));
            expect((await tierStatuses(prisma(), [m], when)).get(m)!.tier).toBe(TIER_ORDER[best]);
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe("offer budget shares", () => {
  test("largest remainder: the parts sum to the total exactly and each is within one point of its exact share", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.array(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 6 }), (total, bps) => {
        const shares = bps.map((shareBps) => ({ partnerId: randomUUID(), shareBps }));
        const parts = splitByShares(total, shares);
        const sum = bps.reduce((s, b) => s + b, 0);
        expect(parts.reduce((s, p) => s + p.points, 0)).toBe(total);
        parts.forEach((p, i) => expect(Math.abs(p.points - (total * bps[i]!) / sum)).toBeLessThan(1));
      }),
    );
  });
});

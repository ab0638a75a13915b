import { Decimal } from "decimal.js";
import { z } from "zod";
import { badInput } from "../../../../lib/errors.ts";
import { IdempotencyKey, MAX_POINTS_PER_EARN, Money, Points, Reference, type Tier, TIER_MULTIPLIERS, Uuid } from "../domain.ts";
import { requestHash, type Tx } from "../ledger/ledger.ts";

/**
 * The earn rules every write path shares (one award, group commit, bulk): what an award request
 * is, which of its fields make two awards "the same request", the facts an earn is decided on, and
 * how many points a purchase earns.
 */

export const AwardInput = z
  .object({
    memberId: Uuid,
    idempotencyKey: IdempotencyKey,
    points: Points.nullish(),
    purchaseAmount: Money.nullish(),
    offerId: Uuid.nullish(),
    reference: Reference.nullish(),
  })
  .refine((i) => (i.points == null) !== (i.purchaseAmount == null), { message: "Pass either points or purchaseAmount (exactly one)", path: ["points"] });
export type AwardInput = z.input<typeof AwardInput>;
export type Award = z.output<typeof AwardInput>;

export const awardHash = (i: Award) =>
  requestHash({ op: "awardPoints", memberId: i.memberId, points: i.points ?? null, purchaseAmount: i.purchaseAmount ?? null, offerId: i.offerId ?? null, reference: i.reference ?? null });

export interface EarnFacts {
  linked: boolean;
  tier: Tier;
  earnRate: string;
  active: boolean;
}

export async function earnFacts(tx: Tx, partnerId: string, memberIds: readonly string[]): Promise<{ linked: Set<string>; tiers: Map<string, Tier>; earnRate: string; active: boolean }> {
  const ids = [...new Set(memberIds)];
  // One round trip: links to this partner, stored tiers, and the partner's earn rate.
  const rows = await tx.$queryRaw<{ memberId: string | null; linked: boolean; tier: Tier | null; earnRate: string | null; active: boolean | null }[]>`
    SELECT m::text AS "memberId",
           EXISTS (SELECT 1 FROM "points"."MemberLink" l WHERE l."memberId" = m AND l."partnerId" = ${partnerId}::uuid) AS linked,
           (SELECT tier::text FROM "points"."TierState" s WHERE s."memberId" = m) AS tier,
           p."earnRate"::text AS "earnRate", p.active
    FROM unnest(${ids}::uuid[]) AS m LEFT JOIN "points"."Partner" p ON p."partnerId" = ${partnerId}::uuid`;
  const links = rows.filter((r) => r.linked).map((r) => ({ memberId: r.memberId! }));
  const tiers = rows.filter((r) => r.tier).map((r) => ({ memberId: r.memberId!, tier: r.tier! }));
  const partner = rows[0]?.earnRate != null ? [{ earnRate: rows[0].earnRate, active: rows[0].active ?? true }] : [];
  return {
    linked: new Set(links.map((l) => l.memberId)),
    tiers: new Map(tiers.map((t) => [t.memberId, t.tier])),
    // A partner whose partner.registered has not arrived yet earns at the default rate of 1 point per currency unit.
    earnRate: partner[0]?.earnRate ?? "1",
    active: partner[0]?.active ?? true,
  };
}

/** Points for a purchase: amount × earn rate × tier multiplier, rounded down (never a fraction of a point). */
export function purchasePoints(purchaseAmount: string, earnRate: string, tier: Tier): number {
  return new Decimal(purchaseAmount).mul(earnRate).mul(TIER_MULTIPLIERS[tier]).floor().toNumber();
}

export function basePoints(i: Award, facts: EarnFacts): number {
  const points = i.points ?? purchasePoints(i.purchaseAmount!, facts.earnRate, facts.tier);
  if (points < 1) throw badInput("This purchase earns no points (amount × earn rate × tier multiplier is below 1)", "purchaseAmount");
  if (points > MAX_POINTS_PER_EARN) throw badInput(`One award is at most ${MAX_POINTS_PER_EARN.toLocaleString("en")} points`, i.points != null ? "points" : "purchaseAmount");
  return points;
}

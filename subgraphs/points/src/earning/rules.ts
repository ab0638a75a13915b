import { Decimal } from "decimal.js";
import { z } from "zod";
import { badInput } from "../../../../lib/errors.ts";
import type { Tier } from "../../../../lib/vocabulary.ts";
import { currencySettings } from "../config.ts";
import { IdempotencyKey, MAX_POINTS_PER_EARN, Money, Points, Reference, Uuid } from "../domain.ts";
import { requestHash, type Tx } from "../ledger/ledger.ts";
import { type BonusFacts, bonusFactsSql } from "../perks/bonuses.ts";
import { currentTier } from "../program/evaluate.ts";
import { baseTier, earnRateOf, type ProgramTier } from "../program/model.ts";
import { type ProgramVersionRef, versionById } from "../program/versions.ts";

/**
 * The earn rules every write path shares (one award, group commit, bulk): what an award request
 * is, which of its fields make two awards "the same request", the facts an earn is decided on, and
 * how many points a purchase earns: purchaseAmount × the rate of the member's tier in the program
 * version in force at the earn's time (program/model.ts earnRateOf), rounded down.
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
  /** The member's tier under the program version in force (API tier and the program's tier). */
  tier: Tier;
  programTier: ProgramTier;
  /** Points per 1 unit of currency for this member at this partner (program rate table, see earnRateOf). */
  rate: Decimal;
  active: boolean;
}

export interface ChunkFacts {
  linked: Set<string>;
  /** Each member's tier under `version` (absent: the base tier). */
  tiers: Map<string, ProgramTier>;
  /** The partner's own earn rate (setPartnerEarnRate; "1" until partner.registered arrives). */
  partnerEarnRate: string;
  active: boolean;
  /** The program version in force at the earn's time. */
  version: ProgramVersionRef;
  /** What the program's bonuses are decided on, per member (perks/bonuses.ts). */
  bonus: Map<string, BonusFacts>;
}

/**
 * Everything an earn of these members at this partner at `at` is decided on, in ONE round trip:
 * links to this partner, stored tiers, the partner's earn rate and which program version is in
 * force at `at` (its parsed document comes from the per-process cache; a version not seen yet
 * costs one more read, once), and the facts of the program's welcome and birthday bonuses.
 */
export async function earnFacts(tx: Tx, partnerId: string, memberIds: readonly string[], at: Date): Promise<ChunkFacts> {
  const ids = [...new Set(memberIds)];
  const b = bonusFactsSql(partnerId, at);
  const rows = await tx.$queryRaw<({ memberId: string | null; linked: boolean; tier: Tier | null; tierCode: string | null; earnRate: string | null; active: boolean | null; versionId: string | null } & BonusFacts)[]>`
    SELECT m::text AS "memberId", ${b.columns},
           EXISTS (SELECT 1 FROM "points"."MemberLink" l WHERE l."memberId" = m AND l."partnerId" = ${partnerId}::uuid) AS linked,
           s.tier::text AS tier, s."tierCode",
           p."earnRate"::text AS "earnRate", p.active,
           (SELECT v.id::text FROM "points"."ProgramVersion" v WHERE v."effectiveFrom" <= ${at} ORDER BY v."effectiveFrom" DESC, v.version DESC LIMIT 1) AS "versionId"
    FROM unnest(${ids}::uuid[]) AS m
    LEFT JOIN "points"."Partner" p ON p."partnerId" = ${partnerId}::uuid
    LEFT JOIN "points"."TierState" s ON s."memberId" = m
    ${b.joins}`;
  const versionId = rows[0]?.versionId;
  if (!versionId) throw new Error("No loyalty program version is in force (the migration seeds the classic program as version 1)");
  const version = await versionById(tx, versionId);
  const tiers = new Map<string, ProgramTier>();
  for (const r of rows) if (r.tier) tiers.set(r.memberId!, currentTier(version.program, r.tierCode, r.tier));
  return {
    linked: new Set(rows.filter((r) => r.linked).map((r) => r.memberId!)),
    tiers,
    // A partner whose partner.registered has not arrived yet earns at the default rate of 1 point per currency unit.
    partnerEarnRate: rows[0]?.earnRate ?? "1",
    active: rows[0]?.active ?? true,
    version,
    bonus: new Map(rows.map((r) => [r.memberId!, { joinedAt: r.joinedAt, welcomed: r.welcomed, birthdayPaid: r.birthdayPaid, birthConsents: r.birthConsents ?? [] }])),
  };
}

/** One member's facts out of a chunk's. */
export function memberEarnFacts(f: ChunkFacts, partnerId: string, memberId: string): EarnFacts {
  const t = f.tiers.get(memberId) ?? baseTier(f.version.program);
  return { linked: f.linked.has(memberId), tier: t.apiTier, programTier: t, rate: earnRateOf(f.version.program, t.code, partnerId, f.partnerEarnRate), active: f.active };
}

/** Points for a purchase: amount × the rate (points per 1 unit of currency), rounded down (never a fraction of a point). */
export function purchasePoints(purchaseAmount: string, rate: Decimal.Value): number {
  return new Decimal(purchaseAmount).mul(rate).floor().toNumber();
}

export function basePoints(i: Award, facts: EarnFacts): number {
  const points = i.points ?? purchasePoints(i.purchaseAmount!, facts.rate);
  if (points < 1) throw badInput("This purchase earns no points (amount × the tier's earn rate is below 1)", "purchaseAmount");
  if (points > MAX_POINTS_PER_EARN) throw badInput(`One award is at most ${MAX_POINTS_PER_EARN.toLocaleString("en")} points`, i.points != null ? "points" : "purchaseAmount");
  return points;
}

/** The money an award records as spent: its purchase amount, in the coalition's currency (none for explicit points). */
export const spendOf = (i: Award): { amount: string; currency: string } | null => (i.purchaseAmount ? { amount: i.purchaseAmount, currency: currencySettings().code } : null);

import type { Prisma } from "../../../../../lib/db.ts";
import { HubError } from "../../../../../lib/errors.ts";
import { type ConsentCopy, consentIneligibility, offerIneligibility } from "../../../../../lib/lifecycle.ts";
import type { Lifecycle, Tier } from "../../../../../lib/vocabulary.ts";
import { isUuid } from "../../../../../lib/input.ts";
import type { Offer, OfferClaim, OfferFunding, Partner } from "../../../../../prisma/generated/client/client.ts";
import { prisma } from "../../db.ts";
import { consentsOfMembers } from "../member-consents.ts";
import { memberStanding } from "../member-facts.ts";

/**
 * Eligibility by tier, segment and consent (minTier, segments, requiredPurpose) is enforced in four
 * places, all with the same rules (`offerIneligibility`, `lifecycleOf` and `consentIneligibility` in
 * lib/lifecycle.ts — the member subgraph's own segment rule, moved there so every subgraph computes
 * the same answer):
 * - `Member.eligibleOffers` filters with the `tierLevel`/`segment` the query planner supplies
 *   (@requires) and this subgraph's consent copy (below);
 * - `claimOffer` has no Member parent, so it cannot get them through @requires; it reads this
 *   subgraph's copy of the member's facts (partner.MemberFacts: joinedAt from `member.enrolled`,
 *   last EARN/REDEEM time from `points.activity`, tier from `points.tier_changed`; see
 *   member-facts.ts) and computes the segment at `now`. An ineligible member gets OFFER_NOT_ELIGIBLE
 *   and no claim (also when re-claiming an offer it claimed while it was eligible). Until a member's
 *   member.enrolled has arrived its segment is unknown here and segment-limited offers are refused.
 * - `redeemDiscountCode` (DISCOUNT offers at a partner's checkout) re-checks all three the same way
 *   before it counts a use: OFFER_NOT_ELIGIBLE, nothing written.
 * - the points subgraph re-checks all three when it applies a bonus (tier from its TierState,
 *   joinedAt from `member.enrolled`, last activity from its own ledger, its own consent copy), as of
 *   just before the earn the bonus rides on: a DORMANT member's win-back purchase still gets the
 *   DORMANT bonus.
 * Consent (`requiredPurpose`): the member must hold a receipt for that purpose with at least one of
 * the offer's co-issuers, not revoked and not expired at `now`. Only the member subgraph reads
 * consents; this subgraph keeps a per-receipt copy (partner.MemberConsent, member-consents.ts) fed
 * by `member.consent_granted` / `member.consent_revoked`, so a revocation or an expiry makes the
 * offer disappear from eligibleOffers and refuses claims and code uses from then on.
 * The copies lag the owners by the relay's delivery time (milliseconds): right after an upgrade or
 * a grant the claim may still see the previous state; a retry a moment later sees the new one.
 */

/** What eligibility needs of a member besides the offers: its claim use counts and its unrevoked consent receipts. */
export interface EligibilityInputs {
  uses: Pick<OfferClaim, "offerId" | "usedCount">[];
  /** As `consentsOfMembers`: active (not revoked) receipts; expiry is checked by the caller. */
  consents: ConsentCopy[];
  /**
   * The offer catalog's version read by the same statement (catalog.ts): the live-offer cache
   * is checked against it, so a wallet request needs no statement of its own for that. Undefined
   * when no statement ran (no valid member id); null when the counter row is missing (no caching).
   */
  catalogVersion?: bigint | null;
}

/**
 * Eligibility inputs of many members in ONE SQL statement (claim use counts + unrevoked consent
 * receipts; the same rows `claimsOfMembers`/`consentsOfMembers` would give, two statements apart),
 * and the offer catalog's version.
 */
export async function eligibilityInputsOf(memberIds: readonly string[]): Promise<Map<string, EligibilityInputs>> {
  const ids = [...new Set(memberIds.filter(isUuid))];
  const out = new Map<string, EligibilityInputs>();
  if (!ids.length) return out;
  const rows = await prisma().$queryRaw<
    { memberId: string; uses: { offerId: string; usedCount: number }[]; consents: { partnerId: string; purpose: string; expiresAt: string | null; active: boolean }[]; catalogVersion: bigint | null }[]
  >`
    SELECT m::text AS "memberId",
      (SELECT v.version FROM "partner"."OfferCatalogVersion" v WHERE v.id = 1) AS "catalogVersion",
      (SELECT coalesce(json_agg(json_build_object('offerId', c."offerId", 'usedCount', c."usedCount")), '[]'::json)
         FROM "partner"."OfferClaim" c WHERE c."memberId" = m) AS uses,
      (SELECT coalesce(json_agg(json_build_object('partnerId', k."partnerId", 'purpose', k.purpose, 'expiresAt', k."expiresAt", 'active', k.active)), '[]'::json)
         FROM "partner"."MemberConsent" k WHERE k."memberId" = m AND k.active) AS consents
    FROM unnest(${ids}::uuid[]) AS m`;
  for (const r of rows) {
    out.set(r.memberId, {
      uses: r.uses,
      consents: r.consents.map((c) => ({ partnerId: c.partnerId, purpose: c.purpose, expiresAt: c.expiresAt === null ? null : new Date(c.expiresAt), active: c.active })),
      catalogVersion: r.catalogVersion === null ? null : BigInt(r.catalogVersion),
    });
  }
  return out;
}

/**
 * OFFER_NOT_ELIGIBLE unless the member's tier, segment and consents now (this subgraph's copies of
 * the facts) meet the offer's minTier, segments and requiredPurpose.
 */
export async function requireEligible(offer: Pick<Offer, "id" | "minTier" | "segments" | "requiredPurpose">, memberId: string, now: Date): Promise<void> {
  if (offer.minTier || offer.segments.length) {
    const why = offerIneligibility(offer, await memberStanding(prisma(), memberId, now));
    if (why) throw new HubError("OFFER_NOT_ELIGIBLE", why);
  }
  if (offer.requiredPurpose) {
    const [fundings, consents] = await Promise.all([prisma().offerFunding.findMany({ where: { offerId: offer.id }, select: { partnerId: true } }), consentsOfMembers(prisma(), [memberId])]);
    const why = consentIneligibility({ requiredPurpose: offer.requiredPurpose, coIssuerIds: fundings.map((f) => f.partnerId) }, consents.get(memberId) ?? [], now);
    if (why) throw new HubError("OFFER_NOT_ELIGIBLE", why);
  }
}

/** A live offer with its co-issuers (largest share first, as `fundingsOf`) and their partner rows. */
export type LiveOffer = Offer & { fundings: (OfferFunding & { partner: Partner })[] };

/**
 * The live offers (ACTIVE, inside their window at `now`; newest first, at most 500) with their
 * co-issuers and the co-issuing partners in one Prisma operation: the eligibility check
 * (requiredPurpose needs the co-issuers) and `coIssuers { partner }` of the wallet query need
 * nothing more (the loaders are primed from it). Requests read them through the cross-request
 * cache in catalog.ts, not from here.
 */
export async function liveOffers(now: Date, db: Prisma.TransactionClient = prisma()): Promise<LiveOffer[]> {
  return db.offer.findMany({
    where: { status: "ACTIVE", startsAt: { lte: now }, endsAt: { gt: now } },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: 500,
    include: { fundings: { orderBy: [{ shareBps: "desc" }, { partnerId: "asc" }], include: { partner: true } } },
  });
}

/**
 * The offers a member may claim (or still use) now: live, tier ≥ minTier, segment among the
 * offer's segments (or none set), a consent for requiredPurpose (if set) with one of its co-issuers
 * (`coIssuersOf`) active at `now`, and its claim (if any) not used up.
 */
export function eligibleAmong<O extends Offer>(
  offers: readonly O[],
  member: { tierLevel: Tier | null | undefined; segment: Lifecycle | null | undefined; consents: readonly ConsentCopy[] },
  claims: Pick<OfferClaim, "offerId" | "usedCount">[],
  coIssuersOf: ReadonlyMap<string, readonly string[]>,
  now: Date,
): O[] {
  const used = new Map(claims.map((c) => [c.offerId, c.usedCount]));
  const standing = { tier: member.tierLevel ?? null, segment: member.segment ?? null };
  return offers.filter((o) => {
    if (offerIneligibility(o, standing)) return false;
    if (o.requiredPurpose && consentIneligibility({ requiredPurpose: o.requiredPurpose, coIssuerIds: coIssuersOf.get(o.id) ?? [] }, member.consents, now)) return false;
    return (used.get(o.id) ?? 0) < o.perMemberLimit;
  });
}

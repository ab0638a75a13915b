import { Decimal } from "decimal.js";
import { badInput, forbidden, HubError } from "../../../../lib/errors.ts";
import { emitMany, event } from "../../../../lib/events/outbox.ts";
import { ACTIVITY_KINDS, type ConsentCopy, consentIneligibility, type LifecycleSettings, lifecycleOf, loadLifecycleSettings, offerIneligibility } from "../../../../lib/lifecycle.ts";
import type { Lifecycle, Tier } from "../../../../lib/vocabulary.ts";
import type { Actor } from "../domain.ts";
import { budgetCode, type LedgerTransactionRow, post, type Tx, walletCode } from "../ledger/ledger.ts";

/**
 * The bonus of an offer on an earn, paid from the offer budget in the same database transaction:
 * BONUS_POINTS pays bonusPoints, POINTS_MULTIPLIER pays base × (multiplier − 1). The partner must
 * be one where the offer is redeemable, the offer active and in its window, the member eligible
 * (tier at least minTier, lifecycle segment among the offer's segments: OFFER_NOT_ELIGIBLE, and the
 * whole award is rolled back) and its uses below perMemberLimit (guarded increment), and the budget
 * must cover it. Eligibility is judged as of just before this earn: the tier before it (upgrades
 * happen after), and the segment from the activity before it — so a DORMANT member's win-back
 * purchase still gets the DORMANT offer's bonus, but not the next one (by then it is ACTIVE).
 * An offer with a requiredPurpose also needs a consent for it with one of its co-issuers, not
 * revoked (this subgraph's copy, MemberConsent) and not expired at the earn's time.
 */
export async function applyOfferBonus(
  tx: Tx,
  actor: Actor,
  partnerId: string,
  memberId: string,
  offerId: string,
  base: number,
  tier: Tier,
  earnId: string,
  at: Date,
  idem: { scope: string; key: string; requestHash: string },
  reference: string | null,
): Promise<LedgerTransactionRow | null> {
  const [offer] = await tx.$queryRaw<
    {
      kind: string;
      bonusPoints: number | null;
      multiplier: string | null;
      startsAt: Date;
      endsAt: Date;
      perMemberLimit: number;
      status: string;
      redeemable: string[];
      minTier: Tier | null;
      segments: string[];
      requiredPurpose: string | null;
      coIssuers: string[];
    }[]
  >`SELECT kind, "bonusPoints", multiplier::text AS multiplier, "startsAt", "endsAt", "perMemberLimit", status, "redeemablePartnerIds"::text[] AS redeemable, "minTier"::text AS "minTier",
           coalesce(segments, ARRAY[]::text[]) AS segments, "requiredPurpose",
           ARRAY(SELECT f->>'partnerId' FROM jsonb_array_elements(fundings) AS f) AS "coIssuers"
    FROM "points"."Offer" WHERE "offerId" = ${offerId}::uuid`;
  if (offer?.status !== "ACTIVE" || at < new Date(offer.startsAt) || at >= new Date(offer.endsAt)) {
    throw new HubError("OFFER_NOT_ACTIVE", "The offer is not active or is outside its window");
  }
  if (!offer.redeemable.includes(partnerId)) throw forbidden("This offer cannot be applied at your partner");
  // Only a member who claimed the offer gets its bonus (claims are made in the partner subgraph
  // and arrive here as partner.offer_claimed events).
  const claimed = await tx.$queryRaw<{ one: number }[]>`SELECT 1 AS one FROM "points"."OfferClaim" WHERE "offerId" = ${offerId}::uuid AND "memberId" = ${memberId}::uuid`;
  if (!claimed.length) throw forbidden("The member has not claimed this offer");
  if (offer.minTier || offer.segments.length) {
    const segment = offer.segments.length ? await segmentBefore(tx, memberId, at, earnId) : null;
    const why = offerIneligibility({ minTier: offer.minTier, segments: offer.segments }, { tier, segment });
    if (why) throw new HubError("OFFER_NOT_ELIGIBLE", why);
  }
  if (offer.requiredPurpose) {
    // The consent copy (member.consent_granted / _revoked): revoked or expired by `at` is refused.
    const consents = await tx.$queryRaw<ConsentCopy[]>`
      SELECT "partnerId"::text AS "partnerId", purpose, "expiresAt", active FROM "points"."MemberConsent"
      WHERE "memberId" = ${memberId}::uuid AND purpose = ${offer.requiredPurpose} AND active`;
    const why = consentIneligibility(
      { requiredPurpose: offer.requiredPurpose, coIssuerIds: offer.coIssuers },
      consents.map((c) => ({ ...c, expiresAt: c.expiresAt ? new Date(c.expiresAt) : null })),
      at,
    );
    if (why) throw new HubError("OFFER_NOT_ELIGIBLE", why);
  }
  let bonus: number;
  if (offer.kind === "BONUS_POINTS") bonus = offer.bonusPoints ?? 0;
  else if (offer.kind === "POINTS_MULTIPLIER")
    bonus = new Decimal(base)
      .mul(new Decimal(offer.multiplier ?? "1").minus(1))
      .floor()
      .toNumber();
  else throw badInput("A DISCOUNT offer gives no points: apply it with its discount code at the partner", "offerId");
  if (bonus < 1) return null;
  const used = await tx.$queryRaw<{ uses: number }[]>`
    INSERT INTO "points"."OfferUse" ("offerId", "memberId", uses) VALUES (${offerId}::uuid, ${memberId}::uuid, 1)
    ON CONFLICT ("offerId", "memberId") DO UPDATE SET uses = "OfferUse".uses + 1 WHERE "OfferUse".uses < ${offer.perMemberLimit}
    RETURNING uses`;
  if (!used.length || used[0]!.uses > offer.perMemberLimit) throw new HubError("OFFER_LIMIT_REACHED", "The member has used this offer as often as its per-member limit allows");
  // The partner subgraph shows the member's uses on its claim (OfferClaim.usedCount).
  await emitMany(tx, "points", [event("points.offer_applied", { offerId, memberId, uses: used[0]!.uses, at: at.toISOString() })]);
  return post(tx, {
    kind: "OFFER_BONUS",
    memberId,
    partnerId,
    offerId,
    postings: [
      { accountCode: walletCode(memberId), amount: bonus },
      { accountCode: budgetCode(offerId), amount: -bonus },
    ],
    idempotency: { scope: idem.scope, key: `${idem.key}#offer-bonus`, requestHash: idem.requestHash },
    reference,
    createdBy: actor.sub,
    postedAt: at,
    lots: { mode: "credit", issuerPartnerId: null, offerId },
  });
}

let lifecycleSettings: LifecycleSettings | undefined;

/**
 * The member's lifecycle segment at `at`, before the earn `excludeTxId`: lib/lifecycle.ts (the member
 * subgraph's rule) over joinedAt (MemberJoin, from member.enrolled) and the latest EARN/REDEEM in this
 * ledger — the same transactions whose points.activity events give the member subgraph its
 * lastActivityAt. null while member.enrolled has not arrived (segment-limited offers are then refused).
 */
async function segmentBefore(tx: Tx, memberId: string, at: Date, excludeTxId: string): Promise<Lifecycle | null> {
  const [r] = await tx.$queryRaw<{ joinedAt: Date | null; last: Date | null }[]>`
    SELECT (SELECT "joinedAt" FROM "points"."MemberJoin" WHERE "memberId" = ${memberId}::uuid) AS "joinedAt",
           (SELECT "postedAt" FROM "points"."LedgerTransaction"
             WHERE "memberId" = ${memberId}::uuid AND kind::text = ANY(${[...ACTIVITY_KINDS]}::text[]) AND "postedAt" <= ${at} AND id <> ${excludeTxId}::uuid
             ORDER BY "postedAt" DESC LIMIT 1) AS last`;
  if (!r?.joinedAt) return null;
  lifecycleSettings ??= loadLifecycleSettings();
  return lifecycleOf({ joinedAt: new Date(r.joinedAt), lastActivityAt: r.last ? new Date(r.last) : null }, at, lifecycleSettings);
}

import { now as clockNow } from "../../../lib/clock.ts";
import { toSafeNumber } from "../../../lib/amounts.ts";
import { consentCopyHandlers } from "../../../lib/consent-copy.ts";
import type { ParsedPayloadOf } from "../../../lib/events/catalogue.ts";
import { type DomainEvent, defineConsumer } from "../../../lib/events/inbox.ts";
import { isTier, LIFECYCLES } from "../../../lib/vocabulary.ts";
import { log } from "../../../lib/logger.ts";
import { isUuid } from "../../../lib/input.ts";
import { budgetCode, ensureAccounts, issuanceCode, post, type Tx, walletCode } from "./ledger/ledger.ts";
import { splitByShares } from "./ledger/shares.ts";
import { payEnrolmentBonus } from "./perks/bonuses.ts";

/**
 * Domain events the points subgraph consumes (lib/events/catalogue.ts routes them here; payloads
 * parsed by its schemas). Each handler runs in the inbox transaction, so a redelivered event changes nothing.
 *
 * - member.enrolled {memberId, email, joinedAt, partnerId?}: opens the wallet, BASE tier state,
 *   the link to the enrolling partner, and remembers joinedAt (MemberJoin: offer segments).
 * - member.linked {memberId, partnerId, externalRef, linkedAt}: the partner may now award to the member
 *   (by id, or by its reference: the externalRef is kept on the link).
 * - partner.registered {partnerId, name, earnRate, ...}: the partner's earn rate (points per currency unit).
 * - partner.rates_changed {partnerId, issuePrice, redemptionRate, effectiveFrom}: rate history for settlement.
 * - member.consent_granted {consentId, memberId, partnerId, purpose, expiresAt} / member.consent_revoked
 *   {consentId, memberId, partnerId, purpose}: the consent copy (MemberConsent, one row per receipt,
 *   active → revoked only) for offers' requiredPurpose.
 * - partner.offer_activated {offerId, kind, bonusPoints, multiplier, budgetPoints, perMemberLimit,
 *   startsAt, endsAt, minTier, segments, requiredPurpose, redeemableAtPartnerIds, fundings:[{partnerId, shareBps}],
 *   reactivation}: remembers the terms and funds the OFFER_BUDGET from each co-issuer's issuance account (once per offer).
 * - partner.offer_claimed {offerId, memberId, claimedAt}: the member may now receive the offer's bonus.
 * - partner.offer_paused {offerId} / partner.offer_resumed {offerId}: no bonus while paused.
 * - partner.offer_ended {offerId}: returns the unused budget to the co-issuers in their shares.
 * - partner.status_changed {partnerId, active}: an inactive partner cannot award points.
 * - partner.earn_rule_changed {partnerId, earnRate}: points per currency unit for purchase-based earns.
 *
 * Why events and not reads: the points subgraph never reads the member or partner schemas. What it
 * needs to decide an earn on its own — which members a partner is linked to, the partner's earn rate
 * and status, an offer's terms, who claimed it — is copied into points-owned tables (MemberLink,
 * Partner, Offer, OfferClaim, MemberConsent) from the owners' events, and per-member offer uses are counted here
 * (OfferUse, guarded increment). The copies lag the owner by the relay's delivery time (milliseconds;
 * the relay is woken at commit): an earn for a member enrolled a moment ago may be NOT_FOUND once,
 * and the partner's retry with the same idempotency key is safe.
 */

/**
 * Opens a member's wallet (and BASE tier state); idempotent. Called by the member.enrolled and
 * member.linked consumers; a wallet is also opened on demand by the first posting to it, so nothing
 * depends on event timing.
 */
export async function openWallet(tx: Tx, memberId: string, at: Date = new Date()): Promise<void> {
  await ensureAccounts(tx, [walletCode(memberId)]);
  await tx.$executeRaw`
    INSERT INTO "points"."TierState" ("memberId", tier, "tierSince") VALUES (${memberId}::uuid, 'BASE', ${at}) ON CONFLICT ("memberId") DO NOTHING`;
}

async function link(tx: Tx, memberId: string, partnerId: string, at: Date): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO "points"."MemberLink" ("memberId", "partnerId", "linkedAt") VALUES (${memberId}::uuid, ${partnerId}::uuid, ${at})
    ON CONFLICT ("memberId", "partnerId") DO NOTHING`;
}

const dateOr = (s: unknown, d: Date) => {
  const x = typeof s === "string" ? new Date(s) : null;
  return x && !Number.isNaN(x.getTime()) ? x : d;
};

function bad(event: DomainEvent, why: string): void {
  log.warn("points: event with a bad payload ignored", { eventId: event.id, type: event.type, why });
}

type OfferActivated = ParsedPayloadOf<"partner.offer_activated">;

export async function onOfferActivated(tx: Tx, p: OfferActivated, at: Date): Promise<void> {
  const minTier = isTier(p.minTier) ? p.minTier : null;
  const redeemable = (p.redeemableAtPartnerIds ?? []).filter(isUuid);
  const segments = LIFECYCLES.filter((x) => Array.isArray(p.segments) && p.segments.includes(x));
  // Kept as given when it is a string: an unknown purpose matches no consent (refused), never "none needed".
  const requiredPurpose = typeof p.requiredPurpose === "string" && p.requiredPurpose ? p.requiredPurpose.slice(0, 64) : null;
  const existed = await tx.$queryRaw<{ offerId: string }[]>`SELECT "offerId"::text AS "offerId" FROM "points"."Offer" WHERE "offerId" = ${p.offerId}::uuid`;
  if (existed.length) {
    // Re-activation after a pause or an edit: terms other than the (frozen) budget and shares may change; funded once.
    await tx.$executeRaw`
      UPDATE "points"."Offer" SET status = 'ACTIVE', kind = ${p.kind}, "bonusPoints" = ${p.bonusPoints ?? null}::int, multiplier = ${p.multiplier ?? null}::numeric,
        "startsAt" = ${new Date(p.startsAt)}, "endsAt" = ${new Date(p.endsAt)}, "perMemberLimit" = ${p.perMemberLimit}::int,
        "redeemablePartnerIds" = ${redeemable}::uuid[], "minTier" = ${minTier}::"points"."Tier", segments = ${segments}::text[],
        "requiredPurpose" = ${requiredPurpose}
      WHERE "offerId" = ${p.offerId}::uuid AND status <> 'ENDED'`;
    return;
  }
  await tx.$executeRaw`
    INSERT INTO "points"."Offer" ("offerId", kind, "bonusPoints", multiplier, "startsAt", "endsAt", "perMemberLimit", "budgetPoints", fundings,
      "redeemablePartnerIds", "minTier", segments, "requiredPurpose", status, "activatedAt")
    VALUES (${p.offerId}::uuid, ${p.kind}, ${p.bonusPoints ?? null}::int, ${p.multiplier ?? null}::numeric, ${new Date(p.startsAt)}, ${new Date(p.endsAt)},
      ${p.perMemberLimit}::int, ${p.budgetPoints}::int, ${JSON.stringify(p.fundings)}::jsonb, ${redeemable}::uuid[], ${minTier}::"points"."Tier", ${segments}::text[], ${requiredPurpose}, 'ACTIVE', ${at})`;
  if (p.budgetPoints > 0) {
    const parts = splitByShares(p.budgetPoints, p.fundings).filter((x) => x.points > 0);
    await post(tx, {
      kind: "OFFER_FUNDING",
      offerId: p.offerId,
      postings: [{ accountCode: budgetCode(p.offerId), amount: p.budgetPoints }, ...parts.map((x) => ({ accountCode: issuanceCode(x.partnerId), amount: -x.points }))],
      idempotency: { scope: "system:offers", key: `funding:${p.offerId}`, requestHash: `funding:${p.offerId}` },
      reason: "offer budget funded by its co-issuers",
      createdBy: "system:offers",
      postedAt: at,
    });
  }
}

export async function onOfferEnded(tx: Tx, offerId: string, at: Date): Promise<void> {
  const [offer] = await tx.$queryRaw<{ fundings: { partnerId: string; shareBps: number }[]; status: string }[]>`
    SELECT fundings, status FROM "points"."Offer" WHERE "offerId" = ${offerId}::uuid FOR UPDATE`;
  if (!offer || offer.status === "ENDED") return;
  await tx.$executeRaw`UPDATE "points"."Offer" SET status = 'ENDED', "endedAt" = ${at} WHERE "offerId" = ${offerId}::uuid`;
  const [budget] = await tx.$queryRaw<{ balance: bigint }[]>`
    SELECT balance FROM "points"."LedgerAccount" WHERE code = ${budgetCode(offerId)} FOR UPDATE`;
  // At most the offer's budgetPoints (≤ 1,000,000,000).
  const left = budget ? toSafeNumber(budget.balance, `budget of offer ${offerId}`) : 0;
  if (left <= 0) return;
  const parts = splitByShares(left, offer.fundings).filter((x) => x.points > 0);
  await post(tx, {
    kind: "OFFER_RETURN",
    offerId,
    postings: [{ accountCode: budgetCode(offerId), amount: -left }, ...parts.map((x) => ({ accountCode: issuanceCode(x.partnerId), amount: x.points }))],
    idempotency: { scope: "system:offers", key: `return:${offerId}`, requestHash: `return:${offerId}` },
    reason: "unused offer budget returned to its co-issuers",
    createdBy: "system:offers",
    postedAt: at,
  });
}

export const eventConsumer = defineConsumer("points", {
  "member.enrolled": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.memberId)) return bad(e, "memberId");
    const at = dateOr(p.joinedAt, new Date(e.createdAt));
    await openWallet(tx, p.memberId, at);
    // joinedAt, for the lifecycle segment of offer eligibility (earn.ts applyOfferBonus).
    await tx.$executeRaw`
      INSERT INTO "points"."MemberJoin" ("memberId", "joinedAt") VALUES (${p.memberId}::uuid, ${at})
      ON CONFLICT ("memberId") DO UPDATE SET "joinedAt" = EXCLUDED."joinedAt"`;
    if (isUuid(p.partnerId)) await link(tx, p.memberId, p.partnerId, at);
    // A welcome bonus on enrolment, where the program's trigger is ENROLMENT (once per member ever).
    await payEnrolmentBonus(tx, { memberId: p.memberId, partnerId: isUuid(p.partnerId) ? p.partnerId : null, joinedAt: at, now: clockNow() });
  },
  // Consent copies for offers' requiredPurpose (lib/consent-copy.ts: a receipt only goes from active to revoked).
  ...consentCopyHandlers("points"),
  "member.linked": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.memberId) || !isUuid(p.partnerId)) return bad(e, "ids");
    const at = dateOr(p.linkedAt, new Date(e.createdAt));
    await openWallet(tx, p.memberId, at);
    await link(tx, p.memberId, p.partnerId, at);
    // The partner's reference (awardPoints by reference): a reference names one member of a
    // partner, so a re-keyed one first leaves whoever held it here.
    if (typeof p.externalRef === "string" && p.externalRef) {
      await tx.$executeRaw`
        UPDATE "points"."MemberLink" SET "externalRef" = NULL WHERE "partnerId" = ${p.partnerId}::uuid AND "externalRef" = ${p.externalRef} AND "memberId" <> ${p.memberId}::uuid`;
      await tx.$executeRaw`
        UPDATE "points"."MemberLink" SET "externalRef" = ${p.externalRef} WHERE "memberId" = ${p.memberId}::uuid AND "partnerId" = ${p.partnerId}::uuid`;
    }
  },
  "partner.registered": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.partnerId)) return bad(e, "partnerId");
    const rate = typeof p.earnRate === "string" && /^\d{1,8}(\.\d{1,4})?$/.test(p.earnRate) ? p.earnRate : "1";
    await tx.$executeRaw`
      INSERT INTO "points"."Partner" ("partnerId", name, "earnRate", active, "updatedAt")
      VALUES (${p.partnerId}::uuid, ${String(p.name ?? "").slice(0, 200)}, ${rate}::numeric, ${p.active ?? true}, ${new Date(e.createdAt)})
      ON CONFLICT ("partnerId") DO UPDATE SET name = EXCLUDED.name, "earnRate" = EXCLUDED."earnRate", active = EXCLUDED.active, "updatedAt" = EXCLUDED."updatedAt"`;
    await ensureAccounts(tx, [issuanceCode(p.partnerId), `redemption:${p.partnerId}`]);
  },
  "partner.rates_changed": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.partnerId) || typeof p.issuePrice !== "string" || typeof p.redemptionRate !== "string") return bad(e, "payload");
    await tx.$executeRaw`
      INSERT INTO "points"."PartnerRate" ("partnerId", "issuePrice", "redemptionRate", "effectiveFrom")
      VALUES (${p.partnerId}::uuid, ${p.issuePrice}::numeric, ${p.redemptionRate}::numeric, ${dateOr(p.effectiveFrom, new Date(e.createdAt))})`;
  },
  "partner.offer_activated": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.offerId) || !Number.isInteger(p.budgetPoints) || p.budgetPoints < 0 || !Array.isArray(p.fundings) || !p.fundings.length) return bad(e, "payload");
    if (p.fundings.some((f) => !isUuid(f.partnerId) || !Number.isInteger(f.shareBps) || f.shareBps < 0)) return bad(e, "fundings");
    await onOfferActivated(tx, p, new Date(e.createdAt));
  },
  "partner.offer_claimed": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.offerId) || !isUuid(p.memberId)) return bad(e, "ids");
    await tx.$executeRaw`
      INSERT INTO "points"."OfferClaim" ("offerId", "memberId", "claimedAt")
      VALUES (${p.offerId}::uuid, ${p.memberId}::uuid, ${dateOr(p.claimedAt, new Date(e.createdAt))})
      ON CONFLICT DO NOTHING`;
  },
  "partner.offer_paused": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.offerId)) return bad(e, "offerId");
    await tx.$executeRaw`UPDATE "points"."Offer" SET status = 'PAUSED' WHERE "offerId" = ${p.offerId}::uuid AND status = 'ACTIVE'`;
  },
  "partner.offer_resumed": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.offerId)) return bad(e, "offerId");
    await tx.$executeRaw`UPDATE "points"."Offer" SET status = 'ACTIVE' WHERE "offerId" = ${p.offerId}::uuid AND status = 'PAUSED'`;
  },
  "partner.status_changed": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.partnerId) || typeof p.active !== "boolean") return bad(e, "payload");
    await tx.$executeRaw`
      INSERT INTO "points"."Partner" ("partnerId", name, "earnRate", active, "updatedAt") VALUES (${p.partnerId}::uuid, '', 1, ${p.active}, ${new Date(e.createdAt)})
      ON CONFLICT ("partnerId") DO UPDATE SET active = EXCLUDED.active, "updatedAt" = EXCLUDED."updatedAt"`;
  },
  "partner.earn_rule_changed": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.partnerId) || typeof p.earnRate !== "string" || !/^\d{1,8}(\.\d{1,4})?$/.test(p.earnRate) || Number(p.earnRate) <= 0) return bad(e, "payload");
    await tx.$executeRaw`
      INSERT INTO "points"."Partner" ("partnerId", name, "earnRate", active, "updatedAt") VALUES (${p.partnerId}::uuid, '', ${p.earnRate}::numeric, true, ${new Date(e.createdAt)})
      ON CONFLICT ("partnerId") DO UPDATE SET "earnRate" = EXCLUDED."earnRate", "updatedAt" = EXCLUDED."updatedAt"`;
  },
  "partner.offer_ended": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.offerId)) return bad(e, "offerId");
    await onOfferEnded(tx, p.offerId, dateOr(p.endedAt, new Date(e.createdAt)));
  },
});

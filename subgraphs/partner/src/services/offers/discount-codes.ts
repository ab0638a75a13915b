import { randomBytes } from "node:crypto";
import { HubError, notFound } from "../../../../../lib/errors.ts";
import type { Offer, OfferClaim } from "../../../../../prisma/generated/client/client.ts";
import { prisma } from "../../db.ts";
import type { Actor, WriteOptions } from "../domain.ts";
import { isLive } from "./claims.ts";
import { requireEligible } from "./eligibility.ts";
import { requirePartner } from "./visibility.ts";

/** DISCOUNT offers: the single-member code a claim carries, and its use at a redemption partner's checkout. */

/** Ten characters from an alphabet of 31 without look-alikes (0/O, 1/I/L): about 49 bits. */
const CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
export function newDiscountCode(): string {
  const bytes = randomBytes(16);
  let s = "";
  for (const b of bytes) {
    if (b >= 248) continue; // 248 = 8 × 31: keeps the draw uniform
    s += CODE_ALPHABET[b % 31];
    if (s.length === 10) break;
  }
  return s.length === 10 ? s : newDiscountCode();
}

/**
 * A redemption partner validates a member's DISCOUNT code at checkout and marks one use. The
 * member must still be eligible (tier, segment, consent: the same check as claimOffer), else
 * OFFER_NOT_ELIGIBLE and no use is counted. The per-member limit holds under concurrency: the
 * increment is conditional (usedCount < limit). Unknown codes and codes of offers not usable at the
 * caller are NOT_FOUND.
 */
export async function redeemDiscountCode(actor: Actor, code: string, opts: WriteOptions = {}): Promise<OfferClaim & { offer: Offer }> {
  const me = requirePartner(actor);
  const now = opts.now ?? new Date();
  const normalized = code.trim().toUpperCase();
  const claim = /^[A-Z0-9]{4,32}$/.test(normalized) ? await prisma().offerClaim.findUnique({ where: { discountCode: normalized }, include: { offer: { include: { redeemable: { where: { partnerId: me } } } } } }) : null;
  if (!claim?.offer.redeemable.length) throw notFound("Discount code");
  if (!isLive(claim.offer, now)) throw new HubError("OFFER_NOT_ACTIVE", "The offer is not active now");
  await requireEligible(claim.offer, claim.memberId, now);
  const n = await prisma().$executeRaw`
    UPDATE "partner"."OfferClaim" SET "usedCount" = "usedCount" + 1, "lastUsedAt" = ${now}
    WHERE id = ${claim.id}::uuid AND "usedCount" < ${claim.offer.perMemberLimit}`;
  if (n === 0) throw new HubError("OFFER_LIMIT_REACHED", "This code has been used as often as the offer allows");
  const updated = await prisma().offerClaim.findUniqueOrThrow({ where: { id: claim.id }, include: { offer: true } });
  return updated;
}

import { forbidden, HubError, notFound } from "../../../../../lib/errors.ts";
import type { Prisma } from "../../../../../lib/db.ts";
import type { ParsedPayloadOf } from "../../../../../lib/events/catalogue.ts";
import { emit } from "../../../../../lib/events/outbox.ts";
import { isUuid } from "../../../../../lib/input.ts";
import type { Offer, OfferClaim } from "../../../../../prisma/generated/client/client.ts";
import { prisma } from "../../db.ts";
import type { Actor, WriteOptions } from "../domain.ts";
import { newDiscountCode } from "./discount-codes.ts";
import { requireEligible } from "./eligibility.ts";
import { visibleWhere } from "./visibility.ts";

/** Is the offer claimable / usable at `now`: ACTIVE and inside its window? */
export const isLive = (o: Pick<Offer, "status" | "startsAt" | "endsAt">, now: Date) => o.status === "ACTIVE" && o.startsAt.getTime() <= now.getTime() && now.getTime() < o.endsAt.getTime();

/**
 * A member claims an offer: it must be live and the member eligible now (tier, segment and consent,
 * see eligibility.ts; OFFER_NOT_ELIGIBLE otherwise).
 * Claiming again returns the same claim; parallel claims converge on one row through the unique
 * index. A claim whose uses reached the per-member limit is OFFER_LIMIT_REACHED.
 */
export async function claimOffer(actor: Actor, offerId: string, opts: WriteOptions = {}): Promise<OfferClaim> {
  if (actor.role !== "MEMBER" || !isUuid(actor.memberId)) throw forbidden("Only a member claims offers");
  const memberId = actor.memberId;
  const now = opts.now ?? new Date();
  const offer = isUuid(offerId) ? await prisma().offer.findFirst({ where: { AND: [{ id: offerId }, visibleWhere(actor)] } }) : null;
  if (!offer) throw notFound("Offer", offerId);
  const existing = await prisma().offerClaim.findUnique({ where: { offerId_memberId: { offerId, memberId } } });
  if (existing) {
    if (existing.usedCount >= offer.perMemberLimit) throw new HubError("OFFER_LIMIT_REACHED", "You have used this offer as often as it allows");
    await requireEligible(offer, memberId, now);
    return existing;
  }
  if (!isLive(offer, now)) throw new HubError("OFFER_NOT_ACTIVE", "The offer is not active now");
  await requireEligible(offer, memberId, now);
  // The claim and its event commit together: the points subgraph pays a bonus only on a claim.
  await prisma().$transaction(async (tx) => {
    const { count } = await tx.offerClaim.createMany({
      data: [{ offerId, memberId, claimedAt: now, discountCode: offer.kind === "DISCOUNT" ? newDiscountCode() : null }],
      skipDuplicates: true,
    });
    if (count) await emit(tx, "partner.offer_claimed", { offerId, memberId, claimedAt: now.toISOString() });
  });
  return prisma().offerClaim.findUniqueOrThrow({ where: { offerId_memberId: { offerId, memberId } } });
}

/**
 * `points.offer_applied`: a bonus the points subgraph applied counts as a use of the member's claim.
 * `uses` is the points subgraph's running count, so redelivery or reordering never counts twice.
 */
export async function recordOfferApplied(tx: Prisma.TransactionClient, p: ParsedPayloadOf<"points.offer_applied">, createdAt: string): Promise<void> {
  // `uses` is the points subgraph's running count, so redelivery or reordering never counts twice.
  const at = p.at ? new Date(p.at) : new Date(createdAt);
  await tx.$executeRaw`
    UPDATE "partner"."OfferClaim" SET "usedCount" = GREATEST("usedCount", ${p.uses}::int), "lastUsedAt" = ${at}
    WHERE "offerId" = ${p.offerId}::uuid AND "memberId" = ${p.memberId}::uuid`;
}

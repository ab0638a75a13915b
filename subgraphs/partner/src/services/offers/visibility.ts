import type { Prisma } from "../../../../../lib/db.ts";
import { forbidden, notFound } from "../../../../../lib/errors.ts";
import { isUuid } from "../../../../../lib/input.ts";
import type { Offer, OfferFunding } from "../../../../../prisma/generated/client/client.ts";
import { prisma } from "../../db.ts";
import { type Actor, isAdmin } from "../domain.ts";

/**
 * Who may see an offer and who may act on it: the one visibility rule of every offer read, and the
 * lock-and-check every change by a co-issuer starts with.
 */

/**
 * Which offers a caller sees. ADMIN: all. PARTNER: those it co-issues (any status) and those
 * usable at it once they have been activated. MEMBER: ACTIVE ones, and any it has claimed.
 * Anything else is NOT_FOUND to the caller (drafts never leak to non-co-issuers).
 */
export function visibleWhere(actor: Actor): Prisma.OfferWhereInput {
  if (isAdmin(actor)) return {};
  if (actor.role === "PARTNER" && isUuid(actor.partnerId)) {
    return {
      OR: [{ fundings: { some: { partnerId: actor.partnerId } } }, { activatedAt: { not: null }, redeemable: { some: { partnerId: actor.partnerId } } }],
    };
  }
  if (actor.role === "MEMBER" && isUuid(actor.memberId)) return { OR: [{ status: "ACTIVE" }, { claims: { some: { memberId: actor.memberId } } }] };
  return { id: { in: [] } };
}

export async function visibleOffers(actor: Actor, ids: readonly string[]): Promise<Map<string, Offer>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length ? await prisma().offer.findMany({ where: { AND: [{ id: { in: valid } }, visibleWhere(actor)] } }) : [];
  return new Map(rows.map((o) => [o.id, o]));
}

/** The caller's partner id; FORBIDDEN unless the caller is a partner (only partners manage offers). */
export function requirePartner(actor: Actor): string {
  if (actor.role !== "PARTNER" || !isUuid(actor.partnerId)) throw forbidden("Only a partner manages offers");
  return actor.partnerId;
}

export type Tx = Prisma.TransactionClient;

/**
 * Locks the offer and checks that the caller may act on it: NOT_FOUND when the caller cannot see
 * it, FORBIDDEN when it can see it but is not a co-issuer.
 */
export async function lockForIssuer(tx: Tx, actor: Actor, offerId: string): Promise<{ offer: Offer; fundings: OfferFunding[]; me: string }> {
  const me = requirePartner(actor);
  if (!isUuid(offerId)) throw notFound("Offer", offerId);
  await tx.$queryRaw`SELECT id FROM "partner"."Offer" WHERE id = ${offerId}::uuid FOR UPDATE`;
  const offer = await tx.offer.findFirst({ where: { AND: [{ id: offerId }, visibleWhere(actor)] }, include: { fundings: true } });
  if (!offer) throw notFound("Offer", offerId);
  const { fundings, ...rest } = offer;
  if (!fundings.some((f) => f.partnerId === me)) throw forbidden("Only a co-issuer of this offer may do this");
  return { offer: rest, fundings, me };
}

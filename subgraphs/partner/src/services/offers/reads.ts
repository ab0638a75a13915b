import type { Prisma } from "../../../../../lib/db.ts";
import { type BiPage, encodeCursor as encodeTimeCursor, keysetOrderBy, keysetPage, keysetWhere, type PageArgs } from "../../../../../lib/paging.ts";
import { isUuid } from "../../../../../lib/input.ts";
import type { Offer, OfferClaim, OfferFunding, OfferStatus } from "../../../../../prisma/generated/client/client.ts";
import { prisma } from "../../db.ts";
import type { Actor } from "../domain.ts";
import { visibleWhere } from "./visibility.ts";

/** Batched reads behind the offer loaders, and the offers list (Relay connection). */

export async function fundingsOf(offerIds: readonly string[]): Promise<Map<string, OfferFunding[]>> {
  const rows = await prisma().offerFunding.findMany({ where: { offerId: { in: offerIds.filter(isUuid) } }, orderBy: [{ shareBps: "desc" }, { partnerId: "asc" }] });
  return groupBy(rows, (r) => r.offerId);
}

export async function redeemableAtOf(offerIds: readonly string[]): Promise<Map<string, string[]>> {
  const rows = await prisma().offerRedeemablePartner.findMany({ where: { offerId: { in: offerIds.filter(isUuid) } }, orderBy: { partnerId: "asc" } });
  const m = groupBy(rows, (r) => r.offerId);
  return new Map([...m].map(([k, v]) => [k, v.map((r) => r.partnerId)]));
}

export async function claimsOfMembers(memberIds: readonly string[]): Promise<Map<string, (OfferClaim & { offer: Offer })[]>> {
  const rows = await prisma().offerClaim.findMany({
    where: { memberId: { in: memberIds.filter(isUuid) } },
    include: { offer: true },
    orderBy: [{ claimedAt: "desc" }, { id: "asc" }],
  });
  return groupBy(rows, (r) => r.memberId);
}

function groupBy<T>(rows: T[], key: (r: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = m.get(k);
    if (list) list.push(r);
    else m.set(k, [r]);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Listing (Relay connection)
// ---------------------------------------------------------------------------------------------

export type OfferPage = BiPage<Offer>;

/** An offer's cursor in the offers list: keyset on (createdAt, id). */
export const encodeCursor = (o: Pick<Offer, "createdAt" | "id">) => encodeTimeCursor(o.createdAt, o.id);

/** Offers the caller sees, newest first, either direction. first/last: 1–100, default 20. */
export async function listOffers(actor: Actor, args: PageArgs & { status?: OfferStatus | null }): Promise<OfferPage> {
  const and: Prisma.OfferWhereInput[] = [visibleWhere(actor)];
  if (args.status) and.push({ status: args.status });
  return keysetPage(args, isUuid, (q) => {
    const k = keysetWhere(q, "createdAt", "id");
    return prisma().offer.findMany({ where: { AND: k ? [...and, k] : and }, orderBy: keysetOrderBy(q, "createdAt", "id"), take: q.limit });
  });
}

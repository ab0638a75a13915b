import type { Prisma, PrismaClient } from "../../../../lib/db.ts";
import { consentCopyHandlers } from "../../../../lib/consent-copy.ts";
import type { ConsentCopy } from "../../../../lib/lifecycle.ts";
import { isUuid } from "../../../../lib/input.ts";

/**
 * The partner subgraph's copy of members' consent receipts (`partner.MemberConsent`), for offers
 * with a `requiredPurpose` (claimOffer, Member.eligibleOffers, redeemDiscountCode); kept by
 * lib/consent-copy.ts from the member subgraph's events.
 */

type Tx = Prisma.TransactionClient;

export const memberConsentHandlers = consentCopyHandlers("partner");

/** The active (not revoked) consent receipts of members, by member; expiry is left to the caller's clock. One query. */
export async function consentsOfMembers(db: Tx | PrismaClient, memberIds: readonly string[]): Promise<Map<string, ConsentCopy[]>> {
  const out = new Map<string, ConsentCopy[]>(memberIds.map((id) => [id, []]));
  const ids = memberIds.filter(isUuid);
  if (!ids.length) return out;
  const rows = await db.partnerMemberConsent.findMany({
    where: { memberId: { in: ids }, active: true },
    select: { memberId: true, partnerId: true, purpose: true, expiresAt: true, active: true },
  });
  for (const { memberId, ...c } of rows) out.get(memberId)?.push(c);
  return out;
}

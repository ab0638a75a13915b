import type { Prisma, PrismaClient } from "../../../../lib/db.ts";
import type { DomainEvent, EventHandler } from "../../../../lib/events.ts";
import type { ConsentCopy } from "../../../../lib/lifecycle.ts";
import { log } from "../../../../lib/logger.ts";
import { isUuid } from "./domain.ts";

/**
 * The partner subgraph's copy of members' consent receipts (`partner.MemberConsent`), for offers
 * with a `requiredPurpose` (claimOffer, Member.eligibleOffers, redeemDiscountCode). Only the member
 * subgraph reads consents; this copy is fed by its events, one row per receipt:
 * - member.consent_granted {consentId, memberId, partnerId, purpose, expiresAt} → an active row
 * - member.consent_revoked {consentId, memberId, partnerId, purpose}            → active = false
 * A receipt is immutable except for its one-time revocation, so the row only ever goes from active
 * to revoked: a grant arriving after its revocation leaves it revoked, and redelivery (also stopped
 * by the inbox) changes nothing. Expiry needs no event: it is compared with the clock when read.
 */

type Tx = Prisma.TransactionClient;

const PURPOSE = /^[A-Z][A-Z_]{0,63}$/;

function bad(e: DomainEvent, why: string): void {
  log.warn("partner: event with a bad payload ignored", { eventId: e.id, type: e.type, why });
}

interface ConsentPayload {
  consentId?: string;
  memberId?: string;
  partnerId?: string;
  purpose?: string;
  expiresAt?: string | null;
}

export const memberConsentHandlers: Record<string, EventHandler> = {
  "member.consent_granted": async (tx, e) => {
    const p = e.payload as ConsentPayload;
    if (!isUuid(p.consentId) || !isUuid(p.memberId) || !isUuid(p.partnerId) || !PURPOSE.test(String(p.purpose))) return bad(e, "ids/purpose");
    const expiresAt = p.expiresAt == null ? null : new Date(p.expiresAt);
    if (expiresAt && Number.isNaN(expiresAt.getTime())) return bad(e, "expiresAt");
    await tx.$executeRaw`
      INSERT INTO "partner"."MemberConsent" ("consentId", "memberId", "partnerId", purpose, "expiresAt", active, "updatedAt")
      VALUES (${p.consentId}::uuid, ${p.memberId}::uuid, ${p.partnerId}::uuid, ${p.purpose}, ${expiresAt}, true, now())
      ON CONFLICT ("consentId") DO UPDATE SET "expiresAt" = EXCLUDED."expiresAt", "updatedAt" = now()`;
  },
  "member.consent_revoked": async (tx, e) => {
    const p = e.payload as ConsentPayload;
    if (!isUuid(p.consentId) || !isUuid(p.memberId) || !isUuid(p.partnerId) || !PURPOSE.test(String(p.purpose))) return bad(e, "ids/purpose");
    await tx.$executeRaw`
      INSERT INTO "partner"."MemberConsent" ("consentId", "memberId", "partnerId", purpose, "expiresAt", active, "updatedAt")
      VALUES (${p.consentId}::uuid, ${p.memberId}::uuid, ${p.partnerId}::uuid, ${p.purpose}, NULL, false, now())
      ON CONFLICT ("consentId") DO UPDATE SET active = false, "updatedAt" = now()`;
  },
};

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

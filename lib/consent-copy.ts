import { Prisma } from "./db.ts";
import type { EventHandler, HandlerSpec, TypedEvent } from "./events/inbox.ts";
import { log } from "./logger.ts";

/**
 * Event handlers that keep a subgraph's copy of members' consent receipts (`<schema>."MemberConsent"`),
 * for offers with a `requiredPurpose`. Only the member subgraph reads consents; the partner and
 * points subgraphs keep this copy, one row per receipt:
 * - member.consent_granted {consentId, memberId, partnerId, purpose, expiresAt} → an active row
 * - member.consent_revoked {consentId, memberId, partnerId, purpose}            → active = false
 * A receipt is immutable except for its one-time revocation, so a row only ever goes from active to
 * revoked: a grant arriving after its revocation leaves it revoked, and redelivery (also stopped by
 * the inbox) changes nothing. Expiry needs no event: it is compared with the clock when read.
 */
export function consentCopyHandlers(schema: "partner" | "points"): {
  "member.consent_granted": HandlerSpec<"member.consent_granted">;
  "member.consent_revoked": EventHandler<"member.consent_revoked">;
} {
  const table = Prisma.raw(`"${schema}"."MemberConsent"`);
  const pointsColumns = (p: TypedEvent<"member.consent_granted">["payload"]) => {
    const categories = (p.categories ?? []).filter((c) => /^[A-Z][A-Z_]{0,63}$/.test(c));
    return { categories, birthMonth: categories.includes("PROFILE_BASIC") ? (p.birthMonth ?? null) : null };
  };
  // Ids and purpose are checked by the catalogue's schema before a handler runs.
  return {
    "member.consent_granted": {
      /**
       * A delivered batch's grants in one statement (the demo seed imports ~2,000 receipts); a single
       * event is a batch of one (defineConsumer). The same state as the events one by one: rows are
       * keyed by the receipt, an update only sets the grant's columns (never `active`), so the last
       * grant of a receipt wins. The points copy also keeps the receipt's categories and, under
       * PROFILE_BASIC, the birth month (the birthday bonus; perks/bonuses.ts): a fact it may use
       * only under this receipt.
       */
      batch: async (tx, events) => {
        const last = new Map<string, TypedEvent<"member.consent_granted">["payload"]>();
        for (const e of events) {
          const x = e.payload.expiresAt;
          if (x != null && Number.isNaN(new Date(x).getTime())) {
            log.warn(`${schema}: event with a bad payload ignored`, { eventId: e.id, type: e.type, why: "expiresAt" });
            continue;
          }
          last.delete(e.payload.consentId);
          last.set(e.payload.consentId, e.payload);
        }
        if (!last.size) return;
        const rows = JSON.stringify(
          [...last.values()].map((p) => ({
            consentId: p.consentId,
            memberId: p.memberId,
            partnerId: p.partnerId,
            purpose: p.purpose,
            expiresAt: p.expiresAt == null ? null : new Date(p.expiresAt).toISOString(),
            ...(schema === "points" ? pointsColumns(p) : {}),
          })),
        );
        if (schema === "points") {
          await tx.$executeRaw`
            INSERT INTO "points"."MemberConsent" ("consentId", "memberId", "partnerId", purpose, "expiresAt", active, "updatedAt", categories, "birthMonth")
            SELECT r."consentId", r."memberId", r."partnerId", r.purpose, r."expiresAt", true, now(), COALESCE(r.categories, '{}'), r."birthMonth"
            FROM jsonb_to_recordset(${rows}::jsonb) AS r("consentId" uuid, "memberId" uuid, "partnerId" uuid, purpose text, "expiresAt" timestamptz, categories text[], "birthMonth" smallint)
            ON CONFLICT ("consentId") DO UPDATE SET "expiresAt" = EXCLUDED."expiresAt", "updatedAt" = now(), categories = EXCLUDED.categories, "birthMonth" = EXCLUDED."birthMonth"`;
          return;
        }
        await tx.$executeRaw`
          INSERT INTO ${table} ("consentId", "memberId", "partnerId", purpose, "expiresAt", active, "updatedAt")
          SELECT r."consentId", r."memberId", r."partnerId", r.purpose, r."expiresAt", true, now()
          FROM jsonb_to_recordset(${rows}::jsonb) AS r("consentId" uuid, "memberId" uuid, "partnerId" uuid, purpose text, "expiresAt" timestamptz)
          ON CONFLICT ("consentId") DO UPDATE SET "expiresAt" = EXCLUDED."expiresAt", "updatedAt" = now()`;
      },
    },
    "member.consent_revoked": async (tx, e) => {
      const p = e.payload;
      await tx.$executeRaw`
        INSERT INTO ${table} ("consentId", "memberId", "partnerId", purpose, "expiresAt", active, "updatedAt")
        VALUES (${p.consentId}::uuid, ${p.memberId}::uuid, ${p.partnerId}::uuid, ${p.purpose}, NULL, false, now())
        ON CONFLICT ("consentId") DO UPDATE SET active = false, "updatedAt" = now()`;
    },
  };
}

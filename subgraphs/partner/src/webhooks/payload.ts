import type { PrismaClient } from "../../../../lib/db.ts";
import { type DataCategory, inCategoryOrder, isDataCategory } from "../../../../lib/vocabulary.ts";
import type { WebhookDelivery, WebhookEndpoint } from "../../../../prisma/generated/client/client.ts";
import { MEMBER_EVENT_TYPES, payloadType, type WebhookEventType } from "./types.ts";

/**
 * The body of a delivery, built when it is sent (never stored): `{ id, type, occurredAt,
 * partnerId, data }`. Member data in `data` follows the member's consents to that partner for the
 * endpoint's purpose AS OF THE SEND (the partner subgraph's consent copy, kept by
 * member.consent_granted/_revoked within seconds; expiry compared with the clock): a field whose
 * category is not consented is null and named in `data.withheld`. So a retry or replay after a
 * revocation sends less, never more.
 *
 * What is not member data under consent: the member's hub id and the partner's own reference
 * (the partner holds both for its linked members), consent receipts granted to the partner (a
 * receipt is shared by both parties), and the partner's own business (offers, settlement, disputes).
 */

export interface Withheld {
  field: string;
  category: DataCategory;
}

interface ConsentRow {
  memberId: string;
  purpose: string;
  categories: string[] | null;
  consentId: string;
}

export interface PayloadContext {
  /** memberId → the partner's reference (link copy). */
  refs: Map<string, string | null>;
  /** memberId → its active, unexpired receipts to the partner (any purpose). */
  consents: Map<string, ConsentRow[]>;
}

/** The link references and active consents the deliveries' payloads need: two queries for all of them. */
export async function payloadContext(db: PrismaClient, deliveries: readonly WebhookDelivery[], now = new Date()): Promise<Map<string, PayloadContext>> {
  const byPartner = new Map<string, Set<string>>();
  for (const d of deliveries) if (d.memberId) (byPartner.get(d.partnerId) ?? byPartner.set(d.partnerId, new Set()).get(d.partnerId)!).add(d.memberId);
  const out = new Map<string, PayloadContext>();
  if (!byPartner.size) return out;
  const pairs = [...byPartner].flatMap(([p, ms]) => [...ms].map((m) => ({ p, m })));
  const partnerIds = pairs.map((x) => x.p);
  const memberIds = pairs.map((x) => x.m);
  const [links, consents] = await Promise.all([
    db.$queryRawUnsafe<{ partnerId: string; memberId: string; externalRef: string | null }[]>(
      `SELECT l."partnerId"::text, l."memberId"::text, l."externalRef" FROM "partner"."WebhookMemberLink" l
       JOIN unnest($1::uuid[], $2::uuid[]) AS k(p, m) ON l."partnerId" = k.p AND l."memberId" = k.m`,
      partnerIds,
      memberIds,
    ),
    db.$queryRawUnsafe<(ConsentRow & { partnerId: string })[]>(
      `SELECT c."partnerId"::text, c."memberId"::text, c.purpose, c.categories, c."consentId"::text FROM "partner"."MemberConsent" c
       JOIN unnest($1::uuid[], $2::uuid[]) AS k(p, m) ON c."partnerId" = k.p AND c."memberId" = k.m
       WHERE c.active AND (c."expiresAt" IS NULL OR c."expiresAt" > $3)`,
      partnerIds,
      memberIds,
      now,
    ),
  ]);
  const ctx = (p: string) => out.get(p) ?? out.set(p, { refs: new Map(), consents: new Map() }).get(p)!;
  for (const l of links) ctx(l.partnerId).refs.set(l.memberId, l.externalRef);
  for (const c of consents) {
    const m = ctx(c.partnerId).consents;
    (m.get(c.memberId) ?? m.set(c.memberId, []).get(c.memberId)!).push(c);
  }
  return out;
}

/** The categories the member shares with the endpoint's partner for `purpose`, now. */
function sharedCategories(rows: readonly ConsentRow[], purpose: string, except?: string): Set<DataCategory> {
  const out = new Set<DataCategory>();
  for (const r of rows) if (r.purpose === purpose && r.consentId !== except) for (const c of r.categories ?? []) if (isDataCategory(c)) out.add(c);
  return out;
}

/** The JSON body of a delivery (a string: what is signed is exactly what is sent). */
export function buildPayload(d: WebhookDelivery, endpoint: Pick<WebhookEndpoint, "purpose">, ctx: PayloadContext | undefined): string {
  const type = d.eventType as WebhookEventType;
  const facts = d.facts as Record<string, unknown>;
  let data: Record<string, unknown>;
  if (MEMBER_EVENT_TYPES.has(type) && d.memberId) {
    const consents = ctx?.consents.get(d.memberId) ?? [];
    const base = { memberId: d.memberId, partnerRef: ctx?.refs.get(d.memberId) ?? null };
    switch (type) {
      case "POINTS_EARNED":
      case "POINTS_REDEEMED":
      case "POINTS_REVERSED": {
        const shared = sharedCategories(consents, endpoint.purpose);
        const withheld: Withheld[] = shared.has("ACTIVITY") ? [] : [{ field: "points", category: "ACTIVITY" }];
        data = { ...base, kind: facts.kind, at: facts.at, points: shared.has("ACTIVITY") ? facts.points : null, purpose: endpoint.purpose, withheld };
        break;
      }
      case "CONSENT_REVOKED":
      case "CONSENT_EXPIRED": {
        // What to stop using: the receipt's categories that no other active receipt still covers for its purpose.
        const purpose = String(facts.purpose);
        const still = sharedCategories(consents, purpose, String(facts.consentId));
        const categories = ((facts.categories as string[]) ?? []).filter(isDataCategory);
        data = { ...base, ...facts, stopUsing: { purpose, categories: inCategoryOrder(categories.filter((c) => !still.has(c))) } };
        break;
      }
      case "LINK_CONFIRMED":
        data = { ...base, ...facts, partnerRef: (facts.partnerRef as string | null) ?? base.partnerRef };
        break;
      default:
        data = { ...base, ...facts };
    }
  } else {
    data = { ...facts };
  }
  return JSON.stringify({ id: d.eventId, type: payloadType(type), occurredAt: new Date(d.occurredAt).toISOString(), partnerId: d.partnerId, data });
}

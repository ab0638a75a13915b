import { randomUUID } from "node:crypto";
import type { Prisma } from "../../../../lib/db.ts";
import type { PayloadOf } from "../../../../lib/events/catalogue.ts";
import type { AnyTypedEvent, ConsumerHandlers, TypedEvent } from "../../../../lib/events/inbox.ts";
import { type WebhookEventType, ACTIVITY_TYPES } from "./types.ts";
import { wakeDispatchersAfterCommit } from "./wake.ts";

/**
 * Deliveries from the transactional outbox: the partner subgraph's event consumer turns each
 * relevant hub event into WebhookDelivery rows (one per matching endpoint) in the transaction that
 * records the event in its inbox, so a delivery exists if and only if the event was applied, once.
 * Nothing is sent here: the dispatcher (dispatcher.ts) sends after commit.
 *
 * Which endpoints match: the event's partner's, subscribed to its type; for events about a member,
 * only when the member is linked to that partner (the link copy, member.linked) — except
 * link.requested, which is about the partner's own request. Consent filtering of the payload
 * happens when it is sent (payload.ts).
 */

type Tx = Prisma.TransactionClient;

export interface Enqueued {
  eventId: string;
  partnerId: string;
  type: WebhookEventType;
  memberId: string | null;
  subjectKey: string;
  occurredAt: string;
  facts: Record<string, unknown>;
  requireLink: boolean;
}

/** One statement for all of them: endpoints × items, in the given order (their seq follows it). */
export async function enqueue(tx: Tx, items: readonly Enqueued[]): Promise<number> {
  if (!items.length) return 0;
  const n = await tx.$executeRawUnsafe(
    `INSERT INTO "partner"."WebhookDelivery" (id, "endpointId", "partnerId", "eventId", "eventType", "memberId", "subjectKey", "occurredAt", facts)
     SELECT gen_random_uuid(), e.id, i."partnerId", i."eventId", i.type, i."memberId", i."subjectKey", i."occurredAt", i.facts
     FROM jsonb_to_recordset($1::jsonb) AS i(ord int, "eventId" uuid, "partnerId" uuid, type text, "memberId" uuid, "subjectKey" text, "occurredAt" timestamptz, facts jsonb, "requireLink" boolean)
     JOIN "partner"."WebhookEndpoint" e ON e."partnerId" = i."partnerId" AND i.type = ANY(e."eventTypes")
     WHERE NOT i."requireLink" OR EXISTS (SELECT 1 FROM "partner"."WebhookMemberLink" l WHERE l."memberId" = i."memberId" AND l."partnerId" = i."partnerId")
     ORDER BY i.ord, e.id
     ON CONFLICT ("endpointId", "eventId") DO NOTHING`,
    JSON.stringify(items.map((it, ord) => ({ ord, ...it }))),
  );
  if (n) wakeDispatchersAfterCommit();
  return n;
}

const member = (id: string) => `member:${id}`;

function activityItems(events: TypedEvent<"points.activity">[]): Enqueued[] {
  const out: Enqueued[] = [];
  for (const e of events) {
    const p = e.payload;
    const type = ACTIVITY_TYPES[p.kind];
    if (!type || !p.partnerId) continue;
    out.push({ eventId: e.id, partnerId: p.partnerId, type, memberId: p.memberId, subjectKey: member(p.memberId), occurredAt: p.at, facts: { kind: p.kind, points: p.points, at: p.at }, requireLink: true });
  }
  return out;
}

function consentGrantedItems(events: TypedEvent<"member.consent_granted">[]): Enqueued[] {
  return events.map((e) => {
    const p = e.payload;
    const facts = { consentId: p.consentId, purpose: p.purpose, categories: p.categories ?? [], grantedAt: p.grantedAt ?? e.createdAt, expiresAt: p.expiresAt ?? null };
    return { eventId: e.id, partnerId: p.partnerId, type: "CONSENT_GRANTED", memberId: p.memberId, subjectKey: member(p.memberId), occurredAt: facts.grantedAt, facts, requireLink: true };
  });
}

/** When a link took effect: the event's linkedAt, else its time. */
const linkedAtOf = (e: TypedEvent<"member.linked">) => e.payload.linkedAt ?? e.payload.at ?? e.createdAt;

/** The LINK_CONFIRMED / LINK_REQUESTED delivery of a link event. */
function linkItem(e: AnyTypedEvent<"member.linked" | "member.link_requested">): Enqueued {
  const p = e.payload;
  if (e.type === "member.link_requested") {
    const { requestedAt } = e.payload;
    return { eventId: e.id, partnerId: p.partnerId, type: "LINK_REQUESTED", memberId: p.memberId, subjectKey: member(p.memberId), occurredAt: requestedAt, facts: { requestedAt }, requireLink: false };
  }
  const linkedAt = linkedAtOf(e);
  const facts = { partnerRef: e.payload.externalRef ?? null, previousPartnerRef: e.payload.previousExternalRef ?? null, linkedAt };
  return { eventId: e.id, partnerId: p.partnerId, type: "LINK_CONFIRMED", memberId: p.memberId, subjectKey: member(p.memberId), occurredAt: e.payload.at ?? linkedAt, facts, requireLink: true };
}

/**
 * member.linked and member.link_requested, any number in delivery order, in two statements: the link
 * copy (linkedAt: the first event's; the reference: the last one given, as COALESCE one by one
 * leaves it), then LINK_CONFIRMED / LINK_REQUESTED deliveries in the events' order.
 */
export async function linkEvents(tx: Tx, events: AnyTypedEvent<"member.linked" | "member.link_requested">[]): Promise<void> {
  const links = new Map<string, { memberId: string; partnerId: string; externalRef: string | null; linkedAt: Date }>();
  for (const e of events) {
    if (e.type !== "member.linked") continue;
    const { memberId, partnerId, externalRef } = e.payload;
    const link = links.get(`${memberId}/${partnerId}`);
    if (!link) links.set(`${memberId}/${partnerId}`, { memberId, partnerId, externalRef: externalRef ?? null, linkedAt: new Date(linkedAtOf(e)) });
    else if (externalRef != null) link.externalRef = externalRef;
  }
  if (links.size) {
    const l = [...links.values()];
    await tx.$executeRaw`
      INSERT INTO "partner"."WebhookMemberLink" ("memberId", "partnerId", "externalRef", "linkedAt")
      SELECT m, p, r, t FROM unnest(${l.map((x) => x.memberId)}::uuid[], ${l.map((x) => x.partnerId)}::uuid[], ${l.map((x) => x.externalRef)}::text[], ${l.map((x) => x.linkedAt)}::timestamptz[]) AS u(m, p, r, t)
      ON CONFLICT ("memberId", "partnerId") DO UPDATE SET "externalRef" = COALESCE(EXCLUDED."externalRef", "WebhookMemberLink"."externalRef")`;
  }
  await enqueue(tx, events.map(linkItem));
}

/**
 * The webhook side of each consumed event (composed with the partner's other handlers in events.ts).
 * `points.activity` has a set-based form: one statement per delivered batch.
 */
export const webhookIngest = {
  "member.consent_granted": {
    // The receipts' categories, for payload filtering (the consent copy itself is lib/consent-copy.ts),
    // and the deliveries: two statements for a batch (one event is a batch of one); the last grant
    // of a receipt sets its categories, as one by one.
    batch: async (tx, events) => {
      const last = new Map<string, string[]>();
      for (const e of events) {
        last.delete(e.payload.consentId);
        last.set(e.payload.consentId, e.payload.categories ?? []);
      }
      const rows = JSON.stringify([...last].map(([consentId, categories]) => ({ consentId, categories })));
      await tx.$executeRaw`
        UPDATE "partner"."MemberConsent" c SET categories = COALESCE(r.categories, '{}')
        FROM jsonb_to_recordset(${rows}::jsonb) AS r("consentId" uuid, categories text[]) WHERE c."consentId" = r."consentId"`;
      await enqueue(tx, consentGrantedItems(events));
    },
  },
  "member.consent_revoked": async (tx, e) => {
    const p = e.payload;
    if (p.categories) await tx.$executeRaw`UPDATE "partner"."MemberConsent" SET categories = ${p.categories}::text[] WHERE "consentId" = ${p.consentId}::uuid AND cardinality(categories) = 0`;
    const facts = { consentId: p.consentId, purpose: p.purpose, categories: p.categories ?? [], revokedAt: p.revokedAt ?? e.createdAt };
    await enqueue(tx, [{ eventId: e.id, partnerId: p.partnerId, type: "CONSENT_REVOKED", memberId: p.memberId, subjectKey: member(p.memberId), occurredAt: facts.revokedAt, facts, requireLink: true }]);
  },
  "member.linked": async (tx, e) => {
    const p = e.payload;
    await tx.$executeRaw`
      INSERT INTO "partner"."WebhookMemberLink" ("memberId", "partnerId", "externalRef", "linkedAt") VALUES (${p.memberId}::uuid, ${p.partnerId}::uuid, ${p.externalRef ?? null}, ${new Date(linkedAtOf(e))})
      ON CONFLICT ("memberId", "partnerId") DO UPDATE SET "externalRef" = COALESCE(EXCLUDED."externalRef", "WebhookMemberLink"."externalRef")`;
    await enqueue(tx, [linkItem(e)]);
  },
  "member.link_requested": async (tx, e) => void (await enqueue(tx, [linkItem(e)])),
  "points.activity": {
    one: async (tx, e) => void (await enqueue(tx, activityItems([e]))),
    batch: async (tx, events) => void (await enqueue(tx, activityItems(events))),
  },
} satisfies Partial<ConsumerHandlers<"partner">>;

/**
 * The partner subgraph's own events (offer submitted / approved): a producer does not consume its
 * own events, so their deliveries are written by the producing transaction itself, right after
 * `emit`, under the outbox event's id (the same atomicity: the change, the event and its
 * deliveries commit together or not at all; still nothing is sent inside the request).
 */
export const ownEventIngest = {
  "partner.offer_submitted": async (tx: Tx, e: { id: string; payload: PayloadOf<"partner.offer_submitted"> }) => {
    const p = e.payload;
    const facts = { offerId: p.offerId, version: p.version, title: p.title, submittedByPartnerId: p.submittedByPartnerId, coIssuerPartnerIds: p.coIssuerPartnerIds, submittedAt: p.submittedAt };
    await enqueue(
      tx,
      p.coIssuerPartnerIds
        .filter((id) => id !== p.submittedByPartnerId)
        .map((partnerId) => ({ eventId: e.id, partnerId, type: "OFFER_APPROVAL_REQUESTED" as const, memberId: null, subjectKey: `offer:${p.offerId}`, occurredAt: p.submittedAt, facts, requireLink: false })),
    );
  },
  "partner.offer_approved": async (tx: Tx, e: { id: string; payload: PayloadOf<"partner.offer_approved"> }) => {
    const p = e.payload;
    const facts = { offerId: p.offerId, version: p.version, approvedByPartnerId: p.approvedByPartnerId, coIssuerPartnerIds: p.coIssuerPartnerIds, active: p.active, approvedAt: p.approvedAt };
    await enqueue(
      tx,
      p.coIssuerPartnerIds.map((partnerId) => ({ eventId: e.id, partnerId, type: "OFFER_APPROVED" as const, memberId: null, subjectKey: `offer:${p.offerId}`, occurredAt: p.approvedAt, facts, requireLink: false })),
    );
  },
};

/** The webhook side of the settlement and dispute events (points subgraph). */
export const settlementIngest = {
  "points.settlement_approved": async (tx, e) => {
    const p = e.payload;
    await enqueue(
      tx,
      p.statements.map((s) => ({
        eventId: e.id,
        partnerId: s.partnerId,
        type: "SETTLEMENT_RUN_APPROVED" as const,
        memberId: null,
        subjectKey: `run:${p.runId}`,
        occurredAt: p.approvedAt,
        facts: { runId: p.runId, periodStart: p.periodStart, periodEnd: p.periodEnd, approvedAt: p.approvedAt, currency: p.currency, statement: s },
        requireLink: false,
      })),
    );
  },
  "points.dispute_resolved": async (tx, e) => {
    const p = e.payload;
    const facts = { lineId: p.lineId, runId: p.runId, adjustmentPoints: p.adjustmentPoints, note: p.note, resolvedAt: p.resolvedAt };
    await enqueue(tx, [{ eventId: e.id, partnerId: p.partnerId, type: "DISPUTE_RESOLVED", memberId: null, subjectKey: `line:${p.lineId}`, occurredAt: p.resolvedAt, facts, requireLink: false }]);
  },
} satisfies Partial<ConsumerHandlers<"partner">>;

/**
 * consent.expired: no owner writes anything when a receipt's time runs out, so the partner
 * subgraph notices it in its own consent copy (active, expiresAt passed, not yet announced),
 * marks it announced and enqueues the deliveries in one transaction (a new event id per receipt).
 * Several processes may sweep at once (SKIP LOCKED). Returns how many receipts it announced.
 */
export async function sweepExpiredConsents(tx: Tx, now = new Date(), limit = 500): Promise<number> {
  const due = await tx.$queryRaw<{ consentId: string; memberId: string; partnerId: string; purpose: string; categories: string[] | null; expiresAt: Date }[]>`
    SELECT "consentId"::text, "memberId"::text, "partnerId"::text, purpose, categories, "expiresAt" FROM "partner"."MemberConsent"
    WHERE active AND "expiresAt" <= ${now} AND "expiryNotifiedAt" IS NULL
    ORDER BY "expiresAt" LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
  if (!due.length) return 0;
  await tx.$executeRaw`UPDATE "partner"."MemberConsent" SET "expiryNotifiedAt" = ${now} WHERE "consentId" = ANY(${due.map((d) => d.consentId)}::uuid[])`;
  await enqueue(
    tx,
    due.map((d) => ({
      eventId: randomUUID(),
      partnerId: d.partnerId,
      type: "CONSENT_EXPIRED" as const,
      memberId: d.memberId,
      subjectKey: member(d.memberId),
      occurredAt: d.expiresAt.toISOString(),
      facts: { consentId: d.consentId, purpose: d.purpose, categories: d.categories ?? [], expiredAt: d.expiresAt.toISOString() },
      requireLink: true,
    })),
  );
  return due.length;
}

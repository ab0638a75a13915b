import { z } from "zod";

/**
 * The event catalogue: every domain event that crosses a subgraph boundary, with its payload
 * schema, the one subgraph that produces it (writes it to its outbox) and the subgraphs that
 * consume it. Producers emit through `emit` (lib/events/outbox.ts), typed from here; consumers
 * register handlers through `defineConsumer` (lib/events/inbox.ts), which parses each payload with
 * the schema below before the handler sees it; the relay routes by `consumers` (SUBSCRIPTIONS).
 *
 * Payload schemas say what a consumer may rely on: a field a consumer needs is required, a field
 * it can do without (falling back, e.g. to the event's createdAt) is optional. Objects are loose:
 * a producer may add a field before its consumers read it, so a new field never rejects an event.
 * Times are ISO-8601 strings in UTC; ids are UUIDs (any version: Postgres and tests make v4).
 */

export type SchemaName = "member" | "points" | "partner";
export const SCHEMA_NAMES: readonly SchemaName[] = ["member", "points", "partner"];

const id = z.guid();
const isoTime = z.iso.datetime({ offset: true });
const decimal = z.string().regex(/^-?\d{1,12}(\.\d{1,6})?$/, "a decimal string");

interface EventSpec {
  /** One sentence: what happened, for people reading the catalogue or a dead letter. */
  description: string;
  producer: SchemaName;
  consumers: readonly SchemaName[];
  payload: z.ZodType;
}

/** `<schema>.data_accessed`: one per member and request, the categories a partner read (the member subgraph's access log). */
const dataAccessed = z.looseObject({
  memberId: id,
  partnerId: id,
  categories: z.array(z.string()),
  /** null cannot happen for a consent-scoped read; the consumer ignores it with a warning. */
  purpose: z.string().nullable(),
  operationName: z.string().nullish(),
  requestId: z.string().nullish(),
  at: isoTime,
});

const consentReceipt = {
  consentId: id,
  memberId: id,
  partnerId: id,
  /** The member schema's Purpose value. */
  purpose: z.string().regex(/^[A-Z][A-Z_]{0,63}$/),
  categories: z.array(z.string()).optional(),
};

export const CATALOGUE = {
  "member.enrolled": {
    description: "A member joined the coalition (at a partner, when partnerId is set).",
    producer: "member",
    consumers: ["points", "partner"],
    payload: z.looseObject({ memberId: id, email: z.string().optional(), joinedAt: isoTime.optional(), partnerId: id.nullish() }),
  },
  "member.linked": {
    description: "A member's account at a partner took effect (new, confirmed, or its external reference changed).",
    producer: "member",
    consumers: ["points", "partner"],
    payload: z.looseObject({
      memberId: id,
      partnerId: id,
      externalRef: z.string().optional(),
      linkedAt: isoTime.optional(),
      previousExternalRef: z.string().nullish(),
      at: isoTime.optional(),
    }),
  },
  "member.link_requested": {
    description: "A partner asked to link an e-mail that already belongs to a member; waits for the member's confirmation (the partner subgraph tells the partner's webhooks).",
    producer: "member",
    consumers: ["partner"],
    payload: z.looseObject({ memberId: id, partnerId: id, requestedAt: isoTime }),
  },
  "member.consent_granted": {
    description: "A member granted a consent receipt to a partner for a purpose.",
    producer: "member",
    consumers: ["partner", "points"],
    payload: z.looseObject({ ...consentReceipt, grantedAt: isoTime.optional(), expiresAt: isoTime.nullish() }),
  },
  "member.consent_revoked": {
    description: "A member revoked a consent receipt (once; a receipt never becomes active again).",
    producer: "member",
    consumers: ["partner", "points"],
    payload: z.looseObject({ ...consentReceipt, revokedAt: isoTime.optional() }),
  },
  "points.activity": {
    description: "Points moved in a member's wallet: an earn, a bonus, a redemption or a reversal (signed points from the member's point of view).",
    producer: "points",
    consumers: ["member", "partner"],
    payload: z.looseObject({
      memberId: id,
      at: isoTime,
      /** The points transaction kind: EARN, OFFER_BONUS, REDEEM, REVERSAL, ... */
      kind: z.string().min(1).max(32),
      points: z.int(),
      partnerId: id.nullish(),
    }),
  },
  "points.tier_changed": {
    description: "A member's tier changed (up or down).",
    producer: "points",
    consumers: ["partner"],
    payload: z.looseObject({ memberId: id, tier: z.string(), previousTier: z.string().optional(), at: isoTime.optional() }),
  },
  "points.data_accessed": {
    description: "A partner read a member's points data (wallet, tier, activity) in one request.",
    producer: "points",
    consumers: ["member"],
    payload: dataAccessed,
  },
  "points.offer_applied": {
    description: "An offer's bonus was applied to a member's earn; `uses` is the member's running count of uses of that offer.",
    producer: "points",
    consumers: ["partner"],
    payload: z.looseObject({ offerId: id, memberId: id, uses: z.int().min(0), at: isoTime.optional() }),
  },
  "partner.data_accessed": {
    description: "A partner (or its app) read members' offer data in one request.",
    producer: "partner",
    consumers: ["member"],
    payload: dataAccessed,
  },
  "partner.registered": {
    description: "An admin registered a partner with its earn rate and first rates.",
    producer: "partner",
    consumers: ["points"],
    payload: z.looseObject({
      partnerId: id,
      name: z.string().optional(),
      slug: z.string().optional(),
      category: z.string().optional(),
      /** Points per currency unit; a malformed one falls back to 1 in the points subgraph. */
      earnRate: z.string().optional(),
      active: z.boolean().optional(),
      issuePrice: decimal.optional(),
      redemptionRate: decimal.optional(),
      effectiveFrom: isoTime.optional(),
    }),
  },
  "partner.rates_changed": {
    description: "A partner's issue price and redemption rate change from effectiveFrom (appended to the rate history).",
    producer: "partner",
    consumers: ["points"],
    payload: z.looseObject({ partnerId: id, issuePrice: decimal, redemptionRate: decimal, effectiveFrom: isoTime.optional() }),
  },
  "partner.status_changed": {
    description: "An admin activated or deactivated a partner (an inactive partner cannot award points).",
    producer: "partner",
    consumers: ["points"],
    payload: z.looseObject({ partnerId: id, active: z.boolean() }),
  },
  "partner.earn_rule_changed": {
    description: "A partner's earn rate (points per currency unit) changed. Consumed by points; no mutation changes an earn rate yet, so nothing emits it (tests/tooling/event-catalogue.test.ts NOT_EMITTED).",
    producer: "partner",
    consumers: ["points"],
    payload: z.looseObject({ partnerId: id, earnRate: z.string().regex(/^\d{1,8}(\.\d{1,4})?$/) }),
  },
  "partner.offer_activated": {
    description: "An offer became ACTIVE with these terms (first activation funds its budget from the co-issuers' shares).",
    producer: "partner",
    consumers: ["points"],
    payload: z.looseObject({
      offerId: id,
      version: z.int().optional(),
      kind: z.string(),
      bonusPoints: z.int().nullish(),
      multiplier: decimal.nullish(),
      discountPercent: z.int().nullish(),
      budgetPoints: z.int().min(0),
      perMemberLimit: z.int(),
      startsAt: isoTime,
      endsAt: isoTime,
      minTier: z.string().nullish(),
      segments: z.array(z.string()).nullish(),
      requiredPurpose: z.string().nullish(),
      redeemableAtPartnerIds: z.array(z.string()).optional(),
      fundings: z.array(z.looseObject({ partnerId: id, shareBps: z.int().min(0) })).min(1),
      reactivation: z.boolean().optional(),
    }),
  },
  "partner.offer_claimed": {
    description: "A member claimed an offer (once per member and offer).",
    producer: "partner",
    consumers: ["points"],
    payload: z.looseObject({ offerId: id, memberId: id, claimedAt: isoTime.optional() }),
  },
  "partner.offer_paused": {
    description: "A co-issuer paused an active offer: no bonus until it resumes.",
    producer: "partner",
    consumers: ["points"],
    payload: z.looseObject({ offerId: id }),
  },
  "partner.offer_resumed": {
    description: "A co-issuer resumed a paused offer.",
    producer: "partner",
    consumers: ["points"],
    payload: z.looseObject({ offerId: id }),
  },
  "partner.offer_ended": {
    description: "An offer ended (its window closed, its budget ran out, or a co-issuer ended it); the unused budget goes back to the co-issuers.",
    producer: "partner",
    consumers: ["points"],
    payload: z.looseObject({ offerId: id, reason: z.string().optional(), endedAt: isoTime.optional() }),
  },
  "partner.offer_submitted": {
    description:
      "A co-issuer submitted an offer for approval: every other co-issuer's approval is requested. No consumer: the partner subgraph writes its co-issuers' webhook deliveries in the same transaction, under this event's id.",
    producer: "partner",
    consumers: [],
    payload: z.looseObject({
      offerId: id,
      version: z.int(),
      title: z.string(),
      submittedByPartnerId: id,
      coIssuerPartnerIds: z.array(id).min(1),
      submittedAt: isoTime,
    }),
  },
  "partner.offer_approved": {
    description:
      "A co-issuer approved an offer's current version; `active` when it was the last approval. No consumer: the partner subgraph writes its co-issuers' webhook deliveries in the same transaction, under this event's id.",
    producer: "partner",
    consumers: [],
    payload: z.looseObject({ offerId: id, version: z.int(), approvedByPartnerId: id, coIssuerPartnerIds: z.array(id).min(1), active: z.boolean(), approvedAt: isoTime }),
  },
  "points.settlement_approved": {
    description: "An admin approved a settlement run: its period and each partner's statement (amounts in the coalition currency, points as decimal strings).",
    producer: "points",
    consumers: ["partner"],
    payload: z.looseObject({
      runId: id,
      periodStart: isoTime,
      periodEnd: isoTime,
      approvedAt: isoTime,
      currency: z.string(),
      statements: z.array(
        z.looseObject({
          partnerId: id,
          pointsIssued: z.string(),
          pointsRedeemed: z.string(),
          offerFundingPoints: z.string(),
          offerReturnedPoints: z.string(),
          pointsReversed: z.string(),
          pointsAdjusted: z.string(),
          amountDue: decimal,
          amountOwed: decimal,
          netPosition: decimal,
        }),
      ),
    }),
  },
  "points.dispute_resolved": {
    description: "An admin resolved a partner's dispute of a settlement statement line (adjustmentPoints 0 = rejected).",
    producer: "points",
    consumers: ["partner"],
    payload: z.looseObject({ lineId: id, runId: id, partnerId: id, adjustmentPoints: z.int(), note: z.string(), resolvedAt: isoTime }),
  },
} as const satisfies Record<string, EventSpec>;

export type EventType = keyof typeof CATALOGUE;
export const EVENT_TYPES = Object.keys(CATALOGUE) as EventType[];

/** The payload a producer passes to `emit` for an event type. */
export type PayloadOf<T extends EventType> = z.input<(typeof CATALOGUE)[T]["payload"]>;
/** The payload a consumer's handler receives: parsed by the catalogue's schema. */
export type ParsedPayloadOf<T extends EventType> = z.output<(typeof CATALOGUE)[T]["payload"]>;

/** The event types a subgraph produces. */
export type ProducedBy<S extends SchemaName> = { [T in EventType]: (typeof CATALOGUE)[T]["producer"] extends S ? T : never }[EventType];
/** The event types a subgraph consumes. */
export type ConsumedBy<S extends SchemaName> = { [T in EventType]: S extends (typeof CATALOGUE)[T]["consumers"][number] ? T : never }[EventType];

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(CATALOGUE, type);
}

/** The catalogue entry of a type (widened: for code that handles every type alike). */
export function specOf(type: EventType): EventSpec {
  return CATALOGUE[type];
}

/** The event types `schema` consumes, in catalogue order. */
export function consumedBy(schema: SchemaName): EventType[] {
  return EVENT_TYPES.filter((t) => (specOf(t).consumers as readonly string[]).includes(schema));
}

/** Which subgraphs consume which event types: the relay's routing table, derived from the catalogue. */
export const SUBSCRIPTIONS: Readonly<Record<EventType, readonly SchemaName[]>> = Object.fromEntries(EVENT_TYPES.map((t) => [t, specOf(t).consumers])) as Record<EventType, readonly SchemaName[]>;

/**
 * The webhook event types partners subscribe to: public names (the GraphQL enum WebhookEventType),
 * the payload's `type` string, and what each is about. Each is mapped from a catalogued hub event
 * (lib/events/catalogue.ts) by ingest.ts; `consent.expired` is noticed by the partner subgraph's
 * own sweep of its consent copy (an expiry is a time passing, not a write: no owner emits it).
 * Member erasure does not exist in the hub yet, so there is no MEMBER_ERASED type.
 */
export const WEBHOOK_EVENT_TYPES = {
  CONSENT_GRANTED: "A member linked to you granted you a consent receipt (purpose, data categories, expiry). Payload type `consent.granted`.",
  CONSENT_REVOKED:
    "A member withdrew a consent receipt it had granted you. `data.stopUsing` lists the purpose and the data categories you must stop using now (those no other active receipt of the member still covers for that purpose). Payload type `consent.revoked`; sent within seconds.",
  CONSENT_EXPIRED: "A consent receipt a member granted you reached its expiry time; `data.stopUsing` as for CONSENT_REVOKED. Payload type `consent.expired` (noticed within a minute of the expiry).",
  LINK_REQUESTED: "You asked to link an e-mail that already belongs to a member; the member must confirm. Payload type `link.requested`.",
  LINK_CONFIRMED: "A member's account at your brand took effect (enrolled by you, confirmed by the member, or its reference changed). Payload type `link.confirmed`.",
  POINTS_EARNED: "A member earned points at your brand (an award or an offer bonus). Points only under the member's ACTIVITY consent. Payload type `points.earned`.",
  POINTS_REDEEMED: "A member redeemed points at your brand. Points only under the member's ACTIVITY consent. Payload type `points.redeemed`.",
  POINTS_REVERSED: "A redemption or earn at your brand was reversed. Points only under the member's ACTIVITY consent. Payload type `points.reversed`.",
  OFFER_APPROVAL_REQUESTED: "An offer you co-issue was submitted for approval: your approval is requested (unless you submitted it). Payload type `offer.approval_requested`.",
  OFFER_APPROVED: "A co-issuer (you included) approved an offer you co-issue; `data.active` is true when that made it ACTIVE. Payload type `offer.approved`.",
  SETTLEMENT_RUN_APPROVED: "An admin approved a settlement run; `data.statement` is your statement for its period (money in the coalition currency). Payload type `settlement.run_approved`.",
  DISPUTE_RESOLVED: "An admin resolved your dispute of a settlement statement line (adjustment points in your favour; 0 = rejected). Payload type `dispute.resolved`.",
} as const;

export type WebhookEventType = keyof typeof WEBHOOK_EVENT_TYPES;
export const WEBHOOK_EVENT_TYPE_NAMES = Object.keys(WEBHOOK_EVENT_TYPES) as WebhookEventType[];

/** The payload's `type`: CONSENT_REVOKED → consent.revoked, OFFER_APPROVAL_REQUESTED → offer.approval_requested. */
export const payloadType = (t: WebhookEventType): string => t.toLowerCase().replace("_", ".");

/** Event types about one member (delivered in order per member; consent-filtered). */
export const MEMBER_EVENT_TYPES: ReadonlySet<WebhookEventType> = new Set([
  "CONSENT_GRANTED",
  "CONSENT_REVOKED",
  "CONSENT_EXPIRED",
  "LINK_REQUESTED",
  "LINK_CONFIRMED",
  "POINTS_EARNED",
  "POINTS_REDEEMED",
  "POINTS_REVERSED",
]);

/** points.activity kinds → webhook types (other kinds, e.g. EXPIRY, ADJUSTMENT, are not at a partner's counter). */
export const ACTIVITY_TYPES: Readonly<Record<string, WebhookEventType>> = {
  EARN: "POINTS_EARNED",
  OFFER_BONUS: "POINTS_EARNED",
  REDEEM: "POINTS_REDEEMED",
  REVERSAL: "POINTS_REVERSED",
};

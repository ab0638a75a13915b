import type { EventType } from "../../../lib/events/catalogue.ts";
import { type AnyTypedEvent, type BatchEventHandler, defineConsumer, type EventHandler, type HandlerSpec, type TypedEvent } from "../../../lib/events/inbox.ts";
import { memberConsentHandlers } from "./services/member-consents.ts";
import { memberFactsHandlers, membersJoined } from "./services/member-facts.ts";
import { storeAuditEntry } from "./services/audit/record.ts";
import { recordOfferApplied } from "./services/offers/claims.ts";
import { linkEvents, settlementIngest, webhookIngest } from "./webhooks/ingest.ts";

// The events this subgraph consumes, delivered by the other subgraphs' outbox relays to
// POST /internal/events (internal.ts). Each handler runs in the transaction that records the event
// in this subgraph's inbox.

const asOne = <T extends EventType>(h: HandlerSpec<T>): EventHandler<T> => (typeof h === "function" ? h : (h.one ?? ((tx, e) => h.batch(tx, [e]))));
const asBatch = <T extends EventType>(h: HandlerSpec<T>): BatchEventHandler<T> =>
  typeof h === "function"
    ? async (tx, es) => {
        for (const e of es) await h(tx, e);
      }
    : h.batch;

/** Both handlers of one event type, in order, in the same transaction (set-based when either is). */
function both<T extends EventType>(a: HandlerSpec<T>, b: HandlerSpec<T>): HandlerSpec<T> {
  const one: EventHandler<T> = async (tx, e) => {
    await asOne(a)(tx, e);
    await asOne(b)(tx, e);
  };
  if (typeof a === "function" && typeof b === "function") return one;
  return {
    one,
    batch: async (tx, es) => {
      await asBatch(a)(tx, es);
      await asBatch(b)(tx, es);
    },
  };
}

/**
 * member.enrolled, member.linked and member.link_requested of a delivered batch in a few statements
 * (an enrolment emits the first two together, so they are gathered as one group): joinedAt in the
 * member facts, then the link copy and the link webhooks. The two parts touch different tables, so
 * applying the enrolments first leaves what the events one by one leave.
 */
async function memberLinks(tx: Parameters<EventHandler>[0], events: AnyTypedEvent<"member.enrolled" | "member.linked" | "member.link_requested">[]): Promise<void> {
  await membersJoined(
    tx,
    events.filter((e): e is TypedEvent<"member.enrolled"> => e.type === "member.enrolled"),
  );
  await linkEvents(
    tx,
    events.filter((e): e is AnyTypedEvent<"member.linked" | "member.link_requested"> => e.type !== "member.enrolled"),
  );
}

/** Domain events this subgraph consumes (lib/events/catalogue.ts routes them here), payloads parsed by the catalogue. */
export const eventConsumer = defineConsumer("partner", {
  // member.enrolled: the member facts offer eligibility needs; with the links, set-based and in order (memberLinks).
  "member.enrolled": { one: memberFactsHandlers["member.enrolled"], batch: memberLinks, group: "member links" },
  // points.tier_changed: the member facts offer eligibility needs.
  "points.tier_changed": memberFactsHandlers["points.tier_changed"],
  // points.activity: member facts, and the partner's webhooks (points earned/redeemed/reversed at it).
  "points.activity": both(memberFactsHandlers["points.activity"], webhookIngest["points.activity"]),
  // member.consent_granted, member.consent_revoked: the consent copy (offers' requiredPurpose, webhook filtering), then the webhooks.
  "member.consent_granted": both(memberConsentHandlers["member.consent_granted"], webhookIngest["member.consent_granted"]),
  "member.consent_revoked": both(memberConsentHandlers["member.consent_revoked"], webhookIngest["member.consent_revoked"]),
  // Webhooks only: links, settlement, disputes (the partner's own offer approvals: services/offers/lifecycle.ts).
  "member.linked": { one: webhookIngest["member.linked"], batch: memberLinks, group: "member links" },
  "member.link_requested": { one: webhookIngest["member.link_requested"], batch: memberLinks, group: "member links" },
  "points.settlement_approved": settlementIngest["points.settlement_approved"],
  "points.dispute_resolved": settlementIngest["points.dispute_resolved"],
  // A bonus applied in the points subgraph counts as a use of the member's claim.
  "points.offer_applied": (tx, e) => recordOfferApplied(tx, e.payload, e.createdAt),
  // Every subgraph's admin actions (lib/audit.ts), kept append-only in partner.AuditEntry.
  "audit.recorded": storeAuditEntry,
});

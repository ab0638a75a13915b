import { defineConsumer } from "../../../lib/events/inbox.ts";
import { memberConsentHandlers } from "./services/member-consents.ts";
import { memberFactsHandlers } from "./services/member-facts.ts";
import { storeAuditEntry } from "./services/audit/record.ts";
import { recordOfferApplied } from "./services/offers/claims.ts";

// The events this subgraph consumes, delivered by the other subgraphs' outbox relays to
// POST /internal/events (internal.ts). Each handler runs in the transaction that records the
// event in this subgraph's inbox.

/** Domain events this subgraph consumes (lib/events/catalogue.ts routes them here), payloads parsed by the catalogue. */
export const eventConsumer = defineConsumer("partner", {
  // member.enrolled, points.activity, points.tier_changed: the member facts offer eligibility needs.
  ...memberFactsHandlers,
  // member.consent_granted, member.consent_revoked: the consent copy offers' requiredPurpose needs.
  ...memberConsentHandlers,
  // A bonus applied in the points subgraph counts as a use of the member's claim.
  "points.offer_applied": (tx, e) => recordOfferApplied(tx, e.payload, e.createdAt),
  // Every subgraph's admin actions (lib/audit.ts), kept append-only in partner.AuditEntry.
  "audit.recorded": storeAuditEntry,
});

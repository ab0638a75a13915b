import { defineConsumer } from "../../../lib/events/inbox.ts";
import { recordPointsDataAccess } from "./services/access-log.ts";
import { applyActivities, applyActivity } from "./services/lifecycle.ts";

// The events this subgraph consumes, delivered by the other subgraphs' outbox relays to
// POST /internal/events (internal.ts). Each handler runs in the transaction that records the
// event in this subgraph's inbox.

/** Domain events this subgraph consumes (lib/events/catalogue.ts routes them here), payloads parsed by the catalogue. */
export const eventConsumer = defineConsumer("member", {
  // Set-based for delivered batches (the same effect as applyActivity event by event).
  "points.activity": {
    one: (tx, e) => applyActivity(tx, e.payload),
    batch: (tx, events) =>
      applyActivities(
        tx,
        events.map((e) => e.payload),
      ),
  },
  "points.data_accessed": (tx, e) => recordPointsDataAccess(tx, e.payload),
  // The same shape from the partner subgraph: members' offers read by a partner or its app.
  "partner.data_accessed": (tx, e) => recordPointsDataAccess(tx, e.payload),
});

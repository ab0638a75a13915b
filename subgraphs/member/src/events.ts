import type { BatchEventHandler, EventHandler } from "../../../lib/events.ts";
import { type DataAccessedPayload, recordPointsDataAccess } from "./services/access-log.ts";
import { type ActivityPayload, applyActivities, applyActivity } from "./services/lifecycle.ts";

// The events this subgraph consumes, delivered by the other subgraphs' outbox relays to
// POST /internal/events (internal.ts). Each handler runs in the transaction that records the
// event in this subgraph's inbox.

/** Domain events this subgraph consumes (lib/events.ts SUBSCRIPTIONS lists the same). */
export const eventHandlers: Record<string, EventHandler> = {
  "points.activity": (tx, event) => applyActivity(tx, event.payload as ActivityPayload),
  "points.data_accessed": (tx, event) => recordPointsDataAccess(tx, event.payload as DataAccessedPayload),
  // The same shape from the partner subgraph: members' offers read by a partner or its app.
  "partner.data_accessed": (tx, event) => recordPointsDataAccess(tx, event.payload as DataAccessedPayload),
};

/** Set-based forms for delivered batches (same effect as the handlers above, event by event). */
export const eventBatchHandlers: Record<string, BatchEventHandler> = {
  "points.activity": (tx, events) => applyActivities(tx, events.map((e) => e.payload as ActivityPayload)),
};

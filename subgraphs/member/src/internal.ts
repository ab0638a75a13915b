import { type BatchEventHandler, type EventHandler, eventsRoute } from "../../../lib/events.ts";
import type { InternalRoute } from "../../../lib/subgraph-server.ts";
import { prisma } from "./db.ts";
import { type DataAccessedPayload, recordPointsDataAccess } from "./services/access-log.ts";
import { type ActivityPayload, applyActivities, applyActivity } from "./services/lifecycle.ts";
import { memberIdByPartnerRef } from "./services/members.ts";

/** Domain events this subgraph consumes (lib/events.ts SUBSCRIPTIONS lists the same). */
export const eventHandlers: Record<string, EventHandler> = {
  "points.activity": (tx, event) => applyActivity(tx, event.payload as ActivityPayload),
  "points.data_accessed": (tx, event) => recordPointsDataAccess(tx, event.payload as DataAccessedPayload),
};

/** Set-based forms for delivered batches (same effect as the handlers above, event by event). */
export const eventBatchHandlers: Record<string, BatchEventHandler> = {
  "points.activity": (tx, events) => applyActivities(tx, events.map((e) => e.payload as ActivityPayload)),
};

/**
 * `POST /internal/members/by-partner-ref` for the gateway's token exchange (RFC 8693):
 * `{ partnerId, externalRef }` → 200 `{ memberId }` or 404 `{ error: "not_found" }`.
 * The gateway asks here instead of reading member tables (ownership stays with this subgraph).
 */
export const byPartnerRefRoute: InternalRoute = async (body) => {
  const { partnerId, externalRef } = (body ?? {}) as { partnerId?: unknown; externalRef?: unknown };
  if (typeof partnerId !== "string" || typeof externalRef !== "string" || !externalRef || externalRef.length > 128) {
    return { status: 400, body: { error: "invalid_request" } };
  }
  const memberId = await memberIdByPartnerRef(partnerId, externalRef);
  return memberId ? { status: 200, body: { memberId } } : { status: 404, body: { error: "not_found" } };
};

export function internalRoutes(): Record<string, InternalRoute> {
  return {
    events: eventsRoute("member", prisma, eventHandlers, eventBatchHandlers),
    "members/by-partner-ref": byPartnerRefRoute,
  };
}

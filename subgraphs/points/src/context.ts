import type { HubContext } from "../../../lib/pothos.ts";
import { createLoaders, type PointsLoaders } from "./loaders.ts";
import { AccessEventRecorder, accessEventsPlugin as accessEventsPluginFor } from "../../../lib/access-events.ts";
import { prisma } from "./db.ts";
import { now as clockNow } from "../../../lib/clock.ts";

export interface PointsContext extends HubContext {
  loaders: PointsLoaders;
  /** This request's partner reads of gated points data: one points.data_accessed per member. */
  access: AccessEventRecorder;
  /** The request's clock (lib/clock.ts: tests move it). */
  now: Date;
}

/** Fresh DataLoaders per request: batching within a request, no caching across requests. */
export function createContext(base: HubContext): PointsContext {
  const now = clockNow();
  return { ...base, now, loaders: createLoaders(base, now), access: new AccessEventRecorder(base.principal, base.requestId, base.operationName, "points.data_accessed", prisma) };
}

/**
 * Emits the request's data-access events before the response leaves; when they cannot be written
 * the response is replaced by ACCESS_LOG_UNAVAILABLE (fail closed: no gated data without its record).
 */
export const accessEventsPlugin = accessEventsPluginFor<PointsContext>({ failClosed: true });

import { AccessEventRecorder, accessEventsPlugin as accessEventsPluginFor } from "../../../lib/access-events.ts";
import type { HubContext } from "../../../lib/pothos.ts";
import { prisma } from "./db.ts";
import { createLoaders, type PartnerLoaders } from "./loaders.ts";

export interface PartnerContext extends HubContext {
  loaders: PartnerLoaders;
  /** The request's clock: every window and rate decision of one request uses the same instant. */
  now: Date;
  /** This request's partner reads of members' offers: one partner.data_accessed per member. */
  access: AccessEventRecorder;
}

/** Fresh DataLoaders per request: batching within a request, no caching across requests. */
export function createContext(base: HubContext): PartnerContext {
  const now = new Date();
  return { ...base, now, loaders: createLoaders(base, now), access: new AccessEventRecorder(base.principal, base.requestId, base.operationName, "partner.data_accessed", prisma) };
}

/** Emits the request's data-access events before the response leaves; fails closed like points (issue 14 §6): no member data without its record. */
export const accessEventsPlugin = accessEventsPluginFor<PartnerContext>({ failClosed: true });

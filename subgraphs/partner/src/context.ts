import type { HubContext } from "../../../lib/pothos.ts";
import { createLoaders, type PartnerLoaders } from "./loaders.ts";

export interface PartnerContext extends HubContext {
  loaders: PartnerLoaders;
  /** The request's clock: every window and rate decision of one request uses the same instant. */
  now: Date;
}

/** Fresh DataLoaders per request: batching within a request, no caching across requests. */
export function createContext(base: HubContext): PartnerContext {
  const now = new Date();
  return { ...base, now, loaders: createLoaders(base, now) };
}

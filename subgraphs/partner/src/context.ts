import type { HubContext } from "../../../lib/pothos.ts";
import { createLoaders, type PartnerLoaders } from "./loaders.ts";

export interface PartnerContext extends HubContext {
  loaders: PartnerLoaders;
}

/** Fresh DataLoaders per request: batching within a request, no caching across requests. */
export function createContext(base: HubContext): PartnerContext {
  return { ...base, loaders: createLoaders(base) };
}

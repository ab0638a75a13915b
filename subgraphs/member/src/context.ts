import type { HubContext } from "../../../lib/pothos.ts";
import { createLoaders, type MemberLoaders } from "./loaders.ts";

export interface MemberContext extends HubContext {
  loaders: MemberLoaders;
}

/** Fresh DataLoaders per request: batching within a request, no caching across requests. */
export function createContext(base: HubContext): MemberContext {
  return { ...base, loaders: createLoaders(base) };
}

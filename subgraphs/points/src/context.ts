import type { HubContext } from "../../../lib/pothos.ts";
import { createLoaders, type PointsLoaders } from "./loaders.ts";

export interface PointsContext extends HubContext {
  loaders: PointsLoaders;
}

/** Fresh DataLoaders per request: batching within a request, no caching across requests. */
export function createContext(base: HubContext): PointsContext {
  return { ...base, loaders: createLoaders(base) };
}

import type { HubContext } from "../../../lib/pothos.ts";

/** Every entity and list lookup of this subgraph goes through a DataLoader (no N+1). */
export function createLoaders(_ctx: HubContext) {
  return {};
}
export type MemberLoaders = ReturnType<typeof createLoaders>;

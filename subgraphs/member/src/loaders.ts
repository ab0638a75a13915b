import DataLoader from "dataloader";
import type { Consent, DataAccessEvent, LinkedAccount, Member } from "../../../prisma/generated/client/client.ts";
import { pagedLoader } from "../../../lib/paging.ts";
import type { HubContext } from "../../../lib/pothos.ts";
import { type AccessPage, accessPages } from "./services/access-log.ts";
import { activeScopes, consentsOf } from "./services/consents.ts";
import { readsUngated } from "../../../lib/principal.ts";
import { DATA_CATEGORIES, type DataCategory } from "../../../lib/vocabulary.ts";
import { activityTotals } from "./services/lifecycle.ts";
import { linkedAccountsOf, linkRequestsOf, visibleMembers } from "./services/members.ts";

export type { AccessPage, DataAccessEvent };

const ALL = new Set(DATA_CATEGORIES);
const NONE: ReadonlySet<DataCategory> = new Set();

/**
 * Every entity and list lookup of this subgraph goes through a DataLoader (no N+1). Fresh per
 * request: batching within a request, nothing cached across requests (a revoked consent or a new
 * link counts from the very next request).
 */
export function createLoaders(ctx: HubContext, now: Date) {
  const actor = ctx.principal;
  return {
    /** Members the caller may see (null otherwise): the visibility rule of reads and references. */
    memberById: new DataLoader<string, Member | null>(async (ids) => {
      const found = await visibleMembers(actor, ids);
      return ids.map((id) => found.get(id) ?? null);
    }),
    /**
     * The categories the caller may read per member: all for the member itself and admins; for a
     * partner, those of its active consents for the request's purpose (none without a purpose).
     */
    sharedScopes: new DataLoader<string, ReadonlySet<DataCategory>>(async (ids) => {
      if (actor.role === "PARTNER") {
        if (!actor.partnerId || !actor.purpose) return ids.map(() => NONE);
        const scopes = await activeScopes(actor.partnerId, actor.purpose, ids, now);
        return ids.map((id) => scopes.get(id) ?? NONE);
      }
      return ids.map((id) => (readsUngated(actor, id) ? ALL : NONE));
    }),
    linkedAccounts: new DataLoader<string, LinkedAccount[]>(async (ids) => {
      const m = await linkedAccountsOf(actor, ids);
      return ids.map((id) => m.get(id) ?? []);
    }),
    linkRequests: new DataLoader<string, LinkedAccount[]>(async (ids) => {
      const m = await linkRequestsOf(actor, ids);
      return ids.map((id) => m.get(id) ?? []);
    }),
    consents: new DataLoader<string, Consent[]>(async (ids) => {
      const m = await consentsOf(actor, ids);
      return ids.map((id) => m.get(id) ?? []);
    }),
    activityTotals: new DataLoader<string, { activities: number; earnedPoints: bigint }>(async (ids) => {
      const m = await activityTotals(ids, now);
      return ids.map((id) => m.get(id) ?? { activities: 0, earnedPoints: 0n });
    }),
    /** Pages of the access log; members asking for the same page shape share one query. */
    accessPage: pagedLoader<AccessPage>(
      (memberIds, page) => accessPages(actor, memberIds, page),
      () => ({ rows: [], hasNextPage: false, hasPreviousPage: false }),
    ),
  };
}
export type MemberLoaders = ReturnType<typeof createLoaders>;

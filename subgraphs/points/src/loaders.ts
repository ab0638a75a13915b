import DataLoader from "dataloader";
import { pagedLoader } from "../../../lib/paging.ts";
import type { HubContext } from "../../../lib/pothos.ts";
import { prisma } from "./db.ts";
import { type ActivityPage, activityPages, type MemberFacts, memberFacts, budgetsRemaining, type Expiring, expiringPoints, visibleTransactions } from "./reads.ts";
import { holdsByIds, type HoldRow } from "./redemption/redeem.ts";
import type { LedgerTransactionRow } from "./ledger/ledger.ts";
import { flowsOfRuns, linesOfStatements, runsByIds, type SettlementFlow, type SettlementLine, type SettlementRun, type SettlementStatement, statementsOfRuns } from "./settlement/reads.ts";

/** Every entity and list lookup of this subgraph goes through a DataLoader (no N+1). Fresh per request. */
export function createLoaders(ctx: HubContext, now: Date) {
  const actor = ctx.principal;
  return {
    expiring: new DataLoader<{ memberId: string; days: number }, Expiring[], string>(
      async (keys) => {
        const out = new Map<string, Expiring[]>();
        for (const days of new Set(keys.map((k) => k.days))) {
          const m = await expiringPoints(
            keys.filter((k) => k.days === days).map((k) => k.memberId),
            days,
            now,
          );
          for (const [id, list] of m) out.set(`${id}|${days}`, list);
        }
        return keys.map((k) => out.get(`${k.memberId}|${k.days}`) ?? []);
      },
      { cacheKeyFn: (k) => `${k.memberId}|${k.days}` },
    ),
    /**
     * Wallet (for `wallet`), tier status (for `tier`) and bare tier level (for `tierLevel`) share ONE
     * batched query: a wallet fetch asks for all three of the same member.
     */
    memberFacts: new DataLoader<{ memberId: string; part: "wallet" | "status" | "level" }, MemberFacts, string>(
      async (keys) => {
        const of = (part: string) => new Set(keys.filter((k) => k.part === part).map((k) => k.memberId));
        const m = await memberFacts(
          keys.map((k) => k.memberId),
          of("status"),
          of("wallet"),
          now,
        );
        return keys.map((k) => m.get(k.memberId) ?? { tier: "BASE", status: null, wallet: null });
      },
      { cacheKeyFn: (k) => `${k.memberId}|${k.part}` },
    ),
    transaction: new DataLoader<string, LedgerTransactionRow | null>(async (ids) => {
      const m = await visibleTransactions(actor, ids);
      return ids.map((id) => m.get(id) ?? null);
    }),
    hold: new DataLoader<string, HoldRow | null>(async (ids) => {
      const m = await holdsByIds(prisma(), ids);
      return ids.map((id) => m.get(id) ?? null);
    }),
    settlementRun: new DataLoader<string, SettlementRun | null>(async (ids) => {
      const m = await runsByIds(actor, ids);
      return ids.map((id) => m.get(id) ?? null);
    }),
    settlementStatements: new DataLoader<string, SettlementStatement[]>(async (ids) => {
      const m = await statementsOfRuns(actor, ids);
      return ids.map((id) => m.get(id) ?? []);
    }),
    settlementLines: new DataLoader<{ runId: string; partnerId: string }, SettlementLine[], string>(
      async (keys) => {
        const m = await linesOfStatements(keys);
        return keys.map((k) => m.get(`${k.runId}|${k.partnerId}`) ?? []);
      },
      { cacheKeyFn: (k) => `${k.runId}|${k.partnerId}` },
    ),
    settlementFlows: new DataLoader<string, SettlementFlow[]>(async (ids) => {
      const m = await flowsOfRuns(actor, ids);
      return ids.map((id) => m.get(id) ?? []);
    }),
    remainingBudget: new DataLoader<string, number | null>(async (ids) => {
      const m = await budgetsRemaining(ids);
      return ids.map((id) => m.get(id) ?? null);
    }),
    /** Activity pages: members asking for the same page shape share one query. */
    activity: pagedLoader<ActivityPage>(
      (memberIds, page) => activityPages(memberIds, page),
      () => ({ rows: [], hasNextPage: false, hasPreviousPage: false }),
    ),
  };
}
export type PointsLoaders = ReturnType<typeof createLoaders>;

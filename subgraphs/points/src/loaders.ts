import DataLoader from "dataloader";
import type { HubContext } from "../../../lib/pothos.ts";
import { prisma } from "./db.ts";
import { type ActivityPage, activityPages, budgetsRemaining, decodeCursor, type Expiring, expiringPoints, visibleTransactions, type WalletView, wallets } from "./services/reads.ts";
import { holdsByIds, type HoldRow } from "./services/redeem.ts";
import type { LedgerTransactionRow } from "./services/ledger.ts";
import { flowsOfRuns, linesOfStatements, runsByIds, type SettlementLine, type SettlementRun, type SettlementStatement, statementsOfRuns } from "./services/settlement.ts";
import { type TierStatus, tierStatuses, storedTiers } from "./services/tiers.ts";
import type { Tier } from "./services/domain.ts";

/** Every entity and list lookup of this subgraph goes through a DataLoader (no N+1). Fresh per request. */
export function createLoaders(ctx: HubContext, now: Date) {
  const actor = ctx.principal;
  return {
    wallet: new DataLoader<string, WalletView>(async (ids) => {
      const m = await wallets(ids);
      return ids.map((id) => m.get(id) ?? { balance: 0, held: 0, available: 0, lifetimeEarned: 0 });
    }),
    expiring: new DataLoader<{ memberId: string; days: number }, Expiring[], string>(
      async (keys) => {
        const out = new Map<string, Expiring[]>();
        for (const days of new Set(keys.map((k) => k.days))) {
          const m = await expiringPoints(keys.filter((k) => k.days === days).map((k) => k.memberId), days, now);
          for (const [id, list] of m) out.set(`${id}|${days}`, list);
        }
        return keys.map((k) => out.get(`${k.memberId}|${k.days}`) ?? []);
      },
      { cacheKeyFn: (k) => `${k.memberId}|${k.days}` },
    ),
    tierStatus: new DataLoader<string, TierStatus>(async (ids) => {
      const m = await tierStatuses(prisma(), ids, now);
      return ids.map((id) => m.get(id)!);
    }),
    tierLevel: new DataLoader<string, Tier>(async (ids) => {
      const m = await storedTiers(prisma(), ids);
      return ids.map((id) => m.get(id) ?? "BASE");
    }),
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
    settlementFlows: new DataLoader<string, Awaited<ReturnType<typeof flowsOfRuns>> extends Map<string, infer V> ? V : never>(async (ids) => {
      const m = await flowsOfRuns(actor, ids);
      return ids.map((id) => m.get(id) ?? []);
    }),
    remainingBudget: new DataLoader<string, number | null>(async (ids) => {
      const m = await budgetsRemaining(ids);
      return ids.map((id) => m.get(id) ?? null);
    }),
    activity: new DataLoader<{ memberId: string; first: number; after: string | null }, ActivityPage, string>(
      async (keys) => {
        const groups = new Map<string, string[]>();
        for (const k of keys) {
          const g = `${k.first}|${k.after ?? ""}`;
          groups.set(g, [...(groups.get(g) ?? []), k.memberId]);
        }
        const results = new Map<string, ActivityPage>();
        for (const [g, memberIds] of groups) {
          const [first, after] = g.split("|");
          const pages = await activityPages(memberIds, Number(first), after ? decodeCursor(after) : null);
          for (const [memberId, page] of pages) results.set(`${memberId}|${g}`, page);
        }
        return keys.map((k) => results.get(`${k.memberId}|${k.first}|${k.after ?? ""}`) ?? { rows: [], hasNextPage: false });
      },
      { cacheKeyFn: (k) => `${k.memberId}|${k.first}|${k.after ?? ""}` },
    ),
  };
}
export type PointsLoaders = ReturnType<typeof createLoaders>;

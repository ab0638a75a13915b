import { toBig, toSafeNumber } from "../../../lib/amounts.ts";
import { prisma } from "./db.ts";
import type { Actor } from "./domain.ts";
import { type BiPage, encodeCursor as encodeTimeCursor, keysetPages, keysetSql, type PageRequest } from "../../../lib/paging.ts";
import type { Tier } from "../../../lib/vocabulary.ts";
import { isUuid } from "../../../lib/input.ts";
import { type LedgerTransactionRow, type RawTransactionRow, TX_COLUMNS, transactionsByIds, txRow, walletCode } from "./ledger/ledger.ts";
import { type StoredTier, type TierStatus, tierStatuses } from "./tiers/tiers.ts";
import { versionAt } from "./program/versions.ts";

/** Read side: wallets, expiring points, activity pages, transactions by id (all batched by the loaders). */

/** Wallet amounts are int8 in the database and bigint here (exposed as BigInt, and as the deprecated Int fields while they fit). */
export interface WalletView {
  balance: bigint;
  held: bigint;
  available: bigint;
  lifetimeEarned: bigint;
}

export async function wallets(memberIds: readonly string[]): Promise<Map<string, WalletView>> {
  const ids = memberIds.filter(isUuid);
  const rows = ids.length
    ? await prisma().$queryRaw<{ code: string; balance: bigint; held: bigint; lifetimeEarned: bigint }[]>`
        SELECT code, balance, held, "lifetimeEarned" FROM "points"."LedgerAccount" WHERE code = ANY(${ids.map(walletCode)}::text[])`
    : [];
  return new Map(rows.map((r) => [r.code.slice(7), walletView(r.balance, r.held, r.lifetimeEarned)]));
}

function walletView(balance: bigint | number, held: bigint | number, lifetimeEarned: bigint | number): WalletView {
  const b = toBig(balance);
  const h = toBig(held);
  return { balance: b, held: h, available: b - h, lifetimeEarned: toBig(lifetimeEarned) };
}

export interface MemberFacts {
  /** The stored tier (BASE when none is stored). */
  tier: Tier;
  /** The tier status under the program version in force (sums of every rule's period); null unless asked for (`statusIds`). */
  status: TierStatus | null;
  /** The wallet; null unless asked for (`walletIds`). */
  wallet: WalletView | null;
}

/**
 * A member fetch's per-member facts: the stored tier of every id and the wallet of the ids in
 * `walletIds` in ONE query; for the ids in `statusIds`, the tier status (the program version in
 * force, then every sum its rules read, in one more query). The wallet fetch of a member asks for
 * all three (wallet, tier, tierLevel); reading them apart took 4 queries.
 */
export async function memberFacts(memberIds: readonly string[], statusIds: ReadonlySet<string>, walletIds: ReadonlySet<string>, now: Date): Promise<Map<string, MemberFacts>> {
  const ids = [...new Set(memberIds.filter(isUuid))];
  const out = new Map<string, MemberFacts>();
  if (!ids.length) return out;
  const rows = await prisma().$queryRaw<
    { memberId: string; tier: Tier | null; tierCode: string | null; programVersionId: string | null; qualifiedBy: unknown; balance: bigint | null; held: bigint | null; lifetimeEarned: bigint | null; wallet: boolean }[]
  >`
    SELECT x.m::text AS "memberId", ts.tier::text AS tier, ts."tierCode", ts."programVersionId"::text AS "programVersionId", ts."qualifiedBy",
           la.balance, la.held, la."lifetimeEarned", x.wallet
    FROM unnest(${ids}::uuid[], ${ids.map((id) => walletIds.has(id))}::boolean[], ${ids.map(walletCode)}::text[]) AS x(m, wallet, code)
    LEFT JOIN "points"."TierState" ts ON ts."memberId" = x.m
    LEFT JOIN "points"."LedgerAccount" la ON x.wallet AND la.code = x.code`;
  const statusOf = ids.filter((id) => statusIds.has(id));
  let statuses = new Map<string, TierStatus>();
  if (statusOf.length) {
    const stored = new Map<string, StoredTier>();
    for (const r of rows) if (r.tier) stored.set(r.memberId, { tier: r.tier, tierCode: r.tierCode, programVersionId: r.programVersionId, qualifiedBy: (r.qualifiedBy as StoredTier["qualifiedBy"]) ?? null });
    statuses = await tierStatuses(prisma(), statusOf, now, { version: await versionAt(prisma(), now), stored });
  }
  for (const r of rows) {
    out.set(r.memberId, {
      tier: r.tier ?? "BASE",
      status: statuses.get(r.memberId) ?? null,
      wallet: r.wallet ? walletView(r.balance ?? 0n, r.held ?? 0n, r.lifetimeEarned ?? 0n) : null,
    });
  }
  return out;
}

export interface Expiring {
  /** A sum of lots: bigint. */
  points: bigint;
  expiresAt: Date;
}

/** Points expiring within `days` of `now`, grouped by expiry instant, soonest first. */
export async function expiringPoints(memberIds: readonly string[], days: number, now: Date): Promise<Map<string, Expiring[]>> {
  const ids = memberIds.filter(isUuid);
  const out = new Map<string, Expiring[]>();
  if (!ids.length) return out;
  const until = new Date(now.getTime() + days * 86_400_000);
  const rows = await prisma().$queryRaw<{ memberId: string; expiresAt: Date; points: bigint }[]>`
    SELECT "memberId"::text AS "memberId", "expiresAt", sum(remaining)::bigint AS points FROM "points"."Lot"
    WHERE "memberId" = ANY(${ids}::uuid[]) AND remaining > 0 AND "expiresAt" > ${now} AND "expiresAt" <= ${until}
    GROUP BY "memberId", "expiresAt" ORDER BY "expiresAt"`;
  for (const r of rows) out.set(r.memberId, [...(out.get(r.memberId) ?? []), { points: toBig(r.points), expiresAt: new Date(r.expiresAt) }]);
  return out;
}

export type ActivityPage = BiPage<LedgerTransactionRow>;

/** A transaction's cursor in a member's activity: keyset on (postedAt, id). */
export const encodeCursor = (t: Pick<LedgerTransactionRow, "postedAt" | "id">) => encodeTimeCursor(t.postedAt, t.id);

/** One activity page per member, newest first, either direction, for many members in one query per side (keyset on (postedAt, id)). */
export async function activityPages(memberIds: readonly string[], page: PageRequest): Promise<Map<string, ActivityPage>> {
  const ids = memberIds.filter(isUuid);
  if (!ids.length) return new Map();
  return keysetPages(ids, page, async (keys, q) => {
    const k = keysetSql(q, '"postedAt"', "id", "uuid");
    const rows = await prisma().$queryRaw<(RawTransactionRow & { rn: number })[]>`
      SELECT * FROM (
        SELECT ${TX_COLUMNS}, row_number() OVER (PARTITION BY "memberId" ORDER BY ${k.order})::int AS rn
        FROM "points"."LedgerTransaction" WHERE "memberId" = ANY(${keys}::uuid[]) ${k.where}
      ) t WHERE rn <= ${q.limit} ORDER BY "memberId", rn`;
    const out = new Map<string, LedgerTransactionRow[]>();
    for (const r of rows) out.set(r.memberId!, [...(out.get(r.memberId!) ?? []), txRow(r)]);
    return out;
  });
}

/**
 * Transactions the actor may see: ADMIN all; PARTNER those of its own partnerId; MEMBER its own.
 * Anything else is absent (NOT_FOUND to the caller).
 */
export async function visibleTransactions(actor: Actor, ids: readonly string[]): Promise<Map<string, LedgerTransactionRow>> {
  const all = await transactionsByIds(prisma(), ids);
  for (const [id, t] of all) {
    const ok = actor.role === "ADMIN" || (actor.role === "PARTNER" && t.partnerId === actor.partnerId) || (actor.role === "MEMBER" && t.memberId === actor.memberId);
    if (!ok) all.delete(id);
  }
  return all;
}

/** Remaining budgets: at most the offer's budgetPoints (≤ 1,000,000,000, partner subgraph's MAX_BUDGET_POINTS), so a number. */
export async function budgetsRemaining(offerIds: readonly string[]): Promise<Map<string, number>> {
  const ids = offerIds.filter(isUuid);
  if (!ids.length) return new Map();
  const rows = await prisma().$queryRaw<{ offerId: string; balance: bigint }[]>`
    SELECT "offerId"::text AS "offerId", balance FROM "points"."LedgerAccount" WHERE kind = 'OFFER_BUDGET' AND "offerId" = ANY(${ids}::uuid[])`;
  return new Map(rows.map((r) => [r.offerId, toSafeNumber(r.balance, `budget of offer ${r.offerId}`)]));
}

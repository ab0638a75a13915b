import { toBig } from "../../../../lib/amounts.ts";
import { Prisma } from "../../../../lib/db.ts";
import type { PrismaClient } from "../../../../lib/db.ts";
import { addMonths } from "../config.ts";
import type { Tier } from "../../../../lib/vocabulary.ts";
import { nextTier, TIER_MULTIPLIERS, TIER_THRESHOLDS } from "../domain.ts";
import { emitMany, event } from "../../../../lib/events/outbox.ts";
import { type Tx, walletCode } from "../ledger/ledger.ts";

/**
 * Tiers (DESIGN.md §4): earned coalition-wide on points earned in the rolling 12 months (EARN net
 * of reversed EARNs; offer bonuses and adjustments do not qualify). Upgrades happen at the earn
 * that qualifies (stored in TierState); a downgrade of one tier happens in the tier review job
 * after 6 months without a qualifying earn (and at most one tier per 6 months).
 */

export const qualifyingSql = (memberExpr: Prisma.Sql, at: Date) => Prisma.sql`
  coalesce((SELECT sum(t."memberPoints") FROM "points"."LedgerTransaction" t
            LEFT JOIN "points"."LedgerTransaction" o ON o.id = t."reversesId"
            WHERE t."memberId" = ${memberExpr} AND t."postedAt" > ${addMonths(at, -12)} AND t."postedAt" <= ${at}
              AND (t.kind = 'EARN' OR (t.kind = 'REVERSAL' AND o.kind = 'EARN'))), 0)::bigint`;

/**
 * `points.tier_changed {memberId, tier, previousTier, at}` for each change, in the transaction of the
 * change: the partner subgraph keeps a copy of the tier for offer eligibility at claim time
 * (`at` = tierSince; a consumer keeps the tier with the latest `at`). Every member starts at BASE,
 * so reaching BASE for the first time is not a change.
 */
async function emitTierChanges(tx: Tx, rows: { memberId: string; tier: Tier; previousTier: Tier | null; at: Date }[]): Promise<void> {
  const changed = rows.filter((r) => r.tier !== (r.previousTier ?? "BASE"));
  if (!changed.length) return;
  await emitMany(
    tx,
    "points",
    changed.map((r) => event("points.tier_changed", { memberId: r.memberId, tier: r.tier, previousTier: r.previousTier ?? "BASE", at: new Date(r.at).toISOString() })),
  );
}

/** After earns by these members at `at`: upgrade when the rolling 12 months qualify, note the qualifying activity. */
export async function touchTiers(tx: Tx, memberIds: readonly string[], at: Date): Promise<void> {
  const ids = [...new Set(memberIds)];
  if (!ids.length) return;
  // `old` reads the rows as they were before this statement (one snapshot), so the upsert's
  // RETURNING joined with it says which tiers changed.
  const rows = await tx.$queryRaw<{ memberId: string; tier: Tier; previousTier: Tier | null; at: Date }[]>`
    WITH old AS (SELECT "memberId", tier FROM "points"."TierState" WHERE "memberId" = ANY(${ids}::uuid[])),
    up AS (
      INSERT INTO "points"."TierState" ("memberId", tier, "tierSince", "lastQualifyingAt")
      SELECT m, (CASE WHEN q >= ${TIER_THRESHOLDS.DIAMOND} THEN 'DIAMOND' WHEN q >= ${TIER_THRESHOLDS.GOLD} THEN 'GOLD'
                      WHEN q >= ${TIER_THRESHOLDS.SILVER} THEN 'SILVER' ELSE 'BASE' END)::"points"."Tier", ${at}, ${at}
      FROM (
        -- The rolling sum is read only where it could upgrade: qualifying points never exceed the
        -- wallet's lifetimeEarned (every EARN counts there, reversals do not take it back), so a
        -- DIAMOND member, or one whose lifetime is below the next tier's threshold, keeps its tier
        -- (q = 0 then maps to BASE, and greatest() keeps the stored tier). Measured: this sum was
        -- ~20 % of a bulk-earn chunk's database time (bench/FINDINGS.md).
        SELECT x.m, CASE
            WHEN coalesce(ts.tier, 'BASE') = 'DIAMOND' THEN 0
            WHEN coalesce(w."lifetimeEarned", 0) < (CASE coalesce(ts.tier, 'BASE') WHEN 'BASE' THEN ${TIER_THRESHOLDS.SILVER}::bigint
                                                     WHEN 'SILVER' THEN ${TIER_THRESHOLDS.GOLD}::bigint ELSE ${TIER_THRESHOLDS.DIAMOND}::bigint END) THEN 0
            ELSE ${qualifyingSql(Prisma.sql`x.m`, at)} END AS q
        FROM unnest(${ids}::uuid[], ${ids.map(walletCode)}::text[]) AS x(m, wallet)
        LEFT JOIN old ts ON ts."memberId" = x.m
        LEFT JOIN "points"."LedgerAccount" w ON w.code = x.wallet
      ) s
      ON CONFLICT ("memberId") DO UPDATE SET
        tier = greatest("TierState".tier, EXCLUDED.tier),
        "tierSince" = CASE WHEN EXCLUDED.tier > "TierState".tier THEN EXCLUDED."tierSince" ELSE "TierState"."tierSince" END,
        "lastQualifyingAt" = greatest("TierState"."lastQualifyingAt", EXCLUDED."lastQualifyingAt")
      RETURNING "memberId", tier, "tierSince"
    )
    SELECT up."memberId"::text AS "memberId", up.tier::text AS tier, old.tier::text AS "previousTier", up."tierSince" AS at
    FROM up LEFT JOIN old ON old."memberId" = up."memberId"
    WHERE up.tier <> coalesce(old.tier, 'BASE')`;
  await emitTierChanges(tx, rows);
}

export interface TierStatus {
  tier: Tier;
  /** A 12-month sum: bigint (a member earning 100,000,000 points a day passes 2^31 in a month). */
  qualifyingPoints: bigint;
  nextTier: Tier | null;
  pointsToNextTier: number | null;
  earnMultiplier: string;
}

export async function storedTiers(db: Tx | PrismaClient, memberIds: readonly string[]): Promise<Map<string, Tier>> {
  if (!memberIds.length) return new Map();
  const rows = await db.$queryRaw<{ memberId: string; tier: Tier }[]>`
    SELECT "memberId"::text AS "memberId", tier::text AS tier FROM "points"."TierState" WHERE "memberId" = ANY(${[...memberIds]}::uuid[])`;
  return new Map(rows.map((r) => [r.memberId, r.tier]));
}

/**
 * Tier facts of many members in ONE query: the stored tier of every id (BASE when none is stored)
 * and, for the ids in `statusIds` only, the qualifying points of the rolling 12 months at `now`
 * (the tier status needs them; the bare tier level does not).
 */
export async function tierFacts(db: Tx | PrismaClient, memberIds: readonly string[], statusIds: ReadonlySet<string>, now: Date): Promise<Map<string, { tier: Tier; qualifyingPoints: bigint | null }>> {
  const ids = [...new Set(memberIds)];
  const out = new Map<string, { tier: Tier; qualifyingPoints: bigint | null }>();
  if (!ids.length) return out;
  const rows = await db.$queryRaw<{ memberId: string; tier: Tier | null; q: bigint | null }[]>`
    SELECT x.m::text AS "memberId", ts.tier::text AS tier, CASE WHEN x.need THEN ${qualifyingSql(Prisma.sql`x.m`, now)} END AS q
    FROM unnest(${ids}::uuid[], ${ids.map((id) => statusIds.has(id))}::boolean[]) AS x(m, need)
    LEFT JOIN "points"."TierState" ts ON ts."memberId" = x.m`;
  for (const r of rows) out.set(r.memberId, { tier: r.tier ?? "BASE", qualifyingPoints: r.q === null ? null : toBig(r.q) });
  return out;
}

/** The status shown for a member's tier: its tier, qualifying points and progress to the next. */
export function tierStatusOf(tier: Tier, qualifyingPoints: bigint): TierStatus {
  const next = nextTier(tier);
  const missing = next ? BigInt(TIER_THRESHOLDS[next]) - qualifyingPoints : 0n;
  return {
    tier,
    qualifyingPoints,
    nextTier: next,
    // At most the next threshold (20,000): a number.
    pointsToNextTier: next ? Number(missing > 0n ? missing : 0n) : null,
    earnMultiplier: TIER_MULTIPLIERS[tier],
  };
}

/** Tier status of many members in one query. */
export async function tierStatuses(db: Tx | PrismaClient, memberIds: readonly string[], now: Date): Promise<Map<string, TierStatus>> {
  const out = new Map<string, TierStatus>();
  if (!memberIds.length) return out;
  const facts = await tierFacts(db, memberIds, new Set(memberIds), now);
  for (const id of memberIds) {
    const f = facts.get(id);
    out.set(id, tierStatusOf(f?.tier ?? "BASE", f?.qualifyingPoints ?? 0n));
  }
  return out;
}

/**
 * Downgrades by one tier every member above BASE whose last qualifying earn and last tier change are
 * both older than `months` (default 6). Running it twice at the same instant changes nothing more.
 */
export async function downgradeInactiveTiers(db: PrismaClient, now: Date, months = 6): Promise<number> {
  const cutoff = addMonths(now, -months);
  // The downgrade and its points.tier_changed events commit together.
  return db.$transaction(
    async (tx) => {
      const rows = await tx.$queryRaw<{ memberId: string; tier: Tier; previousTier: Tier }[]>`
      UPDATE "points"."TierState" s SET
        tier = (CASE s.tier WHEN 'DIAMOND' THEN 'GOLD' WHEN 'GOLD' THEN 'SILVER' ELSE 'BASE' END)::"points"."Tier",
        "tierSince" = ${now}
      FROM "points"."TierState" o
      WHERE o."memberId" = s."memberId" AND s.tier <> 'BASE' AND coalesce(s."lastQualifyingAt", s."tierSince") < ${cutoff} AND s."tierSince" < ${cutoff}
      RETURNING s."memberId"::text AS "memberId", s.tier::text AS tier, o.tier::text AS "previousTier"`;
      await emitTierChanges(
        tx,
        rows.map((r) => ({ ...r, at: now })),
      );
      return rows.length;
    },
    { maxWait: 30_000, timeout: 120_000 },
  );
}

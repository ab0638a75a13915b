import { Prisma } from "../../../../lib/db.ts";
import type { PrismaClient } from "../../../../lib/db.ts";
import { addMonths } from "./config.ts";
import { nextTier, type Tier, TIER_MULTIPLIERS, TIER_THRESHOLDS, tierFor } from "./domain.ts";
import { emitEvents } from "../../../../lib/events.ts";
import type { Tx } from "./ledger.ts";

/**
 * Tiers (DESIGN.md §4): earned coalition-wide on points earned in the rolling 12 months (EARN net
 * of reversed EARNs; offer bonuses and adjustments do not qualify). Upgrades happen at the earn
 * that qualifies (stored in TierState); a downgrade of one tier happens in the tier review job
 * after 6 months without a qualifying earn (and at most one tier per 6 months).
 */

const qualifyingSql = (memberExpr: Prisma.Sql, at: Date) => Prisma.sql`
  coalesce((SELECT sum(t."memberPoints") FROM "points"."LedgerTransaction" t
            LEFT JOIN "points"."LedgerTransaction" o ON o.id = t."reversesId"
            WHERE t."memberId" = ${memberExpr} AND t."postedAt" > ${addMonths(at, -12)} AND t."postedAt" <= ${at}
              AND (t.kind = 'EARN' OR (t.kind = 'REVERSAL' AND o.kind = 'EARN'))), 0)::int`;

/**
 * `points.tier_changed {memberId, tier, previousTier, at}` for each change, in the transaction of the
 * change: the partner subgraph keeps a copy of the tier for offer eligibility at claim time
 * (`at` = tierSince; a consumer keeps the tier with the latest `at`). Every member starts at BASE,
 * so reaching BASE for the first time is not a change.
 */
async function emitTierChanges(tx: Tx, rows: { memberId: string; tier: Tier; previousTier: Tier | null; at: Date }[]): Promise<void> {
  const changed = rows.filter((r) => r.tier !== (r.previousTier ?? "BASE"));
  if (!changed.length) return;
  await emitEvents(
    tx,
    "points",
    changed.map((r) => ({ type: "points.tier_changed", payload: { memberId: r.memberId, tier: r.tier, previousTier: r.previousTier ?? "BASE", at: new Date(r.at).toISOString() } })),
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
      FROM (SELECT m, ${qualifyingSql(Prisma.sql`m`, at)} AS q FROM unnest(${ids}::uuid[]) AS m) s
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
  qualifyingPoints: number;
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

/** Tier status of many members in two queries. */
export async function tierStatuses(db: Tx | PrismaClient, memberIds: readonly string[], now: Date): Promise<Map<string, TierStatus>> {
  const out = new Map<string, TierStatus>();
  if (!memberIds.length) return out;
  const [tiers, q] = [
    await storedTiers(db, memberIds),
    await db.$queryRaw<{ memberId: string; q: number }[]>`
      SELECT m::text AS "memberId", ${qualifyingSql(Prisma.sql`m`, now)} AS q FROM unnest(${[...memberIds]}::uuid[]) AS m`,
  ];
  const qual = new Map(q.map((r) => [r.memberId, Number(r.q)]));
  for (const id of memberIds) {
    const tier = tiers.get(id) ?? "BASE";
    const qualifyingPoints = qual.get(id) ?? 0;
    const next = nextTier(tier);
    out.set(id, {
      tier,
      qualifyingPoints,
      nextTier: next,
      pointsToNextTier: next ? Math.max(0, TIER_THRESHOLDS[next] - qualifyingPoints) : null,
      earnMultiplier: TIER_MULTIPLIERS[tier],
    });
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
  return db.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<{ memberId: string; tier: Tier; previousTier: Tier }[]>`
      UPDATE "points"."TierState" s SET
        tier = (CASE s.tier WHEN 'DIAMOND' THEN 'GOLD' WHEN 'GOLD' THEN 'SILVER' ELSE 'BASE' END)::"points"."Tier",
        "tierSince" = ${now}
      FROM "points"."TierState" o
      WHERE o."memberId" = s."memberId" AND s.tier <> 'BASE' AND coalesce(s."lastQualifyingAt", s."tierSince") < ${cutoff} AND s."tierSince" < ${cutoff}
      RETURNING s."memberId"::text AS "memberId", s.tier::text AS tier, o.tier::text AS "previousTier"`;
    await emitTierChanges(tx, rows.map((r) => ({ ...r, at: now })));
    return rows.length;
  }, { maxWait: 30_000, timeout: 120_000 });
}

export { tierFor };

import { Decimal } from "decimal.js";
import { Prisma, type PrismaClient } from "../../../../lib/db.ts";
import { emitMany, event } from "../../../../lib/events/outbox.ts";
import { TIERS, type Tier } from "../../../../lib/vocabulary.ts";
import type { Tx } from "../ledger/ledger.ts";
import { couldUpgrade, currentTier, evaluateTiers, memberSums, periodStart, qualifiedTier, ruleMissing, ruleValue } from "../program/evaluate.ts";
import { baseTier, type Program, type ProgramTier, type QualificationRule } from "../program/model.ts";
import { type ProgramVersionRef, versionAt } from "../program/versions.ts";

/**
 * Tiers (issue 16): what qualifies for a tier is the loyalty program version in force
 * (program/model.ts): OR-combined rules over points (EARN net of reversed EARNs) and/or spend (the
 * purchase amounts of EARNs, net of reversed EARNs) over rolling or calendar periods. Upgrades happen
 * at the earn that qualifies, under the version in force at the earn (stored in TierState with the
 * rule that qualified); a new version re-evaluates every member from the ledger (jobs.ts,
 * `reevaluateTiers`); downgrades after inactivity in the tier review job.
 */

/** The rolling 12 months: the period of the legacy `qualifyingPoints` field. */
const ROLLING_12: QualificationRule = { metric: "POINTS", period: { kind: "ROLLING", months: 12 }, threshold: "0", comparison: "AT_LEAST" };

/**
 * `points.tier_changed {memberId, tier, previousTier, at}` for each change of the API tier, in the
 * transaction of the change: the partner subgraph keeps a copy of the tier for offer eligibility at
 * claim time (`at` = tierSince; a consumer keeps the tier with the latest `at`). Every member starts
 * at BASE, so reaching BASE for the first time is not a change.
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

/** What an earn knows of its member for the tier upgrade: the tier it read (maybe stale) and the wallet's lifetime sums after the earn (fresh, under the wallet lock). */
export interface TierTouch {
  memberId: string;
  current: ProgramTier;
  lifetimeEarned: bigint;
  lifetimeSpend: string;
}

/** SQL rank of a stored tier under a program: its code's position, else the rank of its API tier's program tier. */
function rankArrays(p: Program) {
  return { codes: p.tiers.map((t) => t.code), apiRanks: TIERS.map((api) => currentTier(p, null, api).rank) };
}

/**
 * After earns by these members at `at` under `version`: upgrade when a rule of a higher tier is met
 * (sums read only for members whose lifetime points/spend could cross a threshold above their
 * tier), note the qualifying activity. Never lowers a tier: the upsert compares ranks under the
 * version, so a stale read of the current tier cannot downgrade.
 */
export async function touchTiers(tx: Tx, version: ProgramVersionRef, members: readonly TierTouch[], at: Date): Promise<void> {
  if (!members.length) return;
  const p = version.program;
  const byMember = new Map<string, TierTouch>();
  for (const m of members) byMember.set(m.memberId, m);
  const candidates = [...byMember.values()].filter((m) => couldUpgrade(p, m.current.rank, m.lifetimeEarned, new Decimal(m.lifetimeSpend)));
  const decided = new Map<string, { tier: ProgramTier; rule: QualificationRule | null }>();
  if (candidates.length) {
    const sums = await memberSums(
      tx,
      candidates.map((m) => m.memberId),
      p.tiers.flatMap((t) => t.qualifyAnyOf),
      at,
      p.currency,
    );
    for (const m of candidates) {
      const q = qualifiedTier(p, sums.get(m.memberId)!);
      if (q.tier.rank > m.current.rank) decided.set(m.memberId, q);
    }
  }
  const list = [...byMember.values()].map((m) => ({ m, d: decided.get(m.memberId) ?? { tier: m.current, rule: null } }));
  const { codes, apiRanks } = rankArrays(p);
  const newRank = Prisma.sql`(array_position(${codes}::text[], EXCLUDED."tierCode") - 1)`;
  const curRank = Prisma.sql`coalesce(array_position(${codes}::text[], s."tierCode") - 1, (${apiRanks}::int[])[array_position(${[...TIERS]}::text[], s.tier::text)])`;
  const raise = Prisma.sql`${newRank} > ${curRank}`;
  // `old` reads the rows as they were before this statement (one snapshot), so the upsert's
  // RETURNING joined with it says which tiers changed.
  const rows = await tx.$queryRaw<{ memberId: string; tier: Tier; previousTier: Tier | null; at: Date }[]>`
    WITH old AS (SELECT "memberId", tier FROM "points"."TierState" WHERE "memberId" = ANY(${list.map((x) => x.m.memberId)}::uuid[])),
    up AS (
      INSERT INTO "points"."TierState" AS s ("memberId", tier, "tierCode", "programVersionId", "qualifiedBy", "tierSince", "lastQualifyingAt")
      SELECT m, api::"points"."Tier", code, ${version.id}::uuid, rule::jsonb, ${at}, ${at}
      FROM unnest(${list.map((x) => x.m.memberId)}::uuid[], ${list.map((x) => x.d.tier.apiTier)}::text[], ${list.map((x) => x.d.tier.code)}::text[],
                  ${list.map((x) => (x.d.rule ? JSON.stringify(x.d.rule) : null))}::text[]) AS u(m, api, code, rule)
      ON CONFLICT ("memberId") DO UPDATE SET
        tier = CASE WHEN ${raise} THEN EXCLUDED.tier ELSE s.tier END,
        "tierCode" = CASE WHEN ${raise} THEN EXCLUDED."tierCode" ELSE s."tierCode" END,
        "programVersionId" = CASE WHEN ${raise} THEN EXCLUDED."programVersionId" ELSE s."programVersionId" END,
        "qualifiedBy" = CASE WHEN ${raise} THEN EXCLUDED."qualifiedBy" ELSE s."qualifiedBy" END,
        "tierSince" = CASE WHEN ${raise} THEN EXCLUDED."tierSince" ELSE s."tierSince" END,
        "lastQualifyingAt" = greatest(s."lastQualifyingAt", EXCLUDED."lastQualifyingAt")
      RETURNING s."memberId", s.tier, s."tierSince"
    )
    SELECT up."memberId"::text AS "memberId", up.tier::text AS tier, old.tier::text AS "previousTier", up."tierSince" AS at
    FROM up LEFT JOIN old ON old."memberId" = up."memberId"
    WHERE up.tier <> coalesce(old.tier, 'BASE')`;
  await emitTierChanges(tx, rows);
}

export interface TierProgress {
  /** The tier this rule qualifies for. */
  tier: ProgramTier;
  rule: QualificationRule;
  /** Where the rule's period starts at the time of the status. */
  periodStart: Date;
  /** Points (whole) or spend (money in the program currency) so far in the period. */
  current: Decimal;
  /** What is still needed (0 when met). */
  missing: Decimal;
  met: boolean;
}

export interface TierStatus {
  tier: Tier;
  /** The program's tier. */
  programTier: ProgramTier;
  /** Points earned in the rolling 12 months (net of reversed earns): bigint. */
  qualifyingPoints: bigint;
  /** Spend (program currency) over the period of the program's first spend rule, else the rolling 12 months. */
  qualifyingSpend: Decimal;
  currency: string;
  nextTier: Tier | null;
  nextProgramTier: ProgramTier | null;
  pointsToNextTier: number | null;
  earnMultiplier: string;
  /** Points per 1 unit of currency at this tier (program-wide table). */
  earnRate: string;
  /** The rule that qualified the member for its tier (null: the base tier, or a tier kept from before). */
  qualifiedBy: QualificationRule | null;
  /** Progress on every rule of every tier above the member's. */
  progress: TierProgress[];
  programVersion: number;
}

export async function storedTiers(db: Tx | PrismaClient, memberIds: readonly string[]): Promise<Map<string, Tier>> {
  if (!memberIds.length) return new Map();
  const rows = await db.$queryRaw<{ memberId: string; tier: Tier }[]>`
    SELECT "memberId"::text AS "memberId", tier::text AS tier FROM "points"."TierState" WHERE "memberId" = ANY(${[...memberIds]}::uuid[])`;
  return new Map(rows.map((r) => [r.memberId, r.tier]));
}

/** A member's stored tier facts. */
export interface StoredTier {
  tier: Tier;
  tierCode: string | null;
  programVersionId: string | null;
  qualifiedBy: QualificationRule | null;
}

export async function storedTierFacts(db: Tx | PrismaClient, memberIds: readonly string[]): Promise<Map<string, StoredTier>> {
  const out = new Map<string, StoredTier>();
  if (!memberIds.length) return out;
  const rows = await db.$queryRaw<{ memberId: string; tier: Tier; tierCode: string | null; programVersionId: string | null; qualifiedBy: unknown }[]>`
    SELECT "memberId"::text AS "memberId", tier::text AS tier, "tierCode", "programVersionId"::text AS "programVersionId", "qualifiedBy"
    FROM "points"."TierState" WHERE "memberId" = ANY(${[...new Set(memberIds)]}::uuid[])`;
  for (const r of rows) out.set(r.memberId, { tier: r.tier, tierCode: r.tierCode, programVersionId: r.programVersionId, qualifiedBy: (r.qualifiedBy as QualificationRule | null) ?? null });
  return out;
}

/** Tier status of many members at `now` under `version`: stored tiers and, in one more query, every sum the program's rules read. */
export async function tierStatuses(db: Tx | PrismaClient, memberIds: readonly string[], now: Date, opts: { version?: ProgramVersionRef; stored?: Map<string, StoredTier> } = {}): Promise<Map<string, TierStatus>> {
  const out = new Map<string, TierStatus>();
  if (!memberIds.length) return out;
  const version = opts.version ?? (await versionAt(db, now));
  const stored = opts.stored;
  const p = version.program;
  const facts = stored ?? (await storedTierFacts(db, memberIds));
  const spendRule = p.tiers.flatMap((t) => t.qualifyAnyOf).find((r) => r.metric === "SPEND") ?? { ...ROLLING_12, metric: "SPEND" as const };
  const rules = [...p.tiers.flatMap((t) => t.qualifyAnyOf), ROLLING_12, spendRule];
  const sums = await memberSums(db, memberIds, rules, now, p.currency);
  const base = baseTier(p);
  const baseRate = new Decimal(p.earnRates.perTier[base.code] ?? "0");
  for (const id of memberIds) {
    const f = facts.get(id);
    const t = currentTier(p, f?.tierCode ?? null, f?.tier ?? null);
    const s = sums.get(id)!;
    const next = p.tiers.find((x) => x.rank === t.rank + 1) ?? null;
    const progress: TierProgress[] = p.tiers
      .filter((x) => x.rank > t.rank)
      .flatMap((x) =>
        x.qualifyAnyOf.map((rule) => {
          const current = ruleValue(rule, s);
          const missing = ruleMissing(rule, current);
          return { tier: x, rule, periodStart: periodStart(rule.period, now).start, current, missing, met: missing.isZero() };
        }),
      );
    const pointsPaths = next ? progress.filter((g) => g.tier.code === next.code && g.rule.metric === "POINTS") : [];
    const rate = new Decimal(p.earnRates.perTier[t.code] ?? "0");
    out.set(id, {
      tier: t.apiTier,
      programTier: t,
      qualifyingPoints: BigInt(ruleValue(ROLLING_12, s).toFixed(0)),
      qualifyingSpend: ruleValue(spendRule, s),
      currency: p.currency,
      nextTier: next?.apiTier ?? null,
      nextProgramTier: next,
      pointsToNextTier: pointsPaths.length ? Math.min(...pointsPaths.map((g) => Number(g.missing.toFixed(0)))) : null,
      earnMultiplier: (baseRate.isZero() ? rate : rate.div(baseRate)).toDecimalPlaces(6).toFixed(),
      earnRate: rate.toFixed(),
      qualifiedBy: f && f.programVersionId === version.id ? f.qualifiedBy : null,
      progress,
      programVersion: version.version,
    });
  }
  return out;
}

/**
 * Sets each member's stored tier to what `version` assigns at `at` (up or down), emitting
 * points.tier_changed for API tier changes; returns how many stored tiers changed.
 */
export async function applyEvaluatedTiers(tx: Tx, version: ProgramVersionRef, memberIds: readonly string[], at: Date): Promise<number> {
  if (!memberIds.length) return 0;
  const evaluated = await evaluateTiers(tx, version.program, memberIds, at);
  const ids = [...evaluated.keys()];
  const rows = await tx.$queryRaw<{ memberId: string; tier: Tier; previousTier: Tier | null; changed: boolean }[]>`
    WITH old AS (SELECT "memberId", tier, "tierCode" FROM "points"."TierState" WHERE "memberId" = ANY(${ids}::uuid[]) FOR UPDATE),
    up AS (
      INSERT INTO "points"."TierState" AS s ("memberId", tier, "tierCode", "programVersionId", "qualifiedBy", "tierSince")
      SELECT m, api::"points"."Tier", code, ${version.id}::uuid, rule::jsonb, ${at}
      FROM unnest(${ids}::uuid[], ${ids.map((id) => evaluated.get(id)!.tier.apiTier)}::text[], ${ids.map((id) => evaluated.get(id)!.tier.code)}::text[],
                  ${ids.map((id) => {
                    const r = evaluated.get(id)!.rule;
                    return r ? JSON.stringify(r) : null;
                  })}::text[]) AS u(m, api, code, rule)
      ON CONFLICT ("memberId") DO UPDATE SET
        tier = EXCLUDED.tier, "tierCode" = EXCLUDED."tierCode", "programVersionId" = EXCLUDED."programVersionId", "qualifiedBy" = EXCLUDED."qualifiedBy",
        "tierSince" = CASE WHEN coalesce(s."tierCode", s.tier::text) = EXCLUDED."tierCode" THEN s."tierSince" ELSE EXCLUDED."tierSince" END
      RETURNING s."memberId", s.tier, s."tierCode"
    )
    SELECT up."memberId"::text AS "memberId", up.tier::text AS tier, old.tier::text AS "previousTier",
           (old."memberId" IS NULL AND up."tierCode" <> ${baseTier(version.program).code}) OR coalesce(old."tierCode", old.tier::text) IS DISTINCT FROM up."tierCode" AS changed
    FROM up LEFT JOIN old ON old."memberId" = up."memberId"`;
  await emitTierChanges(
    tx,
    rows.map((r) => ({ ...r, at })),
  );
  return rows.filter((r) => r.changed && (r.previousTier !== null || r.tier !== "BASE")).length;
}

/** Members re-evaluated per transaction by the re-evaluation job. */
export const REEVALUATION_BATCH = 500;

/**
 * Re-evaluates every member's tier under the program version in force at `now`, once per version:
 * idempotent (a finished version is never redone) and resumable (points.TierEvaluation keeps a
 * member-id cursor, advanced in the transaction that re-evaluates each batch; a crash resumes after
 * the last committed batch). Each batch locks its members' wallets in id order (the ledger's lock
 * order) before reading their sums, so an earn in flight commits first and is counted. Returns how
 * many stored tiers changed in this call.
 */
export async function reevaluateTiers(db: PrismaClient, now: Date, batch = REEVALUATION_BATCH): Promise<number> {
  let changed = 0;
  for (;;) {
    const step = await db.$transaction(
      async (tx) => {
        const version = await versionAt(tx, now);
        await tx.$executeRaw`INSERT INTO "points"."TierEvaluation" ("programVersionId", "startedAt") VALUES (${version.id}::uuid, ${now}) ON CONFLICT DO NOTHING`;
        const [state] = await tx.$queryRaw<{ cursor: string | null; finishedAt: Date | null }[]>`
          SELECT cursor::text AS cursor, "finishedAt" FROM "points"."TierEvaluation" WHERE "programVersionId" = ${version.id}::uuid FOR UPDATE`;
        if (!state || state.finishedAt) return { done: true, n: 0 };
        const members = await tx.$queryRaw<{ memberId: string }[]>`
          SELECT "memberId"::text AS "memberId" FROM "points"."LedgerAccount"
          WHERE kind = 'MEMBER_WALLET' AND "memberId" > ${state.cursor ?? "00000000-0000-0000-0000-000000000000"}::uuid
          ORDER BY "memberId" LIMIT ${batch}`;
        const ids = members.map((m) => m.memberId);
        if (ids.length) {
          await tx.$queryRaw`SELECT id FROM "points"."LedgerAccount" WHERE code = ANY(${ids.map((id) => `wallet:${id}`)}::text[]) ORDER BY id FOR UPDATE`;
        }
        const n = await applyEvaluatedTiers(tx, version, ids, now);
        const last = ids.at(-1) ?? state.cursor;
        await tx.$executeRaw`
          UPDATE "points"."TierEvaluation" SET cursor = ${last}::uuid, changed = changed + ${n},
            "finishedAt" = ${ids.length < batch ? now : null}
          WHERE "programVersionId" = ${version.id}::uuid`;
        return { done: ids.length < batch, n };
      },
      { maxWait: 30_000, timeout: 120_000 },
    );
    changed += step.n;
    if (step.done) return changed;
  }
}

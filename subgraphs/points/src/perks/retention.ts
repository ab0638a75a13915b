import { emitMany, event } from "../../../../lib/events/outbox.ts";
import type { PrismaClient } from "../../../../lib/db.ts";
import { addMonths, currencySettings, settings } from "../config.ts";
import { type Tx, TX_OPTIONS } from "../ledger/ledger.ts";
import { currentTier, type MemberSums, memberSums, periodStart, qualifiedTier } from "../program/evaluate.ts";
import { baseTier, type Program, type ProgramTier, programAt } from "../program/model.ts";
import { yearMonthIn } from "./bonuses.ts";

/**
 * Retention and downgrade in the tier review job (issue 16; jobs.ts runTierReview), under the
 * program version in force at the review's time. For every member above the base tier:
 *
 * 1. Inactivity: no purchase (EARN) for the program's `monthsWithoutPurchase` consecutive months —
 *    counted from the later of the last purchase and the last tier change — sends the member to
 *    the base tier (classic: 6 months → ordinary, not one step down), or one tier down where the
 *    program says ONE_TIER_DOWN.
 * 2. Otherwise a member keeps its tier while it still qualifies: the program's rules over the
 *    ledger now, or, for a rule over a CALENDAR period, over the previous period (a tier earned in
 *    a calendar year holds through the next year). When it no longer does, a retention rule `keep {tierCode, consecutiveMonths}`
 *    keeps that tier (and any lower one) if the member purchased in each of `consecutiveMonths`
 *    consecutive calendar months (HUB_TIME_ZONE) ending with this month or the last one (classic:
 *    3 months keep silver). Without either, the member goes to the tier it qualifies for.
 *
 * Never an upgrade here (upgrades happen at the earn that qualifies). Idempotent: each change is a
 * guarded UPDATE (the member still holds the tier the review read), and after a change its
 * tierSince is the review's time, so running again at the same instant changes nothing more.
 * Resumable: members are reviewed in id order, a page of REVIEW_PAGE per transaction (the change
 * and its points.tier_changed events commit together); a review stopped half-way is simply run
 * again: the pages already done are no-ops.
 */

export const REVIEW_PAGE = 500;

interface Row {
  memberId: string;
  tier: string;
  tierCode: string | null;
  tierSince: Date;
  lastPurchase: Date | null;
  months: string[] | null;
}

/** "YYYY-MM" of the month `k` months before the month of (year, month). */
function monthBefore(year: number, month: number, k: number): string {
  const i = year * 12 + (month - 1) - k;
  return `${Math.floor(i / 12)}-${String((i % 12) + 1).padStart(2, "0")}`;
}

/** Whether `months` (YYYY-MM) hold each of `n` consecutive months ending this month or the month before. */
export function purchasedConsecutively(months: ReadonlySet<string>, n: number, now: { year: number; month: number }): boolean {
  const run = (offset: number) => Array.from({ length: n }, (_, k) => monthBefore(now.year, now.month, offset + k)).every((m) => months.has(m));
  return run(0) || run(1);
}

/** What the review decides for one member: the tier to move to, or null to keep it. */
export function retentionTarget(p: Program, cur: ProgramTier, facts: { lastActivity: Date; months: ReadonlySet<string>; qualified: ProgramTier }, now: Date, ym: { year: number; month: number }): ProgramTier | null {
  if (cur.rank === 0) return null;
  const inactive = p.retention.inactivity;
  if (inactive && facts.lastActivity <= addMonths(now, -inactive.monthsWithoutPurchase)) {
    return inactive.to === "BASE" ? baseTier(p) : (p.tiers.find((t) => t.rank === cur.rank - 1) ?? baseTier(p));
  }
  if (facts.qualified.rank >= cur.rank) return null;
  let keptRank = facts.qualified.rank;
  for (const k of p.retention.keep) {
    const t = p.tiers.find((x) => x.code === k.tierCode);
    if (t && purchasedConsecutively(facts.months, k.consecutiveMonths, ym)) keptRank = Math.max(keptRank, Math.min(t.rank, cur.rank));
  }
  if (keptRank >= cur.rank) return null;
  return p.tiers.find((t) => t.rank === keptRank) ?? baseTier(p);
}

/** Reviews one page of members above the base tier (ids after `after`) in `tx`; returns the last id read (null = done) and the changes. */
async function reviewPage(tx: Tx, version: { id: string; program: Program }, after: string | null, now: Date): Promise<{ last: string | null; changed: number }> {
  const p = version.program;
  const tz = settings().timeZone;
  const ym = yearMonthIn(tz, now);
  const maxMonths = Math.max(1, ...p.retention.keep.map((k) => k.consecutiveMonths));
  const since = addMonths(now, -(maxMonths + 2));
  const base = baseTier(p);
  const rows = await tx.$queryRaw<Row[]>`
    SELECT s."memberId"::text AS "memberId", s.tier::text AS tier, s."tierCode", s."tierSince",
      (SELECT max(t."postedAt") FROM "points"."LedgerTransaction" t WHERE t."memberId" = s."memberId" AND t.kind = 'EARN' AND t."postedAt" <= ${now}) AS "lastPurchase",
      (SELECT array_agg(DISTINCT to_char(t."postedAt" AT TIME ZONE ${tz}, 'YYYY-MM')) FROM "points"."LedgerTransaction" t
        WHERE t."memberId" = s."memberId" AND t.kind = 'EARN' AND t."postedAt" > ${since} AND t."postedAt" <= ${now}) AS months
    FROM "points"."TierState" s
    WHERE (${after}::uuid IS NULL OR s."memberId" > ${after}::uuid) AND coalesce(s."tierCode", s.tier::text) <> ${base.code}
    ORDER BY s."memberId" LIMIT ${REVIEW_PAGE}`;
  if (!rows.length) return { last: null, changed: 0 };
  const sums = await memberSums(
    tx,
    rows.map((r) => r.memberId),
    p.tiers.flatMap((t) => t.qualifyAnyOf),
    now,
    currencySettings().code,
  );
  // A CALENDAR rule also counts over its previous period: one sums query per distinct calendar period.
  const previous: Map<string, MemberSums>[] = [];
  const calendar = new Map<string, (typeof p.tiers)[number]["qualifyAnyOf"]>();
  for (const r of p.tiers.flatMap((t) => t.qualifyAnyOf)) {
    if (r.period.kind !== "CALENDAR") continue;
    const key = String(r.period.months);
    calendar.set(key, [...(calendar.get(key) ?? []), r]);
  }
  for (const rules of calendar.values()) {
    const end = new Date(periodStart(rules[0]!.period, now, tz).start.getTime() - 1);
    previous.push(
      await memberSums(
        tx,
        rows.map((r) => r.memberId),
        rules,
        end,
        currencySettings().code,
      ),
    );
  }
  const changes: { memberId: string; from: ProgramTier; to: ProgramTier; oldCode: string }[] = [];
  for (const r of rows) {
    const cur = currentTier(p, r.tierCode, r.tier as never);
    let qualified = base;
    for (const s of [sums.get(r.memberId), ...previous.map((m) => m.get(r.memberId))]) {
      const q = s ? qualifiedTier(p, s).tier : base;
      if (q.rank > qualified.rank) qualified = q;
    }
    const last = r.lastPurchase && new Date(r.lastPurchase) > new Date(r.tierSince) ? new Date(r.lastPurchase) : new Date(r.tierSince);
    const to = retentionTarget(p, cur, { lastActivity: last, months: new Set(r.months ?? []), qualified }, now, ym);
    if (to && to.code !== cur.code) changes.push({ memberId: r.memberId, from: cur, to, oldCode: r.tierCode ?? r.tier });
  }
  let changed = 0;
  const events = [];
  for (const c of changes) {
    const n = await tx.$executeRaw`
      UPDATE "points"."TierState" SET tier = ${c.to.apiTier}::"points"."Tier", "tierCode" = ${c.to.code}, "tierSince" = ${now},
        "programVersionId" = ${version.id}::uuid, "qualifiedBy" = NULL
      WHERE "memberId" = ${c.memberId}::uuid AND coalesce("tierCode", tier::text) = ${c.oldCode}`;
    if (!n) continue;
    changed++;
    if (c.to.apiTier !== c.from.apiTier) {
      events.push(event("points.tier_changed", { memberId: c.memberId, tier: c.to.apiTier, previousTier: c.from.apiTier, at: now.toISOString() }));
    }
  }
  if (events.length) await emitMany(tx, "points", events);
  return { last: rows.length < REVIEW_PAGE ? null : rows.at(-1)!.memberId, changed };
}

/** The retention review of every member above the base tier at `now`; returns how many tiers changed. */
export async function reviewRetention(db: PrismaClient, now: Date): Promise<number> {
  const version = await programAt(db, now);
  let after: string | null = null;
  let total = 0;
  do {
    const from: string | null = after;
    const page: { last: string | null; changed: number } = await db.$transaction((tx) => reviewPage(tx, version, from, now), TX_OPTIONS);
    total += page.changed;
    after = page.last;
  } while (after);
  return total;
}

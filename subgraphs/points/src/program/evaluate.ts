import { Decimal } from "decimal.js";
import { Prisma, type PrismaClient } from "../../../../lib/db.ts";
import { addMonths, settings } from "../config.ts";
import type { Tx } from "../ledger/ledger.ts";
import { type Period, type Program, type ProgramTier, type QualificationRule, baseTier, tierByCode, tierForApiTier } from "./model.ts";
import type { Tier } from "../../../../lib/vocabulary.ts";

/**
 * Evaluating a program over the ledger: the sums a rule reads (POINTS = EARN net of reversed EARNs;
 * SPEND = purchase amounts of EARNs net of reversed EARNs, in the program currency) over its period,
 * and the tier those sums qualify for. One rule, used by the earn path (upgrades), the tier status,
 * the re-evaluation job and previewProgramChange.
 */

// One formatter per time zone and shape, made once: constructing an Intl.DateTimeFormat costs tens
// of microseconds, and the wallet query and every earn ask for a period start (a CPU profile of the
// gateway benchmark showed ~2 % of the hub's time constructing them).
const dayFormats = new Map<string, Intl.DateTimeFormat>();
function formatIn(cache: Map<string, Intl.DateTimeFormat>, timeZone: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  let f = cache.get(timeZone);
  if (!f) cache.set(timeZone, (f = new Intl.DateTimeFormat("en-US", { timeZone, ...options })));
  return f;
}

/** Local wall-clock year and month (1–12) of `at` in `timeZone`. */
function localYearMonth(timeZone: string, at: Date): { y: number; m: number; d: number } {
  const fmt = formatIn(dayFormats, timeZone, { year: "numeric", month: "2-digit", day: "2-digit" });
  const p = Object.fromEntries(fmt.formatToParts(at).map((x) => [x.type, Number(x.value)]));
  return { y: p.year!, m: p.month!, d: p.day! };
}

/** startOfMonthIn's answers (a pure function of its arguments): a few per time zone and month in use. */
const monthStarts = new Map<string, number>();

/** The first instant of local day (y, m, 1) in `timeZone`. */
function startOfMonthIn(timeZone: string, y: number, m: number): Date {
  const key = `${timeZone}|${y}|${m}`;
  let start = monthStarts.get(key);
  if (start === undefined) {
    if (monthStarts.size >= 10_000) monthStarts.clear();
    monthStarts.set(key, (start = computeStartOfMonthIn(timeZone, y, m)));
  }
  return new Date(start);
}

function computeStartOfMonthIn(timeZone: string, y: number, m: number): number {
  const first = Date.UTC(y, m - 1, 1);
  const localDay = (ms: number) => {
    const l = localYearMonth(timeZone, new Date(ms));
    return Date.UTC(l.y, l.m - 1, l.d);
  };
  // The local date only moves forward with time, and the 1st's first instant lies within ±2 days of
  // its UTC midnight (offsets −12 … +14 h): bisect to the second. No assumption about the size or
  // hour of a DST change (Lord Howe shifts 30 minutes; Santiago and Havana jump at midnight; walking
  // back by the local time of day was an hour or 30 minutes off on such a 1st).
  let before = first - 2 * 86_400_000;
  let onOrAfter = first + 2 * 86_400_000;
  while (onOrAfter - before > 1000) {
    const mid = before + Math.floor((onOrAfter - before) / 2000) * 1000;
    if (localDay(mid) >= first) onOrAfter = mid;
    else before = mid;
  }
  return onOrAfter;
}

/**
 * Where a period that ends at `at` starts. ROLLING: `months` before `at` (exclusive); CALENDAR: the
 * start of the current block of `months` months of the year in the coalition's time zone (inclusive).
 */
export function periodStart(period: Period, at: Date, timeZone = settings().timeZone): { start: Date; inclusive: boolean } {
  if (period.kind === "ROLLING") return { start: addMonths(at, -period.months), inclusive: false };
  const { y, m } = localYearMonth(timeZone, at);
  const blockMonth = Math.floor((m - 1) / period.months) * period.months + 1;
  return { start: startOfMonthIn(timeZone, y, blockMonth), inclusive: true };
}

/** A distinct (period start) the rules of a program read, with the metric sums wanted there. */
interface Window {
  key: string;
  start: Date;
  inclusive: boolean;
}

const windowKey = (p: Period) => `${p.kind}/${p.months}`;

/** Sums of one member: by window key, points (bigint) and spend (exact decimal string). */
export interface MemberSums {
  points: Map<string, bigint>;
  spend: Map<string, Decimal>;
}

/**
 * Points and spend of each member over each period the given rules read, at `at`, in ONE query
 * (one lateral aggregate per distinct period over the (memberId, postedAt) index).
 */
export async function memberSums(db: Tx | PrismaClient, memberIds: readonly string[], rules: readonly QualificationRule[], at: Date, currency: string): Promise<Map<string, MemberSums>> {
  const out = new Map<string, MemberSums>();
  const ids = [...new Set(memberIds)];
  if (!ids.length) return out;
  const windows = new Map<string, Window>();
  for (const r of rules) if (!windows.has(windowKey(r.period))) windows.set(windowKey(r.period), { key: windowKey(r.period), ...periodStart(r.period, at) });
  const list = [...windows.values()];
  if (!list.length) {
    for (const id of ids) out.set(id, { points: new Map(), spend: new Map() });
    return out;
  }
  const cols = list.map((_w, i) => Prisma.sql`s${Prisma.raw(String(i))}.p AS ${Prisma.raw(`"p${i}"`)}, s${Prisma.raw(String(i))}.s::text AS ${Prisma.raw(`"s${i}"`)}`);
  const laterals = list.map(
    (w, i) => Prisma.sql`
    CROSS JOIN LATERAL (
      SELECT coalesce(sum(t."memberPoints"), 0)::bigint AS p,
             coalesce(sum(CASE WHEN t.kind = 'EARN' THEN (CASE WHEN t."spendCurrency" = ${currency} THEN t."spendAmount" END)
                               ELSE (CASE WHEN o."spendCurrency" = ${currency} THEN -o."spendAmount" END) END), 0)::numeric AS s
      FROM "points"."LedgerTransaction" t
      LEFT JOIN "points"."LedgerTransaction" o ON o.id = t."reversesId"
      WHERE t."memberId" = x.m AND t."postedAt" <= ${at}
        AND ${w.inclusive ? Prisma.sql`t."postedAt" >= ${w.start}` : Prisma.sql`t."postedAt" > ${w.start}`}
        AND (t.kind = 'EARN' OR (t.kind = 'REVERSAL' AND o.kind = 'EARN'))
    ) s${Prisma.raw(String(i))}`,
  );
  const rows = await db.$queryRaw<Record<string, unknown>[]>`
    SELECT x.m::text AS "memberId", ${Prisma.join(cols)}
    FROM unnest(${ids}::uuid[]) AS x(m) ${Prisma.join(laterals, " ")}`;
  for (const r of rows) {
    const sums: MemberSums = { points: new Map(), spend: new Map() };
    list.forEach((w, i) => {
      sums.points.set(w.key, BigInt(r[`p${i}`] as bigint | number | string));
      sums.spend.set(w.key, new Decimal(r[`s${i}`] as string));
    });
    out.set(r.memberId as string, sums);
  }
  return out;
}

/** A rule's current value for a member: points (as a Decimal) or spend. */
export const ruleValue = (r: QualificationRule, s: MemberSums): Decimal =>
  r.metric === "POINTS" ? new Decimal((s.points.get(windowKey(r.period)) ?? 0n).toString()) : (s.spend.get(windowKey(r.period)) ?? new Decimal(0));

export const ruleMet = (r: QualificationRule, value: Decimal): boolean => (r.comparison === "MORE_THAN" ? value.gt(r.threshold) : value.gte(r.threshold));

/** What a rule still needs: 0 when met; for MORE_THAN, points need threshold + 1 − value, money the difference (a purchase of more than it). */
export function ruleMissing(r: QualificationRule, value: Decimal): Decimal {
  if (ruleMet(r, value)) return new Decimal(0);
  const gap = new Decimal(r.threshold).minus(value);
  return r.comparison === "MORE_THAN" && r.metric === "POINTS" ? gap.plus(1) : gap;
}

/** The highest tier whose rules (OR-combined) the sums meet, and the rule that qualified (null for the base tier). */
export function qualifiedTier(p: Program, s: MemberSums): { tier: ProgramTier; rule: QualificationRule | null } {
  for (let k = p.tiers.length - 1; k > 0; k--) {
    const t = p.tiers[k]!;
    const rule = t.qualifyAnyOf.find((r) => ruleMet(r, ruleValue(r, s)));
    if (rule) return { tier: t, rule };
  }
  return { tier: baseTier(p), rule: null };
}

/** Rules of the tiers above `rank` (what an upgrade from there reads). */
export const rulesAbove = (p: Program, rank: number): QualificationRule[] => p.tiers.filter((t) => t.rank > rank).flatMap((t) => t.qualifyAnyOf);

/** A stored tier (program code when stored, else the API tier) as a tier of program `p`. */
export function currentTier(p: Program, tierCode: string | null, apiTier: Tier | null): ProgramTier {
  return (tierCode ? tierByCode(p, tierCode) : undefined) ?? tierForApiTier(p, apiTier ?? "BASE");
}

/**
 * Whether a member could reach a tier above `rank` on what it has ever earned/spent: a period's sum
 * never exceeds the wallet's lifetime earned points / lifetime spend, so below every threshold
 * above, no sum is read (the earn hot path reads sums only when a threshold could be crossed).
 */
export function couldUpgrade(p: Program, rank: number, lifetimePoints: bigint, lifetimeSpend: Decimal): boolean {
  for (const r of rulesAbove(p, rank)) {
    const lifetime = r.metric === "POINTS" ? new Decimal(lifetimePoints.toString()) : lifetimeSpend;
    if (ruleMet(r, lifetime)) return true;
  }
  return false;
}

/**
 * The tier `program` assigns each member at `at`, recomputed from the ledger (no stored state):
 * the re-evaluation job, previewProgramChange and the property tests.
 */
export async function evaluateTiers(db: Tx | PrismaClient, program: Program, memberIds: readonly string[], at: Date): Promise<Map<string, { tier: ProgramTier; rule: QualificationRule | null }>> {
  const out = new Map<string, { tier: ProgramTier; rule: QualificationRule | null }>();
  if (!memberIds.length) return out;
  const sums = await memberSums(
    db,
    memberIds,
    program.tiers.flatMap((t) => t.qualifyAnyOf),
    at,
    program.currency,
  );
  for (const id of memberIds) out.set(id, qualifiedTier(program, sums.get(id)!));
  return out;
}

import { Decimal } from "decimal.js";
import { z } from "zod";
import { readSetting } from "../../../../lib/config.ts";
import { HubError } from "../../../../lib/errors.ts";
import { DATA_CATEGORIES, TIERS, type Tier } from "../../../../lib/vocabulary.ts";
import type { PrismaClient } from "../../../../lib/db.ts";
import type { Tx } from "../ledger/ledger.ts";

/**
 * The loyalty program as data (issue 16): tiers, how a member qualifies for each, earn rates,
 * standing benefits, retention and downgrade, bonuses and lifecycle thresholds. A coalition admin
 * stores it as versions with an effective-from time (`points.ProgramVersion`, append-only); every
 * earn is computed under the version in force at its time and records that version's id.
 *
 * Money in a program (spend thresholds, lifecycle spend) is in the program's `currency`, which must
 * be the coalition's settlement currency (HUB_CURRENCY). Every rate and amount is an exact decimal
 * string (at most 6 fraction digits): never a binary float.
 */

// ── building blocks ───────────────────────────────────────────────────────────────────────────

/** An exact decimal as a string: optional minus sign, digits, at most 6 fraction digits are accepted by validation. */
export const DecimalString = z.string().regex(/^-?\d{1,15}(\.\d{1,12})?$/, 'must be a decimal string like "1.5"');
/** A program-defined tier code: upper-case letters, digits, underscore; starts with a letter. */
export const TierCode = z.string().regex(/^[A-Z][A-Z0-9_]{0,31}$/, "tier code must be 1–32 of A–Z, 0–9, _ starting with a letter");
/** Display names in English and Simplified Chinese. */
export const Names = z.object({
  en: z.string().trim().min(1, "an English name is required").max(100),
  "zh-Hans": z.string().trim().min(1, "a Chinese (zh-Hans) name is required").max(100),
});
export type Names = z.infer<typeof Names>;

/**
 * A period over which points or spend are summed: ROLLING = the `months` before the instant of
 * evaluation; CALENDAR = the current calendar block of `months` months (12 = the calendar year,
 * 3 = the quarter; `months` divides 12) in the coalition's time zone (HUB_TIME_ZONE).
 */
export const Period = z.object({
  kind: z.enum(["ROLLING", "CALENDAR"]),
  months: z.number().int("months must be a whole number").min(1, "months must be at least 1").max(120, "months must be at most 120"),
});
export type Period = z.infer<typeof Period>;

/**
 * One way to qualify for a tier: the member's POINTS (earned; EARN net of reversed EARNs) or SPEND
 * (purchase amounts of earns, in the program currency, net of reversed earns) over `period`
 * reaching `threshold`. AT_LEAST = sum ≥ threshold; MORE_THAN = sum > threshold ("exceeds").
 * A tier's rules are OR-combined: any one qualifies.
 */
export const QualificationRule = z.object({
  metric: z.enum(["POINTS", "SPEND"]),
  period: Period,
  /** Points (whole number) for POINTS; money in the program currency for SPEND. */
  threshold: DecimalString,
  comparison: z.enum(["AT_LEAST", "MORE_THAN"]).default("AT_LEAST"),
});
export type QualificationRule = z.infer<typeof QualificationRule>;

/**
 * A tier of the program. `rank` 0 is the base tier everybody holds (no rule). `apiTier` is the
 * contract's `Tier` enum value clients of the classic API see for it (classic program: the same
 * code); it must not decrease with rank.
 */
export const ProgramTier = z.object({
  code: TierCode,
  rank: z.number().int().min(0).max(31),
  names: Names,
  apiTier: z.enum(TIERS),
  qualifyAnyOf: z.array(QualificationRule).max(8).default([]),
});
export type ProgramTier = z.infer<typeof ProgramTier>;

/** Points per 1 unit of the program currency spent, per tier code (exact decimals ≥ 0). */
export const RateTable = z.record(TierCode, DecimalString);

/**
 * Earn rates: `perTier` applies to every partner; a row in `partners` replaces it for that partner
 * (the coalition's negotiated scheme: then the partner's own earn rate is not applied). Without a
 * row, points = amount × perTier[tier] × the partner's own earn rate (setPartnerEarnRate, default 1).
 */
export const EarnRates = z.object({
  perTier: RateTable,
  partners: z
    .array(z.object({ partnerId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "partnerId must be a valid id"), perTier: RateTable }))
    .max(1000)
    .default([]),
});

/** A standing benefit of a tier: percent off a purchase at partners; `settlementRelevant` = settlement accounts for applications of it. */
export const Benefit = z.object({
  tierCode: TierCode,
  code: z.string().regex(/^[A-Z][A-Z0-9_]{0,31}$/, "benefit code must be 1–32 of A–Z, 0–9, _"),
  names: Names,
  /** Percent off, 0–100, exact decimal. */
  percentOff: DecimalString,
  settlementRelevant: z.boolean().default(false),
});
export type Benefit = z.infer<typeof Benefit>;

/**
 * Retention and downgrade: `keep` = purchases in each of `consecutiveMonths` consecutive calendar
 * months keep that tier (and any tier of lower rank); `inactivity` = after `monthsWithoutPurchase`
 * consecutive months without a purchase the member goes to the BASE tier or ONE_TIER_DOWN.
 * Tiers are otherwise never lost while the member keeps purchasing.
 */
export const Retention = z.object({
  keep: z
    .array(z.object({ tierCode: TierCode, consecutiveMonths: z.number().int().min(1).max(24) }))
    .max(32)
    .default([]),
  inactivity: z
    .object({ monthsWithoutPurchase: z.number().int().min(1).max(120), to: z.enum(["BASE", "ONE_TIER_DOWN"]) })
    .nullable()
    .default(null),
});

/** Welcome bonus: `points` once, on the member's first purchase or at enrolment, only within `windowMonths` of joining. */
export const WelcomeBonus = z.object({
  points: z.number().int().min(1).max(1_000_000),
  windowMonths: z.number().int().min(1).max(36),
  trigger: z.enum(["FIRST_PURCHASE", "ENROLMENT"]),
});

/**
 * Birthday: in the member's birth month (HUB_TIME_ZONE), POINTS = `points` once, or MULTIPLIER =
 * earns × `multiplier`; only where the member consented to `consentCategory` for the partner.
 */
export const BirthdayBonus = z.object({
  kind: z.enum(["POINTS", "MULTIPLIER"]),
  points: z.number().int().min(1).max(1_000_000).nullable().default(null),
  multiplier: DecimalString.nullable().default(null),
  consentCategory: z.enum(DATA_CATEGORIES),
});

/** Lifecycle thresholds (the practitioners' figures; money in the program currency). */
export const LifecycleThresholds = z.object({
  /**
   * Deprecated in the program: DORMANT without activity within N days of joining is the deployment
   * setting HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS (the three subgraphs evaluate segments on their
   * own and must agree: lib/lifecycle.ts). Stored versions may carry it; a new version may only
   * repeat the setting's value (DORMANT_DAYS_IS_A_SETTING), so nobody sets a figure that does nothing.
   */
  dormantWithoutActivityDays: z.number().int().min(1).max(3650).optional(),
  /** ACTIVE when the member's spend in a calendar month exceeds this amount. */
  activeMonthlySpend: DecimalString,
  /** High-frequency when the member makes more than this many purchases in a calendar month. */
  highFrequencyPurchasesPerMonth: z.number().int().min(0).max(100_000),
});

export const Program = z.object({
  names: Names,
  /** ISO 4217: the currency of spend thresholds and rates; must be HUB_CURRENCY. */
  currency: z.string().regex(/^[A-Z]{3}$/, "currency must be an ISO 4217 code like CNY"),
  tiers: z.array(ProgramTier).min(1, "a program has at least one tier").max(32),
  earnRates: EarnRates,
  benefits: z.array(Benefit).max(256).default([]),
  retention: Retention.prefault({}),
  bonuses: z.object({ welcome: WelcomeBonus.nullable().default(null), birthday: BirthdayBonus.nullable().default(null) }).prefault({}),
  lifecycle: LifecycleThresholds,
});
export type Program = z.output<typeof Program>;
export type ProgramInput = z.input<typeof Program>;

// ── validation as a whole ─────────────────────────────────────────────────────────────────────

/** The rule a program breaks (in `extensions.rule` of BAD_USER_INPUT). */
export type ProgramRule =
  | "PROGRAM_SHAPE"
  | "CURRENCY"
  | "TIER_CODES_UNIQUE"
  | "TIER_RANKS_CONTIGUOUS"
  | "BASE_TIER_HAS_NO_RULE"
  | "TIER_NEEDS_RULE"
  | "API_TIERS_ASCENDING"
  | "THRESHOLDS_ASCENDING"
  | "TIERS_OVERLAP"
  | "EXACT_DECIMAL"
  | "THRESHOLD_NOT_NEGATIVE"
  | "CALENDAR_MONTHS_DIVIDE_YEAR"
  | "RATES_COMPLETE"
  | "RATE_NOT_NEGATIVE"
  | "UNKNOWN_TIER"
  | "UNKNOWN_PARTNER"
  | "PARTNER_RATES_UNIQUE"
  | "TIER_RATES_UNIQUE"
  | "BENEFIT_PERCENT"
  | "BENEFIT_CODES_UNIQUE"
  | "BIRTHDAY_BONUS"
  | "EFFECTIVE_FROM_IN_PAST"
  | "DORMANT_DAYS_IS_A_SETTING";

export interface ProgramIssue {
  rule: ProgramRule;
  /** Path of the offending field, e.g. "tiers.2.qualifyAnyOf.0.threshold". */
  path: string;
  message: string;
}

const MAX_FRACTION = 6;
const fractionDigits = (s: string) => (s.includes(".") ? s.split(".")[1]!.length : 0);

/** A rule's threshold as a comparable lower bound: MORE_THAN t qualifies above t, AT_LEAST t at t. */
const bound = (r: QualificationRule) => ({ v: new Decimal(r.threshold), strict: r.comparison === "MORE_THAN" });
/** a < b as lower bounds (a qualifies a strictly larger set than b). */
const boundLess = (a: ReturnType<typeof bound>, b: ReturnType<typeof bound>) => a.v.lt(b.v) || (a.v.eq(b.v) && !a.strict && b.strict);
const boundEq = (a: ReturnType<typeof bound>, b: ReturnType<typeof bound>) => a.v.eq(b.v) && a.strict === b.strict;
const pathKey = (r: QualificationRule) => `${r.metric}/${r.period.kind}/${r.period.months}`;

/**
 * Every problem of a parsed program, each naming its rule (empty = valid). `knownPartnerIds`: the
 * partners the hub knows (rates for any other partner are UNKNOWN_PARTNER); `currency`: HUB_CURRENCY.
 */
export function programIssues(p: Program, ctx: { knownPartnerIds?: ReadonlySet<string>; currency?: string } = {}): ProgramIssue[] {
  const out: ProgramIssue[] = [];
  const add = (rule: ProgramRule, path: string, message: string) => out.push({ rule, path, message });
  if (ctx.currency && p.currency !== ctx.currency) add("CURRENCY", "currency", `The program's currency must be the coalition's settlement currency ${ctx.currency}, not ${p.currency}`);

  const codes = new Set<string>();
  p.tiers.forEach((t, i) => {
    if (codes.has(t.code)) add("TIER_CODES_UNIQUE", `tiers.${i}.code`, `Tier code ${t.code} is used twice`);
    codes.add(t.code);
  });
  const byRank = [...p.tiers].map((t, i) => ({ t, i })).sort((a, b) => a.t.rank - b.t.rank);
  byRank.forEach(({ t, i }, k) => {
    if (t.rank !== k) add("TIER_RANKS_CONTIGUOUS", `tiers.${i}.rank`, `Tier ranks must be 0, 1, 2, … without gaps or repeats (tier ${t.code} has rank ${t.rank}, expected ${k})`);
  });
  const base = byRank[0];
  if (base?.t.qualifyAnyOf.length) add("BASE_TIER_HAS_NO_RULE", `tiers.${base.i}.qualifyAnyOf`, `The base tier ${base.t.code} (rank 0) is everybody's tier: it has no qualification rule`);
  if (base && base.t.apiTier !== "BASE") add("API_TIERS_ASCENDING", `tiers.${base.i}.apiTier`, `The base tier ${base.t.code} must show as the API tier BASE`);
  for (let k = 1; k < byRank.length; k++) {
    const { t, i } = byRank[k]!;
    if (!t.qualifyAnyOf.length) add("TIER_NEEDS_RULE", `tiers.${i}.qualifyAnyOf`, `Tier ${t.code} above the base has no qualification rule: nobody could reach it`);
    const prev = byRank[k - 1]!.t;
    if (TIERS.indexOf(t.apiTier) < TIERS.indexOf(prev.apiTier))
      add("API_TIERS_ASCENDING", `tiers.${i}.apiTier`, `Tier ${t.code}'s API tier ${t.apiTier} is below ${prev.code}'s ${prev.apiTier}: API tiers must not decrease with rank`);
  }
  // Thresholds: exact, not negative, and strictly ascending with rank on each path (metric, period).
  const lastOnPath = new Map<string, { code: string; b: ReturnType<typeof bound> }>();
  for (const { t, i } of byRank) {
    t.qualifyAnyOf.forEach((r, j) => {
      const path = `tiers.${i}.qualifyAnyOf.${j}`;
      if (fractionDigits(r.threshold) > (r.metric === "POINTS" ? 0 : MAX_FRACTION))
        add("EXACT_DECIMAL", `${path}.threshold`, r.metric === "POINTS" ? "A points threshold is a whole number of points" : `A spend threshold has at most ${MAX_FRACTION} decimals`);
      if (new Decimal(r.threshold).isNeg()) add("THRESHOLD_NOT_NEGATIVE", `${path}.threshold`, `Tier ${t.code}: a threshold must not be negative`);
      if (r.period.kind === "CALENDAR" && 12 % r.period.months !== 0) add("CALENDAR_MONTHS_DIVIDE_YEAR", `${path}.period.months`, "A calendar period is 1, 2, 3, 4, 6 or 12 months (a block of the year)");
      const b = bound(r);
      const prev = lastOnPath.get(pathKey(r));
      if (prev && prev.code !== t.code) {
        if (boundEq(prev.b, b)) add("TIERS_OVERLAP", `${path}.threshold`, `Tiers ${prev.code} and ${t.code} have the same ${r.metric.toLowerCase()} threshold over the same period: they overlap`);
        else if (!boundLess(prev.b, b)) add("THRESHOLDS_ASCENDING", `${path}.threshold`, `Thresholds must ascend with rank: ${t.code} needs more ${r.metric.toLowerCase()} than ${prev.code} over the same period`);
      }
      if (!prev || prev.code !== t.code || boundLess(prev.b, b)) lastOnPath.set(pathKey(r), { code: t.code, b });
    });
  }
  // Earn rates.
  const rateTable = (table: Record<string, string>, path: string) => {
    for (const code of codes) if (table[code] === undefined) add("RATES_COMPLETE", `${path}.${code}`, `No earn rate for tier ${code}`);
    for (const [code, rate] of Object.entries(table)) {
      if (!codes.has(code)) add("UNKNOWN_TIER", `${path}.${code}`, `Earn rate for unknown tier ${code}`);
      if (new Decimal(rate).isNeg()) add("RATE_NOT_NEGATIVE", `${path}.${code}`, `The earn rate of tier ${code} is negative (${rate}): rates are ≥ 0 points per currency unit`);
      if (fractionDigits(rate) > MAX_FRACTION) add("EXACT_DECIMAL", `${path}.${code}`, `An earn rate has at most ${MAX_FRACTION} decimals`);
    }
  };
  rateTable(p.earnRates.perTier, "earnRates.perTier");
  const partners = new Set<string>();
  p.earnRates.partners.forEach((row, i) => {
    const id = row.partnerId.toLowerCase();
    if (partners.has(id)) add("PARTNER_RATES_UNIQUE", `earnRates.partners.${i}.partnerId`, `Partner ${row.partnerId} has two rate rows`);
    partners.add(id);
    if (ctx.knownPartnerIds && !ctx.knownPartnerIds.has(id)) add("UNKNOWN_PARTNER", `earnRates.partners.${i}.partnerId`, `Unknown partner ${row.partnerId}`);
    rateTable(row.perTier, `earnRates.partners.${i}.perTier`);
  });
  // Benefits.
  const benefitCodes = new Set<string>();
  p.benefits.forEach((b, i) => {
    if (!codes.has(b.tierCode)) add("UNKNOWN_TIER", `benefits.${i}.tierCode`, `Benefit for unknown tier ${b.tierCode}`);
    const key = `${b.tierCode}/${b.code}`;
    if (benefitCodes.has(key)) add("BENEFIT_CODES_UNIQUE", `benefits.${i}.code`, `Tier ${b.tierCode} has benefit ${b.code} twice`);
    benefitCodes.add(key);
    const pct = new Decimal(b.percentOff);
    if (pct.isNeg() || pct.gt(100)) add("BENEFIT_PERCENT", `benefits.${i}.percentOff`, "percentOff is between 0 and 100");
    if (fractionDigits(b.percentOff) > MAX_FRACTION) add("EXACT_DECIMAL", `benefits.${i}.percentOff`, `percentOff has at most ${MAX_FRACTION} decimals`);
  });
  // Retention, bonuses, lifecycle.
  p.retention.keep.forEach((k, i) => {
    if (!codes.has(k.tierCode)) add("UNKNOWN_TIER", `retention.keep.${i}.tierCode`, `Retention rule for unknown tier ${k.tierCode}`);
  });
  const bd = p.bonuses.birthday;
  if (bd) {
    if (bd.kind === "POINTS" && bd.points == null) add("BIRTHDAY_BONUS", "bonuses.birthday.points", "A POINTS birthday bonus needs points");
    if (bd.kind === "MULTIPLIER" && bd.multiplier == null) add("BIRTHDAY_BONUS", "bonuses.birthday.multiplier", "A MULTIPLIER birthday bonus needs a multiplier");
    if (bd.multiplier != null) {
      if (new Decimal(bd.multiplier).lt(1)) add("BIRTHDAY_BONUS", "bonuses.birthday.multiplier", "A birthday multiplier is at least 1");
      if (fractionDigits(bd.multiplier) > MAX_FRACTION) add("EXACT_DECIMAL", "bonuses.birthday.multiplier", `A multiplier has at most ${MAX_FRACTION} decimals`);
    }
  }
  const dormant = p.lifecycle.dormantWithoutActivityDays;
  const setting = readSetting("HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS");
  if (dormant != null && dormant !== setting)
    add(
      "DORMANT_DAYS_IS_A_SETTING",
      "lifecycle.dormantWithoutActivityDays",
      `Dormant-after-joining is the deployment setting HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS (${setting} days), not part of a program version: omit the field`,
    );
  const spend = p.lifecycle.activeMonthlySpend;
  if (new Decimal(spend).isNeg()) add("THRESHOLD_NOT_NEGATIVE", "lifecycle.activeMonthlySpend", "activeMonthlySpend must not be negative");
  if (fractionDigits(spend) > MAX_FRACTION) add("EXACT_DECIMAL", "lifecycle.activeMonthlySpend", `activeMonthlySpend has at most ${MAX_FRACTION} decimals`);
  return out;
}

/** BAD_USER_INPUT naming the rule (`extensions.rule`) and the field (`extensions.field`). */
export const programError = (i: ProgramIssue) => new HubError("BAD_USER_INPUT", `${i.rule}: ${i.message}`, { field: i.path, rule: i.rule });

/** Parses and validates a whole program; the first problem throws BAD_USER_INPUT naming its rule. */
export function parseProgram(raw: unknown, ctx: { knownPartnerIds?: ReadonlySet<string>; currency?: string } = {}): Program {
  const parsed = Program.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw programError({ rule: "PROGRAM_SHAPE", path: issue.path.join("."), message: issue.message });
  }
  const issues = programIssues(parsed.data, ctx);
  if (issues.length) throw programError(issues[0]!);
  return canonical(parsed.data);
}

/** Tiers sorted by rank, partner ids lower-case: the stored form. */
function canonical(p: Program): Program {
  return {
    ...p,
    tiers: [...p.tiers].sort((a, b) => a.rank - b.rank),
    earnRates: { ...p.earnRates, partners: p.earnRates.partners.map((r) => ({ ...r, partnerId: r.partnerId.toLowerCase() })) },
  };
}

// ── the classic program (the seeded default, issue 16) ───────────────────────────────────────

const points12 = (threshold: string, comparison: "AT_LEAST" | "MORE_THAN"): QualificationRule => ({
  metric: "POINTS",
  period: { kind: "ROLLING", months: 12 },
  threshold,
  comparison,
});

/**
 * The field's classic program: ordinary (普通) / silver (银卡) / gold (金卡) / diamond (钻石). Silver
 * when points earned in the rolling 12 months exceed 1,000; gold at 5,000; diamond when the
 * member's spend in the calendar year exceeds ¥10,000 (spend, not points). 1 / 2 / 2 / 3 points per
 * ¥1. Silver 10 %, gold 15 %, diamond 20 % off. Purchases in each of 3 consecutive months keep
 * silver; 6 months without a purchase → ordinary. Welcome bonus within 3 months of joining;
 * birthday bonus in the birth month with PROFILE_BASIC consent. Lifecycle: dormant without activity
 * within 30 days of joining; active above ¥500 a month; high-frequency above 5 purchases a month.
 */
export function classicProgram(currency = "CNY"): Program {
  return Program.parse({
    names: { en: "Classic member program", "zh-Hans": "经典会员计划" },
    currency,
    tiers: [
      { code: "BASE", rank: 0, names: { en: "Ordinary", "zh-Hans": "普通" }, apiTier: "BASE", qualifyAnyOf: [] },
      { code: "SILVER", rank: 1, names: { en: "Silver", "zh-Hans": "银卡" }, apiTier: "SILVER", qualifyAnyOf: [points12("1000", "MORE_THAN")] },
      { code: "GOLD", rank: 2, names: { en: "Gold", "zh-Hans": "金卡" }, apiTier: "GOLD", qualifyAnyOf: [points12("5000", "AT_LEAST")] },
      {
        code: "DIAMOND",
        rank: 3,
        names: { en: "Diamond", "zh-Hans": "钻石" },
        apiTier: "DIAMOND",
        qualifyAnyOf: [{ metric: "SPEND", period: { kind: "CALENDAR", months: 12 }, threshold: "10000", comparison: "MORE_THAN" }],
      },
    ],
    earnRates: { perTier: { BASE: "1", SILVER: "2", GOLD: "2", DIAMOND: "3" }, partners: [] },
    benefits: [
      { tierCode: "SILVER", code: "DISCOUNT", names: { en: "10 % off", "zh-Hans": "九折" }, percentOff: "10", settlementRelevant: false },
      { tierCode: "GOLD", code: "DISCOUNT", names: { en: "15 % off", "zh-Hans": "八五折" }, percentOff: "15", settlementRelevant: false },
      { tierCode: "DIAMOND", code: "DISCOUNT", names: { en: "20 % off", "zh-Hans": "八折" }, percentOff: "20", settlementRelevant: false },
    ],
    retention: { keep: [{ tierCode: "SILVER", consecutiveMonths: 3 }], inactivity: { monthsWithoutPurchase: 6, to: "BASE" } },
    bonuses: {
      welcome: { points: 200, windowMonths: 3, trigger: "FIRST_PURCHASE" },
      birthday: { kind: "MULTIPLIER", points: null, multiplier: "2", consentCategory: "PROFILE_BASIC" },
    },
    lifecycle: { activeMonthlySpend: "500", highFrequencyPurchasesPerMonth: 5 },
  });
}

// ── helpers over a program ───────────────────────────────────────────────────────────────────

/** The base tier (rank 0). */
export const baseTier = (p: Program): ProgramTier => p.tiers.find((t) => t.rank === 0)!;
export const tierByCode = (p: Program, code: string): ProgramTier | undefined => p.tiers.find((t) => t.code === code);
/** The program tier a stored API tier maps to when no program code is stored (the highest rank showing as it). */
export const tierForApiTier = (p: Program, api: Tier): ProgramTier => [...p.tiers].reverse().find((t) => t.apiTier === api) ?? baseTier(p);

/** Points per 1 unit of currency for a tier at a partner: the partner's row if the program has one, else perTier × the partner's own earn rate. */
export function earnRateOf(p: Program, tierCode: string, partnerId: string, partnerEarnRate: string): Decimal {
  const row = p.earnRates.partners.find((r) => r.partnerId === partnerId.toLowerCase());
  if (row) return new Decimal(row.perTier[tierCode] ?? "0");
  return new Decimal(p.earnRates.perTier[tierCode] ?? "0").mul(partnerEarnRate);
}

// ── versions ─────────────────────────────────────────────────────────────────────────────────

export interface ProgramVersion {
  id: string;
  version: number;
  effectiveFrom: Date;
  program: Program;
  createdBy: string;
  createdAt: Date;
}

/** Parsed documents by version id: versions are immutable, so a parsed one is never stale. */
const parsedById = new Map<string, Program>();

export function programOfRow(id: string, document: unknown): Program {
  let p = parsedById.get(id);
  if (!p) {
    p = Program.parse(document);
    parsedById.set(id, p);
  }
  return p;
}

/** The program version in force at `time`: the latest effectiveFrom ≤ time (ties: the higher version). */
export async function programAt(db: Tx | PrismaClient, time: Date): Promise<ProgramVersion> {
  const rows = await db.$queryRaw<{ id: string; version: number; effectiveFrom: Date; document: unknown; createdBy: string; createdAt: Date }[]>`
    SELECT id::text AS id, version, "effectiveFrom", document, "createdBy", "createdAt" FROM "points"."ProgramVersion"
    WHERE "effectiveFrom" <= ${time} ORDER BY "effectiveFrom" DESC, version DESC LIMIT 1`;
  const r = rows[0];
  if (!r) throw new Error("No loyalty program version is in force (the migration seeds the classic program as version 1)");
  return { id: r.id, version: Number(r.version), effectiveFrom: r.effectiveFrom, program: programOfRow(r.id, r.document), createdBy: r.createdBy, createdAt: r.createdAt };
}

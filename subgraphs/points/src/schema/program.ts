import { readSetting } from "../../../../lib/config.ts";
import { badInput } from "../../../../lib/errors.ts";
import { builder } from "../builder.ts";
import type { Benefit, Names, Program, ProgramTier, ProgramVersion, QualificationRule } from "../program/model.ts";
import { programError } from "../program/model.ts";
import type { ProgramChangePreview, TierMove } from "../program/preview.ts";
import { currentProgram, previewProgramChange, programVersions, scheduleProgram, setProgram } from "../program/service.ts";
import type { ProgramVersionRef } from "../program/versions.ts";
import { DataCategoryEnum, TierEnum } from "./enums.ts";
import { PartnerRef } from "./refs.ts";

// The loyalty program as data (issue 16): the version in force (`program`, anyone signed in), its
// history (`programVersions`, ADMIN), changes (`setProgram`, `scheduleProgram`, ADMIN, audited) and
// their preview (`previewProgramChange`, ADMIN, read-only). The GraphQL shapes mirror
// program/model.ts; rate tables are lists of (tierCode, rate) here, records there.

export const QualificationMetricEnum = builder.enumType("QualificationMetric", {
  description: "What a qualification rule sums over its period.",
  values: {
    POINTS: { description: "Points earned (EARN transactions net of reversed earns; bonuses and adjustments do not count), in points." },
    SPEND: { description: "Money spent in purchases that earned points (net of reversed earns), in the program currency." },
  } as const,
});

export const PeriodKindEnum = builder.enumType("QualificationPeriodKind", {
  description: "How a qualification period is placed in time.",
  values: {
    ROLLING: { description: "The `months` months up to now (a moving window)." },
    CALENDAR: { description: "The current block of `months` months of the calendar year (12 = the calendar year, 3 = the quarter) in the coalition's time zone (HUB_TIME_ZONE)." },
  } as const,
});

export const ComparisonEnum = builder.enumType("ThresholdComparison", {
  description: "How a sum is compared with a rule's threshold.",
  values: {
    AT_LEAST: { description: "Qualifies when the sum is at least the threshold (≥)." },
    MORE_THAN: { description: "Qualifies when the sum exceeds the threshold (>)." },
  } as const,
});

const InactivityTargetEnum = builder.enumType("InactivityDowngrade", {
  description: "Where inactivity takes a member.",
  values: {
    BASE: { description: "To the base tier (rank 0), whatever the tier was." },
    ONE_TIER_DOWN: { description: "One tier down per inactive stretch." },
  } as const,
});

const WelcomeTriggerEnum = builder.enumType("WelcomeBonusTrigger", {
  description: "When the welcome bonus is paid.",
  values: {
    FIRST_PURCHASE: { description: "On the member's first purchase-based earn within the window." },
    ENROLMENT: { description: "When the member enrols." },
  } as const,
});

const BirthdayKindEnum = builder.enumType("BirthdayBonusKind", {
  description: "What the birthday bonus gives.",
  values: {
    POINTS: { description: "A fixed number of bonus points, once in the birth month." },
    MULTIPLIER: { description: "Earns in the birth month are multiplied." },
  } as const,
});

// ── output types ─────────────────────────────────────────────────────────────────────────────

export const NamesRef = builder.objectRef<Names>("LocalizedNames").implement({
  description: "A display name in English and Simplified Chinese.",
  fields: (t) => ({
    en: t.string({ description: "English.", resolve: (n) => n.en }),
    zhHans: t.string({ description: "Simplified Chinese (zh-Hans).", resolve: (n) => n["zh-Hans"] }),
  }),
});

const PeriodRef = builder.objectRef<QualificationRule["period"]>("QualificationPeriod").implement({
  description: "The period a qualification rule sums over.",
  fields: (t) => ({
    kind: t.field({ type: PeriodKindEnum, description: "Rolling window or calendar block.", resolve: (p) => p.kind }),
    months: t.exposeInt("months", { description: "Length, in months (a calendar block divides 12)." }),
  }),
});

export const RuleRef = builder.objectRef<QualificationRule & { currency: string }>("QualificationRule").implement({
  description: "One way to qualify for a tier: the member's points or spend over a period reaching a threshold. A tier's rules are OR-combined.",
  fields: (t) => ({
    metric: t.field({ type: QualificationMetricEnum, description: "Points or spend.", resolve: (r) => r.metric }),
    period: t.field({ type: PeriodRef, description: "The period summed.", resolve: (r) => r.period }),
    threshold: t.field({ type: "Decimal", description: "The threshold: points (a whole number) for POINTS, money in `currency` for SPEND.", resolve: (r) => r.threshold }),
    comparison: t.field({ type: ComparisonEnum, description: "At least (≥) or more than (>) the threshold.", resolve: (r) => r.comparison }),
    currency: t.string({ nullable: true, description: "ISO 4217 currency of a SPEND threshold; null for POINTS.", resolve: (r) => (r.metric === "SPEND" ? r.currency : null) }),
  }),
});

type TierView = ProgramTier & { program: Program };
const TierDefRef = builder.objectRef<TierView>("ProgramTier").implement({
  description: "A tier of the loyalty program.",
  fields: (t) => ({
    code: t.exposeString("code", { description: "The program's tier code (the classic program: BASE, SILVER, GOLD, DIAMOND)." }),
    rank: t.exposeInt("rank", { description: "Rank, 0 = the base tier everybody holds; higher is better." }),
    names: t.field({ type: NamesRef, description: "Display names (classic: 普通 / 银卡 / 金卡 / 钻石).", resolve: (x) => x.names }),
    tier: t.field({ type: TierEnum, description: "The API `Tier` clients see for this tier (the contract's enum; several program tiers may share one).", resolve: (x) => x.apiTier }),
    qualifyAnyOf: t.field({
      type: [RuleRef],
      description: "The rules that qualify for it, any one suffices; empty for the base tier.",
      resolve: (x) => x.qualifyAnyOf.map((r) => ({ ...r, currency: x.program.currency })),
    }),
    earnRate: t.field({
      type: "Decimal",
      description: "Points per 1 unit of the program currency spent at this tier (the program-wide table; a partner-specific row may differ).",
      resolve: (x) => x.program.earnRates.perTier[x.code] ?? "0",
    }),
  }),
});

const TierRateRef = builder.objectRef<{ tierCode: string; rate: string }>("TierEarnRate").implement({
  description: "An earn rate of one tier.",
  fields: (t) => ({
    tierCode: t.exposeString("tierCode", { description: "The program tier code." }),
    rate: t.field({ type: "Decimal", description: "Points per 1 unit of the program currency spent (exact decimal).", resolve: (r) => r.rate }),
  }),
});

const PartnerRatesRef = builder.objectRef<{ partnerId: string; perTier: Record<string, string> }>("PartnerEarnRates").implement({
  description: "A partner's own rate table: replaces the program-wide table at that partner (the partner's own earn rate is then not applied).",
  fields: (t) => ({
    partner: t.field({ type: PartnerRef, description: "The partner.", resolve: (r) => ({ id: r.partnerId }) }),
    rates: t.field({ type: [TierRateRef], description: "Points per 1 unit of currency, per tier.", resolve: (r) => Object.entries(r.perTier).map(([tierCode, rate]) => ({ tierCode, rate })) }),
  }),
});

const BenefitRef = builder.objectRef<Benefit>("ProgramBenefit").implement({
  description: "A standing benefit of a tier that partners honour.",
  fields: (t) => ({
    tierCode: t.exposeString("tierCode", { description: "The tier that has it." }),
    code: t.exposeString("code", { description: "The benefit's code within the tier, e.g. DISCOUNT." }),
    names: t.field({ type: NamesRef, description: "Display names.", resolve: (b) => b.names }),
    percentOff: t.field({ type: "Decimal", description: "Percent off a purchase, 0–100 (exact decimal).", resolve: (b) => b.percentOff }),
    settlementRelevant: t.exposeBoolean("settlementRelevant", { description: "Whether settlement accounts for applications of this benefit." }),
  }),
});

type P = Program;
const RetentionKeepRef = builder.objectRef<P["retention"]["keep"][number]>("RetentionKeepRule").implement({
  description: "Purchases in each of `consecutiveMonths` consecutive calendar months keep the tier.",
  fields: (t) => ({
    tierCode: t.exposeString("tierCode", { description: "The tier kept." }),
    consecutiveMonths: t.exposeInt("consecutiveMonths", { description: "Consecutive calendar months with a purchase, in months." }),
  }),
});
const InactivityRef = builder.objectRef<NonNullable<P["retention"]["inactivity"]>>("InactivityRule").implement({
  description: "After this many consecutive months without a purchase the member loses tier.",
  fields: (t) => ({
    monthsWithoutPurchase: t.exposeInt("monthsWithoutPurchase", { description: "Consecutive months without a purchase, in months." }),
    to: t.field({ type: InactivityTargetEnum, description: "Back to the base tier, or one tier down.", resolve: (r) => r.to }),
  }),
});
const RetentionRef = builder.objectRef<P["retention"]>("RetentionRules").implement({
  description: "How tiers are kept and lost.",
  fields: (t) => ({
    keep: t.field({ type: [RetentionKeepRef], description: "Rules that keep a tier.", resolve: (r) => r.keep }),
    inactivity: t.field({ type: InactivityRef, nullable: true, description: "The inactivity downgrade; null = none.", resolve: (r) => r.inactivity }),
  }),
});
const WelcomeRef = builder.objectRef<NonNullable<P["bonuses"]["welcome"]>>("WelcomeBonus").implement({
  description: "Bonus points for new members.",
  fields: (t) => ({
    points: t.exposeInt("points", { description: "Bonus, in points." }),
    windowMonths: t.exposeInt("windowMonths", { description: "Only within this many months of joining, in months." }),
    trigger: t.field({ type: WelcomeTriggerEnum, description: "When it is paid.", resolve: (w) => w.trigger }),
  }),
});
const BirthdayRef = builder.objectRef<NonNullable<P["bonuses"]["birthday"]>>("BirthdayBonus").implement({
  description: "A bonus in the member's birth month (time zone HUB_TIME_ZONE), only with the member's consent to `consentCategory`.",
  fields: (t) => ({
    kind: t.field({ type: BirthdayKindEnum, description: "Fixed points or a multiplier.", resolve: (b) => b.kind }),
    points: t.int({ nullable: true, description: "Bonus, in points (POINTS).", resolve: (b) => b.points }),
    multiplier: t.field({ type: "Decimal", nullable: true, description: 'Multiplier of earns in the month (MULTIPLIER), e.g. "2".', resolve: (b) => b.multiplier }),
    consentCategory: t.field({ type: DataCategoryEnum, description: "The data category the member must have consented to.", resolve: (b) => b.consentCategory }),
  }),
});
const BonusesRef = builder.objectRef<P["bonuses"]>("ProgramBonuses").implement({
  description: "Bonuses of the program.",
  fields: (t) => ({
    welcome: t.field({ type: WelcomeRef, nullable: true, description: "Welcome bonus; null = none.", resolve: (b) => b.welcome }),
    birthday: t.field({ type: BirthdayRef, nullable: true, description: "Birthday bonus; null = none.", resolve: (b) => b.birthday }),
  }),
});
const LifecycleRef = builder.objectRef<P["lifecycle"] & { currency: string }>("LifecycleThresholds").implement({
  description: "The practitioners' lifecycle thresholds.",
  fields: (t) => ({
    dormantWithoutActivityDays: t.int({
      description: "DORMANT when there is no activity within this many days of joining, in days: the deployment setting HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS, the same for every version.",
      resolve: () => readSetting("HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS"),
    }),
    activeMonthlySpend: t.field({ type: "Decimal", description: "ACTIVE when a calendar month's spend exceeds this, money in `currency`.", resolve: (l) => l.activeMonthlySpend }),
    highFrequencyPurchasesPerMonth: t.exposeInt("highFrequencyPurchasesPerMonth", { description: "High-frequency above this many purchases in a calendar month, in purchases." }),
    currency: t.string({ description: "ISO 4217 currency of the money thresholds.", resolve: (l) => l.currency }),
  }),
});

const ProgramVersionRefType = builder.objectRef<ProgramVersionRef & Partial<Pick<ProgramVersion, "createdBy" | "createdAt">>>("LoyaltyProgram").implement({
  description:
    "A version of the coalition's loyalty program: tiers and how to qualify, earn rates, benefits, retention, bonuses, lifecycle thresholds. Versions are immutable; each earn is computed under the version in force at its time.",
  fields: (t) => ({
    version: t.exposeInt("version", { description: "Version number (1 = the seeded classic program), increasing." }),
    effectiveFrom: t.field({ type: "DateTime", description: "When this version comes into force (UTC); it stays in force until the next version's effectiveFrom.", resolve: (v) => v.effectiveFrom }),
    createdAt: t.field({ type: "DateTime", nullable: true, description: "When it was stored (UTC); null outside programVersions.", resolve: (v) => v.createdAt ?? null }),
    createdBy: t.string({ nullable: true, description: "Who stored it (the admin's subject); null outside programVersions.", resolve: (v) => v.createdBy ?? null }),
    names: t.field({ type: NamesRef, description: "The program's name.", resolve: (v) => v.program.names }),
    currency: t.string({ description: "ISO 4217 currency of spend thresholds and earn rates (the coalition's, HUB_CURRENCY).", resolve: (v) => v.program.currency }),
    tiers: t.field({ type: [TierDefRef], description: "Tiers, lowest rank first.", resolve: (v) => v.program.tiers.map((x) => ({ ...x, program: v.program })) }),
    earnRates: t.field({
      type: [TierRateRef],
      description: "Points per 1 unit of currency spent, per tier, at every partner without its own table (× that partner's own earn rate, default 1).",
      resolve: (v) => Object.entries(v.program.earnRates.perTier).map(([tierCode, rate]) => ({ tierCode, rate })),
    }),
    partnerEarnRates: t.field({ type: [PartnerRatesRef], description: "Partner-specific rate tables (each replaces the program-wide table at its partner).", resolve: (v) => v.program.earnRates.partners }),
    benefits: t.field({ type: [BenefitRef], description: "Standing benefits per tier.", resolve: (v) => v.program.benefits }),
    retention: t.field({ type: RetentionRef, description: "How tiers are kept and lost.", resolve: (v) => v.program.retention }),
    bonuses: t.field({ type: BonusesRef, description: "Welcome and birthday bonuses.", resolve: (v) => v.program.bonuses }),
    lifecycle: t.field({ type: LifecycleRef, description: "Lifecycle thresholds.", resolve: (v) => ({ ...v.program.lifecycle, currency: v.program.currency }) }),
  }),
});

const MoveRef = builder.objectRef<TierMove>("TierMove").implement({
  description: "Members who would move from one tier to another.",
  fields: (t) => ({
    fromCode: t.exposeString("fromCode", { description: "Their tier code now (the version in force)." }),
    fromTier: t.field({ type: TierEnum, description: "Their API tier now.", resolve: (m) => m.fromTier }),
    toCode: t.exposeString("toCode", { description: "Their tier code under the previewed program." }),
    toTier: t.field({ type: TierEnum, description: "Their API tier under the previewed program.", resolve: (m) => m.toTier }),
    members: t.exposeInt("members", { description: "How many members, in members." }),
  }),
});

const PreviewRef = builder.objectRef<ProgramChangePreview>("ProgramChangePreview").implement({
  description: "What a program change would do to members' tiers, computed from the ledger without writing anything.",
  fields: (t) => ({
    at: t.field({ type: "DateTime", description: "The instant evaluated (UTC).", resolve: (p) => p.at }),
    membersEvaluated: t.exposeInt("membersEvaluated", { description: "Members evaluated (every member with a wallet), in members." }),
    membersChanging: t.exposeInt("membersChanging", { description: "Members whose tier would change, in members." }),
    moves: t.field({ type: [MoveRef], description: "The changes by from → to, largest first.", resolve: (p) => p.moves }),
  }),
});

// ── input types ──────────────────────────────────────────────────────────────────────────────

const NamesInput = builder.inputType("LocalizedNamesInput", {
  description: "A display name in English and Simplified Chinese (1–100 characters each).",
  fields: (t) => ({
    en: t.string({ description: "English." }),
    zhHans: t.string({ description: "Simplified Chinese (zh-Hans)." }),
  }),
});
const PeriodInput = builder.inputType("QualificationPeriodInput", {
  description: "A qualification period.",
  fields: (t) => ({
    kind: t.field({ type: PeriodKindEnum, description: "Rolling window or calendar block." }),
    months: t.int({ description: "Length, in months, 1–120 (a calendar block: 1, 2, 3, 4, 6 or 12)." }),
  }),
});
const RuleInput = builder.inputType("QualificationRuleInput", {
  description: "One way to qualify for a tier.",
  fields: (t) => ({
    metric: t.field({ type: QualificationMetricEnum, description: "Points or spend." }),
    period: t.field({ type: PeriodInput, description: "The period summed." }),
    threshold: t.field({ type: "Decimal", description: "Points (whole) for POINTS; money in the program currency (≤ 6 decimals) for SPEND; ascending with rank on each (metric, period)." }),
    comparison: t.field({ type: ComparisonEnum, required: false, description: "≥ (AT_LEAST, default) or > (MORE_THAN)." }),
  }),
});
const TierInput = builder.inputType("ProgramTierInput", {
  description: "A tier. Ranks are 0, 1, 2, … without gaps; rank 0 is the base tier and has no rule.",
  fields: (t) => ({
    code: t.string({ description: "Tier code: 1–32 of A–Z, 0–9, _ starting with a letter; unique." }),
    rank: t.int({ description: "Rank, 0 = base." }),
    names: t.field({ type: NamesInput, description: "Display names." }),
    tier: t.field({ type: TierEnum, description: "The API Tier clients see for it; must not decrease with rank; the base tier is BASE." }),
    qualifyAnyOf: t.field({ type: [RuleInput], required: false, description: "Rules, OR-combined (at most 8); none for the base tier." }),
  }),
});
const TierRateInput = builder.inputType("TierEarnRateInput", {
  description: "An earn rate of one tier.",
  fields: (t) => ({
    tierCode: t.string({ description: "The tier code." }),
    rate: t.field({ type: "Decimal", description: "Points per 1 unit of currency spent, ≥ 0, at most 6 decimals." }),
  }),
});
const PartnerRatesInput = builder.inputType("PartnerEarnRatesInput", {
  description: "A partner's own rate table (replaces the program-wide one there).",
  fields: (t) => ({
    partnerId: t.id({ description: "A partner the hub knows (else UNKNOWN_PARTNER)." }),
    rates: t.field({ type: [TierRateInput], description: "A rate for every tier." }),
  }),
});
const BenefitInput = builder.inputType("ProgramBenefitInput", {
  description: "A standing benefit of a tier.",
  fields: (t) => ({
    tierCode: t.string({ description: "The tier." }),
    code: t.string({ description: "Benefit code within the tier (1–32 of A–Z, 0–9, _)." }),
    names: t.field({ type: NamesInput, description: "Display names." }),
    percentOff: t.field({ type: "Decimal", description: "Percent off, 0–100, at most 6 decimals." }),
    settlementRelevant: t.boolean({ required: false, description: "Whether settlement accounts for its applications (default false)." }),
  }),
});
const RetentionKeepInput = builder.inputType("RetentionKeepRuleInput", {
  description: "Purchases in each of `consecutiveMonths` consecutive calendar months keep the tier.",
  fields: (t) => ({
    tierCode: t.string({ description: "The tier kept." }),
    consecutiveMonths: t.int({ description: "Consecutive months, 1–24, in months." }),
  }),
});
const InactivityInput = builder.inputType("InactivityRuleInput", {
  description: "The inactivity downgrade.",
  fields: (t) => ({
    monthsWithoutPurchase: t.int({ description: "Consecutive months without a purchase, 1–120, in months." }),
    to: t.field({ type: InactivityTargetEnum, description: "Base tier or one tier down." }),
  }),
});
const RetentionInput = builder.inputType("RetentionRulesInput", {
  description: "How tiers are kept and lost.",
  fields: (t) => ({
    keep: t.field({ type: [RetentionKeepInput], required: false, description: "Keep rules (default none)." }),
    inactivity: t.field({ type: InactivityInput, required: false, description: "Inactivity downgrade (default none)." }),
  }),
});
const WelcomeInput = builder.inputType("WelcomeBonusInput", {
  description: "Bonus points for new members.",
  fields: (t) => ({
    points: t.int({ description: "Bonus, 1–1,000,000 points." }),
    windowMonths: t.int({ description: "Within this many months of joining, 1–36, in months." }),
    trigger: t.field({ type: WelcomeTriggerEnum, description: "First purchase or enrolment." }),
  }),
});
const BirthdayInput = builder.inputType("BirthdayBonusInput", {
  description: "A bonus in the member's birth month, with consent.",
  fields: (t) => ({
    kind: t.field({ type: BirthdayKindEnum, description: "Fixed points or a multiplier." }),
    points: t.int({ required: false, description: "Bonus points (POINTS), 1–1,000,000." }),
    multiplier: t.field({ type: "Decimal", required: false, description: "Multiplier (MULTIPLIER), ≥ 1, at most 6 decimals." }),
    consentCategory: t.field({ type: DataCategoryEnum, description: "The consent the member must have given." }),
  }),
});
const BonusesInput = builder.inputType("ProgramBonusesInput", {
  description: "Bonuses.",
  fields: (t) => ({
    welcome: t.field({ type: WelcomeInput, required: false, description: "Welcome bonus (default none)." }),
    birthday: t.field({ type: BirthdayInput, required: false, description: "Birthday bonus (default none)." }),
  }),
});
const LifecycleInput = builder.inputType("LifecycleThresholdsInput", {
  description: "Lifecycle thresholds.",
  fields: (t) => ({
    dormantWithoutActivityDays: t.int({
      required: false,
      description:
        "Omit it. Days after joining without activity → DORMANT is the deployment setting HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS; a value other than the setting's is BAD_USER_INPUT (rule DORMANT_DAYS_IS_A_SETTING).",
      deprecationReason: "Not part of a program version: the deployment setting HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS decides (LoyaltyProgram.lifecycle shows it). Removed after 2027-06-30.",
    }),
    activeMonthlySpend: t.field({ type: "Decimal", description: "ACTIVE above this monthly spend, money in the program currency." }),
    highFrequencyPurchasesPerMonth: t.int({ description: "High-frequency above this many purchases a month, in purchases." }),
  }),
});
export const ProgramInput = builder.inputType("LoyaltyProgramInput", {
  description: "A whole loyalty program, validated as a whole: BAD_USER_INPUT naming the broken rule (extensions.rule) and field; nothing is stored then.",
  fields: (t) => ({
    names: t.field({ type: NamesInput, description: "The program's name." }),
    currency: t.string({ description: "ISO 4217 currency of money in the program; must be the coalition's (HUB_CURRENCY)." }),
    tiers: t.field({ type: [TierInput], description: "Tiers (1–32)." }),
    earnRates: t.field({ type: [TierRateInput], description: "Points per 1 unit of currency per tier, a rate for every tier." }),
    partnerEarnRates: t.field({ type: [PartnerRatesInput], required: false, description: "Partner-specific tables (default none)." }),
    benefits: t.field({ type: [BenefitInput], required: false, description: "Standing benefits (default none)." }),
    retention: t.field({ type: RetentionInput, required: false, description: "Retention rules (default none)." }),
    bonuses: t.field({ type: BonusesInput, required: false, description: "Bonuses (default none)." }),
    lifecycle: t.field({ type: LifecycleInput, description: "Lifecycle thresholds." }),
  }),
});

type NamesIn = { en: string; zhHans: string };
const names = (n: NamesIn) => ({ en: n.en, "zh-Hans": n.zhHans });

/** A rate list as the model's record; a tier twice is TIER_RATES_UNIQUE. */
function rateRecord(list: readonly { tierCode: string; rate: string }[], path: string): Record<string, string> {
  const out: Record<string, string> = {};
  list.forEach((r, i) => {
    if (Object.hasOwn(out, r.tierCode)) throw programError({ rule: "TIER_RATES_UNIQUE", path: `${path}.${i}.tierCode`, message: `Tier ${r.tierCode} has two earn rates` });
    out[r.tierCode] = r.rate;
  });
  return out;
}

/** The GraphQL input as the model's raw document (program/model.ts validates it). */
export function programDocument(i: typeof ProgramInput.$inferInput): unknown {
  return {
    names: names(i.names),
    currency: i.currency,
    tiers: i.tiers.map((x) => ({
      code: x.code,
      rank: x.rank,
      names: names(x.names),
      apiTier: x.tier,
      qualifyAnyOf: (x.qualifyAnyOf ?? []).map((r) => ({ metric: r.metric, period: r.period, threshold: r.threshold, comparison: r.comparison ?? "AT_LEAST" })),
    })),
    earnRates: {
      perTier: rateRecord(i.earnRates, "earnRates"),
      partners: (i.partnerEarnRates ?? []).map((p, k) => ({ partnerId: String(p.partnerId), perTier: rateRecord(p.rates, `partnerEarnRates.${k}.rates`) })),
    },
    benefits: (i.benefits ?? []).map((b) => ({ tierCode: b.tierCode, code: b.code, names: names(b.names), percentOff: b.percentOff, settlementRelevant: b.settlementRelevant ?? false })),
    retention: { keep: i.retention?.keep ?? [], inactivity: i.retention?.inactivity ?? null },
    bonuses: {
      welcome: i.bonuses?.welcome ?? null,
      birthday: i.bonuses?.birthday ? { ...i.bonuses.birthday, points: i.bonuses.birthday.points ?? null, multiplier: i.bonuses.birthday.multiplier ?? null } : null,
    },
    lifecycle: {
      activeMonthlySpend: i.lifecycle.activeMonthlySpend,
      highFrequencyPurchasesPerMonth: i.lifecycle.highFrequencyPurchasesPerMonth,
      dormantWithoutActivityDays: i.lifecycle.dormantWithoutActivityDays ?? undefined,
    },
  };
}

builder.queryFields((t) => ({
  program: t.field({
    type: ProgramVersionRefType,
    authScopes: { admin: true, partner: true, member: true },
    description: "The loyalty program in force now: tiers and how to qualify, earn rates, benefits, retention, bonuses (what a member can expect). Any signed-in caller.",
    resolve: (_r, _a, ctx) => currentProgram(ctx.now),
  }),
  programVersions: t.field({
    type: [ProgramVersionRefType],
    authScopes: { admin: true },
    description: "ADMIN: every stored version of the program, newest first (scheduled ones included).",
    args: { first: t.arg.int({ required: false, description: "How many versions, 1–100 (default 20)." }) },
    resolve: (_r, { first }, ctx) => {
      const n = first ?? 20;
      if (!Number.isInteger(n) || n < 1 || n > 100) throw badInput("first must be between 1 and 100", "first");
      return programVersions(ctx.principal, n);
    },
  }),
  previewProgramChange: t.field({
    type: PreviewRef,
    authScopes: { admin: true },
    description: "ADMIN: how many members would change tier if this program were in force (now or at `at`), from the ledger; writes nothing. Invalid programs → BAD_USER_INPUT naming the rule.",
    args: {
      input: t.arg({ type: ProgramInput, description: "The program to preview." }),
      at: t.arg({ type: "DateTime", required: false, description: "The instant to evaluate at (UTC), default now." }),
    },
    resolve: (_r, { input, at }, ctx) => previewProgramChange(ctx.principal, programDocument(input), at ?? ctx.now),
  }),
}));

builder.mutationFields((t) => ({
  setProgram: t.field({
    type: ProgramVersionRefType,
    authScopes: { admin: true },
    description:
      "ADMIN: stores a new version of the loyalty program, in force from now. Earns from now on use it; posted earns keep their points; every member's tier is re-evaluated under it by the tier job. Audited (program.changed). Invalid → BAD_USER_INPUT naming the rule (extensions.rule), nothing stored.",
    args: { input: t.arg({ type: ProgramInput, description: "The whole program." }) },
    resolve: (_r, { input }, ctx) => setProgram(ctx.principal, programDocument(input), { now: ctx.now }),
  }),
  scheduleProgram: t.field({
    type: ProgramVersionRefType,
    authScopes: { admin: true },
    description:
      "ADMIN: stores a new version of the loyalty program in force from `effectiveFrom` (now or later; the past → BAD_USER_INPUT, rule EFFECTIVE_FROM_IN_PAST). Nothing changes until then. Audited (program.changed).",
    args: {
      input: t.arg({ type: ProgramInput, description: "The whole program." }),
      effectiveFrom: t.arg({ type: "DateTime", description: "When it comes into force (UTC), not in the past." }),
    },
    resolve: (_r, { input, effectiveFrom }, ctx) => scheduleProgram(ctx.principal, programDocument(input), effectiveFrom, { now: ctx.now }),
  }),
}));

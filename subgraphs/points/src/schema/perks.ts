import DataLoader from "dataloader";
import { badInput, forbidden } from "../../../../lib/errors.ts";
import { isUuid } from "../../../../lib/input.ts";
import { engagementOf } from "../../../../lib/lifecycle.ts";
import type { BiPage } from "../../../../lib/paging.ts";
import { pageArgs, pageInfoOf } from "../../../../lib/pothos.ts";
import { builder } from "../builder.ts";
import { prisma } from "../db.ts";
import { type Actor, isAdmin } from "../domain.ts";
import { applyTierBenefit, appliedTierBenefits, benefitsOf, type TierBenefitTotal, type TierBenefitUseRow, tierBenefitTotals, useCursor } from "../perks/benefits.ts";
import { bonusKindOf } from "../perks/bonuses.ts";
import { type MonthEngagement, monthActivities } from "../perks/engagement.ts";
import type { Benefit } from "../program/model.ts";
import { programAt } from "../program/model.ts";
import { gated, MemberRef } from "./member.ts";
import { PartnerRef } from "./refs.ts";
import { SettlementRunRef } from "./settlement.ts";
import { PageInfoRef, TransactionRef } from "./transaction.ts";

// Perks of the program (issue 16): a member's standing tier benefits, the benefits partners
// honoured, and the kind of a program bonus in the activity (perks/).

export const ProgramBonusKindEnum = builder.enumType("ProgramBonusKind", {
  description: "Which bonus of the loyalty program a PROGRAM_BONUS transaction paid.",
  values: {
    WELCOME: { description: "The welcome bonus: once per member, on the first purchase (or at enrolment) within the program's window after joining." },
    BIRTHDAY: { description: "The birthday bonus: in the member's birth month (HUB_TIME_ZONE), only with the member's consent to the program's data category for the earning partner." },
  } as const,
});

builder.objectField(TransactionRef, "bonusKind", (t) =>
  t.field({
    type: ProgramBonusKindEnum,
    nullable: true,
    description: "For a PROGRAM_BONUS transaction, which bonus of the program it paid (its `reason` says why in words); null for every other kind.",
    resolve: (x) => bonusKindOf(x),
  }),
);

type MemberBenefit = Benefit & { tierCode: string; partnerId: string | null };

const MemberBenefitRef = builder.objectRef<MemberBenefit>("MemberBenefit").implement({
  description: "A standing benefit of the member's tier under the loyalty program in force: what a partner honours at its till (the hub states it; partners record it with applyTierBenefit).",
  fields: (t) => ({
    code: t.exposeString("code", { description: "The benefit's code in the program (pass it to applyTierBenefit), e.g. DISCOUNT." }),
    tierCode: t.exposeString("tierCode", { description: "The program tier it belongs to (the classic program's codes are the Tier enum's: SILVER, GOLD, DIAMOND)." }),
    nameEn: t.string({ description: 'Display name in English, e.g. "10 % off".', resolve: (b) => b.names.en }),
    nameZhHans: t.string({ description: 'Display name in Simplified Chinese, e.g. "九折".', resolve: (b) => b.names["zh-Hans"] }),
    percentOff: t.field({ type: "Decimal", description: 'Percent off a purchase, 0–100, exact (e.g. "10" = 10 % off).', resolve: (b) => b.percentOff }),
    settlementRelevant: t.exposeBoolean("settlementRelevant", { description: "Whether the program counts applications of it in settlement (tierBenefitTotals, SettlementRun.tierBenefitTotals)." }),
  }),
});

const scopes = builder.selection<{ sharedScopes?: string[] }>("sharedScopes");

/** Per request: members' program tier codes (TierState.tierCode, else the stored Tier) in one query per batch. */
const tierCodeLoaders = new WeakMap<object, DataLoader<string, string>>();
function tierCodes(ctx: object): DataLoader<string, string> {
  let l = tierCodeLoaders.get(ctx);
  if (!l) {
    l = new DataLoader<string, string>(async (ids) => {
      const rows = await prisma().$queryRaw<{ memberId: string; code: string }[]>`
        SELECT "memberId"::text AS "memberId", coalesce("tierCode", tier::text) AS code FROM "points"."TierState" WHERE "memberId" = ANY(${[...ids]}::uuid[])`;
      const m = new Map(rows.map((r) => [r.memberId, r.code]));
      return ids.map((id) => m.get(id) ?? "BASE");
    });
    tierCodeLoaders.set(ctx, l);
  }
  return l;
}

builder.objectField(MemberRef, "benefits", (t) =>
  t.field({
    authScopes: { memberScope: "member:wallet" },
    type: [MemberBenefitRef],
    nullable: true,
    ...({ requires: scopes } as object),
    description:
      "The member's standing tier benefits at a partner under the program in force now (e.g. silver 10 % off, gold 15 %, diamond 20 %); empty at the base tier. Data category TIER: null with CONSENT_REQUIRED for a partner without consent. An app acting for the member needs member:wallet.",
    args: {
      partnerId: t.arg.id({
        required: false,
        description: "The partner where the benefits would be honoured. A partner: its own (the default; another partner's id is FORBIDDEN). The member or an admin: any partner, or none.",
      }),
    },
    resolve: (m, { partnerId }, ctx) =>
      gated(ctx, m as { id: string; sharedScopes?: string[] | null }, "TIER", async () => {
        const p = ctx.principal;
        const at = partnerId == null ? (p.role === "PARTNER" ? (p.partnerId ?? null) : null) : String(partnerId);
        if (at !== null && !isUuid(at)) throw badInput("partnerId is not a partner id", "partnerId");
        if (p.role === "PARTNER" && at !== p.partnerId) throw forbidden("A partner sees the benefits at its own partner only");
        const tierCode = await tierCodes(ctx).load(m.id);
        const version = await programAt(prisma(), ctx.now);
        return benefitsOf(version.program, tierCode).map((b) => ({ ...b, tierCode, partnerId: at }));
      }),
  }),
);

const TierBenefitUseRef = builder.objectRef<TierBenefitUseRow>("TierBenefitUse").implement({
  description: "A standing tier benefit a partner honoured and recorded (applyTierBenefit). Append-only. Money in `currency`.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The record's id." }),
    member: t.field({ type: MemberRef, description: "The member it was applied for (its fields follow the member's own visibility and consent rules).", resolve: (u) => ({ id: u.memberId }) }),
    partner: t.field({ type: PartnerRef, description: "The partner that honoured it.", resolve: (u) => ({ id: u.partnerId }) }),
    benefitCode: t.exposeString("benefitCode", { description: "The benefit's code in the program." }),
    tierCode: t.string({ description: "The member's program tier when it was applied.", resolve: (u) => u.tier }),
    programVersion: t.exposeInt("programVersion", { description: "The program version in force when it was applied." }),
    percentOff: t.field({ type: "Decimal", description: "The benefit's percent off under that version (exact).", resolve: (u) => u.percentOff }),
    purchaseAmount: t.field({ type: "Decimal", description: "The purchase it was applied to, in `currency` (exact).", resolve: (u) => u.purchaseAmount }),
    discountAmount: t.field({ type: "Decimal", description: "The discount the partner gave, in `currency` (exact; at most percentOff of the purchase).", resolve: (u) => u.discountAmount }),
    currency: t.exposeString("currency", { description: "ISO 4217 code of the amounts (the coalition's settlement currency)." }),
    settlementRelevant: t.exposeBoolean("settlementRelevant", { description: "Whether the program counted it for settlement when it was applied." }),
    reference: t.exposeString("reference", { nullable: true, description: "The partner's order or receipt id (at most 128 characters)." }),
    appliedAt: t.field({ type: "DateTime", description: "When it was recorded (UTC).", resolve: (u) => u.appliedAt }),
  }),
});

const TierBenefitUseConnectionRef = builder.objectRef<BiPage<TierBenefitUseRow>>("TierBenefitUseConnection").implement({
  description: "Applied tier benefits, newest first (Relay cursor pagination, both directions).",
  fields: (t) => ({
    edges: t.field({
      type: [
        builder.objectRef<TierBenefitUseRow>("TierBenefitUseEdge").implement({
          description: "One applied benefit.",
          fields: (e) => ({
            cursor: e.string({ description: "Opaque cursor of this record.", resolve: (u) => useCursor(u) }),
            node: e.field({ type: TierBenefitUseRef, description: "The record.", resolve: (u) => u }),
          }),
        }),
      ],
      description: "This page's records.",
      resolve: (c) => c.rows,
    }),
    pageInfo: t.field({ type: PageInfoRef, description: "Whether records follow or precede this page, and the cursors to continue from.", resolve: (c) => pageInfoOf(c, useCursor) }),
  }),
});

const TierBenefitTotalRef = builder.objectRef<TierBenefitTotal>("TierBenefitTotal").implement({
  description: "One partner's settlement-relevant tier benefits applied in a period: count and money totals in `currency` (exact).",
  fields: (t) => ({
    partner: t.field({ type: PartnerRef, description: "The partner that honoured them.", resolve: (r) => ({ id: r.partnerId }) }),
    currency: t.exposeString("currency", { description: "ISO 4217 code of the totals." }),
    uses: t.exposeInt("uses", { description: "How many benefits were applied." }),
    purchaseTotal: t.field({ type: "Decimal", description: "Sum of the purchases they were applied to, in `currency`.", resolve: (r) => r.purchaseTotal }),
    discountTotal: t.field({ type: "Decimal", description: "Sum of the discounts given, in `currency`.", resolve: (r) => r.discountTotal }),
  }),
});

/** Whose records a caller may read: a partner its own; an admin the one it names (or all, where allowed). */
function partnerScope(actor: Actor, partnerId: string | null | undefined, adminNeedsOne: boolean): string | null {
  if (isAdmin(actor)) {
    if (partnerId != null && !isUuid(partnerId)) throw badInput("partnerId is not a partner id", "partnerId");
    if (adminNeedsOne && partnerId == null) throw badInput("An admin names the partner (partnerId)", "partnerId");
    return partnerId ?? null;
  }
  if (actor.role === "PARTNER" && actor.partnerId) {
    if (partnerId != null && partnerId !== actor.partnerId) throw forbidden("A partner sees its own applied benefits only");
    return actor.partnerId;
  }
  throw forbidden("Partners and admins only");
}

const ApplyTierBenefitInput = builder.inputType("ApplyTierBenefitInput", {
  description: "A standing tier benefit you honoured at your till. Validated: nothing is recorded when a field is invalid.",
  fields: (t) => ({
    memberId: t.id({ description: "The member (linked to your partner; anyone else is NOT_FOUND)." }),
    benefitCode: t.string({ description: "The benefit's code from Member.benefits, e.g. DISCOUNT (1–64 of A–Z, 0–9, _)." }),
    purchaseAmount: t.field({ type: "Decimal", description: "The purchase amount before the discount, in `currency`: above 0, at most 100,000,000, at most the currency's minor-unit decimals." }),
    discountAmount: t.field({
      type: "Decimal",
      description: "The discount you gave, in `currency`: above 0 and at most the benefit's percentOff of purchaseAmount (rounded half-even to the minor unit).",
    }),
    currency: t.string({ description: "ISO 4217 code of both amounts; must be the coalition's settlement currency (HUB_CURRENCY, e.g. CNY)." }),
    idempotencyKey: t.string({ description: "Your unique key for this record (1–128 printable ASCII). Retrying with the same key and body returns the first record; another body is IDEMPOTENCY_CONFLICT." }),
    reference: t.string({ required: false, description: "Your order or receipt id (at most 128 characters)." }),
  }),
});

builder.mutationFields((t) => ({
  applyTierBenefit: t.field({
    type: TierBenefitUseRef,
    authScopes: { partner: true },
    description:
      "PARTNER records a standing tier benefit it honoured for a linked member, for reporting and (where the program marks the benefit settlement-relevant) settlement. Needs the member's TIER consent for your purpose (CONSENT_REQUIRED: the answer reveals the tier); a benefit the member's tier does not have under the program in force is BENEFIT_NOT_AVAILABLE. Idempotent by idempotencyKey.",
    args: { input: t.arg({ type: ApplyTierBenefitInput, description: "The benefit applied." }) },
    resolve: (_r, { input }, ctx) => applyTierBenefit(ctx.principal, input, { now: ctx.now }),
  }),
}));

builder.queryFields((t) => ({
  appliedTierBenefits: t.field({
    type: TierBenefitUseConnectionRef,
    authScopes: { business: true },
    description: "The tier benefits a partner applied, newest first. PARTNER: its own; ADMIN: the partner it names (partnerId required). Members: FORBIDDEN.",
    args: {
      partnerId: t.arg.id({ required: false, description: "ADMIN: the partner (required). A partner: omitted or its own." }),
      memberId: t.arg.id({ required: false, description: "Only the records for this member." }),
      ...pageArgs(t.arg, "records"),
    },
    resolve: (_r, a, ctx) => {
      const partnerId = partnerScope(ctx.principal, a.partnerId == null ? null : String(a.partnerId), true)!;
      return appliedTierBenefits(partnerId, { ...a, memberId: a.memberId == null ? null : String(a.memberId) });
    },
  }),
  tierBenefitTotals: t.field({
    type: [TierBenefitTotalRef],
    authScopes: { business: true },
    description:
      "Per-partner totals of the settlement-relevant tier benefits applied in [from, to) (by the time they were recorded, UTC). ADMIN: every partner (or the one named); PARTNER: its own. The settlement figure for a run's period; SettlementRun.tierBenefitTotals gives the same for the run.",
    args: {
      from: t.arg({ type: "DateTime", description: "Start, inclusive." }),
      to: t.arg({ type: "DateTime", description: "End, exclusive; after from, at most 366 days later." }),
      partnerId: t.arg.id({ required: false, description: "ADMIN: only this partner. A partner: omitted or its own." }),
    },
    resolve: (_r, a, ctx) => {
      const partnerId = partnerScope(ctx.principal, a.partnerId == null ? null : String(a.partnerId), false);
      if (a.to.getTime() - a.from.getTime() > 366 * 86_400_000) throw badInput("The period is at most 366 days", "to");
      return tierBenefitTotals(prisma(), { from: a.from, to: a.to, partnerId });
    },
  }),
}));

builder.objectField(SettlementRunRef, "tierBenefitTotals", (t) =>
  t.field({
    type: [TierBenefitTotalRef],
    description:
      "Settlement-relevant tier benefits applied in the run's period [periodStart, periodEnd), per partner (ADMIN: every partner; PARTNER: its own). Reported beside the statements: partners give these discounts themselves, so they are not in amountDue/amountOwed and positions + margin stay 0.",
    resolve: (r, _a, ctx) => tierBenefitTotals(prisma(), { from: r.periodStart, to: r.periodEnd, partnerId: isAdmin(ctx.principal) ? null : (ctx.principal.partnerId ?? "00000000-0000-0000-0000-000000000000") }),
  }),
);

type Engagement = MonthEngagement & { activeBySpend: boolean; highFrequency: boolean; activeMonthlySpend: string; highFrequencyPurchasesPerMonth: number };

const EngagementRef = builder.objectRef<Engagement>("MemberEngagement").implement({
  description:
    "A member's purchases in the current calendar month (the coalition's time zone, HUB_TIME_ZONE) against the program's lifecycle thresholds (issue 16). Beside the lifecycle segment, which stays NEW / ACTIVE / DORMANT / CHURNED.",
  fields: (t) => ({
    month: t.exposeString("month", { description: "The calendar month, YYYY-MM, in HUB_TIME_ZONE." }),
    timeZone: t.exposeString("timeZone", { description: "The IANA time zone of the month (HUB_TIME_ZONE)." }),
    purchases: t.exposeInt("purchases", { description: "Purchases (earns) in the month." }),
    spend: t.field({ type: "Decimal", description: "Money spent in the month (earns with a purchase amount, net of reversed ones), in `currency`, exact.", resolve: (e) => e.spend }),
    currency: t.exposeString("currency", { description: "ISO 4217 code of `spend` (the coalition's currency)." }),
    activeBySpend: t.exposeBoolean("activeBySpend", { description: "Whether the month's spend exceeds the program's activeMonthlySpend (classic: ¥500)." }),
    highFrequency: t.exposeBoolean("highFrequency", { description: "Whether the month's purchases exceed the program's highFrequencyPurchasesPerMonth (classic: 5)." }),
    activeMonthlySpend: t.field({ type: "Decimal", description: "The program's threshold for activeBySpend, in `currency`.", resolve: (e) => e.activeMonthlySpend }),
    highFrequencyPurchasesPerMonth: t.exposeInt("highFrequencyPurchasesPerMonth", { description: "The program's threshold for highFrequency, in purchases per month." }),
  }),
});

const engagementLoaders = new WeakMap<object, DataLoader<string, MonthEngagement>>();

builder.objectField(MemberRef, "engagement", (t) =>
  t.field({
    authScopes: { memberScope: "member:wallet" },
    type: EngagementRef,
    nullable: true,
    ...({ requires: scopes } as object),
    description:
      "The member's purchases this calendar month against the program's lifecycle thresholds (active by spend, high-frequency). Data category SEGMENTS: null with CONSENT_REQUIRED for a partner without consent. An app acting for the member needs member:wallet.",
    resolve: (m, _a, ctx) =>
      gated(ctx, m as { id: string; sharedScopes?: string[] | null }, "SEGMENTS", async () => {
        let l = engagementLoaders.get(ctx);
        if (!l) {
          l = new DataLoader<string, MonthEngagement>(async (ids) => {
            const got = await monthActivities(prisma(), [...ids], ctx.now);
            return ids.map((id) => got.get(id)!);
          });
          engagementLoaders.set(ctx, l);
        }
        const month = await l.load(m.id);
        const t = (await programAt(prisma(), ctx.now)).program.lifecycle;
        return { ...month, ...engagementOf(month, t), activeMonthlySpend: t.activeMonthlySpend, highFrequencyPurchasesPerMonth: t.highFrequencyPurchasesPerMonth };
      }),
  }),
);

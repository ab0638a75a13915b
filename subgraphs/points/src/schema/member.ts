import { int32Compat } from "../../../../lib/amounts.ts";
import { badInput, HubError } from "../../../../lib/errors.ts";
import { isUuid } from "../../../../lib/input.ts";
import { pageRequest } from "../../../../lib/paging.ts";
import { DEPRECATED_INT, pageArgs, pageInfoOf } from "../../../../lib/pothos.ts";
import { readsUngated } from "../../../../lib/principal.ts";
import { builder } from "../builder.ts";
import type { PointsContext } from "../context.ts";
import type { DataCategory } from "../../../../lib/vocabulary.ts";
import { encodeCursor, type Expiring, type WalletView } from "../reads.ts";
import type { TierProgress, TierStatus } from "../tiers/tiers.ts";
import { NamesRef, RuleRef } from "./program.ts";
import { DataCategoryEnum, TierEnum } from "./enums.ts";
import { PageInfoRef, TransactionRef } from "./transaction.ts";

type MemberKey = { id: string; sharedScopes?: string[] | null };

/** Member is owned by the member subgraph; points adds wallet, tier and activity (consent-gated through sharedScopes). */
export const MemberRef = builder.externalRef("Member", builder.selection<{ id: string }>("id"), (ref) => ref as MemberKey);

/**
 * A PARTNER reads a gated field only when the member subgraph's `sharedScopes` (consents for this
 * partner and the request's purpose; empty for a member not linked to it) include the category;
 * otherwise the field is null with CONSENT_REQUIRED. The member itself and admins are not gated.
 * Every partner read that passes is recorded for the request's points.data_accessed event.
 */
export async function gated<T>(ctx: PointsContext, m: MemberKey, category: DataCategory, value: () => Promise<T> | T): Promise<T> {
  const p = ctx.principal;
  if (!readsUngated(p, m.id)) {
    if (!(m.sharedScopes ?? []).includes(category)) {
      throw new HubError("CONSENT_REQUIRED", `The member has not consented to share ${category} with you for ${p.purpose ?? "an undeclared purpose"}`, { category });
    }
    ctx.access.record(m.id, category);
  } else if (p.role === "MEMBER" && p.authority === "DELEGATED") {
    // A partner's app reading for the member (scope checked by the field's memberScope): logged under the app's partner.
    ctx.access.record(m.id, category);
  }
  return value();
}

const ExpiringRef = builder.objectRef<Expiring>("ExpiringPoints").implement({
  description: "Points that expire at one instant (earn lots grouped by expiry).",
  fields: (t) => ({
    points: t.int({
      description: "Points expiring then, in points. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("points64"),
      resolve: (e) => int32Compat(e.points, "ExpiringPoints.points", "points64"),
    }),
    points64: t.field({ type: "BigInt", description: "Points expiring then, in points (64-bit, a decimal string).", resolve: (e) => e.points }),
    expiresAt: t.field({ type: "DateTime", description: "When they expire (UTC).", resolve: (e) => e.expiresAt }),
  }),
});

const WalletRef = builder.objectRef<WalletView & { memberId: string }>("Wallet").implement({
  description: "A member's coalition-wide points wallet. All amounts in points.",
  fields: (t) => ({
    balance: t.int({
      description: "All unexpired points, held ones included. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("balance64"),
      resolve: (w) => int32Compat(w.balance, "Wallet.balance", "balance64"),
    }),
    available: t.int({
      description: "Points the member can spend now: balance minus points held by pending holds. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("available64"),
      resolve: (w) => int32Compat(w.available, "Wallet.available", "available64"),
    }),
    held: t.int({
      description: "Points reserved by pending holds. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("held64"),
      resolve: (w) => int32Compat(w.held, "Wallet.held", "held64"),
    }),
    lifetimeEarned: t.int({
      description: "All points ever earned (earns and offer bonuses), before redemptions, reversals and expiry. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("lifetimeEarned64"),
      resolve: (w) => int32Compat(w.lifetimeEarned, "Wallet.lifetimeEarned", "lifetimeEarned64"),
    }),
    balance64: t.field({ type: "BigInt", description: "All unexpired points, held ones included, in points (64-bit, a decimal string).", resolve: (w) => w.balance }),
    available64: t.field({ type: "BigInt", description: "Points the member can spend now (balance minus points held by pending holds), in points (64-bit, a decimal string).", resolve: (w) => w.available }),
    held64: t.field({ type: "BigInt", description: "Points reserved by pending holds, in points (64-bit, a decimal string).", resolve: (w) => w.held }),
    lifetimeEarned64: t.field({
      type: "BigInt",
      description: "All points ever earned (earns and offer bonuses), before redemptions, reversals and expiry, in points (64-bit, a decimal string).",
      resolve: (w) => w.lifetimeEarned,
    }),
    expiring: t.field({
      type: [ExpiringRef],
      description: "Points that will expire within the given number of days, soonest first.",
      args: { withinDays: t.arg.int({ required: false, defaultValue: 30, description: "Look-ahead in days (1–3650, default 30)." }) },
      resolve: (w, { withinDays }, ctx) => {
        const days = withinDays ?? 30;
        if (!Number.isInteger(days) || days < 1 || days > 3650) throw badInput("withinDays must be between 1 and 3650", "withinDays");
        return ctx.loaders.expiring.load({ memberId: w.memberId, days });
      },
    }),
  }),
});

const TierProgressRef = builder.objectRef<TierProgress & { currency: string }>("TierProgress").implement({
  description: "Progress on one qualification rule of a tier above the member's (every path: points and spend).",
  fields: (t) => ({
    tierCode: t.string({ description: "The program tier this rule qualifies for.", resolve: (g) => g.tier.code }),
    tier: t.field({ type: TierEnum, description: "Its API tier.", resolve: (g) => g.tier.apiTier }),
    rule: t.field({ type: RuleRef, description: "The rule.", resolve: (g) => ({ ...g.rule, currency: g.currency }) }),
    periodStart: t.field({ type: "DateTime", description: "Where the rule's period starts now (UTC).", resolve: (g) => g.periodStart }),
    current: t.field({ type: "Decimal", description: "The member's sum over the period so far: points, or money in `currency` for SPEND.", resolve: (g) => g.current.toFixed() }),
    missing: t.field({ type: "Decimal", description: "What is still needed to qualify (0 when met): points, or money in `currency` (spend more than this for MORE_THAN).", resolve: (g) => g.missing.toFixed() }),
    met: t.boolean({ description: "Whether the rule is met now (the tier is reached at the next earn).", resolve: (g) => g.met }),
    currency: t.string({ nullable: true, description: "ISO 4217 currency of `current` and `missing` for SPEND; null for POINTS.", resolve: (g) => (g.rule.metric === "SPEND" ? g.currency : null) }),
  }),
});

const TierStatusRef = builder.objectRef<TierStatus>("TierStatus").implement({
  description: "A member's tier and progress under the loyalty program in force (`program`): qualification by points and/or spend over the program's periods.",
  fields: (t) => ({
    tier: t.field({ type: TierEnum, description: "The current tier as the API's Tier (the classic program's code; a program tier's `tier`).", resolve: (s) => s.tier }),
    tierCode: t.string({ description: "The current tier's code in the program (classic: BASE, SILVER, GOLD, DIAMOND).", resolve: (s) => s.programTier.code }),
    tierNames: t.field({ type: NamesRef, description: "The current tier's display names (English, Chinese).", resolve: (s) => s.programTier.names }),
    tierRank: t.int({ description: "The current tier's rank in the program (0 = base).", resolve: (s) => s.programTier.rank }),
    qualifyingPoints: t.int({
      description: "Points earned in the rolling 12 months, net of reversed earns, in points. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("qualifyingPoints64"),
      resolve: (s) => int32Compat(s.qualifyingPoints, "TierStatus.qualifyingPoints", "qualifyingPoints64"),
    }),
    qualifyingPoints64: t.field({
      type: "BigInt",
      description: "Points earned in the rolling 12 months, net of reversed earns, in points (64-bit, a decimal string).",
      resolve: (s) => s.qualifyingPoints,
    }),
    qualifyingSpend: t.field({
      type: "Decimal",
      description: "Money spent in purchases that earned points (net of reversed earns) over the period of the program's first spend rule (classic: the calendar year), else the rolling 12 months, in `currency`.",
      resolve: (s) => s.qualifyingSpend.toFixed(),
    }),
    currency: t.string({ description: "ISO 4217 currency of qualifyingSpend and spend progress (the program's).", resolve: (s) => s.currency }),
    qualifiedBy: t.field({
      type: RuleRef,
      nullable: true,
      description: "The rule that qualified the member for the current tier under the program version in force; null for the base tier or a tier held from before.",
      resolve: (s) => (s.qualifiedBy ? { ...s.qualifiedBy, currency: s.currency } : null),
    }),
    progress: t.field({
      type: [TierProgressRef],
      description: "Progress on every rule of every tier above the member's (points and spend paths), lowest tier first.",
      resolve: (s) => s.progress.map((g) => ({ ...g, currency: s.currency })),
    }),
    nextTier: t.field({ type: TierEnum, nullable: true, description: "The next tier up as the API's Tier; null at the top tier.", resolve: (s) => s.nextTier }),
    nextTierCode: t.string({ nullable: true, description: "The next tier's code in the program; null at the top tier.", resolve: (s) => s.nextProgramTier?.code ?? null }),
    pointsToNextTier: t.int({
      nullable: true,
      description: "Points still needed for the next tier by its points rules (the smallest); null at the top tier or when the next tier has no points rule (see progress).",
      resolve: (s) => s.pointsToNextTier,
    }),
    earnMultiplier: t.field({
      type: "Decimal",
      description: "This tier's earn rate relative to the base tier's, e.g. \"2\". Deprecated: the program states rates per tier (earnRate).",
      deprecationReason: "Use earnRate (points per 1 unit of currency at this tier); removed after 2027-06-30.",
      resolve: (s) => s.earnMultiplier,
    }),
    earnRate: t.field({ type: "Decimal", description: "Points per 1 unit of currency spent at this tier (the program-wide table; a partner's own table may differ).", resolve: (s) => s.earnRate }),
    programVersion: t.int({ description: "The program version the status was computed under (the one in force now).", resolve: (s) => s.programVersion }),
  }),
});

const EdgeRef = builder.objectRef<{ cursor: string; node: import("../ledger/ledger.ts").LedgerTransactionRow }>("PointsTransactionEdge").implement({
  description: "One transaction in a member's activity.",
  fields: (t) => ({
    cursor: t.exposeString("cursor", { description: "Opaque cursor of this transaction." }),
    node: t.field({ type: TransactionRef, description: "The transaction.", resolve: (e) => e.node }),
  }),
});

const ConnectionRef = builder
  .objectRef<{ edges: { cursor: string; node: import("../ledger/ledger.ts").LedgerTransactionRow }[]; pageInfo: import("../../../../lib/pothos.ts").PageInfoShape }>("PointsTransactionConnection")
  .implement({
    description: "A member's points transactions, newest first (Relay cursor pagination).",
    fields: (t) => ({
      edges: t.field({ type: [EdgeRef], description: "This page's transactions.", resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfoRef, description: "Whether more transactions follow.", resolve: (c) => c.pageInfo }),
    }),
  });

const scopes = builder.selection<{ sharedScopes?: string[] }>("sharedScopes");

MemberRef.implement({
  description: "A coalition member (owned by the member subgraph); points adds the wallet, tier and activity.",
  externalFields: (t) => ({
    sharedScopes: t.field({ type: [DataCategoryEnum], description: "The data categories the current caller may read for this member (from the member subgraph)." }),
  }),
  fields: (t) => ({
    id: t.exposeID("id", { description: "The member's coalition-wide id." }),
    wallet: t.field({
      authScopes: { memberScope: "member:wallet" },
      type: WalletRef,
      nullable: true,
      requires: scopes,
      description:
        "The member's points wallet. Data category POINTS_BALANCE: null with CONSENT_REQUIRED for a partner without consent. An app acting for the member needs member:wallet (else null with FORBIDDEN, extensions.scope).",
      resolve: (m, _a, ctx) =>
        gated(ctx, m as MemberKey, "POINTS_BALANCE", async () => {
          const w = (await ctx.loaders.memberFacts.load({ memberId: m.id, part: "wallet" })).wallet;
          return { ...(w ?? { balance: 0n, held: 0n, available: 0n, lifetimeEarned: 0n }), memberId: m.id };
        }),
    }),
    tier: t.field({
      authScopes: { memberScope: "member:wallet" },
      type: TierStatusRef,
      nullable: true,
      requires: scopes,
      description: "Tier status and progress. Data category TIER: null with CONSENT_REQUIRED for a partner without consent. An app acting for the member needs member:wallet.",
      resolve: (m, _a, ctx) =>
        gated(ctx, m as MemberKey, "TIER", async () => {
          const f = await ctx.loaders.memberFacts.load({ memberId: m.id, part: "status" });
          return f.status!;
        }),
    }),
    activity: t.field({
      authScopes: { memberScope: "member:wallet" },
      type: ConnectionRef,
      nullable: true,
      requires: scopes,
      description: "Points transactions, newest first, each with the balance after it. Data category ACTIVITY: null with CONSENT_REQUIRED for a partner without consent. An app acting for the member needs member:wallet.",
      args: pageArgs(t.arg, "transactions"),
      resolve: (m, args, ctx) =>
        gated(ctx, m as MemberKey, "ACTIVITY", async () => {
          const page = await ctx.loaders.activity.load({ memberId: m.id, page: pageRequest(args, isUuid) });
          // The rows are this member's: they carry its sharedScopes for balanceAfter's gate.
          const edges = page.rows.map((node) => ({ cursor: encodeCursor(node), node: { ...node, memberSharedScopes: (m as MemberKey).sharedScopes ?? null } }));
          return { edges, pageInfo: pageInfoOf(page, encodeCursor) };
        }),
    }),
    tierLevel: t.field({
      type: TierEnum,
      inaccessible: true,
      description: "The member's current tier, not consent-gated: used by other subgraphs for offer eligibility only (@requires).",
      resolve: async (m, _a, ctx) => (await ctx.loaders.memberFacts.load({ memberId: m.id, part: "level" })).tier,
    }),
  }),
});

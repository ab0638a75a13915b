import { nodeIdOptions } from "../../../../lib/global-id.ts";
import { NodeRef } from "./node-ref.ts";
import { Decimal } from "decimal.js";
import { int32Compat, toSafeNumber } from "../../../../lib/amounts.ts";
import { forbidden, notFound } from "../../../../lib/errors.ts";
import { DEPRECATED_INT } from "../../../../lib/pothos.ts";
import { pageArgs, pageInfoOf } from "../../../../lib/pothos.ts";
import type { BiPage } from "../../../../lib/paging.ts";
import { builder } from "../builder.ts";
import { currencySettings } from "../config.ts";
import { disputeStatementLine, resolveStatementDispute } from "../settlement/disputes.ts";
import { exportRun } from "../settlement/export.ts";
import { encodeRunCursor, listRuns, type SettlementLine, type SettlementRun, type SettlementStatement } from "../settlement/reads.ts";
import { approveSettlementRun, createSettlementRun, recomputeSettlementRun } from "../settlement/runs.ts";
import { TransactionKindEnum } from "./enums.ts";
import { PartnerRef } from "./refs.ts";
import { PageInfoRef, TransactionRef } from "./transaction.ts";

/** Money as an exact decimal string with the currency's minor units ("12.50"). */
const money = (d: { toString(): string }) => new Decimal(d.toString()).toFixed(currencySettings().minorUnits);
/** Counts of postings: bigint columns, far below 2^53 (checked); GraphQL Int itself refuses a count beyond 32 bits. */
const int = (n: bigint) => toSafeNumber(n, "posting count");

const SettlementStatusEnum = builder.enumType("SettlementStatus", {
  description: "The state of a settlement run.",
  values: {
    DRAFT: { description: "Computed, not final: an admin may recompute it (new postings are included) and approve it." },
    APPROVED: { description: "Final and immutable: its figures and the exact postings it covered never change." },
  } as const,
});

const SettlementSideEnum = builder.enumType("SettlementSide", {
  description: "Which of a partner's accounts a statement line is about.",
  values: {
    ISSUANCE: { description: "Points the partner issued (earns, offer funding and returns, reversals of earns, adjustments), priced at its issue price: money it pays." },
    REDEMPTION: { description: "Points redeemed at the partner (redemptions, their reversals, adjustments), priced at its redemption rate: money it is paid." },
  } as const,
});

const ExportFormatEnum = builder.enumType("SettlementExportFormat", {
  description: "File format of a statement export.",
  values: {
    CSV: { description: "RFC 4180 CSV, one row per statement line, with the statement totals repeated on each row." },
    JSON: { description: "JSON: the run and its statements, each with its lines." },
  } as const,
});

const StatementLineRef = builder.objectRef<SettlementLine>("StatementLine");
StatementLineRef.implement({
  description: "One priced line of a partner's statement: the covered postings of one kind on one side of the partner's accounts at one rate. amount = points × rate, rounded half-even once to the currency's minor unit.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The line's id (dispute it with disputeStatementLine)." }),
    kind: t.field({ type: TransactionKindEnum, description: "The kind of the transactions on this line.", resolve: (l) => l.kind }),
    side: t.field({ type: SettlementSideEnum, description: "Issuance (the partner pays) or redemption (the partner is paid).", resolve: (l) => l.side }),
    points: t.int({
      description: "Points, signed from the partner's point of view: issued (ISSUANCE) or redeemed at it (REDEMPTION); reversals and returns are negative. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("points64"),
      resolve: (l) => int32Compat(l.points, "StatementLine.points", "points64"),
    }),
    points64: t.field({
      type: "BigInt",
      description: "Points, signed from the partner's point of view: issued (ISSUANCE) or redeemed at it (REDEMPTION); reversals and returns are negative (64-bit, a decimal string).",
      resolve: (l) => l.points,
    }),
    postings: t.int({ description: "Number of ledger postings summed into this line.", resolve: (l) => int(l.postings) }),
    rate: t.field({
      type: "Decimal",
      description: "Money per point in the coalition currency: the issue price (ISSUANCE) or redemption rate (REDEMPTION) in force at the postings' time.",
      resolve: (l) => new Decimal(l.rate.toString()).toFixed(),
    }),
    rateEffectiveFrom: t.field({ type: "DateTime", nullable: true, description: "When that rate took effect (UTC).", resolve: (l) => l.rateEffectiveFrom }),
    amount: t.field({ type: "Decimal", description: "points × rate in the coalition currency, rounded half-even to its minor unit.", resolve: (l) => money(l.amount) }),
    disputed: t.boolean({ description: "True once the partner disputed this line (also after the dispute was resolved).", resolve: (l) => !!l.disputedAt }),
    disputeReason: t.exposeString("disputeReason", { nullable: true, description: "The partner's reason for the dispute." }),
    disputedAt: t.field({ type: "DateTime", nullable: true, description: "When it was disputed (UTC).", resolve: (l) => l.disputedAt }),
    resolvedAt: t.field({ type: "DateTime", nullable: true, description: "When an admin resolved the dispute (UTC).", resolve: (l) => l.resolvedAt }),
    resolutionNote: t.exposeString("resolutionNote", { nullable: true, description: "The admin's note on the resolution." }),
    adjustment: t.field({
      type: TransactionRef,
      nullable: true,
      description: "The ADJUSTMENT transaction that resolved the dispute; it counts in the first run after it was posted. Null while open or when the dispute was rejected (0 points).",
      resolve: (l, _a, ctx) => (l.adjustmentTransactionId ? ctx.loaders.transaction.load(l.adjustmentTransactionId) : null),
    }),
  }),
});

const PartnerStatementRef = builder.objectRef<SettlementStatement>("PartnerStatement").implement({
  description:
    "One partner's position in a run. Money in the coalition currency (the run's `currency`); points are whole points. netPosition = amountOwed − amountDue; all partners' positions plus the operator's margin sum to exactly zero.",
  fields: (t) => ({
    partner: t.field({ type: PartnerRef, description: "The partner.", resolve: (s) => ({ id: s.partnerId }) }),
    pointsIssued: t.int({
      description: "Points the partner awarded (EARN); reversals of them are in pointsReversed. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("pointsIssued64"),
      resolve: (s) => int32Compat(s.pointsIssued, "PartnerStatement.pointsIssued", "pointsIssued64"),
    }),
    pointsIssued64: t.field({ type: "BigInt", description: "Points the partner awarded (EARN); reversals of them are in pointsReversed (64-bit, a decimal string).", resolve: (s) => s.pointsIssued }),
    pointsRedeemed: t.int({
      description: "Points members redeemed at the partner (REDEEM). Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("pointsRedeemed64"),
      resolve: (s) => int32Compat(s.pointsRedeemed, "PartnerStatement.pointsRedeemed", "pointsRedeemed64"),
    }),
    pointsRedeemed64: t.field({ type: "BigInt", description: "Points members redeemed at the partner (REDEEM) (64-bit, a decimal string).", resolve: (s) => s.pointsRedeemed }),
    offerFundingPoints: t.int({
      description: "Points the partner put into offer budgets as a co-issuer (OFFER_FUNDING), before returns. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("offerFundingPoints64"),
      resolve: (s) => int32Compat(s.offerFundingPoints, "PartnerStatement.offerFundingPoints", "offerFundingPoints64"),
    }),
    offerFundingPoints64: t.field({
      type: "BigInt",
      description: "Points the partner put into offer budgets as a co-issuer (OFFER_FUNDING), before returns (64-bit, a decimal string).",
      resolve: (s) => s.offerFundingPoints,
    }),
    offerReturnedPoints: t.int({
      description: "Unused offer budget points returned to the partner (OFFER_RETURN); they reduce amountDue. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("offerReturnedPoints64"),
      resolve: (s) => int32Compat(s.offerReturnedPoints, "PartnerStatement.offerReturnedPoints", "offerReturnedPoints64"),
    }),
    offerReturnedPoints64: t.field({
      type: "BigInt",
      description: "Unused offer budget points returned to the partner (OFFER_RETURN); they reduce amountDue (64-bit, a decimal string).",
      resolve: (s) => s.offerReturnedPoints,
    }),
    pointsReversed: t.int({
      description: "Points of reversals on either side (reversed earns reduce amountDue, reversed redemptions reduce amountOwed), as a positive count. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("pointsReversed64"),
      resolve: (s) => int32Compat(s.pointsReversed, "PartnerStatement.pointsReversed", "pointsReversed64"),
    }),
    pointsReversed64: t.field({
      type: "BigInt",
      description: "Points of reversals on either side (reversed earns reduce amountDue, reversed redemptions reduce amountOwed), as a positive count (64-bit, a decimal string).",
      resolve: (s) => s.pointsReversed,
    }),
    pointsAdjusted: t.int({
      description: "Points of admin adjustments on the partner's accounts (dispute resolutions), signed in the partner's favour. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("pointsAdjusted64"),
      resolve: (s) => int32Compat(s.pointsAdjusted, "PartnerStatement.pointsAdjusted", "pointsAdjusted64"),
    }),
    pointsAdjusted64: t.field({
      type: "BigInt",
      description: "Points of admin adjustments on the partner's accounts (dispute resolutions), signed in the partner's favour (64-bit, a decimal string).",
      resolve: (s) => s.pointsAdjusted,
    }),
    amountDue: t.field({ type: "Decimal", description: "Money the partner pays the coalition: the sum of its ISSUANCE lines.", resolve: (s) => money(s.amountDue) }),
    amountOwed: t.field({ type: "Decimal", description: "Money the coalition pays the partner: the sum of its REDEMPTION lines.", resolve: (s) => money(s.amountOwed) }),
    netPosition: t.field({ type: "Decimal", description: "amountOwed − amountDue: positive, the coalition pays the partner; negative, the partner pays.", resolve: (s) => money(s.netPosition) }),
    liabilityPoints: t.int({
      description:
        "Outstanding liability: points the partner issued (its own earns, and its share of offer bonuses) that are neither redeemed nor expired, when the run was computed. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("liabilityPoints64"),
      resolve: (s) => int32Compat(s.liabilityPoints, "PartnerStatement.liabilityPoints", "liabilityPoints64"),
    }),
    liabilityPoints64: t.field({
      type: "BigInt",
      description: "Outstanding liability: points the partner issued (its own earns, and its share of offer bonuses) that are neither redeemed nor expired, when the run was computed (64-bit, a decimal string).",
      resolve: (s) => s.liabilityPoints,
    }),
    expiredPoints: t.int({
      description: "Points the partner issued that expired in this run's postings (breakage). Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("expiredPoints64"),
      resolve: (s) => int32Compat(s.expiredPoints, "PartnerStatement.expiredPoints", "expiredPoints64"),
    }),
    expiredPoints64: t.field({ type: "BigInt", description: "Points the partner issued that expired in this run's postings (breakage) (64-bit, a decimal string).", resolve: (s) => s.expiredPoints }),
    lines: t.field({
      type: [StatementLineRef],
      description: "The priced lines, by side, kind and rate period.",
      resolve: (s, _a, ctx) => ctx.loaders.settlementLines.load({ runId: s.runId, partnerId: s.partnerId }),
    }),
  }),
});

const PartnerFlowRef = builder.objectRef<{ fromPartnerId: string; toPartnerId: string; points: bigint }>("PartnerFlow").implement({
  description:
    "Points issued at `from` and redeemed at `to` in a run, attributed lot by lot (redemptions consume the soonest-expiring lots first). Offer bonus points count for the offer's co-issuers in their funding shares; points an admin granted belong to the operator and are not listed.",
  fields: (t) => ({
    from: t.field({ type: PartnerRef, description: "The partner that issued the points.", resolve: (f) => ({ id: f.fromPartnerId }) }),
    to: t.field({ type: PartnerRef, description: "The partner where they were redeemed.", resolve: (f) => ({ id: f.toPartnerId }) }),
    points: t.int({
      description: "Points, net of reversed redemptions. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("points64"),
      resolve: (f) => int32Compat(f.points, "PartnerFlow.points", "points64"),
    }),
    points64: t.field({ type: "BigInt", description: "Points, net of reversed redemptions (64-bit, a decimal string).", resolve: (f) => f.points }),
  }),
});

export const SettlementRunRef = builder.objectRef<SettlementRun>("SettlementRun");
SettlementRunRef.implement({
  description:
    "A settlement between the partners for a closed period of ledger postings (by posting time, UTC). It covers every posting before periodEnd not covered by an earlier approved run, so a posting made after its period was approved counts in the next run: nothing is counted twice or lost.",
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID("id", { description: "The run's id." }),
    nodeId: t.id(nodeIdOptions("SettlementRun")),
    periodStart: t.field({ type: "DateTime", description: "Start of the period (inclusive, UTC).", resolve: (r) => r.periodStart }),
    periodEnd: t.field({ type: "DateTime", description: "End of the period (exclusive, UTC).", resolve: (r) => r.periodEnd }),
    status: t.field({ type: SettlementStatusEnum, description: "DRAFT (recomputable) or APPROVED (immutable).", resolve: (r) => r.status }),
    currency: t.exposeString("currency", { description: "ISO 4217 code of every money amount of the run." }),
    statements: t.field({
      type: [PartnerStatementRef],
      description: "Per-partner statements. ADMIN: every partner with activity or liability; PARTNER: only its own.",
      resolve: (r, _a, ctx) => ctx.loaders.settlementStatements.load(r.id),
    }),
    operatorMargin: t.field({
      type: "Decimal",
      description:
        "ADMIN only (FORBIDDEN for partners: with its own position a partner could derive the others'). The coalition operator's margin: the sum of amountDue minus the sum of amountOwed over all partners, in the run's currency. Positions + margin = 0 exactly.",
      resolve: (r, _a, ctx) => {
        if (ctx.principal.role !== "ADMIN") throw forbidden("The operator margin is for admins");
        return money(r.operatorMargin);
      },
    }),
    flows: t.field({
      type: [PartnerFlowRef],
      description: "The inter-partner flow matrix (points issued at `from`, redeemed at `to`). PARTNER: only flows from or to itself.",
      resolve: (r, _a, ctx) => ctx.loaders.settlementFlows.load(r.id),
    }),
    approvedAt: t.field({ type: "DateTime", nullable: true, description: "When it was approved (UTC); null while DRAFT.", resolve: (r) => r.approvedAt }),
    computedAt: t.field({ type: "DateTime", description: "When the figures were last computed (UTC); liabilities are as of then.", resolve: (r) => r.computedAt }),
    createdAt: t.field({ type: "DateTime", description: "When the run was created (UTC).", resolve: (r) => r.createdAt }),
    postingsSettled: t.int({
      nullable: true,
      description: "Ledger postings on partner accounts the run priced (coalition-wide). ADMIN only: null for partners.",
      resolve: (r, _a, ctx) => (ctx.principal.role === "ADMIN" ? int(r.postingsCovered) : null),
    }),
    carriedInPostings: t.int({
      nullable: true,
      description: "Of those, postings dated before periodStart: made after their period was approved (or before the first run), carried into this run. ADMIN only: null for partners.",
      resolve: (r, _a, ctx) => (ctx.principal.role === "ADMIN" ? int(r.carriedInPostings) : null),
    }),
    export: t.string({
      description: "The statements as a file (PARTNER: only its own). Also: `npm run cli -- settlement export <runId>`.",
      args: {
        format: t.arg({ type: ExportFormatEnum, description: "CSV or JSON." }),
        partnerId: t.arg.id({ required: false, description: "ADMIN: only this partner's statement." }),
      },
      resolve: (r, args, ctx) => exportRun(ctx.principal, r.id, args.format, args.partnerId ? String(args.partnerId) : null),
    }),
  }),
});

builder.asEntity(SettlementRunRef, {
  key: builder.selection<{ id: string }>("id"),
  resolveReference: (r, ctx) => ctx.loaders.settlementRun.load(r.id),
});

const SettlementRunConnectionRef = builder.objectRef<BiPage<SettlementRun>>("SettlementRunConnection").implement({
  description: "A page of settlement runs, newest first (Relay cursor pagination, both directions).",
  fields: (t) => ({
    edges: t.field({
      type: [
        builder.objectRef<SettlementRun>("SettlementRunEdge").implement({
          description: "A settlement run with its cursor.",
          fields: (e) => ({
            cursor: e.string({ description: "Opaque cursor of this run: pass as `after` to continue after it, or as `before` (with `last`) for the runs before it.", resolve: (r) => encodeRunCursor(r) }),
            node: e.field({ type: SettlementRunRef, description: "The run.", resolve: (r) => r }),
          }),
        }),
      ],
      description: "The runs of this page.",
      resolve: (c) => c.rows,
    }),
    pageInfo: t.field({
      type: PageInfoRef,
      description: "Whether runs follow or precede this page, and the cursors to continue from.",
      resolve: (c) => pageInfoOf(c, encodeRunCursor),
    }),
  }),
});

builder.queryFields((t) => ({
  settlementRuns: t.field({
    type: SettlementRunConnectionRef,
    authScopes: { business: true },
    description: "Settlement runs, newest first. ADMIN: all; PARTNER: approved runs, showing only its own statement.",
    args: pageArgs(t.arg, "runs"),
    resolve: (_r, args, ctx) => listRuns(ctx.principal, args),
  }),
  settlementRun: t.field({
    type: SettlementRunRef,
    nullable: true,
    authScopes: { business: true },
    description: "A settlement run by id. ADMIN: any; PARTNER: an approved run (its own statement only). Anything else is NOT_FOUND.",
    args: { id: t.arg.id({ description: "The run's id." }) },
    resolve: async (_r, { id }, ctx) => {
      const run = await ctx.loaders.settlementRun.load(String(id));
      if (!run) throw notFound("SettlementRun", String(id));
      return run;
    },
  }),
}));

builder.mutationFields((t) => ({
  createSettlementRun: t.field({
    type: SettlementRunRef,
    authScopes: { admin: true },
    description:
      "ADMIN settles [periodStart, periodEnd) as a DRAFT run: statements, flows, liabilities. The period must be closed (periodEnd not in the future), at most 366 days long, and start at or after the last approved run's end (else PERIOD_CLOSED). Postings before periodStart that no approved run covered are carried in.",
    args: {
      periodStart: t.arg({ type: "DateTime", description: "Start of the period, inclusive (ISO-8601 with offset)." }),
      periodEnd: t.arg({ type: "DateTime", description: "End of the period, exclusive (ISO-8601 with offset); not in the future." }),
    },
    resolve: (_r, args, ctx) => createSettlementRun(ctx.principal, args, { now: ctx.now }),
  }),
  recomputeSettlementRun: t.field({
    type: SettlementRunRef,
    authScopes: { admin: true },
    description: "ADMIN recomputes a DRAFT run from the ledger as it is now. An approved run is PERIOD_CLOSED.",
    args: { id: t.arg.id({ description: "The run's id." }) },
    resolve: (_r, { id }, ctx) => recomputeSettlementRun(ctx.principal, String(id), { now: ctx.now }),
  }),
  approveSettlementRun: t.field({
    type: SettlementRunRef,
    authScopes: { admin: true },
    description:
      "ADMIN approves a DRAFT run: it is recomputed one last time while new postings wait (so it covers exactly the postings committed until then) and becomes immutable. Approving twice, or a run overlapping an approved one, is PERIOD_CLOSED.",
    args: { id: t.arg.id({ description: "The run's id." }) },
    resolve: (_r, { id }, ctx) => approveSettlementRun(ctx.principal, String(id), { now: ctx.now }),
  }),
  disputeStatementLine: t.field({
    type: StatementLineRef,
    authScopes: { partner: true },
    description:
      "PARTNER disputes a line of its own statement in an approved run, with a reason (once per line: the same reason sent again returns the line, another is BAD_USER_INPUT). Someone else's line is NOT_FOUND.",
    args: {
      lineId: t.arg.id({ description: "The line's id." }),
      reason: t.arg.string({ description: "Why the line is wrong (1–500 characters)." }),
    },
    resolve: (_r, args, ctx) => disputeStatementLine(ctx.principal, { lineId: String(args.lineId), reason: args.reason }, { now: ctx.now }),
  }),
  resolveStatementDispute: t.field({
    type: StatementLineRef,
    authScopes: { admin: true },
    description:
      "ADMIN resolves a disputed line, once (the same resolution sent again returns the resolved line and posts nothing; a different one is BAD_USER_INPUT). A non-zero adjustment is posted now as an ADJUSTMENT transaction on the partner's account of the line's side, so it lands in a later run, linked from the line; 0 rejects the dispute.",
    args: {
      lineId: t.arg.id({ description: "The disputed line's id." }),
      adjustmentPoints: t.arg.int({
        description:
          "Points in the partner's favour (negative against it), −100,000,000 to 100,000,000: on an ISSUANCE line they reduce what it pays, on a REDEMPTION line they add to what it is paid. 0 = dispute rejected.",
      }),
      note: t.arg.string({ description: "The resolution, for the partner (1–500 characters)." }),
    },
    resolve: (_r, args, ctx) => resolveStatementDispute(ctx.principal, { lineId: String(args.lineId), adjustmentPoints: args.adjustmentPoints, note: args.note }, { now: ctx.now }),
  }),
}));

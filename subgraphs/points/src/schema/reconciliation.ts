import { pageArgs, pageInfoOf } from "../../../../lib/pothos.ts";
import { builder } from "../builder.ts";
import { type PartnerTxRow, partnerOf, partnerTotals, partnerTransactionsPage, TRANSACTION_STATUSES, type TxStatus, type TxTotals, txCursor, txFilter } from "../settlement/transactions.ts";
import { TransactionKindEnum } from "./enums.ts";
import { PageInfoRef, TransactionRef } from "./transaction.ts";

// Reconciliation (issue 17 §5): a partner's own transactions by time range, kind and status, the
// range's totals as a settlement statement counts them, and (GET /exports/partner-transactions on
// the gateway) the same list as a streamed CSV or JSON file.

const STATUS_DESCRIPTIONS: Record<TxStatus, string> = {
  POSTED: "Not reversed (also every REVERSAL, EXPIRY and ADJUSTMENT itself).",
  PARTIALLY_REVERSED: "Reversed in part: reversedPoints is above 0 and below the transaction's points.",
  REVERSED: "Reversed whole: reversedPoints equals the transaction's points.",
};

export const TransactionStatusEnum = builder.enumType("TransactionStatus", {
  description: "Whether a transaction was reversed since (REVERSAL transactions point at what they reverse).",
  values: Object.fromEntries(TRANSACTION_STATUSES.map((s) => [s, { description: STATUS_DESCRIPTIONS[s] }])) as Record<TxStatus, { description: string }>,
});

const FilterInput = builder.inputType("PartnerTransactionFilter", {
  description: "Which of the partner's transactions: a time range (at most 366 days), and optionally kinds and statuses.",
  fields: (t) => ({
    from: t.field({ type: "DateTime", description: "Start of the range, inclusive (posting time; ISO-8601 with offset, compared in UTC)." }),
    to: t.field({ type: "DateTime", description: "End of the range, exclusive (posting time; ISO-8601 with offset, compared in UTC); after `from`, at most 366 days later." }),
    kinds: t.field({ type: [TransactionKindEnum], required: false, description: "Only these kinds (omitted or empty: all)." }),
    statuses: t.field({ type: [TransactionStatusEnum], required: false, description: "Only these statuses (omitted or empty: all)." }),
  }),
});

const TotalsRef = builder.objectRef<TxTotals>("PartnerTransactionTotals").implement({
  description:
    "The range's totals in points (64-bit decimal strings), counted as a settlement statement counts them (postings on the partner's issuance and redemption accounts in [from, to)), whatever the filter's kinds and statuses: for the period of an approved run whose postings were all on time, they equal its statement's figures.",
  fields: (t) => ({
    pointsIssued: t.field({ type: "BigInt", description: "Points the partner awarded (EARN), in points; reversals are in pointsReversed. = PartnerStatement.pointsIssued64.", resolve: (x) => x.pointsIssued }),
    pointsRedeemed: t.field({ type: "BigInt", description: "Points members redeemed at the partner (REDEEM), in points. = PartnerStatement.pointsRedeemed64.", resolve: (x) => x.pointsRedeemed }),
    pointsReversed: t.field({
      type: "BigInt",
      description: "Points of reversals of the partner's earns and redemptions, as a positive count, in points. = PartnerStatement.pointsReversed64.",
      resolve: (x) => x.pointsReversed,
    }),
    pointsAdjusted: t.field({
      type: "BigInt",
      description: "Points of admin adjustments on the partner's accounts (dispute resolutions), signed in the partner's favour. = PartnerStatement.pointsAdjusted64.",
      resolve: (x) => x.pointsAdjusted,
    }),
    transactions: t.field({ type: "BigInt", description: "Number of the partner's transactions in the range (all kinds and statuses).", resolve: (x) => x.transactions }),
  }),
});

const EdgeRef = builder.objectRef<PartnerTxRow>("PartnerTransactionEdge").implement({
  description: "One of the partner's transactions, with its reversal status.",
  fields: (t) => ({
    cursor: t.string({ description: "Opaque cursor of this transaction (pass as `after` or `before`).", resolve: (r) => txCursor(r) }),
    node: t.field({ type: TransactionRef, description: "The transaction (member data on it stays consent-gated).", resolve: (r) => r }),
    status: t.field({ type: TransactionStatusEnum, description: "Whether it was reversed since, whole or in part.", resolve: (r) => r.status }),
    reversedPoints: t.field({ type: "BigInt", description: "Points of its reversals so far, in points (positive; 0 when none).", resolve: (r) => r.reversedPoints }),
    memberRef: t.string({ nullable: true, description: "Your own reference for the member (the externalRef of its link to your partner), when the transaction has a member.", resolve: (r) => r.memberRef }),
  }),
});

interface TxConnection {
  rows: PartnerTxRow[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  range: { partnerId: string; from: Date; to: Date };
}

const ConnectionRef = builder.objectRef<TxConnection>("PartnerTransactionConnection").implement({
  description: "A page of the partner's transactions, newest first (Relay cursor pagination, both directions), and the range's totals.",
  fields: (t) => ({
    edges: t.field({ type: [EdgeRef], description: "This page's transactions, newest first.", resolve: (c) => c.rows }),
    pageInfo: t.field({ type: PageInfoRef, description: "Whether pages follow or precede this one.", resolve: (c) => pageInfoOf(c, txCursor) }),
    totals: t.field({ type: TotalsRef, description: "Totals of the whole range (not only this page), computed when asked for.", resolve: (c) => partnerTotals(c.range) }),
  }),
});

builder.queryFields((t) => ({
  partnerTransactions: t.field({
    type: ConnectionRef,
    authScopes: { business: true },
    description:
      "Reconciliation: the partner's own transactions (awarded, redeemed or reversed there) posted in a time range, by kind and status, newest first. PARTNER (its API client, PARTNER_ADMIN or PARTNER_STAFF): its own (partnerId omitted or its own, else FORBIDDEN); ADMIN: the partner named by partnerId. The whole range as a file: GET /exports/partner-transactions (README, 'Reconciliation').",
    args: {
      partnerId: t.arg.id({ required: false, description: "ADMIN: the partner (required). PARTNER: omit it (or pass your own)." }),
      filter: t.arg({ type: FilterInput, description: "Time range (at most 366 days), kinds, statuses." }),
      ...pageArgs(t.arg, "transactions"),
    },
    resolve: async (_r, args, ctx) => {
      const partnerId = partnerOf(ctx.principal, args.partnerId == null ? null : String(args.partnerId));
      const f = txFilter(partnerId, args.filter);
      const page = await partnerTransactionsPage(f, args);
      return { ...page, range: { partnerId, from: f.from, to: f.to } };
    },
  }),
}));

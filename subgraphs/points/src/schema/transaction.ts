import { notFound } from "../../../../lib/errors.ts";
import { builder } from "../builder.ts";
import type { LedgerTransactionRow } from "../services/ledger.ts";
import { TransactionKindEnum } from "./enums.ts";
import { MemberRef } from "./member.ts";
import { OfferRef, PartnerRef, ref } from "./refs.ts";

export const TransactionRef = builder.objectRef<LedgerTransactionRow>("PointsTransaction");

TransactionRef.implement({
  description: "A points ledger transaction: a balanced set of postings (sum zero), append-only. Corrections are REVERSAL transactions.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The transaction's id." }),
    kind: t.field({ type: TransactionKindEnum, description: "What the transaction did.", resolve: (x) => x.kind }),
    points: t.int({
      description: "Points, signed from the member's point of view where a member is involved (earn +, redeem −); otherwise the amount moved, positive.",
      resolve: (x) => (x.memberId ? x.memberPoints : 0),
    }),
    member: t.field({ type: MemberRef, nullable: true, description: "The member whose wallet moved, if any.", resolve: (x) => ref(x.memberId) }),
    partner: t.field({ type: PartnerRef, nullable: true, description: "The partner that awarded, redeemed or reversed, if any.", resolve: (x) => ref(x.partnerId) }),
    offer: t.field({ type: OfferRef, nullable: true, description: "The offer involved (bonus, funding, return), if any.", resolve: (x) => ref(x.offerId) }),
    reference: t.exposeString("reference", { nullable: true, description: "The partner's order or receipt id (at most 128 characters)." }),
    reason: t.exposeString("reason", { nullable: true, description: "Why (reversals, adjustments, expiry)." }),
    reverses: t.field({
      type: TransactionRef,
      nullable: true,
      description: "The transaction this one reverses (REVERSAL only), if the caller may see it.",
      resolve: (x, _a, ctx) => (x.reversesId ? ctx.loaders.transaction.load(x.reversesId) : null),
    }),
    postedAt: t.field({ type: "DateTime", description: "When the transaction was posted (UTC).", resolve: (x) => new Date(x.postedAt) }),
    balanceAfter: t.int({ nullable: true, description: "The member's wallet balance right after this transaction, in points.", resolve: (x) => x.balanceAfter }),
  }),
});

builder.asEntity(TransactionRef, {
  key: builder.selection<{ id: string }>("id"),
  resolveReference: (r, ctx) => ctx.loaders.transaction.load(r.id),
});

builder.queryFields((t) => ({
  transaction: t.field({
    type: TransactionRef,
    nullable: true,
    // It shows the balance after it: for an app acting for the member, wallet data.
    authScopes: { memberScope: "member:wallet" },
    description:
      "A points transaction by id. ADMIN: any; PARTNER: its own (awarded, redeemed or reversed there); MEMBER: its own (an app acting for the member needs member:wallet). Anything else is NOT_FOUND.",
    args: { id: t.arg.id({ description: "The transaction's id." }) },
    resolve: async (_r, { id }, ctx) => {
      const x = await ctx.loaders.transaction.load(String(id));
      if (!x) throw notFound("Transaction", String(id));
      return x;
    },
  }),
}));

export const PageInfoRef = builder.objectRef<{ hasNextPage: boolean; endCursor: string | null }>("PageInfo").implement({
  description: "Relay cursor pagination: whether more items follow, and the cursor to continue after.",
  shareable: true,
  fields: (t) => ({
    hasNextPage: t.exposeBoolean("hasNextPage", { description: "True when another page follows this one." }),
    endCursor: t.exposeString("endCursor", { nullable: true, description: "Cursor of the last item of this page; pass it as `after` for the next page." }),
  }),
});

import { nodeIdOptions } from "../../../../lib/global-id.ts";
import { NodeRef } from "./node-ref.ts";
import { int32Compat } from "../../../../lib/amounts.ts";
import { requireReadScope } from "../../../../lib/authority.ts";
import { notFound } from "../../../../lib/errors.ts";
import { DEPRECATED_INT, definePageInfo } from "../../../../lib/pothos.ts";
import { builder } from "../builder.ts";
import type { LedgerTransactionRow } from "../ledger/ledger.ts";
import { TransactionKindEnum } from "./enums.ts";
import { gated, MemberRef } from "./member.ts";
import { OfferRef, PartnerRef, ref } from "./refs.ts";
import { prisma } from "../db.ts";
import { versionById } from "../program/versions.ts";

export const TransactionRef = builder.objectRef<LedgerTransactionRow>("PointsTransaction");

/**
 * `@requires(fields: "member { sharedScopes }")`: the planner fetches the member's sharedScopes for
 * this caller (member subgraph) before it asks for balanceAfter. The plugin prints `requires` on any
 * entity's field (a local `member` with an external leaf composes), but types it only for extended
 * entities, hence the untyped spread.
 */
const requiresMemberScopes = { requires: builder.selection<RequiredMember>("member { sharedScopes }") } as object;

TransactionRef.implement({
  description: "A points ledger transaction: a balanced set of postings (sum zero), append-only. Corrections are REVERSAL transactions.",
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID("id", { description: "The transaction's id." }),
    nodeId: t.id(nodeIdOptions("PointsTransaction")),
    kind: t.field({ type: TransactionKindEnum, description: "What the transaction did.", resolve: (x) => x.kind }),
    points: t.int({
      description:
        "Points, signed from the member's point of view where a member is involved (earn +, redeem −); otherwise the amount moved, positive. One transaction's points: an earn, redemption or adjustment is at most 100,000,000; an expiry debits a wallet's expired lots at once and can exceed Int (AMOUNT_EXCEEDS_INT). Deprecated for points64.",
      deprecationReason: DEPRECATED_INT("points64"),
      resolve: (x) => int32Compat(x.memberId ? x.memberPoints : 0, "PointsTransaction.points", "points64"),
    }),
    points64: t.field({
      type: "BigInt",
      description: "Points, signed from the member's point of view where a member is involved (earn +, redeem −); otherwise the amount moved, positive (64-bit, a decimal string).",
      resolve: (x) => BigInt(x.memberId ? x.memberPoints : 0),
    }),
    // `member` itself is resolved by the member subgraph from this key field: served from here, the
    // Rust planner could not plan `me { activity { … node { member { wallet } } } }` (a @requires
    // field of this subgraph on a member reached from this subgraph: "Failed to plan query").
    programVersion: t.int({
      nullable: true,
      description: "EARN: the loyalty program version (LoyaltyProgram.version) its points were computed under; null for other kinds and for earns made before programs were versioned.",
      resolve: async (x) => (x.programVersionId ? (await versionById(prisma(), x.programVersionId)).version : null),
    }),
    purchaseAmount: t.field({
      type: "Decimal",
      nullable: true,
      description: "EARN from a purchase: the money spent, exact, in `purchaseCurrency` (spend rules of the program sum it); null otherwise.",
      resolve: (x) => x.spendAmount ?? null,
    }),
    purchaseCurrency: t.string({ nullable: true, description: "ISO 4217 currency of purchaseAmount (the coalition's); null without a purchase.", resolve: (x) => x.spendCurrency ?? null }),
    memberId: t.exposeID("memberId", { nullable: true, inaccessible: true, description: "The member whose wallet moved, if any (for the member subgraph's `member` field)." }),
    // Declared here only as @external, for balanceAfter's @requires(member { sharedScopes }): the
    // member subgraph serves it (see above), and the planner hands it back in the representation.
    member: t.field({
      type: MemberRef,
      nullable: true,
      description: "The member whose wallet moved, if any (served by the member subgraph).",
      extensions: { directives: [{ name: "external", args: {} }] },
      resolve: (x) => ref(x.memberId),
    }),
    partner: t.field({ type: PartnerRef, nullable: true, description: "The partner that awarded, redeemed or reversed, if any.", resolve: (x) => ref(x.partnerId) }),
    offer: t.field({ type: OfferRef, nullable: true, description: "The offer involved (bonus, funding, return), if any.", resolve: (x) => ref(x.offerId) }),
    reference: t.exposeString("reference", { nullable: true, description: "The partner's order or receipt id (at most 128 characters)." }),
    reason: t.exposeString("reason", { nullable: true, description: "Why (reversals, adjustments, expiry; program bonuses: which bonus and its rule, e.g. the welcome bonus's window)." }),
    reverses: t.field({
      type: TransactionRef,
      nullable: true,
      description: "The transaction this one reverses (REVERSAL only), if the caller may see it.",
      resolve: (x, _a, ctx) => (x.reversesId ? ctx.loaders.transaction.load(x.reversesId) : null),
    }),
    postedAt: t.field({ type: "DateTime", description: "When the transaction was posted (UTC).", resolve: (x) => new Date(x.postedAt) }),
    balanceAfter: t.int({
      nullable: true,
      ...requiresMemberScopes,
      description:
        "The member's wallet balance right after this transaction, in points. Data category POINTS_BALANCE (it reveals the wallet balance): null with CONSENT_REQUIRED for a partner without consent. Deprecated: 32-bit; AMOUNT_EXCEEDS_INT above 2,147,483,647.",
      deprecationReason: DEPRECATED_INT("balanceAfter64"),
      resolve: (x, _a, ctx) =>
        x.memberId && x.balanceAfter != null ? gated(ctx, { id: x.memberId, sharedScopes: scopesOf(x) }, "POINTS_BALANCE", () => int32Compat(x.balanceAfter!, "PointsTransaction.balanceAfter", "balanceAfter64")) : null,
    }),
    balanceAfter64: t.field({
      type: "BigInt",
      nullable: true,
      ...requiresMemberScopes,
      description:
        "The member's wallet balance right after this transaction, in points (64-bit, a decimal string). Data category POINTS_BALANCE (it reveals the wallet balance): null with CONSENT_REQUIRED for a partner without consent.",
      resolve: (x, _a, ctx) => (x.memberId && x.balanceAfter != null ? gated(ctx, { id: x.memberId, sharedScopes: scopesOf(x) }, "POINTS_BALANCE", () => x.balanceAfter) : null),
    }),
  }),
});

builder.asEntity(TransactionRef, {
  key: builder.selection<{ id: string }>("id"),
  // A representation carries the member's sharedScopes when the planner fetched them for a
  // @requires field (balanceAfter); keep them beside the row.
  // The same rule as `transaction(id:)`: visibility in the loader, and an app acting for the member needs member:wallet.
  resolveReference: async (r, ctx) => {
    requireReadScope(ctx.principal, "member:wallet", "PointsTransaction");
    return withScopes(await ctx.loaders.transaction.load(r.id), (r as RequiredMember).member?.sharedScopes);
  },
});

builder.queryFields((t) => ({
  transaction: t.field({
    type: TransactionRef,
    nullable: true,
    // It shows the balance after it: for an app acting for the member, wallet data.
    authScopes: { memberScope: "member:wallet" },
    description: "A points transaction by id. ADMIN: any; PARTNER: its own (awarded, redeemed or reversed there); MEMBER: its own (an app acting for the member needs member:wallet). Anything else is NOT_FOUND.",
    args: { id: t.arg.id({ description: "The transaction's id." }) },
    resolve: async (_r, { id }, ctx) => {
      const x = await ctx.loaders.transaction.load(String(id));
      if (!x) throw notFound("Transaction", String(id));
      return x;
    },
  }),
}));

export const PageInfoRef = definePageInfo(builder);

/** What the planner adds to a PointsTransaction representation for `balanceAfter` (@requires). */
type RequiredMember = { member?: { sharedScopes?: string[] | null } | null };
/** A row resolved from a representation: the member's sharedScopes for this caller, when the planner sent them. */
type RowWithScopes = LedgerTransactionRow & { memberSharedScopes?: string[] | null };

const withScopes = (row: LedgerTransactionRow | null, scopes: string[] | null | undefined): RowWithScopes | null => (row ? { ...row, memberSharedScopes: scopes ?? null } : null);
/** Without the planner's sharedScopes (a direct subgraph call, a path without @requires) a partner sees nothing: fail closed. */
const scopesOf = (x: LedgerTransactionRow): string[] | null => (x as RowWithScopes).memberSharedScopes ?? null;

import { nodeIdOptions } from "../../../../lib/global-id.ts";
import { NodeRef } from "./node-ref.ts";
import { requireReadScope } from "../../../../lib/authority.ts";
import { notFound } from "../../../../lib/errors.ts";
import { definePageInfo, pageArgs, pageInfoOf } from "../../../../lib/pothos.ts";
import type { BiPage } from "../../../../lib/paging.ts";
import type { Purpose } from "../../../../lib/vocabulary.ts";
import type { Offer, OfferClaim, OfferFunding } from "../../../../prisma/generated/client/client.ts";
import { builder } from "../builder.ts";
import type { PartnerContext } from "../context.ts";
import { claimOffer } from "../services/offers/claims.ts";
import { redeemDiscountCode } from "../services/offers/discount-codes.ts";
import { approveOffer, endOffer, pauseOffer, resumeOffer, submitOffer } from "../services/offers/lifecycle.ts";
import { encodeCursor, listOffers } from "../services/offers/reads.ts";
import { createOffer, updateOffer } from "../services/offers/terms.ts";
import { LifecycleEnum, PurposeEnum, TierEnum } from "./enums.ts";
import { loadPartner, PartnerRef } from "./partner.ts";

export const OfferKindEnum = builder.enumType("OfferKind", {
  description: "What an offer gives the member.",
  values: {
    BONUS_POINTS: { description: "A fixed number of bonus points (bonusPoints) per use, paid from the offer budget." },
    POINTS_MULTIPLIER: { description: "The base earn multiplied by multiplier; the extra points (base × (multiplier − 1)) come from the offer budget." },
    DISCOUNT: { description: "discountPercent off at a redemption partner, through the member's single-member discount code." },
  } as const,
});

export const OfferStatusEnum = builder.enumType("OfferStatus", {
  description: "Where an offer is in its lifecycle: DRAFT → PENDING_APPROVAL → ACTIVE ⇄ PAUSED → ENDED.",
  values: {
    DRAFT: { description: "Being written by its co-issuers; visible only to them (and admins)." },
    PENDING_APPROVAL: { description: "Submitted (or edited after approval); waits for every co-issuer's approval of the current version." },
    ACTIVE: { description: "Approved by every co-issuer and funded: claimable and usable inside its window." },
    PAUSED: { description: "Stopped for now by a co-issuer: no claims or uses until resumed." },
    ENDED: { description: "Over for good (ended by a co-issuer or its window closed); unused budget returns to the funders." },
  } as const,
});

const FundingRef = builder.objectRef<OfferFunding>("OfferFunding").implement({
  description: "A co-issuer of an offer and its share of the funding.",
  fields: (t) => ({
    partner: t.field({ type: PartnerRef, description: "The co-issuing partner.", resolve: (f, _a, ctx) => loadPartner(ctx, f.partnerId) }),
    shareBps: t.exposeInt("shareBps", { description: "Its share of the budget in basis points (1/100 of a percent); the shares of an offer sum to 10,000." }),
    approved: t.boolean({ description: "Whether it approved the offer's current version.", resolve: (f) => f.approvedAt !== null }),
    approvedAt: t.field({ type: "DateTime", nullable: true, description: "When it approved the current version (UTC); null until then.", resolve: (f) => f.approvedAt }),
  }),
});

export const OfferRef = builder.objectRef<Offer>("Offer");
OfferRef.implement({
  description:
    "A co-issued offer: one or more partners fund a points budget in shares and the members who are eligible claim it. Co-issuers see it in every state; partners where it can be used see it once activated; members see active ones and those they claimed.",
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID("id", { description: "The offer's id." }),
    nodeId: t.id(nodeIdOptions("Offer")),
    title: t.exposeString("title", { description: "Title shown to members, 1–120 characters." }),
    description: t.exposeString("description", { nullable: true, description: "Longer text shown to members, at most 2,000 characters." }),
    kind: t.field({ type: OfferKindEnum, description: "What the offer gives.", resolve: (o) => o.kind }),
    bonusPoints: t.exposeInt("bonusPoints", { nullable: true, description: "BONUS_POINTS: points per use, from the offer budget; null otherwise." }),
    multiplier: t.field({
      type: "Decimal",
      nullable: true,
      description: 'POINTS_MULTIPLIER: total multiple of the base earn, e.g. "2" doubles it (the extra comes from the budget); null otherwise.',
      resolve: (o) => o.multiplier,
    }),
    discountPercent: t.exposeInt("discountPercent", { nullable: true, description: "DISCOUNT: percent off, 1–100; null otherwise." }),
    coIssuers: t.field({ type: [FundingRef], description: "The co-issuers with their funding shares and approvals, largest share first.", resolve: (o, _a, ctx) => ctx.loaders.fundings.load(o.id) }),
    redeemableAt: t.field({
      type: [PartnerRef],
      description: "The partners where the offer can be used.",
      resolve: async (o, _a, ctx) => Promise.all((await ctx.loaders.redeemableAt.load(o.id)).map((id) => loadPartner(ctx, id))),
    }),
    minTier: t.field({ type: TierEnum, nullable: true, description: "Lowest tier that may claim it; null = every tier.", resolve: (o) => o.minTier }),
    segments: t.field({
      type: [LifecycleEnum],
      nullable: true,
      description: "Lifecycle segments that may claim it; null = every segment.",
      resolve: (o) => (o.segments.length ? o.segments : null),
    }),
    requiredPurpose: t.field({
      type: PurposeEnum,
      nullable: true,
      description:
        "A consent purpose the member must have granted at least one of the co-issuers, if any: without such a consent, not revoked and not expired, the offer is not in Member.eligibleOffers, claimOffer and redeemDiscountCode are OFFER_NOT_ELIGIBLE and no bonus is paid.",
      resolve: (o) => o.requiredPurpose as Purpose | null,
    }),
    startsAt: t.field({ type: "DateTime", description: "Start of the window (UTC, inclusive).", resolve: (o) => o.startsAt }),
    endsAt: t.field({ type: "DateTime", description: "End of the window (UTC, exclusive); the offer ends by itself then.", resolve: (o) => o.endsAt }),
    budgetPoints: t.exposeInt("budgetPoints", { description: "Total budget in points, funded by the co-issuers in their shares at activation." }),
    perMemberLimit: t.exposeInt("perMemberLimit", { description: "How many times one member may use the offer (at least 1)." }),
    status: t.field({ type: OfferStatusEnum, description: "Lifecycle state.", resolve: (o) => o.status }),
    version: t.exposeInt("version", { description: "Incremented by every edit; approvals always refer to the current version." }),
    createdBy: t.field({ type: PartnerRef, description: "The co-issuer that created it.", resolve: (o, _a, ctx) => loadPartner(ctx, o.createdByPartnerId) }),
    createdAt: t.field({ type: "DateTime", description: "When it was created (UTC).", resolve: (o) => o.createdAt }),
    activatedAt: t.field({ type: "DateTime", nullable: true, description: "When it first became ACTIVE and was funded (UTC).", resolve: (o) => o.activatedAt }),
    endedAt: t.field({ type: "DateTime", nullable: true, description: "When it ended (UTC).", resolve: (o) => o.endedAt }),
  }),
});

builder.asEntity(OfferRef, {
  key: builder.selection<{ id: string }>("id"),
  // Batched, and the same rules as `offer(id:)`: an invisible offer's reference is null; an app acting
  // for the member needs member:offers (else FORBIDDEN naming the scope), e.g. for PointsTransaction.offer.
  // Async, so a refusal is this reference's error (null in its place), not the whole _entities list's.
  resolveReference: async (ref, ctx) => {
    requireReadScope(ctx.principal, "member:offers", "Offer");
    return ctx.loaders.offerById.load(ref.id);
  },
});

export async function loadOffer(ctx: PartnerContext, id: string): Promise<Offer> {
  const o = await ctx.loaders.offerById.load(id);
  if (!o) throw notFound("Offer", id);
  return o;
}

export type ClaimShape = OfferClaim;
export const OfferClaimRef = builder.objectRef<ClaimShape>("OfferClaim");

export const PageInfoRef = definePageInfo(builder);

const OfferEdgeRef = builder.objectRef<Offer>("OfferEdge").implement({
  description: "An offer in a connection.",
  fields: (t) => ({
    cursor: t.string({ description: "Opaque cursor of this offer.", resolve: (o) => encodeCursor(o) }),
    node: t.field({ type: OfferRef, description: "The offer.", resolve: (o) => o }),
  }),
});

const OfferConnectionRef = builder.objectRef<BiPage<Offer>>("OfferConnection").implement({
  description: "A page of offers, newest first (Relay cursor connection, both directions).",
  fields: (t) => ({
    edges: t.field({ type: [OfferEdgeRef], description: "The offers of this page.", resolve: (p) => p.rows }),
    pageInfo: t.field({
      type: PageInfoRef,
      description: "Whether items follow or precede this page, and the cursors to continue from.",
      resolve: (p) => pageInfoOf(p, encodeCursor),
    }),
  }),
});

builder.queryFields((t) => ({
  offer: t.field({
    type: OfferRef,
    nullable: true,
    // A member sees the offers it claimed: for an app acting for the member, offer data.
    authScopes: { memberScope: "member:offers" },
    description: "An offer by id, if the caller may see it (else NOT_FOUND). An app acting for a member needs member:offers.",
    args: { id: t.arg.id({ description: "The offer's id." }) },
    resolve: (_r, { id }, ctx) => loadOffer(ctx, String(id)),
  }),
  offers: t.field({
    type: OfferConnectionRef,
    nullable: true,
    authScopes: { memberScope: "member:offers" },
    description:
      "Offers the caller may see, newest first. PARTNER: the ones it co-issues (any status) and activated ones usable at it; ADMIN: all; MEMBER: active ones and the ones it claimed (an app acting for the member needs member:offers, else null with FORBIDDEN).",
    args: {
      status: t.arg({ type: OfferStatusEnum, required: false, description: "Only offers in this state." }),
      ...pageArgs(t.arg, "offers"),
    },
    resolve: async (_r, args, ctx) => {
      const page = await listOffers(ctx.principal, args);
      for (const o of page.rows) ctx.loaders.offerById.prime(o.id, o);
      return page;
    },
  }),
}));

const FundingInput = builder.inputType("OfferFundingInput", {
  description: "A co-issuer and its funding share.",
  fields: (t) => ({
    partnerId: t.id({ description: "The co-issuing partner (must exist and be active)." }),
    shareBps: t.int({ description: "Its share in basis points, 1–10,000; the shares of an offer sum to exactly 10,000." }),
  }),
});

const termFields = (required: boolean) =>
  builder.inputType(required ? "CreateOfferInput" : "UpdateOfferInput", {
    description: required ? "A new offer. Nothing is written when a field is invalid (BAD_USER_INPUT names the field)." : "Changes to an offer; omitted fields keep their value. Every edit clears all approvals.",
    fields: (t) => ({
      title: t.string({ required, description: "Title shown to members, 1–120 characters." }),
      description: t.string({ required: false, description: "Longer text, at most 2,000 characters." }),
      kind: t.field({ type: OfferKindEnum, required, description: "What the offer gives; decides which of bonusPoints, multiplier, discountPercent is required." }),
      bonusPoints: t.int({ required: false, description: "BONUS_POINTS only: points per use, 1–1,000,000." }),
      multiplier: t.field({ type: "Decimal", required: false, description: 'POINTS_MULTIPLIER only: total multiple of the base earn, > 1 and ≤ 10, e.g. "2".' }),
      discountPercent: t.int({ required: false, description: "DISCOUNT only: percent off, 1–100." }),
      coIssuers: t.field({
        type: [FundingInput],
        required,
        description: "1–10 co-issuers with shares summing to 10,000 basis points; the calling partner must be one of them.",
      }),
      redeemableAtPartnerIds: t.idList({ required, description: "1–50 partners where the offer can be used." }),
      minTier: t.field({ type: TierEnum, required: false, description: "Lowest tier that may claim it; omit for every tier." }),
      segments: t.field({ type: [LifecycleEnum], required: false, description: "Lifecycle segments that may claim it; omit or empty for every segment." }),
      requiredPurpose: t.field({
        type: PurposeEnum,
        required: false,
        description: "A consent purpose the member must have granted at least one of the co-issuers (active, not expired) to see, claim and use the offer; omit for none.",
      }),
      startsAt: t.field({ type: "DateTime", required, description: "Start of the window (UTC)." }),
      endsAt: t.field({ type: "DateTime", required, description: "End of the window (UTC), after startsAt and in the future, at most 732 days after startsAt." }),
      budgetPoints: t.int({ required, description: "Total budget in points, > 0 (frozen once funded)." }),
      perMemberLimit: t.int({ required, description: "How many times one member may use it, 1–1,000." }),
    }),
  });
const CreateOfferInput = termFields(true);
const UpdateOfferInput = termFields(false);

builder.mutationFields((t) => ({
  createOffer: t.field({
    type: OfferRef,
    authScopes: { partner: true },
    description: "A partner creates a DRAFT offer with its co-issuers (the caller must be one of them).",
    args: { input: t.arg({ type: CreateOfferInput, description: "The offer's terms." }) },
    resolve: (_r, { input }, ctx) => createOffer(ctx.principal, input, { now: ctx.now }),
  }),
  updateOffer: t.field({
    type: OfferRef,
    authScopes: { partner: true },
    description:
      "A co-issuer edits an offer. All approvals are cleared; a DRAFT stays DRAFT, anything else goes (back) to PENDING_APPROVAL. Budget, kind and shares are frozen once funded. Invisible: NOT_FOUND; visible but not a co-issuer: FORBIDDEN.",
    args: {
      offerId: t.arg.id({ description: "The offer's id." }),
      input: t.arg({ type: UpdateOfferInput, description: "The fields to change." }),
    },
    resolve: (_r, { offerId, input }, ctx) => updateOffer(ctx.principal, String(offerId), input, { now: ctx.now }),
  }),
  submitOffer: t.field({
    type: OfferRef,
    authScopes: { partner: true },
    description: "A co-issuer submits a DRAFT for approval (→ PENDING_APPROVAL).",
    args: { offerId: t.arg.id({ description: "The offer's id." }) },
    resolve: (_r, { offerId }, ctx) => submitOffer(ctx.principal, String(offerId), { now: ctx.now }),
  }),
  approveOffer: t.field({
    type: OfferRef,
    authScopes: { partner: true },
    description: "A co-issuer approves the current version; when all have approved the offer becomes ACTIVE and its budget is funded in the shares.",
    args: { offerId: t.arg.id({ description: "The offer's id." }) },
    resolve: (_r, { offerId }, ctx) => approveOffer(ctx.principal, String(offerId), { now: ctx.now }),
  }),
  pauseOffer: t.field({
    type: OfferRef,
    authScopes: { partner: true },
    description: "A co-issuer pauses an ACTIVE offer: no claims or uses until resumed.",
    args: { offerId: t.arg.id({ description: "The offer's id." }) },
    resolve: (_r, { offerId }, ctx) => pauseOffer(ctx.principal, String(offerId)),
  }),
  resumeOffer: t.field({
    type: OfferRef,
    authScopes: { partner: true },
    description: "A co-issuer resumes a PAUSED offer inside its window.",
    args: { offerId: t.arg.id({ description: "The offer's id." }) },
    resolve: (_r, { offerId }, ctx) => resumeOffer(ctx.principal, String(offerId), { now: ctx.now }),
  }),
  endOffer: t.field({
    type: OfferRef,
    authScopes: { partner: true },
    description: "A co-issuer ends an offer for good; the unused budget returns to the funders in their shares.",
    args: { offerId: t.arg.id({ description: "The offer's id." }) },
    resolve: (_r, { offerId }, ctx) => endOffer(ctx.principal, String(offerId), { now: ctx.now }),
  }),
  claimOffer: t.field({
    type: OfferClaimRef,
    authScopes: { memberAuthority: "member:offers:claim" },
    description:
      "The member claims an active offer inside its window (needs the member's own authority: its session, or an app it granted member:offers:claim; else FORBIDDEN with extensions.scope). The member must be eligible now: tier at least the offer's minTier, lifecycle segment among its segments (if any) and an active, unexpired consent for its requiredPurpose with at least one co-issuer (if set), else OFFER_NOT_ELIGIBLE; all are checked again when the offer is applied. Claiming again returns the same claim; a used-up claim is OFFER_LIMIT_REACHED.",
    args: { offerId: t.arg.id({ description: "The offer's id." }) },
    resolve: (_r, { offerId }, ctx) => claimOffer(ctx.principal, String(offerId), { now: ctx.now }),
  }),
  redeemDiscountCode: t.field({
    type: OfferClaimRef,
    authScopes: { partner: true },
    description:
      "A redemption partner validates a member's DISCOUNT code at checkout and records one use. The member must still be eligible (minTier, segments, requiredPurpose consent, as for claimOffer), else OFFER_NOT_ELIGIBLE and no use is recorded; OFFER_LIMIT_REACHED once the per-member limit is used up.",
    args: { code: t.arg.string({ description: "The code the member shows (case-insensitive)." }) },
    resolve: (_r, { code }, ctx) => redeemDiscountCode(ctx.principal, code, { now: ctx.now }),
  }),
}));

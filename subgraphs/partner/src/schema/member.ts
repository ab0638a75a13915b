import { readsUngated } from "../../../../lib/principal.ts";
import type { DataCategory, Lifecycle, Tier } from "../../../../lib/vocabulary.ts";
import type { Offer, OfferClaim } from "../../../../prisma/generated/client/client.ts";
import { builder } from "../builder.ts";
import type { PartnerContext } from "../context.ts";
import { prisma } from "../db.ts";
import { eligibleAmong } from "../services/offers/eligibility.ts";
import { DataCategoryEnum, LifecycleEnum, TierEnum } from "./enums.ts";
import { loadOffer, OfferClaimRef, OfferRef } from "./offer.ts";

/** What the query planner hands us for a member: its id and the fields we @require. */
interface MemberFacts {
  id: string;
  tierLevel?: Tier | null;
  segment?: Lifecycle | null;
  sharedScopes?: DataCategory[] | null;
}

/**
 * Member is owned by the member subgraph. This subgraph adds the member's offers. The facts it
 * needs come through @requires: `tierLevel` (points), `segment` and `sharedScopes` (member), all
 * @inaccessible in the public API.
 *
 * Who sees what: the member itself and admins see everything. A partner sees a member's offers
 * only as far as it may read the data they reveal: eligibleOffers reveal tier and segment (needs
 * TIER and SEGMENTS in sharedScopes), claims are activity (needs ACTIVITY) and it sees only claims
 * of offers it co-issues or that can be used at it. sharedScopes is empty for a member the partner
 * is not linked to, so an unlinked member's offers are always empty.
 */
export const MemberRef = builder.externalRef("Member", builder.selection<{ id: string }>("id")).implement({
  description: "A coalition member (owned by the member subgraph); this subgraph adds the offers the member may claim and has claimed.",
  externalFields: (t) => ({
    tierLevel: t.field({ type: TierEnum }),
    segment: t.field({ type: LifecycleEnum }),
    sharedScopes: t.field({ type: [DataCategoryEnum] }),
  }),
  fields: (t) => ({
    id: t.exposeID("id", { description: "The member's coalition-wide id." }),
    eligibleOffers: t.field({
      type: [OfferRef],
      nullable: true,
      authScopes: { memberScope: "member:offers" },
      description:
        "Offers this member may claim (or still use) now, across all brands: active, inside the window, tier ≥ minTier, segment among the offer's segments, an active (not revoked, not expired) consent for the offer's requiredPurpose with at least one of its co-issuers (if the offer has one), per-member limit not used up. Remaining budget is checked when the offer is applied. A partner needs the member's TIER and SEGMENTS consent for the request's purpose; otherwise the list is empty. An app acting for the member needs member:offers (else null with FORBIDDEN, extensions.scope).",
      requires: builder.selection<{ tierLevel?: Tier | null; segment?: Lifecycle | null; sharedScopes?: DataCategory[] | null }>("tierLevel segment sharedScopes"),
      resolve: async (m, _a, ctx) => {
        const facts = m as MemberFacts;
        if (!mayRead(ctx, facts, ["TIER", "SEGMENTS"])) return [];
        // The list reveals tier and segment: a partner's (or its app's) read is in the member's access log.
        ctx.access.record(facts.id, "TIER", "SEGMENTS");
        // The eligibility inputs' statement also reads the offer catalog's version; the live offers
        // come from the cross-request cache when it matches (services/offers/catalog.ts), else load.
        const { uses: claims, consents, catalogVersion } = await ctx.loaders.eligibilityInputs.load(facts.id);
        const live = await ctx.loaders.liveOffers.load(catalogVersion === undefined ? "read" : catalogVersion);
        // Co-issuers of the offers that need a consent: loaded with the live offers (no further query).
        return eligibleAmong(live.offers, { tierLevel: facts.tierLevel, segment: facts.segment, consents }, claims, live.coIssuersOf, ctx.now);
      },
    }),
    claimedOffers: t.field({
      type: [OfferClaimRef],
      nullable: true,
      authScopes: { memberScope: "member:offers" },
      description:
        "The member's offer claims and how often each was used, newest first. A partner needs the member's ACTIVITY consent for the request's purpose and sees only claims of offers it co-issues or that can be used at it. An app acting for the member needs member:offers (else null with FORBIDDEN, extensions.scope).",
      requires: builder.selection<{ sharedScopes?: DataCategory[] | null }>("sharedScopes"),
      resolve: async (m, _a, ctx) => {
        const facts = m as MemberFacts;
        if (!mayRead(ctx, facts, ["ACTIVITY"])) return [];
        ctx.access.record(facts.id, "ACTIVITY");
        const claims = await ctx.loaders.claimsOfMember.load(facts.id);
        if (ctx.principal.role !== "PARTNER") return claims;
        // The offer loader applies the partner's visibility rule (co-issued, or usable at it once activated).
        const visible = await Promise.all(claims.map((c) => ctx.loaders.offerById.load(c.offerId)));
        return claims.filter((_c, i) => visible[i]);
      },
    }),
  }),
});

/** The member itself and admins read ungated; a partner needs every category in the member's sharedScopes. */
function mayRead(ctx: PartnerContext, m: MemberFacts, categories: DataCategory[]): boolean {
  const p = ctx.principal;
  if (readsUngated(p, m.id)) return true;
  if (p.role !== "PARTNER") return false;
  const scopes = new Set(m.sharedScopes ?? []);
  return categories.every((c) => scopes.has(c));
}

OfferClaimRef.implement({
  description: "A member's claim of an offer, and how often it was used.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The claim's id." }),
    offer: t.field({
      type: OfferRef,
      description: "The claimed offer.",
      resolve: (c, _a, ctx) => ("offer" in c && c.offer ? (c as OfferClaim & { offer: Offer }).offer : loadOffer(ctx, c.offerId)),
    }),
    // `member` is resolved by the member subgraph from this key field (see PointsTransaction.memberId
    // in points: the Rust planner cannot plan `me { claimedOffers { member { claimedOffers } } }`
    // when this subgraph serves it).
    memberId: t.exposeID("memberId", { inaccessible: true, description: "The member who claimed it (for the member subgraph's `member` field)." }),
    claimedAt: t.field({ type: "DateTime", description: "When the member claimed it (UTC).", resolve: (c) => c.claimedAt }),
    usedCount: t.exposeInt("usedCount", { description: "How many times it was used (at most the offer's perMemberLimit)." }),
    discountCode: t.string({
      nullable: true,
      description: "DISCOUNT offers: the code the member shows at a redemption partner. Only the member itself and admins see it; null otherwise.",
      resolve: (c, _a, ctx) => (readsUngated(ctx.principal, c.memberId) ? c.discountCode : null),
    }),
  }),
});

// An entity so the member subgraph can add `member` (from memberId). The planner only comes back
// here for a claim it already got from this subgraph (clients cannot send _entities: it is not in
// the public schema), so the reference is the claim's row.
builder.asEntity(OfferClaimRef, {
  key: builder.selection<{ id: string }>("id"),
  resolveReference: (r) => prisma().offerClaim.findUnique({ where: { id: r.id } }) as Promise<OfferClaim>,
});

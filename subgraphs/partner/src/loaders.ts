import DataLoader from "dataloader";
import type { HubContext } from "../../../lib/pothos.ts";
import type { ApiClient, Offer, OfferClaim, OfferFunding, Partner, PartnerRate } from "../../../prisma/generated/client/client.ts";
import { clientsOfPartners } from "./services/api-clients.ts";
import { type LiveOfferSnapshot, liveOfferSnapshot } from "./services/offers/catalog.ts";
import { type EligibilityInputs, eligibilityInputsOf } from "./services/offers/eligibility.ts";
import { claimsOfMembers, fundingsOf, redeemableAtOf } from "./services/offers/reads.ts";
import { visibleOffers } from "./services/offers/visibility.ts";
import { partnersByIds, rateHistories, ratesAtMany } from "./services/partners.ts";

/**
 * Every entity and list lookup of this subgraph goes through a DataLoader (no N+1). Fresh per
 * request: batching within a request, nothing cached across requests — except the live-offer list,
 * which `liveOffers` takes from services/offers/catalog.ts's cache, checked against the database's
 * catalog version on every request (exact invalidation).
 */
export function createLoaders(ctx: HubContext, now: Date) {
  const actor = ctx.principal;
  const byKey = <V>(m: Map<string, V>, ids: readonly string[], fallback: V) => ids.map((id) => m.get(id) ?? fallback);
  const loaders = {
    partnerById: new DataLoader<string, Partner | null>(async (ids) => byKey(await partnersByIds(ids), ids, null)),
    /** The rate in force now (the request's clock). Callers check who may see it. */
    currentRate: new DataLoader<string, PartnerRate | null>(async (ids) => byKey(await ratesAtMany(ids, now), ids, null)),
    rateHistory: new DataLoader<string, PartnerRate[]>(async (ids) => byKey(await rateHistories(ids), ids, [])),
    apiClients: new DataLoader<string, ApiClient[]>(async (ids) => byKey(await clientsOfPartners(ids), ids, [])),
    /** Offers the caller may see (null otherwise): the visibility rule of reads, references and writes. */
    offerById: new DataLoader<string, Offer | null>(async (ids) => byKey(await visibleOffers(actor, ids), ids, null)),
    fundings: new DataLoader<string, OfferFunding[]>(async (ids) => byKey(await fundingsOf(ids), ids, [])),
    redeemableAt: new DataLoader<string, string[]>(async (ids) => byKey(await redeemableAtOf(ids), ids, [])),
    /**
     * The live offers at the request's clock, with their co-issuers and co-issuing partners, keyed
     * by the catalog version the caller read (`eligibilityInputs` reads it in its statement; "read"
     * = read it here): every member of a request shares one snapshot, from the cross-request cache
     * when the version and the clock fit it (offers/catalog.ts). Primes `fundings` and `partnerById`,
     * so eligibility and `coIssuers { partner }` need no further query. The snapshot is frozen.
     */
    liveOffers: new DataLoader<bigint | null | "read", LiveOfferSnapshot>(async (keys) =>
      Promise.all(
        keys.map(async (k) => {
          const s = await liveOfferSnapshot(now, k === "read" ? undefined : k);
          for (const o of s.offers) {
            loaders.fundings.prime(o.id, s.fundings.get(o.id) as OfferFunding[]);
            for (const f of o.fundings) loaders.partnerById.prime(f.partnerId, f.partner);
          }
          return s;
        }),
      ),
    ),
    /** Every claim of a member, with its offer. Callers filter what the principal may see. */
    claimsOfMember: new DataLoader<string, (OfferClaim & { offer: Offer })[]>(async (ids) => byKey(await claimsOfMembers(ids), ids, [])),
    /** What eligibility needs of a member besides the offers (claim use counts, unrevoked consents): one statement. */
    eligibilityInputs: new DataLoader<string, EligibilityInputs>(async (ids) => byKey(await eligibilityInputsOf(ids), ids, { uses: [], consents: [] })),
  };
  return loaders;
}
export type PartnerLoaders = ReturnType<typeof createLoaders>;

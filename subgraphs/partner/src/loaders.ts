import DataLoader from "dataloader";
import type { HubContext } from "../../../lib/pothos.ts";
import type { ApiClient, Offer, OfferClaim, OfferFunding, Partner, PartnerRate } from "../../../prisma/generated/client/client.ts";
import { clientsOfPartners } from "./services/api-clients.ts";
import { claimsOfMembers, type EligibilityInputs, eligibilityInputsOf, fundingsOf, type LiveOffer, liveOffers, redeemableAtOf, visibleOffers } from "./services/offers.ts";
import { partnersByIds, rateHistories, ratesAtMany } from "./services/partners.ts";

/**
 * Every entity and list lookup of this subgraph goes through a DataLoader (no N+1). Fresh per
 * request: batching within a request, nothing cached across requests.
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
     * The live offers (one key: every member of a request shares one query), with their co-issuers
     * and co-issuing partners: primes `fundings` and `partnerById`, so eligibility and
     * `coIssuers { partner }` need no further query.
     */
    liveOffers: new DataLoader<"live", LiveOffer[]>(async (keys) => {
      const rows = await liveOffers(now);
      for (const o of rows) {
        loaders.fundings.prime(o.id, o.fundings.map(({ partner: _p, ...f }) => f));
        for (const f of o.fundings) loaders.partnerById.prime(f.partnerId, f.partner);
      }
      return keys.map(() => rows);
    }),
    /** Every claim of a member, with its offer. Callers filter what the principal may see. */
    claimsOfMember: new DataLoader<string, (OfferClaim & { offer: Offer })[]>(async (ids) => byKey(await claimsOfMembers(ids), ids, [])),
    /** What eligibility needs of a member besides the offers (claim use counts, unrevoked consents): one statement. */
    eligibilityInputs: new DataLoader<string, EligibilityInputs>(async (ids) => byKey(await eligibilityInputsOf(ids), ids, { uses: [], consents: [] })),
  };
  return loaders;
}
export type PartnerLoaders = ReturnType<typeof createLoaders>;

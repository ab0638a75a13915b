import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { delegatedPrincipal, expectNoGraphQLErrors, partnerViewPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma } from "../db.ts";
import { codes, memberPrincipal, newPartner, type PartnerHarness, partnerPrincipal, startPartnerHarness } from "../testing/harness.ts";

/**
 * Issue 13 in the partner subgraph: claiming an offer needs the member's own authority
 * (member:offers:claim); an app acting for the member reads offers only with member:offers; a
 * partner-view token (token exchange) reaches only the member queries (here: its member's offers
 * through _entities), never partner-level data or mutations.
 */
let h: PartnerHarness;
beforeAll(async () => {
  h = await startPartnerHarness();
});
afterAll(() => h?.close());

const DAY = 86_400_000;
const CREATE = `mutation($i: CreateOfferInput!) { createOffer(input: $i) { id } }`;
const act = (name: string) => `mutation($o: ID!) { ${name}(offerId: $o) { id status } }`;
const CLAIM = `mutation($o: ID!) { claimOffer(offerId: $o) { id offer { id } } }`;
const MEMBER_OFFERS = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { id eligibleOffers { id } claimedOffers { offer { id } } } } }`;
const rep = (id: string, sharedScopes: string[] = []) => ({ __typename: "Member", id, tierLevel: "BASE", segment: "ACTIVE", sharedScopes });

async function activeOffer(partnerId: string) {
  const o = expectNoGraphQLErrors(
    await h.as<{ createOffer: { id: string } }>(partnerPrincipal(partnerId), CREATE, {
      i: {
        title: "Member treat",
        kind: "BONUS_POINTS",
        bonusPoints: 50,
        coIssuers: [{ partnerId, shareBps: 10_000 }],
        redeemableAtPartnerIds: [partnerId],
        startsAt: new Date(Date.now() - 60_000).toISOString(),
        endsAt: new Date(Date.now() + 30 * DAY).toISOString(),
        budgetPoints: 5_000,
        perMemberLimit: 1,
      },
    }),
  ).createOffer;
  expectNoGraphQLErrors(await h.as(partnerPrincipal(partnerId), act("submitOffer"), { o: o.id }));
  expectNoGraphQLErrors(await h.as(partnerPrincipal(partnerId), act("approveOffer"), { o: o.id }));
  return o;
}

const accessEvents = async (memberId: string) =>
  (await prisma().partnerOutboxEvent.findMany({ where: { type: "partner.data_accessed", payload: { path: ["memberId"], equals: memberId } }, orderBy: { createdAt: "asc" } })).map((e) => e.payload);
const scopeOf = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => (r.errors ?? []).map((e) => [e.extensions?.code, e.extensions?.scope]);

describe("claimOffer needs the member's own authority (member:offers:claim)", () => {
  test("a partner token, a partner-view token and an app without the scope are FORBIDDEN; the member and an app with the scope claim", async () => {
    const shop = await newPartner();
    const o = await activeOffer(shop.id);
    const m = crypto.randomUUID();
    expect(codes(await h.as(partnerPrincipal(shop.id), CLAIM, { o: o.id }))).toEqual(["FORBIDDEN"]);
    expect(codes(await h.as(partnerViewPrincipal(shop.id, m), CLAIM, { o: o.id }))).toEqual(["FORBIDDEN"]);
    const noScope = await h.as(delegatedPrincipal(m, shop.id, ["member:offers", "member:wallet"]), CLAIM, { o: o.id });
    expect(scopeOf(noScope)).toEqual([["FORBIDDEN", "member:offers:claim"]]);
    expect(noScope.errors?.[0]?.message).toMatch(/member:offers:claim/);
    expect(await prisma().offerClaim.count({ where: { offerId: o.id } })).toBe(0);

    const viaApp = expectNoGraphQLErrors(await h.as<{ claimOffer: { offer: { id: string } } }>(delegatedPrincipal(m, shop.id, ["member:offers:claim"]), CLAIM, { o: o.id }));
    expect(viaApp.claimOffer.offer.id).toBe(o.id);
    const other = crypto.randomUUID();
    expectNoGraphQLErrors(await h.as(memberPrincipal(other), CLAIM, { o: o.id }));
    expect(await prisma().offerClaim.count({ where: { offerId: o.id } })).toBe(2);
  });
});

describe("an app acting for the member reads offers only with member:offers", () => {
  test("eligibleOffers and claimedOffers are null with FORBIDDEN (extensions.scope) without it, answered with it; offers(...) likewise", async () => {
    const shop = await newPartner();
    const o = await activeOffer(shop.id);
    const m = crypto.randomUUID();
    expectNoGraphQLErrors(await h.as(memberPrincipal(m), CLAIM, { o: o.id }));

    const without = await h.as<{ _entities: { eligibleOffers: unknown; claimedOffers: unknown }[] }>(delegatedPrincipal(m, shop.id, ["member:wallet", "member:profile"]), MEMBER_OFFERS, { r: [rep(m)] });
    expect(without.data?._entities[0]).toEqual({ id: m, eligibleOffers: null, claimedOffers: null });
    expect(scopeOf(without)).toEqual([
      ["FORBIDDEN", "member:offers"],
      ["FORBIDDEN", "member:offers"],
    ]);

    const withScope = expectNoGraphQLErrors(
      await h.as<{ _entities: { eligibleOffers: { id: string }[]; claimedOffers: { offer: { id: string } }[] }[] }>(delegatedPrincipal(m, shop.id, ["member:offers"]), MEMBER_OFFERS, { r: [rep(m)] }),
    )._entities[0]!;
    expect(withScope.claimedOffers.map((c) => c.offer.id)).toEqual([o.id]);
    // The app's read is in the member's access log (via partner.data_accessed) under its partner.
    expect(await accessEvents(m)).toEqual([expect.objectContaining({ memberId: m, partnerId: shop.id, categories: ["TIER", "ACTIVITY", "SEGMENTS"], purpose: "ACCOUNT_SERVICING" })]);

    const LIST = `{ offers(first: 5) { edges { node { id } } } }`;
    const listed = await h.as<{ offers: unknown }>(delegatedPrincipal(m, shop.id, ["member:wallet"]), LIST);
    expect(listed.data?.offers).toBeNull();
    expect(scopeOf(listed)).toEqual([["FORBIDDEN", "member:offers"]]);
    expectNoGraphQLErrors(await h.as(delegatedPrincipal(m, shop.id, ["member:offers"]), LIST));
    // The member's own session is never scope-gated, and its reads are not logged.
    expectNoGraphQLErrors(await h.as(memberPrincipal(m), MEMBER_OFFERS, { r: [rep(m)] }));
    expect(await accessEvents(m)).toHaveLength(1);
  });
});

describe("a partner-view token (token exchange) is the partner's view of its one member, nothing else", () => {
  test("its member's offers answer exactly as for the partner (consent-gated); partner-level queries and every mutation are FORBIDDEN", async () => {
    const shop = await newPartner();
    const o = await activeOffer(shop.id);
    const m = crypto.randomUUID();
    const view = partnerViewPrincipal(shop.id, m);

    // The member's offers through the gateway's entity fetch: as the partner sees them.
    const noConsent = expectNoGraphQLErrors(await h.as<{ _entities: { eligibleOffers: { id: string }[] }[] }>(view, MEMBER_OFFERS, { r: [rep(m)] }))._entities[0]!;
    expect(noConsent.eligibleOffers).toEqual([]);
    const consented = expectNoGraphQLErrors(await h.as<{ _entities: { eligibleOffers: { id: string }[] }[] }>(view, MEMBER_OFFERS, { r: [rep(m, ["TIER", "SEGMENTS"])] }))._entities[0]!;
    expect(consented.eligibleOffers.map((x) => x.id)).toContain(o.id);
    // Only the consented read disclosed anything: one access-log event, under the partner and the request's purpose.
    expect(await accessEvents(m)).toEqual([expect.objectContaining({ partnerId: shop.id, categories: ["TIER", "SEGMENTS"], purpose: "ACCOUNT_SERVICING" })]);

    for (const q of [`{ offers(first: 5) { edges { node { id } } } }`, `query($id: ID!) { offer(id: $id) { id } }`, `query($id: ID!) { partner(id: $id) { id } }`, `{ partners { id } }`]) {
      const r = await h.as(view, q, { id: q.includes("offer(") ? o.id : shop.id });
      expect(codes(r), q).toEqual(["FORBIDDEN"]);
      // The same query with the partner's own API client answers.
      expect(codes(await h.as(partnerPrincipal(shop.id), q, { id: q.includes("offer(") ? o.id : shop.id })), q).toEqual([]);
    }
    for (const [q, v] of [
      [act("pauseOffer"), { o: o.id }],
      [`mutation($c: String!) { revokeApiClient(clientId: $c) { clientId } }`, { c: `client-${shop.id}` }],
      [`mutation($c: String!) { redeemDiscountCode(code: $c) { id } }`, { c: "ABCDEFGHJK" }],
      [CLAIM, { o: o.id }],
    ] as const) {
      expect(codes(await h.as(view, q, v)), q).toEqual(["FORBIDDEN"]);
    }
    expect((await prisma().offer.findUniqueOrThrow({ where: { id: o.id } })).status).toBe("ACTIVE");
  });

  test("partner-private fields reached by nesting (rates, API clients) stay hidden", async () => {
    const shop = await newPartner();
    const PRIVATE = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Partner { id issuePrice redemptionRate rateHistory { issuePrice } apiClients { clientId } } } }`;
    const own = expectNoGraphQLErrors(await h.as<{ _entities: { issuePrice: string | null; rateHistory: unknown[] }[] }>(partnerPrincipal(shop.id), PRIVATE, { r: [{ __typename: "Partner", id: shop.id }] }));
    expect(own._entities[0]!.issuePrice).not.toBeNull();
    const viewed = expectNoGraphQLErrors(await h.as(partnerViewPrincipal(shop.id, crypto.randomUUID()), PRIVATE, { r: [{ __typename: "Partner", id: shop.id }] }));
    expect(viewed._entities).toEqual([{ id: shop.id, issuePrice: null, redemptionRate: null, rateHistory: [], apiClients: [] }]);
  });
});

describe("an Offer reference (e.g. PointsTransaction.offer) answers only where offer(id:) would", () => {
  test("an app acting for the member without member:offers gets null with FORBIDDEN (scope member:offers); with it, or the member itself, the offer", async () => {
    const shop = await newPartner();
    const o = await activeOffer(shop.id);
    const m = crypto.randomUUID();
    const REF = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Offer { id title } } }`;
    const r = { r: [{ __typename: "Offer", id: o.id }] };
    const without = await h.as<{ _entities: unknown[] }>(delegatedPrincipal(m, shop.id, ["member:wallet"]), REF, r);
    expect(without.data?._entities).toEqual([null]);
    expect(scopeOf(without)).toEqual([["FORBIDDEN", "member:offers"]]);
    expect(expectNoGraphQLErrors(await h.as<{ _entities: unknown[] }>(delegatedPrincipal(m, shop.id, ["member:offers"]), REF, r))._entities).toEqual([{ id: o.id, title: "Member treat" }]);
    expect(expectNoGraphQLErrors(await h.as<{ _entities: unknown[] }>(memberPrincipal(m), REF, r))._entities).toEqual([{ id: o.id, title: "Member treat" }]);
  });
});

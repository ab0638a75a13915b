import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { onPostgres } from "../../../../tests/support/db.ts";
import { expectNoGraphQLErrors } from "../../../../tests/support/subgraph.ts";
import { prisma } from "../db.ts";
import { endExpiredOffers } from "../services/offers/lifecycle.ts";
import { adminPrincipal, codes, memberPrincipal, newPartner, type PartnerHarness, partnerPrincipal, startPartnerHarness } from "../testing/harness.ts";

let h: PartnerHarness;
beforeAll(async () => {
  h = await startPartnerHarness();
});
afterAll(() => h?.close());

const DAY = 86_400_000;
const OFFER = `id status version kind bonusPoints budgetPoints perMemberLimit coIssuers { partner { id } shareBps approved } redeemableAt { id }`;
const CREATE = `mutation($i: CreateOfferInput!) { createOffer(input: $i) { ${OFFER} } }`;
const act = (name: string) => `mutation($o: ID!) { ${name}(offerId: $o) { ${OFFER} } }`;
const GET = `query($id: ID!) { offer(id: $id) { id status } }`;

type OfferOut = { id: string; status: string; version: number; coIssuers: { partner: { id: string }; shareBps: number; approved: boolean }[] };

function terms(issuers: [string, number][], redeemable: string[], extra: Record<string, unknown> = {}) {
  return {
    title: "Double up",
    kind: "BONUS_POINTS",
    bonusPoints: 100,
    coIssuers: issuers.map(([partnerId, shareBps]) => ({ partnerId, shareBps })),
    redeemableAtPartnerIds: redeemable,
    startsAt: new Date(Date.now() - 60_000).toISOString(),
    endsAt: new Date(Date.now() + 90 * DAY).toISOString(),
    budgetPoints: 10_000,
    perMemberLimit: 2,
    ...extra,
  };
}

async function activeOffer(issuers: [string, number][], redeemable: string[], extra: Record<string, unknown> = {}): Promise<OfferOut> {
  const o = expectNoGraphQLErrors(await h.as<{ createOffer: OfferOut }>(partnerPrincipal(issuers[0]![0]), CREATE, { i: terms(issuers, redeemable, extra) })).createOffer;
  expectNoGraphQLErrors(await h.as(partnerPrincipal(issuers[0]![0]), act("submitOffer"), { o: o.id }));
  let last: OfferOut = o;
  for (const [p] of issuers) last = expectNoGraphQLErrors(await h.as<{ approveOffer: OfferOut }>(partnerPrincipal(p), act("approveOffer"), { o: o.id })).approveOffer;
  expect(last.status).toBe("ACTIVE");
  return last;
}

describe("offer lifecycle", () => {
  test("two partners 60/40: create → submit → both approve → ACTIVE, with the offer_activated event in the outbox", async () => {
    const shop = await newPartner({ category: "ECOMMERCE" });
    const fmcg = await newPartner({ category: "FMCG" });
    const created = expectNoGraphQLErrors(
      await h.as<{ createOffer: OfferOut }>(partnerPrincipal(shop.id), CREATE, {
        i: terms(
          [
            [shop.id, 6000],
            [fmcg.id, 4000],
          ],
          [shop.id, fmcg.id],
          { minTier: "SILVER", segments: ["ACTIVE", "NEW"] },
        ),
      }),
    ).createOffer;
    expect(created).toMatchObject({
      status: "DRAFT",
      version: 1,
      coIssuers: [
        { partner: { id: shop.id }, shareBps: 6000, approved: false },
        { partner: { id: fmcg.id }, shareBps: 4000, approved: false },
      ],
    });
    const submitted = expectNoGraphQLErrors(await h.as<{ submitOffer: OfferOut }>(partnerPrincipal(fmcg.id), act("submitOffer"), { o: created.id })).submitOffer;
    expect(submitted.status).toBe("PENDING_APPROVAL");
    const one = expectNoGraphQLErrors(await h.as<{ approveOffer: OfferOut }>(partnerPrincipal(shop.id), act("approveOffer"), { o: created.id })).approveOffer;
    expect(one.status).toBe("PENDING_APPROVAL");
    expect(one.coIssuers.map((c) => c.approved)).toEqual([true, false]);
    expect(await prisma().partnerOutboxEvent.count({ where: { type: "partner.offer_activated", payload: { path: ["offerId"], equals: created.id } } })).toBe(0);
    const two = expectNoGraphQLErrors(await h.as<{ approveOffer: OfferOut }>(partnerPrincipal(fmcg.id), act("approveOffer"), { o: created.id })).approveOffer;
    expect(two.status).toBe("ACTIVE");
    const events = await prisma().partnerOutboxEvent.findMany({ where: { type: "partner.offer_activated", payload: { path: ["offerId"], equals: created.id } } });
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toMatchObject({
      offerId: created.id,
      kind: "BONUS_POINTS",
      bonusPoints: 100,
      multiplier: null,
      budgetPoints: 10_000,
      perMemberLimit: 2,
      minTier: "SILVER",
      segments: ["NEW", "ACTIVE"],
      redeemableAtPartnerIds: [shop.id, fmcg.id].sort(),
      fundings: [
        { partnerId: shop.id, shareBps: 6000 },
        { partnerId: fmcg.id, shareBps: 4000 },
      ],
      reactivation: false,
    });
    // Approving again is a no-op (no second event).
    expectNoGraphQLErrors(await h.as(partnerPrincipal(fmcg.id), act("approveOffer"), { o: created.id }));
    expect(await prisma().partnerOutboxEvent.count({ where: { type: "partner.offer_activated", payload: { path: ["offerId"], equals: created.id } } })).toBe(1);

    // Editing the active offer sends it back for approval; financial terms are frozen.
    const UPDATE = `mutation($o: ID!, $i: UpdateOfferInput!) { updateOffer(offerId: $o, input: $i) { ${OFFER} title } }`;
    expect(codes(await h.as(partnerPrincipal(shop.id), UPDATE, { o: created.id, i: { budgetPoints: 20_000 } }))).toEqual(["BAD_USER_INPUT"]);
    const edited = expectNoGraphQLErrors(await h.as<{ updateOffer: OfferOut }>(partnerPrincipal(shop.id), UPDATE, { o: created.id, i: { title: "Double up!" } })).updateOffer;
    expect(edited).toMatchObject({ status: "PENDING_APPROVAL", version: 2, title: "Double up!" });
    expect(edited.coIssuers.every((c) => !c.approved)).toBe(true);
    expectNoGraphQLErrors(await h.as(partnerPrincipal(shop.id), act("approveOffer"), { o: created.id }));
    expectNoGraphQLErrors(await h.as(partnerPrincipal(fmcg.id), act("approveOffer"), { o: created.id }));
    const re = await prisma().partnerOutboxEvent.findMany({ where: { type: "partner.offer_activated", payload: { path: ["offerId"], equals: created.id } }, orderBy: { createdAt: "asc" } });
    expect(re.map((e) => (e.payload as { reactivation: boolean }).reactivation)).toEqual([false, true]);

    // Pause, resume, end: end emits partner.offer_ended.
    expect(expectNoGraphQLErrors(await h.as<{ pauseOffer: OfferOut }>(partnerPrincipal(fmcg.id), act("pauseOffer"), { o: created.id })).pauseOffer.status).toBe("PAUSED");
    expect(expectNoGraphQLErrors(await h.as<{ resumeOffer: OfferOut }>(partnerPrincipal(shop.id), act("resumeOffer"), { o: created.id })).resumeOffer.status).toBe("ACTIVE");
    expect(expectNoGraphQLErrors(await h.as<{ endOffer: OfferOut }>(partnerPrincipal(shop.id), act("endOffer"), { o: created.id })).endOffer.status).toBe("ENDED");
    const ended = await prisma().partnerOutboxEvent.findMany({ where: { type: "partner.offer_ended", payload: { path: ["offerId"], equals: created.id } } });
    expect(ended).toHaveLength(1);
    expect(codes(await h.as(partnerPrincipal(shop.id), act("resumeOffer"), { o: created.id }))).toEqual(["OFFER_NOT_ACTIVE"]);
  });

  test("validation: shares must sum to 10,000; the caller must be a co-issuer; window, budget and limit checked; only partners create", async () => {
    const a = await newPartner();
    const b = await newPartner();
    const bad = async (t: Record<string, unknown>, who = partnerPrincipal(a.id)) => codes(await h.as(who, CREATE, { i: t }));
    expect(
      await bad(
        terms(
          [
            [a.id, 6000],
            [b.id, 3000],
          ],
          [a.id],
        ),
      ),
    ).toEqual(["BAD_USER_INPUT"]);
    expect(
      await bad(
        terms(
          [
            [a.id, 6000],
            [b.id, 5000],
          ],
          [a.id],
        ),
      ),
    ).toEqual(["BAD_USER_INPUT"]);
    expect(await bad(terms([[b.id, 10_000]], [a.id]))).toEqual(["BAD_USER_INPUT"]);
    expect(
      await bad(
        terms(
          [
            [a.id, 5000],
            [a.id, 5000],
          ],
          [a.id],
        ),
      ),
    ).toEqual(["BAD_USER_INPUT"]);
    expect(await bad(terms([[a.id, 10_000]], [a.id], { budgetPoints: 0 }))).toEqual(["BAD_USER_INPUT"]);
    expect(await bad(terms([[a.id, 10_000]], [a.id], { perMemberLimit: 0 }))).toEqual(["BAD_USER_INPUT"]);
    expect(await bad(terms([[a.id, 10_000]], [a.id], { endsAt: new Date(Date.now() - DAY).toISOString() }))).toEqual(["BAD_USER_INPUT"]);
    expect(await bad(terms([[a.id, 10_000]], [a.id], { kind: "POINTS_MULTIPLIER" }))).toEqual(["BAD_USER_INPUT"]);
    expect(await bad(terms([[a.id, 10_000]], [a.id], { kind: "DISCOUNT", bonusPoints: null, discountPercent: 150 }))).toEqual(["BAD_USER_INPUT"]);
    expect(await bad(terms([[a.id, 10_000]], [crypto.randomUUID()]))).toEqual(["BAD_USER_INPUT"]);
    const eleven = Array.from({ length: 11 }, (_, i) => [i === 0 ? a.id : crypto.randomUUID(), i === 0 ? 9990 : 1] as [string, number]);
    expect(await bad(terms(eleven, [a.id]))).toEqual(["BAD_USER_INPUT"]);
    expect(await bad(terms([[a.id, 10_000]], [a.id]), adminPrincipal())).toEqual(["FORBIDDEN"]);
    expect(await bad(terms([[a.id, 10_000]], [a.id]), memberPrincipal(crypto.randomUUID()))).toEqual(["FORBIDDEN"]);
    expect(await prisma().offer.count({ where: { createdByPartnerId: a.id } })).toBe(0);
  });

  test("a partner that is not a co-issuer cannot see drafts, approve, pause or end (NOT_FOUND while invisible, FORBIDDEN once visible)", async () => {
    const a = await newPartner();
    const b = await newPartner();
    const outsider = await newPartner();
    const draft = expectNoGraphQLErrors(
      await h.as<{ createOffer: OfferOut }>(partnerPrincipal(a.id), CREATE, {
        i: terms(
          [
            [a.id, 5000],
            [b.id, 5000],
          ],
          [a.id, outsider.id],
        ),
      }),
    ).createOffer;
    expect(codes(await h.as(partnerPrincipal(outsider.id), GET, { id: draft.id }))).toEqual(["NOT_FOUND"]);
    expectNoGraphQLErrors(await h.as(partnerPrincipal(b.id), GET, { id: draft.id }));
    for (const m of ["submitOffer", "approveOffer", "pauseOffer", "endOffer"]) {
      expect(codes(await h.as(partnerPrincipal(outsider.id), act(m), { o: draft.id }))).toEqual(["NOT_FOUND"]);
    }
    const list = expectNoGraphQLErrors(await h.as<{ offers: { edges: { node: { id: string } }[] } }>(partnerPrincipal(outsider.id), `{ offers(first: 100) { edges { node { id } } } }`));
    expect(list.offers.edges.map((e) => e.node.id)).not.toContain(draft.id);
    const ents = expectNoGraphQLErrors(
      await h.as<{ _entities: unknown[] }>(partnerPrincipal(outsider.id), `query($r: [_Any!]!) { _entities(representations: $r) { ... on Offer { id status } } }`, {
        r: [{ __typename: "Offer", id: draft.id }],
      }),
    );
    expect(ents._entities).toEqual([null]);
    // Members do not see drafts either.
    expect(codes(await h.as(memberPrincipal(crypto.randomUUID()), GET, { id: draft.id }))).toEqual(["NOT_FOUND"]);

    // Once active, a redemption partner sees it but still may not act on it.
    expectNoGraphQLErrors(await h.as(partnerPrincipal(a.id), act("submitOffer"), { o: draft.id }));
    expectNoGraphQLErrors(await h.as(partnerPrincipal(a.id), act("approveOffer"), { o: draft.id }));
    expectNoGraphQLErrors(await h.as(partnerPrincipal(b.id), act("approveOffer"), { o: draft.id }));
    expect(expectNoGraphQLErrors(await h.as<{ offer: OfferOut }>(partnerPrincipal(outsider.id), GET, { id: draft.id })).offer.status).toBe("ACTIVE");
    for (const m of ["approveOffer", "pauseOffer", "endOffer"]) {
      expect(codes(await h.as(partnerPrincipal(outsider.id), act(m), { o: draft.id }))).toEqual(["FORBIDDEN"]);
    }
  });

  test("offers(): Relay pages over what the caller sees; admin sees all", async () => {
    const a = await newPartner();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(expectNoGraphQLErrors(await h.as<{ createOffer: OfferOut }>(partnerPrincipal(a.id), CREATE, { i: terms([[a.id, 10_000]], [a.id]) })).createOffer.id);
    const Q = `query($after: String) { offers(first: 2, after: $after, status: DRAFT) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const r: { offers: { edges: { node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = expectNoGraphQLErrors(await h.as(partnerPrincipal(a.id), Q, { after }));
      seen.push(...r.offers.edges.map((e) => e.node.id));
      if (!r.offers.pageInfo.hasNextPage) break;
      after = r.offers.pageInfo.endCursor;
    }
    expect(seen).toEqual([...ids].reverse());
    const admin = expectNoGraphQLErrors(await h.as<{ offers: { edges: { node: { id: string } }[] } }>(adminPrincipal(), `{ offers(first: 100) { edges { node { id } } } }`));
    expect(admin.offers.edges.map((e) => e.node.id)).toEqual(expect.arrayContaining(ids));
    expect(codes(await h.as(partnerPrincipal(a.id), Q, { after: "garbage" }))).toEqual(["BAD_USER_INPUT"]);
  });

  test("endExpiredOffers ends activated offers past their window and emits offer_ended", async () => {
    const a = await newPartner();
    const o = await activeOffer([[a.id, 10_000]], [a.id], { endsAt: new Date(Date.now() + 60_000).toISOString() });
    const ended = await endExpiredOffers(new Date(Date.now() + 120_000));
    expect(ended).toContain(o.id);
    expect((await prisma().offer.findUniqueOrThrow({ where: { id: o.id } })).status).toBe("ENDED");
    expect(await prisma().partnerOutboxEvent.count({ where: { type: "partner.offer_ended", payload: { path: ["offerId"], equals: o.id } } })).toBe(1);
  });
});

describe("members: claims, eligibility, discount codes", () => {
  const ELIGIBLE = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { id eligibleOffers { id } claimedOffers { offer { id } usedCount discountCode } } } }`;
  const rep = (id: string, tierLevel: string, segment: string, sharedScopes: string[] = []) => ({ __typename: "Member", id, tierLevel, segment, sharedScopes });

  test("eligibleOffers filters by tier, segment and limit; partners need consent; claims are idempotent", async () => {
    const a = await newPartner();
    const gold = await activeOffer([[a.id, 10_000]], [a.id], { minTier: "GOLD" });
    const fresh = await activeOffer([[a.id, 10_000]], [a.id], { segments: ["NEW"] });
    const all = await activeOffer([[a.id, 10_000]], [a.id]);
    const m = crypto.randomUUID();
    const get = async (who: ReturnType<typeof memberPrincipal>, tier: string, segment: string, scopes: string[] = []) =>
      expectNoGraphQLErrors(await h.as<{ _entities: { eligibleOffers: { id: string }[]; claimedOffers: { offer: { id: string } }[] }[] }>(who, ELIGIBLE, { r: [rep(m, tier, segment, scopes)] }))._entities[0]!;
    const ids = (r: { eligibleOffers: { id: string }[] }) =>
      r.eligibleOffers
        .map((o) => o.id)
        .filter((id) => [gold.id, fresh.id, all.id].includes(id))
        .sort();
    expect(ids(await get(memberPrincipal(m), "GOLD", "NEW"))).toEqual([gold.id, fresh.id, all.id].sort());
    expect(ids(await get(memberPrincipal(m), "SILVER", "ACTIVE"))).toEqual([all.id]);
    expect(ids(await get(memberPrincipal(m), "DIAMOND", "ACTIVE"))).toEqual([gold.id, all.id].sort());
    // Another member asking about m, and a partner without consent, get nothing.
    expect((await get(memberPrincipal(crypto.randomUUID()), "GOLD", "NEW")).eligibleOffers).toEqual([]);
    expect((await get(partnerPrincipal(a.id), "GOLD", "NEW")).eligibleOffers).toEqual([]);
    expect(ids(await get(partnerPrincipal(a.id), "GOLD", "NEW", ["TIER", "SEGMENTS"]))).toEqual([gold.id, fresh.id, all.id].sort());
    // Both categories: either one alone is not enough.
    expect((await get(partnerPrincipal(a.id), "GOLD", "NEW", ["TIER"])).eligibleOffers).toEqual([]);
    expect((await get(partnerPrincipal(a.id), "GOLD", "NEW", ["SEGMENTS", "ACTIVITY"])).eligibleOffers).toEqual([]);
    // Admins see everything whatever sharedScopes says (the member subgraph gives them all six anyway).
    expect(ids(await get(adminPrincipal(), "GOLD", "NEW"))).toEqual([gold.id, fresh.id, all.id].sort());

    const CLAIM = `mutation($o: ID!) { claimOffer(offerId: $o) { id usedCount offer { id } } }`;
    expect(codes(await h.as(partnerPrincipal(a.id), CLAIM, { o: all.id }))).toEqual(["FORBIDDEN"]);
    const c1 = expectNoGraphQLErrors(await h.as<{ claimOffer: { id: string } }>(memberPrincipal(m), CLAIM, { o: all.id })).claimOffer;
    const c2 = expectNoGraphQLErrors(await h.as<{ claimOffer: { id: string } }>(memberPrincipal(m), CLAIM, { o: all.id })).claimOffer;
    expect(c2.id).toBe(c1.id);
    const claimed = await get(memberPrincipal(m), "BASE", "ACTIVE");
    expect(claimed.claimedOffers.map((c) => c.offer.id)).toEqual([all.id]);
    expect((await get(partnerPrincipal(a.id), "BASE", "ACTIVE")).claimedOffers).toEqual([]);
    expect((await get(partnerPrincipal(a.id), "BASE", "ACTIVE", ["ACTIVITY"])).claimedOffers.map((c) => c.offer.id)).toEqual([all.id]);
    expect((await get(adminPrincipal(), "BASE", "ACTIVE")).claimedOffers.map((c) => c.offer.id)).toEqual([all.id]);
    // Used up → no longer eligible, and claiming again is OFFER_LIMIT_REACHED.
    await prisma().offerClaim.update({ where: { id: c1.id }, data: { usedCount: 2 } });
    expect(ids(await get(memberPrincipal(m), "BASE", "ACTIVE"))).toEqual([]);
    expect(codes(await h.as(memberPrincipal(m), CLAIM, { o: all.id }))).toEqual(["OFFER_LIMIT_REACHED"]);
    // Paused offers cannot be claimed.
    expectNoGraphQLErrors(await h.as(partnerPrincipal(a.id), act("pauseOffer"), { o: fresh.id }));
    expect(codes(await h.as(memberPrincipal(crypto.randomUUID()), CLAIM, { o: fresh.id }))).toEqual(["NOT_FOUND"]);
  });

  test("parallel claims by one member converge on one claim; parallel discount-code uses never exceed the per-member limit", async () => {
    const a = await newPartner();
    const b = await newPartner();
    const o = await activeOffer([[a.id, 10_000]], [a.id, b.id], { kind: "DISCOUNT", bonusPoints: null, discountPercent: 15, perMemberLimit: 3 });
    const m = crypto.randomUUID();
    const CLAIM = `mutation($o: ID!) { claimOffer(offerId: $o) { id discountCode } }`;
    const claims = await Promise.all(Array.from({ length: 20 }, () => h.as<{ claimOffer: { id: string; discountCode: string } }>(memberPrincipal(m), CLAIM, { o: o.id })));
    const ids = new Set(claims.map((r) => expectNoGraphQLErrors(r).claimOffer.id));
    expect(ids.size).toBe(1);
    expect(await prisma().offerClaim.count({ where: { offerId: o.id, memberId: m } })).toBe(1);
    const code = expectNoGraphQLErrors(claims[0]!).claimOffer.discountCode;
    expect(code).toMatch(/^[2-9A-HJKMNP-Z]{10}$/);

    const USE = `mutation($c: String!) { redeemDiscountCode(code: $c) { usedCount discountCode offer { id } } }`;
    const outsider = await newPartner();
    expect(codes(await h.as(partnerPrincipal(outsider.id), USE, { c: code }))).toEqual(["NOT_FOUND"]);
    const uses = await Promise.all(Array.from({ length: onPostgres() ? 30 : 10 }, (_, i) => h.as(partnerPrincipal(i % 2 ? a.id : b.id), USE, { c: code.toLowerCase() })));
    const ok = uses.filter((r) => !r.errors?.length);
    expect(ok).toHaveLength(3);
    expect(uses.flatMap(codes).every((c) => c === "OFFER_LIMIT_REACHED")).toBe(true);
    expect((await prisma().offerClaim.findFirstOrThrow({ where: { offerId: o.id, memberId: m } })).usedCount).toBe(3);
    // The partner never sees the code itself.
    expect((ok[0]!.data as { redeemDiscountCode: { discountCode: string | null } }).redeemDiscountCode.discountCode).toBeNull();
  });
});

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { HubError } from "../../../../../lib/errors.ts";
import { expectNoGraphQLErrors } from "../../../../../tests/support/subgraph.ts";
import { prisma } from "../../db.ts";
import { applyEvent } from "../../../../../lib/events/inbox.ts";
import { eventConsumer } from "../../events.ts";
import { memberPrincipal, newPartner, type PartnerHarness, partnerPrincipal, startPartnerHarness } from "../../testing/harness.ts";
import { claimOffer } from "./claims.ts";
import { redeemDiscountCode } from "./discount-codes.ts";
import { approveOffer, submitOffer } from "./lifecycle.ts";
import { createOffer } from "./terms.ts";

// Offer.requiredPurpose: the member needs a consent for that purpose with at least one co-issuer,
// not revoked and not expired — in Member.eligibleOffers, claimOffer and redeemDiscountCode. The
// partner subgraph knows consents only from member.consent_granted / member.consent_revoked (a copy
// per receipt); tier and segment are re-checked at the checkout too.
let h: PartnerHarness;
beforeAll(async () => {
  h = await startPartnerHarness();
});
afterAll(() => h?.close());

const DAY = 86_400_000;
const NOW = new Date();
const iso = (ms: number) => new Date(NOW.getTime() + ms).toISOString();

async function deliver(type: string, payload: unknown, id = randomUUID()) {
  await prisma().$transaction((tx) => applyEvent(eventConsumer, tx, { id, type, payload, createdAt: NOW.toISOString() }));
}
const granted = (consentId: string, memberId: string, partnerId: string, purpose: string, expiresAt: string | null = null) =>
  deliver("member.consent_granted", { consentId, memberId, partnerId, purpose, categories: ["PROFILE_BASIC"], grantedAt: NOW.toISOString(), expiresAt });
const revoked = (consentId: string, memberId: string, partnerId: string, purpose: string) =>
  deliver("member.consent_revoked", { consentId, memberId, partnerId, purpose, categories: ["PROFILE_BASIC"], revokedAt: NOW.toISOString() });

async function liveOffer(coIssuers: string[], extra: Record<string, unknown>): Promise<string> {
  const o = await createOffer(partnerPrincipal(coIssuers[0]!), {
    title: "Consent",
    kind: "BONUS_POINTS",
    bonusPoints: 50,
    coIssuers: coIssuers.map((partnerId, i) => ({ partnerId, shareBps: i === 0 ? 10_000 - 1_000 * (coIssuers.length - 1) : 1_000 })),
    redeemableAtPartnerIds: [coIssuers[0]!],
    startsAt: new Date(NOW.getTime() - DAY),
    endsAt: new Date(NOW.getTime() + 30 * DAY),
    budgetPoints: 1_000,
    perMemberLimit: 3,
    ...extra,
  });
  await submitOffer(partnerPrincipal(coIssuers[0]!), o.id);
  for (const p of coIssuers) await approveOffer(partnerPrincipal(p), o.id);
  expect((await prisma().offer.findUniqueOrThrow({ where: { id: o.id } })).status).toBe("ACTIVE");
  return o.id;
}

async function codeOf(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    if (e instanceof HubError) return String(e.extensions.code);
    throw e;
  }
}
const claim = (memberId: string, offerId: string, now = NOW) => codeOf(claimOffer(memberPrincipal(memberId), offerId, { now }));

const ELIGIBLE = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { eligibleOffers { id } } } }`;
async function eligibleIds(memberId: string): Promise<string[]> {
  const r = await h.as<{ _entities: { eligibleOffers: { id: string }[] }[] }>(memberPrincipal(memberId), ELIGIBLE, {
    r: [{ __typename: "Member", id: memberId, tierLevel: "BASE", segment: "ACTIVE", sharedScopes: [] }],
  });
  return expectNoGraphQLErrors(r)._entities[0]!.eligibleOffers.map((o) => o.id);
}

describe("requiredPurpose: a consent with a co-issuer for that purpose", () => {
  test("not listed and not claimable without it; another purpose or a non-co-issuer does not count; grant → listed and claimable; revoke → refused again", async () => {
    const a = await newPartner();
    const b = await newPartner();
    const outsider = await newPartner();
    const targeted = await liveOffer([a.id, b.id], { requiredPurpose: "OFFER_TARGETING" });
    const open = await liveOffer([a.id], {});
    const m = randomUUID();

    expect(await eligibleIds(m)).toContain(open);
    expect(await eligibleIds(m)).not.toContain(targeted);
    expect(await claim(m, targeted)).toBe("OFFER_NOT_ELIGIBLE");
    await expect(claimOffer(memberPrincipal(m), targeted, { now: NOW })).rejects.toThrow(/OFFER_TARGETING consent/);

    // The wrong purpose with a co-issuer, and the right purpose with a partner that is not a co-issuer.
    await granted(randomUUID(), m, a.id, "ANALYTICS");
    await granted(randomUUID(), m, outsider.id, "OFFER_TARGETING");
    expect(await eligibleIds(m)).not.toContain(targeted);
    expect(await claim(m, targeted)).toBe("OFFER_NOT_ELIGIBLE");
    expect(await prisma().offerClaim.count({ where: { offerId: targeted, memberId: m } })).toBe(0);
    expect(await prisma().partnerOutboxEvent.count({ where: { type: "partner.offer_claimed", payload: { path: ["offerId"], equals: targeted } } })).toBe(0);

    // OFFER_TARGETING with the second co-issuer is enough.
    const consentId = randomUUID();
    await granted(consentId, m, b.id, "OFFER_TARGETING");
    expect(await eligibleIds(m)).toContain(targeted);
    expect(await claim(m, targeted)).toBeNull();
    expect(await prisma().offerClaim.count({ where: { offerId: targeted, memberId: m } })).toBe(1);

    await revoked(consentId, m, b.id, "OFFER_TARGETING");
    expect(await eligibleIds(m)).not.toContain(targeted);
    expect(await claim(m, targeted)).toBe("OFFER_NOT_ELIGIBLE");
  });

  test("expiry is read from the clock: eligible before expiresAt, refused from then on", async () => {
    const a = await newPartner();
    const offer = await liveOffer([a.id], { requiredPurpose: "OFFER_TARGETING" });
    const m = randomUUID();
    await granted(randomUUID(), m, a.id, "OFFER_TARGETING", iso(2 * DAY));
    expect(await claim(m, offer)).toBeNull();
    expect(await claim(m, offer, new Date(NOW.getTime() + 2 * DAY))).toBe("OFFER_NOT_ELIGIBLE");
    // An already expired receipt never counts.
    const m2 = randomUUID();
    await granted(randomUUID(), m2, a.id, "OFFER_TARGETING", iso(-1));
    expect(await eligibleIds(m2)).not.toContain(offer);
    expect(await claim(m2, offer)).toBe("OFFER_NOT_ELIGIBLE");
  });

  test("order-safe and idempotent: a revocation delivered before its grant stays revoked; redelivery changes nothing", async () => {
    const a = await newPartner();
    const offer = await liveOffer([a.id], { requiredPurpose: "OFFER_TARGETING" });
    const m = randomUUID();
    const consentId = randomUUID();
    await revoked(consentId, m, a.id, "OFFER_TARGETING");
    await granted(consentId, m, a.id, "OFFER_TARGETING");
    expect(await prisma().partnerMemberConsent.findUniqueOrThrow({ where: { consentId } })).toMatchObject({ active: false });
    expect(await claim(m, offer)).toBe("OFFER_NOT_ELIGIBLE");

    // The same grant event twice through the inbox: one row, still active.
    const other = randomUUID();
    const event = { id: randomUUID(), type: "member.consent_granted", payload: { consentId: other, memberId: m, partnerId: a.id, purpose: "OFFER_TARGETING", expiresAt: null }, createdAt: NOW.toISOString() };
    for (let i = 0; i < 2; i++) expect((await h.internal("events", { events: [event] })).status).toBe(200);
    expect(await prisma().partnerMemberConsent.count({ where: { memberId: m } })).toBe(2);
    expect(await claim(m, offer)).toBeNull();
  });
});

describe("redeemDiscountCode re-checks eligibility (tier, segment, consent)", () => {
  const discount = { kind: "DISCOUNT", bonusPoints: null, discountPercent: 10 };

  test("consent revoked after the claim: the code is refused with nothing recorded", async () => {
    const a = await newPartner();
    const offer = await liveOffer([a.id], { ...discount, requiredPurpose: "OFFER_TARGETING" });
    const m = randomUUID();
    const consentId = randomUUID();
    await granted(consentId, m, a.id, "OFFER_TARGETING");
    const c = await claimOffer(memberPrincipal(m), offer, { now: NOW });
    expect((await redeemDiscountCode(partnerPrincipal(a.id), c.discountCode!, { now: NOW })).usedCount).toBe(1);
    await revoked(consentId, m, a.id, "OFFER_TARGETING");
    expect(await codeOf(redeemDiscountCode(partnerPrincipal(a.id), c.discountCode!, { now: NOW }))).toBe("OFFER_NOT_ELIGIBLE");
    expect((await prisma().offerClaim.findUniqueOrThrow({ where: { id: c.id } })).usedCount).toBe(1);
  });

  test("tier downgraded after the claim: refused; segment no longer matching: refused", async () => {
    const a = await newPartner();
    const gold = await liveOffer([a.id], { ...discount, minTier: "GOLD" });
    const fresh = await liveOffer([a.id], { ...discount, segments: ["NEW"] });
    const m = randomUUID();
    await deliver("member.enrolled", { memberId: m, email: `${m}@example.com`, joinedAt: iso(-DAY), partnerId: a.id });
    await deliver("points.tier_changed", { memberId: m, tier: "GOLD", previousTier: "BASE", at: iso(-DAY) });
    const g = await claimOffer(memberPrincipal(m), gold, { now: NOW });
    const f = await claimOffer(memberPrincipal(m), fresh, { now: NOW });
    expect((await redeemDiscountCode(partnerPrincipal(a.id), g.discountCode!, { now: NOW })).usedCount).toBe(1);

    await deliver("points.tier_changed", { memberId: m, tier: "SILVER", previousTier: "GOLD", at: NOW.toISOString() });
    expect(await codeOf(redeemDiscountCode(partnerPrincipal(a.id), g.discountCode!, { now: NOW }))).toBe("OFFER_NOT_ELIGIBLE");
    expect((await prisma().offerClaim.findUniqueOrThrow({ where: { id: g.id } })).usedCount).toBe(1);

    // NEW for 30 days after joining; at day 29 still eligible, not after.
    expect((await redeemDiscountCode(partnerPrincipal(a.id), f.discountCode!, { now: new Date(NOW.getTime() + 28 * DAY) })).usedCount).toBe(1);
    expect(await codeOf(redeemDiscountCode(partnerPrincipal(a.id), f.discountCode!, { now: new Date(NOW.getTime() + 29 * DAY) }))).toBe("OFFER_NOT_ELIGIBLE");
    expect((await prisma().offerClaim.findUniqueOrThrow({ where: { id: f.id } })).usedCount).toBe(1);
  });
});

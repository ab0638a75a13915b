import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import { awardPoints } from "./award.ts";

// The bonus of an offer with a requiredPurpose is paid only while the member holds a consent for
// that purpose with one of the offer's co-issuers: this subgraph's copy (MemberConsent, from
// member.consent_granted / member.consent_revoked), not revoked and not expired at the earn's time.
// A refusal writes nothing at all (not even the base earn).
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const shop = randomUUID();
const brand = randomUUID();
const elsewhere = randomUUID();
const T0 = new Date(Date.UTC(2026, 0, 15, 12));
const DAY = 86_400_000;
const at = (days: number) => new Date(T0.getTime() + days * DAY);

beforeAll(async () => {
  await applyEvents(registered(shop), registered(brand), registered(elsewhere));
});

function activated(offerId: string, requiredPurpose: string | null, reactivation = false) {
  return {
    type: "partner.offer_activated",
    payload: {
      offerId,
      kind: "BONUS_POINTS",
      bonusPoints: 100,
      multiplier: null,
      budgetPoints: 1_000,
      perMemberLimit: 5,
      startsAt: at(-1).toISOString(),
      endsAt: at(300).toISOString(),
      minTier: null,
      segments: [],
      requiredPurpose,
      redeemableAtPartnerIds: [shop],
      fundings: [
        { partnerId: shop, shareBps: 6_000 },
        { partnerId: brand, shareBps: 4_000 },
      ],
      reactivation,
    },
  };
}
async function offer(requiredPurpose: string | null, memberId: string): Promise<string> {
  const offerId = randomUUID();
  await applyEvents(activated(offerId, requiredPurpose), { type: "partner.offer_claimed", payload: { offerId, memberId, claimedAt: T0.toISOString() } });
  return offerId;
}
const granted = (consentId: string, memberId: string, partnerId: string, purpose: string, expiresAt: Date | null = null) => ({
  type: "member.consent_granted",
  payload: { consentId, memberId, partnerId, purpose, categories: ["PROFILE_BASIC"], grantedAt: T0.toISOString(), expiresAt: expiresAt?.toISOString() ?? null },
});
const revoked = (consentId: string, memberId: string, partnerId: string, purpose: string) => ({
  type: "member.consent_revoked",
  payload: { consentId, memberId, partnerId, purpose, categories: ["PROFILE_BASIC"], revokedAt: T0.toISOString() },
});
const award = (memberId: string, now: Date, offerId: string) => awardPoints(partnerPrincipal(shop), { memberId, points: 10, offerId, idempotencyKey: randomUUID() }, { now });
const balance = async (code: string) => Number((await prisma().ledgerAccount.findUnique({ where: { code } }))?.balance ?? 0); // small test amounts
async function writes(memberId: string) {
  return {
    txs: await prisma().ledgerTransaction.count({ where: { memberId } }),
    uses: await prisma().pointsOfferUse.count({ where: { memberId } }),
    events: await prisma().pointsOutboxEvent.count({ where: { payload: { path: ["memberId"], equals: memberId } } }),
    wallet: await balance(`wallet:${memberId}`),
  };
}
async function member(): Promise<string> {
  const m = randomUUID();
  await applyEvents(enrolled(m, shop));
  return m;
}

describe("bonus at award time: the offer's requiredPurpose consent", () => {
  test("refused without it (another purpose or a non-co-issuer does not count), paid with it, refused again once revoked — nothing written when refused", async () => {
    const m = await member();
    const o = await offer("OFFER_TARGETING", m);
    const before = await writes(m);
    await expect(award(m, T0, o)).rejects.toMatchObject({ extensions: { code: "OFFER_NOT_ELIGIBLE" } });
    await applyEvents(granted(randomUUID(), m, shop, "ANALYTICS"), granted(randomUUID(), m, elsewhere, "OFFER_TARGETING"));
    await expect(award(m, T0, o)).rejects.toThrow(/OFFER_TARGETING consent/);
    expect(await writes(m)).toEqual(before);

    // A consent with the second co-issuer (not where the offer is applied) is enough.
    const consentId = randomUUID();
    await applyEvents(granted(consentId, m, brand, "OFFER_TARGETING"));
    expect((await award(m, T0, o)).memberPoints).toBe(10);
    expect(await balance(`wallet:${m}`)).toBe(110);
    expect(await balance(`budget:${o}`)).toBe(900);

    await applyEvents(revoked(consentId, m, brand, "OFFER_TARGETING"));
    const after = await writes(m);
    await expect(award(m, at(1), o)).rejects.toMatchObject({ extensions: { code: "OFFER_NOT_ELIGIBLE" } });
    expect(await writes(m)).toEqual(after);
    expect(await balance(`budget:${o}`)).toBe(900);
  });

  test("expiry: paid before expiresAt, refused at and after it", async () => {
    const m = await member();
    const o = await offer("OFFER_TARGETING", m);
    await applyEvents(granted(randomUUID(), m, shop, "OFFER_TARGETING", at(10)));
    expect((await award(m, at(5), o)).memberPoints).toBe(10);
    await expect(award(m, at(10), o)).rejects.toMatchObject({ extensions: { code: "OFFER_NOT_ELIGIBLE" } });
    expect(await balance(`wallet:${m}`)).toBe(110);
  });

  test("order-safe: a revocation delivered before its grant stays revoked", async () => {
    const m = await member();
    const o = await offer("OFFER_TARGETING", m);
    const consentId = randomUUID();
    await applyEvents(revoked(consentId, m, shop, "OFFER_TARGETING"), granted(consentId, m, shop, "OFFER_TARGETING"));
    expect(await prisma().pointsMemberConsent.findUniqueOrThrow({ where: { consentId } })).toMatchObject({ active: false });
    await expect(award(m, T0, o)).rejects.toMatchObject({ extensions: { code: "OFFER_NOT_ELIGIBLE" } });
  });

  test("no requiredPurpose: no consent needed; a re-activation that adds one applies from then on", async () => {
    const m = await member();
    const o = await offer(null, m);
    expect((await award(m, T0, o)).memberPoints).toBe(10);
    await applyEvents(activated(o, "ANALYTICS", true));
    expect((await prisma().pointsOffer.findUniqueOrThrow({ where: { offerId: o } })).requiredPurpose).toBe("ANALYTICS");
    await expect(award(m, T0, o)).rejects.toMatchObject({ extensions: { code: "OFFER_NOT_ELIGIBLE" } });
    await applyEvents(granted(randomUUID(), m, shop, "ANALYTICS"));
    expect((await award(m, T0, o)).memberPoints).toBe(10);
    expect(await balance(`budget:${o}`)).toBe(800); // funded once
  });
});

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { HubError } from "../../../../../lib/errors.ts";
import { prisma } from "../../db.ts";
import { applyEvent } from "../../../../../lib/events/inbox.ts";
import { eventConsumer } from "../../events.ts";
import { memberPrincipal, newPartner, type PartnerHarness, partnerPrincipal, startPartnerHarness } from "../../testing/harness.ts";
import { memberStanding } from "../member-facts.ts";
import { claimOffer } from "./claims.ts";
import { approveOffer, submitOffer } from "./lifecycle.ts";
import { createOffer } from "./terms.ts";

// claimOffer enforces minTier and segments from the partner subgraph's copy of the member's facts
// (member.enrolled → joinedAt, points.activity → last activity, points.tier_changed → tier), with
// the member subgraph's lifecycle rule (default thresholds: NEW < 30 days, DORMANT after 30 days
// without any activity or 90 days quiet, CHURNED after 180).
let h: PartnerHarness;
beforeAll(async () => {
  h = await startPartnerHarness();
});
afterAll(() => h?.close());

const DAY = 86_400_000;
const NOW = new Date();
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

async function deliver(type: string, payload: unknown, createdAt = NOW.toISOString()) {
  await prisma().$transaction((tx) => applyEvent(eventConsumer, tx, { id: randomUUID(), type, payload, createdAt }));
}

async function liveOffer(partnerId: string, extra: Record<string, unknown>): Promise<string> {
  const me = partnerPrincipal(partnerId);
  const o = await createOffer(me, {
    title: "Eligibility",
    kind: "BONUS_POINTS",
    bonusPoints: 50,
    coIssuers: [{ partnerId, shareBps: 10_000 }],
    redeemableAtPartnerIds: [partnerId],
    startsAt: new Date(NOW.getTime() - DAY),
    endsAt: new Date(NOW.getTime() + 30 * DAY),
    budgetPoints: 1_000,
    perMemberLimit: 3,
    ...extra,
  });
  await submitOffer(me, o.id);
  expect((await approveOffer(me, o.id)).status).toBe("ACTIVE");
  return o.id;
}

async function claimCode(memberId: string, offerId: string): Promise<string | null> {
  try {
    await claimOffer(memberPrincipal(memberId), offerId, { now: NOW });
    return null;
  } catch (e) {
    if (e instanceof HubError) return String(e.extensions.code);
    throw e;
  }
}

const claims = (offerId: string, memberId: string) => prisma().offerClaim.count({ where: { offerId, memberId } });
const claimEvents = (offerId: string, memberId: string) =>
  prisma().partnerOutboxEvent.count({ where: { type: "partner.offer_claimed", AND: [{ payload: { path: ["offerId"], equals: offerId } }, { payload: { path: ["memberId"], equals: memberId } }] } });

describe("claimOffer: minimum tier and lifecycle segment", () => {
  test("tier: BASE until points.tier_changed says otherwise; an older tier_changed never overwrites a newer one", async () => {
    const a = await newPartner();
    const gold = await liveOffer(a.id, { minTier: "GOLD" });
    const open = await liveOffer(a.id, {});
    const m = randomUUID();
    // No facts at all: BASE, unknown segment. An offer without conditions is still claimable.
    expect(await claimCode(m, open)).toBeNull();
    expect(await claimCode(m, gold)).toBe("OFFER_NOT_ELIGIBLE");
    expect(await claims(gold, m)).toBe(0);
    expect(await claimEvents(gold, m)).toBe(0);

    await deliver("points.tier_changed", { memberId: m, tier: "SILVER", previousTier: "BASE", at: ago(10) });
    expect(await claimCode(m, gold)).toBe("OFFER_NOT_ELIGIBLE");
    await deliver("points.tier_changed", { memberId: m, tier: "GOLD", previousTier: "SILVER", at: ago(2) });
    // Arrives late: reached before GOLD, so it is ignored.
    await deliver("points.tier_changed", { memberId: m, tier: "SILVER", previousTier: "BASE", at: ago(5) });
    expect((await memberStanding(prisma(), m, NOW)).tier).toBe("GOLD");
    expect(await claimCode(m, gold)).toBeNull();
    expect(await claims(gold, m)).toBe(1);
    expect(await claimEvents(gold, m)).toBe(1);

    // Downgraded by the tier review: the existing claim is no longer answered either.
    await deliver("points.tier_changed", { memberId: m, tier: "SILVER", previousTier: "GOLD", at: ago(0) });
    expect(await claimCode(m, gold)).toBe("OFFER_NOT_ELIGIBLE");
  });

  test("segment: computed at claim time from joinedAt and the last EARN/REDEEM; unknown until member.enrolled", async () => {
    const a = await newPartner();
    const dormant = await liveOffer(a.id, { segments: ["DORMANT"] });
    const fresh = await liveOffer(a.id, { segments: ["NEW", "ACTIVE"] });
    const both = await liveOffer(a.id, { segments: ["ACTIVE"], minTier: "SILVER" });
    const m = randomUUID();

    // member.enrolled has not arrived: the segment is unknown, segment-limited offers are refused.
    expect((await memberStanding(prisma(), m, NOW)).segment).toBeNull();
    expect(await claimCode(m, fresh)).toBe("OFFER_NOT_ELIGIBLE");

    // Joined 60 days ago, never active: DORMANT.
    await deliver("member.enrolled", { memberId: m, email: `${m}@example.com`, joinedAt: ago(60), partnerId: a.id });
    expect((await memberStanding(prisma(), m, NOW)).segment).toBe("DORMANT");
    expect(await claimCode(m, fresh)).toBe("OFFER_NOT_ELIGIBLE");
    expect(await claimCode(m, dormant)).toBeNull();
    expect(await claims(dormant, m)).toBe(1);

    // A bonus or a reversal is not the member's own activity: still DORMANT.
    await deliver("points.activity", { memberId: m, at: ago(1), kind: "OFFER_BONUS", points: 50, partnerId: a.id });
    expect((await memberStanding(prisma(), m, NOW)).segment).toBe("DORMANT");

    // An earn yesterday: ACTIVE. A late, older activity never moves the last activity back.
    await deliver("points.activity", { memberId: m, at: ago(1), kind: "EARN", points: 10, partnerId: a.id });
    await deliver("points.activity", { memberId: m, at: ago(100), kind: "REDEEM", points: -5, partnerId: a.id });
    expect((await memberStanding(prisma(), m, NOW)).segment).toBe("ACTIVE");
    expect(await claimCode(m, dormant)).toBe("OFFER_NOT_ELIGIBLE");
    expect(await claimCode(m, fresh)).toBeNull();

    // Tier AND segment: ACTIVE but BASE is refused; SILVER and ACTIVE is eligible.
    expect(await claimCode(m, both)).toBe("OFFER_NOT_ELIGIBLE");
    await deliver("points.tier_changed", { memberId: m, tier: "SILVER", previousTier: "BASE", at: ago(1) });
    expect(await claimCode(m, both)).toBeNull();

    // 100 quiet days later the member is DORMANT again (the rule is evaluated at `now`).
    const later = new Date(NOW.getTime() + 100 * DAY);
    expect((await memberStanding(prisma(), m, later)).segment).toBe("DORMANT");
  });

  test("the message says why", async () => {
    const a = await newPartner();
    const dormant = await liveOffer(a.id, { segments: ["DORMANT"] });
    const m = randomUUID();
    await deliver("member.enrolled", { memberId: m, email: `${m}@example.com`, joinedAt: ago(1), partnerId: a.id });
    await expect(claimOffer(memberPrincipal(m), dormant, { now: NOW })).rejects.toThrow(/DORMANT members \(the member is NEW\)/);
  });
});

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { PrismaClient } from "./db.ts";
import { applyEvent, type Consumer, type TypedEvent } from "./events/inbox.ts";
import { startPartnerHarness, type PartnerHarness } from "../subgraphs/partner/src/testing/harness.ts";
import { eventConsumer as partnerConsumer } from "../subgraphs/partner/src/events.ts";
import { prisma as partnerPrisma } from "../subgraphs/partner/src/db.ts";
import { startPointsHarness, type PointsHarness } from "../subgraphs/points/src/testing/harness.ts";
import { eventConsumer as pointsConsumer } from "../subgraphs/points/src/events.ts";
import { prisma as pointsPrisma } from "../subgraphs/points/src/db.ts";

/**
 * The set-based form of member.consent_granted (one statement per delivered batch, for the demo
 * seed's ~2,000 receipts) leaves each subgraph's consent copy exactly as the per-event handler
 * applied to the same events in turn: a receipt granted twice keeps its last grant's columns, a
 * revoked receipt stays revoked, a bad expiresAt is ignored.
 */

let partner: PartnerHarness;
let points: PointsHarness;
beforeAll(async () => {
  [partner, points] = await Promise.all([startPartnerHarness(), startPointsHarness()]);
});
afterAll(async () => {
  await Promise.all([partner?.close(), points?.close()]);
});

const NOW = "2026-06-15T12:00:00.000Z";
type Granted = TypedEvent<"member.consent_granted">;

/** Six receipts' events over ids `c`: a duplicate grant (other categories and expiry), a revoked one, a bad expiry. */
function scenario(c: string[], memberId: string, partnerId: string) {
  const g = (i: number, categories: string[], expiresAt: string | null, birthMonth: number | null = 4) => ({
    id: randomUUID(),
    type: "member.consent_granted",
    payload: { consentId: c[i]!, memberId, partnerId, purpose: i % 2 ? "OFFER_TARGETING" : "ACCOUNT_SERVICING", categories, grantedAt: NOW, expiresAt, birthMonth, noticeVersion: "2026-05" },
    createdAt: NOW,
  });
  const revokedFirst = { id: randomUUID(), type: "member.consent_revoked", payload: { consentId: c[3]!, memberId, partnerId, purpose: "OFFER_TARGETING", revokedAt: NOW }, createdAt: NOW };
  const grants = [
    g(0, ["PROFILE_BASIC", "TIER"], null),
    g(1, ["TIER"], "2027-01-01T00:00:00.000Z"),
    g(0, ["TIER", "SEGMENTS"], "2026-12-31T00:00:00.000Z"), // the same receipt again: its last grant wins
    g(2, ["PROFILE_BASIC"], null, null),
    g(3, ["ACTIVITY"], null), // revoked before its grant arrived: stays revoked
    g(4, [], "not a date"), // ignored
    g(5, ["PROFILE_BASIC", "bad category"], null, 11),
  ];
  return { before: [revokedFirst], grants };
}

async function compare(consumer: Consumer, client: () => PrismaClient, rows: (ids: string[]) => Promise<unknown[]>, memberId: string, partnerId: string) {
  const one = Array.from({ length: 6 }, () => randomUUID());
  const batch = Array.from({ length: 6 }, () => randomUUID());
  const a = scenario(one, memberId, partnerId);
  const b = scenario(batch, memberId, partnerId);
  for (const e of [...a.before, ...a.grants]) await client().$transaction((tx) => applyEvent(consumer, tx, e));
  for (const e of b.before) await client().$transaction((tx) => applyEvent(consumer, tx, e));
  // The batch form itself (no per-event fallback can hide a failing statement).
  const handler = consumer.batch.get("member.consent_granted");
  expect(handler).toBeDefined();
  const parsed = b.grants.filter((e) => e.payload.expiresAt !== "not a date") as unknown as Granted[];
  const bad = b.grants.find((e) => e.payload.expiresAt === "not a date") as unknown as Granted;
  await client().$transaction((tx) => handler!(tx, [...parsed.slice(0, 4), bad, ...parsed.slice(4)]));
  const [ra, rb] = [await rows(one), await rows(batch)];
  expect(rb).toEqual(ra);
  expect(ra.filter((r) => r !== null).length).toBe(5); // the bad expiry left no row
}

test("partner: a batch of grants leaves MemberConsent as applying them one by one", async () => {
  const memberId = randomUUID();
  const partnerId = randomUUID();
  await compare(
    partnerConsumer,
    partnerPrisma,
    async (ids) => {
      const rs = await partnerPrisma().partnerMemberConsent.findMany({ where: { consentId: { in: ids } } });
      return ids.map((id) => {
        const r = rs.find((x) => x.consentId === id);
        return r ? { purpose: r.purpose, active: r.active, expiresAt: r.expiresAt?.toISOString() ?? null, categories: r.categories } : null;
      });
    },
    memberId,
    partnerId,
  );
});

test("points: a batch of grants leaves MemberConsent (categories, birth month) as applying them one by one", async () => {
  const memberId = randomUUID();
  const partnerId = randomUUID();
  await compare(
    pointsConsumer,
    pointsPrisma,
    async (ids) => {
      const rs = await pointsPrisma().pointsMemberConsent.findMany({ where: { consentId: { in: ids } } });
      return ids.map((id) => {
        const r = rs.find((x) => x.consentId === id);
        return r ? { purpose: r.purpose, active: r.active, expiresAt: r.expiresAt?.toISOString() ?? null, categories: r.categories, birthMonth: r.birthMonth } : null;
      });
    },
    memberId,
    partnerId,
  );
});

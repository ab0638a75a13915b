import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventsRoute } from "../../../../lib/events/inbox.ts";
import { prisma } from "../db.ts";
import { eventConsumer } from "../events.ts";
import { outcome, writeOutcomes } from "./dispatcher.ts";
import { type PartnerHarness, startPartnerHarness } from "../testing/harness.ts";

/**
 * A delivered batch is applied as its events one by one, in delivery order, even where set-based
 * handlers take part: the webhook deliveries of one member come out in the order of its events. Found
 * by review: member.consent_granted is set-based (run after the batch's per-event handlers), so a
 * grant and its revocation in one batch (a relay backlog) queued CONSENT_REVOKED before
 * CONSENT_GRANTED, and the partner, receiving them in that order, went on believing the consent held.
 */

let h: PartnerHarness;
beforeAll(async () => {
  h = await startPartnerHarness();
});
afterAll(async () => {
  await h?.close();
});

const NOW = "2026-06-15T12:00:00.000Z";
const SETTINGS = { backoffBaseMs: 1000, backoffMaxMs: 60_000, retryWindowSeconds: 3600 };

async function endpointFor(partnerId: string): Promise<string> {
  const id = randomUUID();
  await prisma().$executeRaw`
    INSERT INTO "partner"."WebhookEndpoint" (id, "partnerId", url, "eventTypes", "secretEncrypted", "createdBy")
    VALUES (${id}::uuid, ${partnerId}::uuid, 'https://partner.example/hooks', ${["CONSENT_GRANTED", "CONSENT_REVOKED", "LINK_CONFIRMED", "POINTS_EARNED"]}::text[], 'x', 'test')`;
  return id;
}

const deliveries = async (endpointId: string) =>
  (
    await prisma().$queryRaw<{ eventType: string; memberId: string }[]>`
      SELECT "eventType", "memberId"::text AS "memberId" FROM "partner"."WebhookDelivery" WHERE "endpointId" = ${endpointId}::uuid ORDER BY seq`
  ).map((d) => `${d.eventType} ${d.memberId.slice(0, 8)}`);

test("a consent granted and revoked in one delivered batch reaches the partner as granted, then revoked", async () => {
  const partnerId = randomUUID();
  const endpointId = await endpointFor(partnerId);
  const [m1, m2, m3] = [randomUUID(), randomUUID(), randomUUID()];
  const route = eventsRoute(prisma, eventConsumer);
  const ev = (type: string, payload: Record<string, unknown>) => ({ id: randomUUID(), type, payload, createdAt: NOW });
  const link = (memberId: string) => ev("member.linked", { memberId, partnerId, externalRef: `REF-${memberId.slice(0, 8)}`, linkedAt: NOW });
  const receipt = (memberId: string, consentId: string) => ({ consentId, memberId, partnerId, purpose: "ACCOUNT_SERVICING", categories: ["TIER"] });
  const granted = (memberId: string, consentId: string) => ev("member.consent_granted", { ...receipt(memberId, consentId), grantedAt: NOW, expiresAt: null });
  const [c1, c2, c3] = [randomUUID(), randomUUID(), randomUUID()];
  const events = [
    link(m1),
    granted(m1, c1),
    ev("member.consent_revoked", { ...receipt(m1, c1), revokedAt: NOW }),
    // Granted before the member's link: one by one, no delivery (the partner did not know the member yet).
    granted(m3, c3),
    link(m3),
    link(m2),
    granted(m2, c2),
  ];
  const res = await route({ events });
  expect((res.body as { results: { ok: boolean }[] }).results.every((r) => r.ok)).toBe(true);
  const short = (m: string) => m.slice(0, 8);
  expect(await deliveries(endpointId)).toEqual([
    `LINK_CONFIRMED ${short(m1)}`,
    `CONSENT_GRANTED ${short(m1)}`,
    `CONSENT_REVOKED ${short(m1)}`,
    `LINK_CONFIRMED ${short(m3)}`,
    `LINK_CONFIRMED ${short(m2)}`,
    `CONSENT_GRANTED ${short(m2)}`,
  ]);
  const [row] = await prisma().$queryRaw<{ active: boolean }[]>`SELECT active FROM "partner"."MemberConsent" WHERE "consentId" = ${c1}::uuid`;
  expect(row?.active).toBe(false);
});

test("a replay asked while the delivery is in flight is not undone by that attempt's outcome (it is sent again), nor is a later claim", async () => {
  const partnerId = randomUUID();
  const endpointId = await endpointFor(partnerId);
  const id = randomUUID();
  const first = new Date(Date.now() - 5000);
  // As the dispatcher's claim leaves it: leased, attempt 1, claimed at `first`.
  await prisma().$executeRaw`
    INSERT INTO "partner"."WebhookDelivery" (id, "endpointId", "partnerId", "eventId", "eventType", "memberId", "subjectKey", "occurredAt", facts, attempts, "lockedUntil", "firstAttemptAt", "lastAttemptAt")
    VALUES (${id}::uuid, ${endpointId}::uuid, ${partnerId}::uuid, ${randomUUID()}::uuid, 'POINTS_EARNED', ${randomUUID()}::uuid, 'member:x', now(), '{}'::jsonb, 1, now() + interval '1 minute', ${first}, ${first})`;
  const row = async () => (await prisma().webhookDelivery.findUniqueOrThrow({ where: { id } })) as { status: string; attempts: number; lockedUntil: Date | null };
  const answer = (claimedAt: Date, error: string | null) => outcome({ id, attempts: 1, firstAttemptAt: first, lastAttemptAt: claimedAt }, { status: error ? 500 : 204, error, latencyMs: 5 }, SETTINGS);
  // The partner replays it while the request is out (replayWebhookDelivery's reset).
  await prisma().webhookDelivery.update({ where: { id }, data: { status: "PENDING", attempts: 0, nextAttemptAt: new Date(), lockedUntil: null, deadAt: null } });
  // Then the attempt's 2xx comes back: ignored, the replay stands.
  expect(await writeOutcomes(prisma(), [answer(first, null)])).toBe(0);
  expect(await row()).toMatchObject({ status: "PENDING", attempts: 0, lockedUntil: null });
  // Claimed again (attempt 1 again, later): the first attempt's late failure does not touch this claim…
  const second = new Date(first.getTime() + 2000);
  await prisma().webhookDelivery.update({ where: { id }, data: { attempts: 1, lastAttemptAt: second, lockedUntil: new Date(Date.now() + 60_000) } });
  expect(await writeOutcomes(prisma(), [answer(first, "HTTP 500")])).toBe(0);
  expect(await row()).toMatchObject({ status: "PENDING", attempts: 1 });
  // …its own outcome is written.
  expect(await writeOutcomes(prisma(), [answer(second, null)])).toBe(1);
  expect(await row()).toMatchObject({ status: "DELIVERED", lockedUntil: null });
});

import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { callInternal } from "../support/subgraph.ts";
import { prisma as partnerPrisma } from "../../subgraphs/partner/src/db.ts";
import { type PartnerHarness, startPartnerHarness } from "../../subgraphs/partner/src/testing/harness.ts";
import { prisma as pointsPrisma } from "../../subgraphs/points/src/db.ts";
import { type PointsHarness, startPointsHarness } from "../../subgraphs/points/src/testing/harness.ts";

/**
 * Property: member.enrolled, member.linked and member.link_requested delivered in one batch (the
 * set-based "member links" group of the points and partner consumers: the demo seed's enrolments)
 * leave exactly the state the same events delivered one at a time leave — for any mix of members,
 * partners, partner references moving between members, repeated links, out-of-order times, earlier
 * deliveries and duplicates: points' links (with references), tier states, joins and wallets; the
 * partner's member facts, webhook link copies and the LINK_CONFIRMED / LINK_REQUESTED deliveries in
 * their order. Both subgraphs run for real over one database each (PGlite, or PostgreSQL with DATABASE_URL).
 */

let points: PointsHarness;
let partner: PartnerHarness;
beforeAll(async () => {
  [points, partner] = await Promise.all([startPointsHarness(), startPartnerHarness()]);
});
afterAll(async () => {
  await Promise.all([points?.close(), partner?.close()]);
});

const MEMBERS = 4;
const PARTNERS = 2;
const NOW = Date.UTC(2026, 5, 15, 12);
const DAY = 86_400_000;

interface Ev {
  type: "member.enrolled" | "member.linked" | "member.link_requested";
  member: number;
  partner: number | null;
  ref: "A" | "B" | "C" | null;
  ago: number;
}
const evArb: fc.Arbitrary<Ev> = fc.record({
  type: fc.oneof(
    { weight: 2, arbitrary: fc.constant("member.enrolled" as const) },
    { weight: 4, arbitrary: fc.constant("member.linked" as const) },
    { weight: 1, arbitrary: fc.constant("member.link_requested" as const) },
  ),
  member: fc.nat(MEMBERS - 1),
  partner: fc.option(fc.nat(PARTNERS - 1), { freq: 4 }),
  ref: fc.option(fc.constantFrom("A" as const, "B" as const, "C" as const), { freq: 3 }),
  ago: fc.integer({ min: 0, max: 100 * DAY }),
});
const scenarioArb = fc.record({ events: fc.array(evArb, { minLength: 2, maxLength: 20 }), before: fc.nat(5), dups: fc.array(fc.nat(19), { maxLength: 3 }) });
type Scenario = { events: Ev[]; before: number; dups: number[] };

interface World {
  members: string[];
  partners: string[];
  endpoint: string;
}

async function newWorld(): Promise<World> {
  const w = { members: Array.from({ length: MEMBERS }, () => randomUUID()), partners: Array.from({ length: PARTNERS }, () => randomUUID()), endpoint: randomUUID() };
  // One webhook endpoint of the first partner, subscribed to the link events.
  await partnerPrisma().$executeRaw`
    INSERT INTO "partner"."WebhookEndpoint" (id, "partnerId", url, "eventTypes", "secretEncrypted", "createdBy")
    VALUES (${w.endpoint}::uuid, ${w.partners[0]}::uuid, 'https://partner.example/hooks', ${["LINK_CONFIRMED", "LINK_REQUESTED"]}::text[], 'x', 'test')`;
  return w;
}

function instantiate(events: Ev[], w: World) {
  return events.map((e) => {
    const memberId = w.members[e.member]!;
    const at = new Date(NOW - e.ago).toISOString();
    const partnerId = w.partners[e.partner ?? 0]!;
    const payload =
      e.type === "member.enrolled"
        ? { memberId, email: `${memberId}@example.com`, joinedAt: at, partnerId: e.partner === null ? null : partnerId }
        : e.type === "member.linked"
          ? { memberId, partnerId, linkedAt: at, ...(e.ref ? { externalRef: e.ref } : {}) }
          : { memberId, partnerId, requestedAt: at };
    return { id: randomUUID(), type: e.type, payload, createdAt: new Date(NOW).toISOString() };
  });
}

async function deliver(url: string, types: string[], events: { type: string }[]) {
  const mine = events.filter((e) => types.includes(e.type));
  if (!mine.length) return;
  const res = await callInternal(url, "events", { events: mine });
  expect(res.status).toBe(200);
  expect((res.body as { results: { ok: boolean }[] }).results.every((r) => r.ok)).toBe(true);
}
const POINTS_TYPES = ["member.enrolled", "member.linked"];
const PARTNER_TYPES = ["member.enrolled", "member.linked", "member.link_requested"];

/** Everything the group writes, with the world's ids replaced by their index (comparable across worlds). */
async function state(w: World) {
  const mi = (id: string) => w.members.indexOf(id);
  const pi = (id: string) => w.partners.indexOf(id);
  const byIndex = <T extends unknown[]>(rows: T[]) => rows.map((r) => JSON.stringify(r)).sort();
  const links = await pointsPrisma().$queryRaw<{ m: string; p: string; ref: string | null; at: Date }[]>`
    SELECT "memberId"::text AS m, "partnerId"::text AS p, "externalRef" AS ref, "linkedAt" AS at FROM "points"."MemberLink" WHERE "memberId" = ANY(${w.members}::uuid[])`;
  const tiers = await pointsPrisma().$queryRaw<{ m: string; t: Date; tier: string }[]>`
    SELECT "memberId"::text AS m, "tierSince" AS t, tier::text AS tier FROM "points"."TierState" WHERE "memberId" = ANY(${w.members}::uuid[])`;
  const joins = await pointsPrisma().$queryRaw<{ m: string; t: Date }[]>`
    SELECT "memberId"::text AS m, "joinedAt" AS t FROM "points"."MemberJoin" WHERE "memberId" = ANY(${w.members}::uuid[])`;
  const wallets = await pointsPrisma().$queryRaw<{ code: string }[]>`
    SELECT code FROM "points"."LedgerAccount" WHERE code = ANY(${w.members.map((m) => `wallet:${m}`)}::text[])`;
  const facts = await partnerPrisma().$queryRaw<{ m: string; t: Date | null }[]>`
    SELECT "memberId"::text AS m, "joinedAt" AS t FROM "partner"."MemberFacts" WHERE "memberId" = ANY(${w.members}::uuid[])`;
  const hooks = await partnerPrisma().$queryRaw<{ m: string; p: string; ref: string | null; at: Date }[]>`
    SELECT "memberId"::text AS m, "partnerId"::text AS p, "externalRef" AS ref, "linkedAt" AS at FROM "partner"."WebhookMemberLink" WHERE "memberId" = ANY(${w.members}::uuid[])`;
  const deliveries = await partnerPrisma().$queryRaw<{ type: string; m: string; facts: unknown }[]>`
    SELECT "eventType" AS type, "memberId"::text AS m, facts FROM "partner"."WebhookDelivery" WHERE "endpointId" = ${w.endpoint}::uuid ORDER BY seq`;
  return {
    links: byIndex(links.map((r) => [mi(r.m), pi(r.p), r.ref, r.at.toISOString()])),
    tiers: byIndex(tiers.map((r) => [mi(r.m), r.tier, r.t.toISOString()])),
    joins: byIndex(joins.map((r) => [mi(r.m), r.t.toISOString()])),
    wallets: byIndex(wallets.map((r) => [mi(r.code.slice("wallet:".length))])),
    facts: byIndex(facts.map((r) => [mi(r.m), r.t?.toISOString() ?? null])),
    hooks: byIndex(hooks.map((r) => [mi(r.m), pi(r.p), r.ref, r.at.toISOString()])),
    // In order: per member, the partner receives them as the events came.
    deliveries: deliveries.map((d) => [d.type, mi(d.m), d.facts]),
  };
}

async function batchEqualsOneByOne({ events, before, dups }: Scenario) {
  const [one, batch] = [await newWorld(), await newWorld()];
  const [a, b] = [instantiate(events, one), instantiate(events, batch)];
  const order = <T>(list: T[]) => [...list, ...dups.filter((i) => i < list.length).map((i) => list[i]!)];
  for (const e of [...a.slice(0, before), ...order(a)]) {
    await deliver(points.subgraph.url, POINTS_TYPES, [e]);
    await deliver(partner.url, PARTNER_TYPES, [e]);
  }
  if (before > 0) {
    await deliver(points.subgraph.url, POINTS_TYPES, b.slice(0, before));
    await deliver(partner.url, PARTNER_TYPES, b.slice(0, before));
  }
  await deliver(points.subgraph.url, POINTS_TYPES, order(b));
  await deliver(partner.url, PARTNER_TYPES, order(b));
  expect(await state(batch)).toEqual(await state(one));
}

test("a batch of enrolments, links and link requests leaves both consumers as the events one by one", async () => {
  await fc.assert(fc.asyncProperty(scenarioArb, batchEqualsOneByOne), { numRuns: 40 });
});

test("the explicit case: a reference moving between members and back, a re-link without a reference, a link before the enrolment", async () => {
  const ev = (type: Ev["type"], member: number, partner: number | null, ref: Ev["ref"], days: number): Ev => ({ type, member, partner, ref, ago: days * DAY });
  await batchEqualsOneByOne({
    events: [
      ev("member.linked", 0, 0, "A", 10),
      ev("member.enrolled", 0, 0, null, 20),
      ev("member.enrolled", 1, 0, null, 5),
      ev("member.linked", 1, 0, "A", 5),
      ev("member.linked", 0, 0, "B", 4),
      ev("member.linked", 2, 1, "A", 3),
      ev("member.link_requested", 3, 0, null, 2),
      ev("member.linked", 1, 0, null, 1),
      ev("member.linked", 0, 0, "A", 0),
    ],
    before: 2,
    dups: [3, 8],
  });
});

test("a batch of 200 enrolments with their links is applied in a handful of statements, not per event", async () => {
  const w = await newWorld();
  const events = instantiate(
    Array.from({ length: 100 }, (_, i): Ev[] => [
      { type: "member.enrolled", member: 0, partner: 0, ref: null, ago: i * 1000 },
      { type: "member.linked", member: 0, partner: 0, ref: null, ago: i * 1000 },
    ]).flat(),
    w,
  ).map((e, i) => {
    // A member of its own per pair, a reference of its own.
    const memberId = w.members[0]!.slice(0, 24) + String(Math.floor(i / 2)).padStart(12, "0");
    return { ...e, payload: { ...e.payload, memberId, ...(e.type === "member.linked" ? { externalRef: `R-${Math.floor(i / 2)}` } : {}) } };
  });
  const q0 = partner.queries();
  await deliver(partner.url, PARTNER_TYPES, events);
  // The inbox insert, member facts, link copies, deliveries: not one statement per event.
  expect(partner.queries() - q0).toBeLessThanOrEqual(6);
  await deliver(points.subgraph.url, POINTS_TYPES, events);
  const [{ n }] = await pointsPrisma().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM "points"."MemberLink" WHERE "externalRef" LIKE 'R-%' AND "partnerId" = ${w.partners[0]}::uuid`;
  expect(Number(n)).toBe(100);
});

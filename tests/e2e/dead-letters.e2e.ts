import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Dead-lettered domain events through the gateway, as an admin client sees them: each subgraph
// contributes the dead letters it owns (one root field per owner, a shared EventDeadLetter type);
// an admin replays one and the relay delivers it; partners and members are refused.
let hub: TestHub;
let admin: string;
let partner: string;
let member: string;
let memberId: string;

const LIST = `{
  memberEventDeadLetters { id }
  pointsEventDeadLetters(first: 10) { id service type payload attempts lastError createdAt deadAt }
  partnerEventDeadLetters { id }
}`;
const REPLAY = "mutation($id: ID!) { replayPointsEventDeadLetter(id: $id) { id service type } }";

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Dead Letter Mart", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  partner = await hub.token(createApiClient.clientId, createApiClient.clientSecret);
  const m = await hub.memberWithPassword(partner, { email: "dead-letter@example.com", externalRef: "DL-1" });
  memberId = m.memberId;
  member = await hub.memberSession(m.login, m.password);
  await hub.flushEvents();
}, 120_000);
afterAll(() => hub?.close());

test("an admin lists each subgraph's dead letters and replays one: the relay delivers it and its consumer applies it", async () => {
  const prisma = hub.db.client();
  // A points.tier_changed the partner subgraph kept refusing (as the relay leaves it after HUB_EVENT_MAX_ATTEMPTS).
  const eventId = crypto.randomUUID();
  const at = new Date().toISOString();
  await prisma.pointsDeadLetterEvent.create({
    data: { id: eventId, type: "points.tier_changed", payload: { memberId, tier: "GOLD", previousTier: "BASE", at }, createdAt: new Date(at), attempts: 10, lastError: "partner: HTTP 503" },
  });
  const listed = expectNoGraphQLErrors(await hub.gql(admin, LIST));
  expect(listed.memberEventDeadLetters).toEqual([]);
  expect(listed.partnerEventDeadLetters).toEqual([]);
  expect(listed.pointsEventDeadLetters).toEqual([
    { id: eventId, service: "POINTS", type: "points.tier_changed", payload: expect.any(String), attempts: 10, lastError: "partner: HTTP 503", createdAt: at, deadAt: expect.any(String) },
  ]);
  expect(JSON.parse(listed.pointsEventDeadLetters[0].payload)).toEqual({ memberId, tier: "GOLD", previousTier: "BASE", at });
  expect((await prisma.partnerMemberFacts.findUniqueOrThrow({ where: { memberId } })).tier).toBe("BASE");

  const replayed = expectNoGraphQLErrors(await hub.gql(admin, REPLAY, { id: eventId }));
  expect(replayed.replayPointsEventDeadLetter).toEqual({ id: eventId, service: "POINTS", type: "points.tier_changed" });
  await hub.flushEvents();
  expect((await prisma.partnerMemberFacts.findUniqueOrThrow({ where: { memberId } })).tier).toBe("GOLD");
  expect(await prisma.partnerInboxEvent.count({ where: { eventId } })).toBe(1);
  expect(expectNoGraphQLErrors(await hub.gql(admin, LIST)).pointsEventDeadLetters).toEqual([]);
  // Replayed once: the id is no longer a dead letter.
  const again = await hub.gql(admin, REPLAY, { id: eventId });
  expect(again.errors?.map((e) => e.extensions?.code)).toEqual(["NOT_FOUND"]);
}, 60_000);

test("partners and members are refused (FORBIDDEN), for every owner's field and the replay", async () => {
  const eventId = crypto.randomUUID();
  await hub.db.client().memberDeadLetterEvent.create({
    data: { id: eventId, type: "member.enrolled", payload: { memberId }, createdAt: new Date(), attempts: 10, lastError: "points: HTTP 500" },
  });
  for (const token of [partner, member]) {
    const read = await hub.gql(token, LIST);
    expect(read.data ?? null).toBeNull();
    expect(new Set(read.errors?.map((e) => e.extensions?.code))).toEqual(new Set(["FORBIDDEN"]));
    const replay = await hub.gql(token, "mutation($id: ID!) { replayMemberEventDeadLetter(id: $id) { id } }", { id: eventId });
    expect(replay.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
  }
  // Nothing moved: the dead letter is still there, not in the outbox.
  expect(await hub.db.client().memberDeadLetterEvent.count({ where: { id: eventId } })).toBe(1);
  expect(await hub.db.client().memberOutboxEvent.count({ where: { id: eventId } })).toBe(0);
  // A bad page size is BAD_USER_INPUT naming the argument.
  const bad = await hub.gql(admin, "{ memberEventDeadLetters(first: 0) { id } }");
  expect(bad.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
}, 60_000);

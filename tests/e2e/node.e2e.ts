import { randomUUID } from "node:crypto";
import { toGlobalId } from "graphql-relay";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Issue 17 §6: Relay's Node interface, node(id:) and nodes(ids:), through the gateway. A node is
// exactly as visible as through its type's own lookup (tests/e2e/lookup-ids.e2e.ts pins those): another
// tenant's object answers like one that does not exist, and a malformed id is BAD_USER_INPUT.
const DAY = 86_400_000;
let hub: TestHub;
let admin: string;
const partners: { id: string; token: string; clientId: string; secret: string }[] = [];
let member = { id: "", nodeId: "" };
let tx = { id: "", nodeId: "" };
let run = { id: "", nodeId: "" };
let offer = { id: "", nodeId: "" };
let partnerA = { id: "", nodeId: "" };
let memberToken = "";

type Answer = { status?: number; data?: Record<string, any> | null; errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } }[] };
const codes = (r: Answer) => (r.errors ?? []).map((e) => e.extensions?.code);

const NODE = `query($id: ID!) { node(id: $id) {
  __typename nodeId
  ... on Member { id }
  ... on Partner { id name }
  ... on Offer { id title }
  ... on PointsTransaction { id points }
  ... on SettlementRun { id status }
} }`;
const NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename nodeId ... on Partner { id } ... on PointsTransaction { id } ... on Member { id } } }";

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  for (const name of ["Node A", "Node B"]) {
    const { registerPartner } = expectNoGraphQLErrors(
      await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name, category: "ECOMMERCE", issuePrice: "0.01", redemptionRate: "0.01" } }),
    );
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
    partners.push({ id: registerPartner.id, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret), clientId: createApiClient.clientId, secret: createApiClient.clientSecret });
  }
  const a = partners[0]!;
  const m = await hub.memberWithPassword(a.token, { email: "node@example.com", externalRef: "N-1" });
  memberToken = await hub.memberSession(m.login, m.password);
  await hub.flushEvents();
  const { awardPoints } = expectNoGraphQLErrors(
    await hub.gql(a.token, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id nodeId member { id nodeId } } }", { i: { externalRef: "N-1", points: 10, idempotencyKey: randomUUID() } }),
  );
  tx = { id: awardPoints.id, nodeId: awardPoints.nodeId };
  member = awardPoints.member;
  const { createSettlementRun } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id nodeId } }", {
      s: new Date(Date.now() - DAY).toISOString(),
      e: new Date(Date.now() - 3_600_000).toISOString(),
    }),
  );
  run = createSettlementRun;
  const { createOffer } = expectNoGraphQLErrors(
    await hub.gql(a.token, "mutation($i: CreateOfferInput!) { createOffer(input: $i) { id nodeId } }", {
      i: {
        title: "Node test offer",
        kind: "BONUS_POINTS",
        bonusPoints: 10,
        coIssuers: [{ partnerId: a.id, shareBps: 10000 }],
        redeemableAtPartnerIds: [a.id],
        startsAt: new Date(Date.now() - DAY).toISOString(),
        endsAt: new Date(Date.now() + 30 * DAY).toISOString(),
        budgetPoints: 1000,
        perMemberLimit: 1,
      },
    }),
  );
  offer = createOffer;
  partnerA = expectNoGraphQLErrors(await hub.gql(a.token, "query($id: ID!) { partner(id: $id) { id nodeId } }", { id: a.id })).partner;
}, 180_000);
afterAll(() => hub?.close());

describe("nodeId", () => {
  test("is graphql-relay's global id of the type and the plain id, and differs from id", () => {
    expect(member.nodeId).toBe(toGlobalId("Member", member.id));
    expect(tx.nodeId).toBe(toGlobalId("PointsTransaction", tx.id));
    expect(run.nodeId).toBe(toGlobalId("SettlementRun", run.id));
    expect(offer.nodeId).toBe(toGlobalId("Offer", offer.id));
    expect(partnerA.nodeId).toBe(toGlobalId("Partner", partnerA.id));
    expect(new Set([member.nodeId, tx.nodeId, run.nodeId, offer.nodeId, partnerA.nodeId, member.id]).size).toBe(6);
  });
});

describe("node(id:)", () => {
  test("every type round-trips: the object comes back with its owner's fields", async () => {
    const a = partners[0]!;
    const asA = async (id: string) => expectNoGraphQLErrors(await hub.gql(a.token, NODE, { id })).node;
    expect(await asA(member.nodeId)).toEqual({ __typename: "Member", nodeId: member.nodeId, id: member.id });
    expect(await asA(tx.nodeId)).toEqual({ __typename: "PointsTransaction", nodeId: tx.nodeId, id: tx.id, points: 10 });
    expect(await asA(offer.nodeId)).toEqual({ __typename: "Offer", nodeId: offer.nodeId, id: offer.id, title: "Node test offer" });
    expect(await asA(partnerA.nodeId)).toEqual({ __typename: "Partner", nodeId: partnerA.nodeId, id: partnerA.id, name: "Node A" });
    const r = expectNoGraphQLErrors(await hub.gql(admin, NODE, { id: run.nodeId })).node;
    expect(r).toMatchObject({ __typename: "SettlementRun", nodeId: run.nodeId, id: run.id });
  });

  test("another partner's member and transaction answer exactly like ids that do not exist: null with NOT_FOUND", async () => {
    const b = partners[1]!;
    for (const [type, obj] of [
      ["Member", member],
      ["PointsTransaction", tx],
    ] as const) {
      const other = (await hub.gql(b.token, NODE, { id: obj.nodeId })) as Answer;
      const missingId = randomUUID();
      const missing = (await hub.gql(b.token, NODE, { id: toGlobalId(type, missingId) })) as Answer;
      expect(other.data?.node, type).toBeNull();
      expect(codes(other), type).toEqual(["NOT_FOUND"]);
      const blank = (r: Answer, id: string) => (r.errors ?? []).map((e) => e.message.replaceAll(id, "<id>"));
      expect(blank(other, obj.id)).toEqual(blank(missing, missingId));
      expect(other.data).toEqual(missing.data);
    }
    // The draft offer of A is not visible to B either (co-issuers only, until activated).
    const o = (await hub.gql(b.token, NODE, { id: offer.nodeId })) as Answer;
    expect(o.data?.node).toBeNull();
    expect(codes(o)).toEqual(["NOT_FOUND"]);
  });

  test("what the lookup refuses, node refuses with the same code: a partner and an approved-only settlement run", async () => {
    const a = partners[0]!;
    const lookup = (await hub.gql(a.token, "query($id: ID!) { settlementRun(id: $id) { id } }", { id: run.id })) as Answer;
    const viaNode = (await hub.gql(a.token, NODE, { id: run.nodeId })) as Answer;
    expect(lookup.data?.settlementRun ?? null).toBeNull();
    expect(viaNode.data?.node ?? null).toBeNull();
    expect(codes(viaNode)).toEqual(codes(lookup));
  });

  test("a member's own session sees its own member and transaction, not another member", async () => {
    expect(expectNoGraphQLErrors(await hub.gql(memberToken, NODE, { id: member.nodeId })).node).toMatchObject({ id: member.id });
    expect(expectNoGraphQLErrors(await hub.gql(memberToken, NODE, { id: tx.nodeId })).node).toMatchObject({ id: tx.id });
    const other = (await hub.gql(memberToken, NODE, { id: toGlobalId("Member", randomUUID()) })) as Answer;
    expect(other.data?.node).toBeNull();
    expect(codes(other)).toEqual(["NOT_FOUND"]);
  });

  test("a partner-view token (token exchange) cannot use node to reach past its one member: FORBIDDEN, as every root field off its allow-list", async () => {
    const a = partners[0]!;
    const view = await hub.exchangeToken(a.clientId, a.secret, "N-1");
    for (const id of [member.nodeId, tx.nodeId, partnerA.nodeId]) {
      const r = (await hub.gql(view, NODE, { id })) as Answer;
      expect(r.data?.node ?? null).toBeNull();
      expect(codes(r)).toEqual(["FORBIDDEN"]);
    }
  });

  test("malformed ids are BAD_USER_INPUT, never INTERNAL_SERVER_ERROR", async () => {
    const a = partners[0]!;
    for (const id of [
      "not-an-id",
      "",
      member.id, // the plain id is not a global id
      toGlobalId("Member", "not-a-uuid"),
      toGlobalId("Wallet", member.id), // not a Node type
      toGlobalId("Member", member.id.toUpperCase()), // a second spelling of the same node
      `${member.nodeId}=`, // not canonical base64
      "\u0000".repeat(10),
      "x".repeat(100_000),
    ]) {
      const r = (await hub.gql(a.token, NODE, { id })) as Answer;
      // 400 where the hub's input guard refuses the string itself (a control character), as on every argument.
      expect([200, 400], id.slice(0, 40)).toContain(r.status);
      expect(r.data?.node ?? null, id.slice(0, 40)).toBeNull();
      expect(codes(r), id.slice(0, 40)).toEqual(["BAD_USER_INPUT"]);
    }
  });
});

describe("nodes(ids:)", () => {
  test("keeps the order asked; each invisible, missing or malformed id is null with its own error at its index", async () => {
    const b = partners[1]!;
    const ids = [partnerA.nodeId, tx.nodeId, "junk", member.nodeId, toGlobalId("Partner", partners[1]!.id)];
    const r = (await hub.gql(b.token, NODES, { ids })) as Answer;
    expect(r.data?.nodes).toEqual([{ __typename: "Partner", nodeId: partnerA.nodeId, id: partnerA.id }, null, null, null, { __typename: "Partner", nodeId: ids[4], id: partners[1]!.id }]);
    const byIndex = Object.fromEntries((r.errors ?? []).map((e) => [e.path?.[1], e.extensions?.code]));
    expect(byIndex).toEqual({ 1: "NOT_FOUND", 2: "BAD_USER_INPUT", 3: "NOT_FOUND" });
  });

  test("the owner sees all of its own in one call, across owners", async () => {
    const a = partners[0]!;
    const r = expectNoGraphQLErrors(await hub.gql(a.token, NODES, { ids: [tx.nodeId, member.nodeId, partnerA.nodeId] }));
    expect(r.nodes.map((n: { __typename: string }) => n.__typename)).toEqual(["PointsTransaction", "Member", "Partner"]);
  });

  test("at most 100 ids: 100 are answered, 101 is BAD_USER_INPUT", async () => {
    const a = partners[0]!;
    const ok = expectNoGraphQLErrors(await hub.gql(a.token, NODES, { ids: Array.from({ length: 100 }, () => partnerA.nodeId) }));
    expect(ok.nodes).toHaveLength(100);
    const r = (await hub.gql(a.token, NODES, { ids: Array.from({ length: 101 }, () => partnerA.nodeId) })) as Answer;
    expect(r.data?.nodes ?? null).toBeNull();
    expect(codes(r)).toEqual(["BAD_USER_INPUT"]);
  });
});

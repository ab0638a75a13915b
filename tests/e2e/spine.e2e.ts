import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { demoMemberPassword, seedDemo } from "../../prisma/seed.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// The federated spine through the gateway, as clients use it: the demo coalition (a smaller one),
// one query answered by all three subgraphs, entity references across them, and bad requests.
let hub: TestHub;
let memberToken: string;
let adminToken: string;

beforeAll(async () => {
  hub = await startTestHub();
  await seedDemo(hub.db.client(), { flushEvents: hub.flushEvents, members: 40, besideTestData: true });
  adminToken = await hub.adminToken();
  // Member 0001 signs in through the hub's sign-in page (code + PKCE), as the member app does.
  memberToken = await hub.memberSession("member0001@demo.coalition.example", demoMemberPassword("0001"));
}, 180_000);
afterAll(() => hub?.close());

const WALLET_QUERY = /* GraphQL */ `
  query Wallet {
    me {
      id
      displayName
      joinedAt
      linkedAccounts { partner { id name category } externalRef linkedAt }
      wallet { balance available held lifetimeEarned expiring(withinDays: 365) { points expiresAt } }
      tier { tier qualifyingPoints nextTier pointsToNextTier earnMultiplier }
      eligibleOffers { id title kind coIssuers { partner { name } shareBps approved } }
      activity(first: 5) { edges { cursor node { id kind points partner { name } postedAt balanceAfter } } pageInfo { hasNextPage endCursor } }
    }
  }
`;

describe("the member app's one query", () => {
  test("answers with data from the member, points and partner subgraphs", async () => {
    const res = await hub.gql(memberToken, WALLET_QUERY);
    expect(res.status).toBe(200);
    const { me } = expectNoGraphQLErrors(res);
    // member subgraph
    expect(me.displayName).toEqual(expect.any(String));
    expect(me.linkedAccounts.map((l: any) => l.partner.name).sort()).toEqual(["FreshCo", "GrandStay Hotels", "ShopMall"]);
    // points subgraph: a real wallet from six months of history
    expect(me.wallet.balance).toBeGreaterThan(0);
    expect(me.wallet.available).toBe(me.wallet.balance - me.wallet.held);
    expect(me.wallet.lifetimeEarned).toBeGreaterThanOrEqual(me.wallet.balance);
    expect(["BASE", "SILVER", "GOLD", "DIAMOND"]).toContain(me.tier.tier);
    expect(me.activity.edges.length).toBeGreaterThan(0);
    for (const e of me.activity.edges) expect(e.node.balanceAfter).toEqual(expect.any(Number));
    expect(me.activity.edges[0].node.balanceAfter).toBe(me.wallet.balance);
    // partner subgraph: the active ShopMall × FreshCo offer, with its co-issuers resolved as entities
    const cross = me.eligibleOffers.find((o: any) => o.title.startsWith("ShopMall × FreshCo"));
    expect(cross?.coIssuers).toEqual([
      { partner: { name: "ShopMall" }, shareBps: 6000, approved: true },
      { partner: { name: "FreshCo" }, shareBps: 4000, approved: true },
    ]);
  });

  test("activity pages with cursors, newest first, without gaps or repeats", async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 4; page++) {
      const res: Awaited<ReturnType<TestHub["gql"]>> = await hub.gql(
        memberToken,
        "query($after: String) { me { activity(first: 3, after: $after) { edges { node { id postedAt } } pageInfo { hasNextPage endCursor } } } }",
        { after },
      );
      const { me }: any = expectNoGraphQLErrors(res);
      seen.push(...me.activity.edges.map((e: any) => e.node.id));
      if (!me.activity.pageInfo.hasNextPage) break;
      after = me.activity.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    const all = expectNoGraphQLErrors(await hub.gql(memberToken, "{ me { activity(first: 12) { edges { node { id } } } } }")).me.activity.edges.map((e: any) => e.node.id);
    expect(seen).toEqual(all.slice(0, seen.length));
  });
});

describe("reads for admins and partners", () => {
  test("partners, partner, offers and offer answer through the gateway", async () => {
    const { partners } = expectNoGraphQLErrors(await hub.gql(adminToken, "{ partners { id name category active issuePrice redemptionRate } }"));
    expect(partners.map((p: any) => p.name).sort()).toEqual(["FreshCo", "GrandStay Hotels", "ShopMall"]);
    expect(partners.every((p: any) => /^\d+\.\d+$/.test(p.issuePrice))).toBe(true);
    const shopmall = partners.find((p: any) => p.name === "ShopMall");
    const { partner } = expectNoGraphQLErrors(await hub.gql(adminToken, "query($id: ID!) { partner(id: $id) { name } }", { id: shopmall.id }));
    expect(partner.name).toBe("ShopMall");
    const { offers } = expectNoGraphQLErrors(await hub.gql(adminToken, "{ offers(first: 10) { edges { node { id title status remainingBudgetPoints coIssuers { partner { name } } } } pageInfo { hasNextPage } } }"));
    expect(offers.edges).toHaveLength(2);
    const active = offers.edges.find((e: any) => e.node.status === "ACTIVE").node;
    // remainingBudgetPoints comes from the points subgraph (the offer's budget account).
    expect(active.remainingBudgetPoints).toBeGreaterThan(0);
    expect(active.remainingBudgetPoints).toBeLessThanOrEqual(100_000);
    const { offer } = expectNoGraphQLErrors(await hub.gql(adminToken, "query($id: ID!) { offer(id: $id) { title } }", { id: active.id }));
    expect(offer.title).toBe(active.title);
  });

  test("transaction(id) resolves the member, partner and offer across subgraphs", async () => {
    const { me } = expectNoGraphQLErrors(await hub.gql(memberToken, "{ me { id activity(first: 1) { edges { node { id } } } } }"));
    const id = me.activity.edges[0].node.id;
    const { transaction } = expectNoGraphQLErrors(await hub.gql(adminToken, "query($id: ID!) { transaction(id: $id) { id kind points member { id displayName } partner { name } } }", { id }));
    expect(transaction.id).toBe(id);
    expect(transaction.member.id).toBe(me.id);
    expect(transaction.member.displayName).toEqual(expect.any(String));
  });
});

describe("bad requests get GraphQL errors with codes, never a stack trace", () => {
  async function raw(body: string) {
    const res = await fetch(hub.gatewayUrl, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` }, body });
    const text = await res.text();
    expect(text).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack frames
    return { status: res.status, body: JSON.parse(text) as { errors?: { extensions?: { code?: string } }[] } };
  }
  test("malformed JSON", async () => {
    const r = await raw("{ not json");
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.body.errors?.[0]?.extensions?.code).toMatch(/BAD_REQUEST|GRAPHQL_PARSE_FAILED/);
  });
  test("unknown field", async () => {
    const r = await raw(JSON.stringify({ query: "{ partners { nope } }" }));
    expect(r.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });
  test("wrong variable type", async () => {
    const r = await raw(JSON.stringify({ query: "query($id: ID!) { partner(id: $id) { name } }", variables: { id: { nested: true } } }));
    expect(r.body.errors?.[0]?.extensions?.code).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);
  });
});

describe("N+1 guard", () => {
  test("the wallet + eligible offers query makes the same number of SQL queries however long the lists are", async () => {
    // One member measured twice: with 2 transactions, then with 14. Everything else (tier,
    // segment, eligible offers) stays the same, so any per-row query shows up as a difference.
    const partner = await hub.token("demo-shopmall", "demo-shopmall-secret");
    const enrolled = expectNoGraphQLErrors(
      await hub.gql(partner, "mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }", { input: { email: "n1-guard@example.com", displayName: "Guard", externalRef: "SM-GUARD-1" } }),
    );
    await hub.flushEvents();
    const award = async (n: number, from: number) => {
      for (let i = from; i < from + n; i++) {
        expectNoGraphQLErrors(
          await hub.gql(partner, "mutation($input: AwardPointsInput!) { awardPoints(input: $input) { id } }", { input: { memberId: enrolled.enrollMember.id, idempotencyKey: `guard-${i}`, points: 10 } }),
        );
      }
      await hub.flushEvents();
    };
    await hub.activateMember(partner, enrolled.enrollMember.id, "n1-guard@example.com", "guard-password-123");
    const token = await hub.memberSession("n1-guard@example.com", "guard-password-123");
    const query =
      "{ me { wallet { balance expiring(withinDays: 3650) { points expiresAt } } tier { tier } eligibleOffers { title coIssuers { partner { name } } redeemableAt { name } } activity(first: 50) { edges { node { kind partner { name } offer { title } } } } } }";
    const measure = async () => {
      const before = { member: hub.queryCount("member"), points: hub.queryCount("points"), partner: hub.queryCount("partner") };
      const { me } = expectNoGraphQLErrors(await hub.gql(token, query));
      const per = { member: hub.queryCount("member") - before.member, points: hub.queryCount("points") - before.points, partner: hub.queryCount("partner") - before.partner };
      return { queries: per.member + per.points + per.partner, rows: me.activity.edges.length, offers: me.eligibleOffers.length };
    };
    await award(2, 0);
    await measure(); // warm-up: first requests pay one-off lookups
    const few = await measure();
    await award(12, 2);
    const many = await measure();
    expect(few.rows).toBe(2);
    expect(many.rows).toBe(14);
    expect(many.offers).toBe(few.offers);
    expect(many.queries).toBe(few.queries);
  });
});

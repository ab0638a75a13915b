import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getIntrospectionQuery } from "graphql";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeSubgraphs, startFakeSubgraphs } from "../../gateway/src/testing/fake-subgraphs.ts";
import { type RunningGateway, startGateway } from "../../gateway/src/server.ts";
import { DEFAULT_LIMITS } from "../../gateway/src/limits.ts";
import { SUPERGRAPH_PATH } from "../../scripts/hub.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors, TEST_INTERNAL_SECRET, testInternalKey } from "../support/subgraph.ts";
import { partnerLoop, schemaFacts, twoHopRoundTrips } from "./query-gen.ts";

// Issue 14 §1, §4, §7 through the gateway: demand control per role, the member round trips the
// planner could not plan, introspection per role and off, timeouts and the response-size cap.

describe("on the whole hub", () => {
  let hub: TestHub;
  let admin: string;
  let partner: { id: string; clientId: string; clientSecret: string; token: string };
  let member: string;
  let memberId: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    hub = await startTestHub();
    admin = await hub.adminToken();
    const { registerPartner } = expectNoGraphQLErrors(
      await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Limits Mart", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" } }),
    );
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
    partner = { id: registerPartner.id, ...createApiClient, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
    memberId = expectNoGraphQLErrors(await hub.gql(partner.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "limits@example.com", displayName: "Lim", externalRef: "LIM-1" } }))
      .enrollMember.id;
    await hub.flushEvents();
    ids.PointsTransaction = expectNoGraphQLErrors(
      await hub.gql(partner.token, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId, idempotencyKey: "lim-1", points: 500 } }),
    ).awardPoints.id;
    ids.Offer = expectNoGraphQLErrors(
      await hub.gql(partner.token, "mutation($i: CreateOfferInput!) { createOffer(input: $i) { id } }", {
        i: {
          title: "Limits",
          kind: "BONUS_POINTS",
          bonusPoints: 50,
          coIssuers: [{ partnerId: partner.id, shareBps: 10000 }],
          redeemableAtPartnerIds: [partner.id],
          startsAt: new Date(Date.now() + 60_000).toISOString(),
          endsAt: new Date(Date.now() + 86_400_000).toISOString(),
          budgetPoints: 1000,
          perMemberLimit: 1,
        },
      }),
    ).createOffer.id;
    await hub.flushEvents();
    ids.SettlementRun = expectNoGraphQLErrors(
      await hub.gql(admin, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }", { s: new Date(Date.now() - 86_400_000).toISOString(), e: new Date().toISOString() }),
    ).createSettlementRun.id;
    ids.Member = memberId;
    ids.Partner = partner.id;
    // The member's own session: activated with the code its partner received, then signed in (code + PKCE).
    member = await hub.memberSession("limits@example.com", await hub.activateMember(partner.token, memberId, "limits@example.com"));
  }, 180_000);
  afterAll(() => hub?.close());

  describe("demand control", () => {
    test("the issue's partner loop is refused before execution with QUERY_TOO_COSTLY, the estimated and the allowed cost", async () => {
      for (const levels of [6, 7]) {
        const q = partnerLoop(levels);
        const before = hub.queryCount();
        const r = await hub.gql(partner.token, q);
        expect(r.status).toBe(400);
        expect(r.data ?? null).toBeNull();
        expect(r.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_COSTLY", allowedCost: DEFAULT_LIMITS.maxCost.PARTNER });
        expect(r.errors![0]!.extensions!.estimatedCost).toBeGreaterThan(DEFAULT_LIMITS.maxCost.PARTNER);
        // Refused before any subgraph was asked: not one database operation.
        expect(hub.queryCount()).toBe(before);
      }
    });

    test("the maximum is per role: a query over a partner's maximum but under an admin's is answered for the admin", async () => {
      // partners 100, × apiClients 10 (1,000), × partner (1,000), × apiClients 10 (10,000) and rateHistory 20 (20,000): 32,100.
      const q = "{ partners { id apiClients { clientId partner { id apiClients { clientId } rateHistory { issuePrice } } } } }";
      expect((await hub.gql(partner.token, q)).errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COSTLY");
      const r = await hub.gql(admin, q);
      expect(r.errors ?? []).toEqual([]);
      expect(r.data?.partners.length).toBeGreaterThan(0);
    });

    test("page sizes count: the same list with first: 100 costs more than with first: 5", async () => {
      const q = (n: number) => `{ offers(first: ${n}) { edges { node { coIssuers { partner { name apiClients { clientId } rateHistory { issuePrice } } } redeemableAt { name apiClients { clientId } } } } } }`;
      expect((await hub.gql(partner.token, q(5))).errors ?? []).toEqual([]);
      expect((await hub.gql(partner.token, q(100))).errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COSTLY");
      // Through a variable too.
      const v = await hub.gql(partner.token, q(100).replace("first: 100", "first: $n").replace(/^\{/, "query($n: Int) {"), { n: 100 });
      expect(v.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COSTLY");
    });
  });

  describe("member round trips plan and answer (issue 14 §4)", () => {
    test.each([
      "{ me { activity { edges { node { member { wallet { balance } } } } } } }",
      "{ me { activity { edges { node { member { activity { edges { node { id points } } } } } } } } }",
      "{ me { claimedOffers { member { claimedOffers { id } } } } }",
    ])("%s", async (q) => {
      const r = await hub.gql(member, q);
      expect(r.status).toBe(200);
      expect(r.errors ?? []).toEqual([]);
      if (q.includes("wallet")) expect(r.data?.me.activity.edges[0].node.member.wallet.balance).toBe(500);
    });

    test("every two-hop entity round trip of the public schema answers without an internal error or a 5xx, for each role that can reach it", async () => {
      const trips = twoHopRoundTrips(schemaFacts(readFileSync(SUPERGRAPH_PATH, "utf8")));
      const roots: Record<string, { root: (id: string) => string; tokens: [string, string][] }> = {
        Member: {
          root: (id) => `member(id: "${id}")`,
          tokens: [
            ["ADMIN", admin],
            ["PARTNER", partner.token],
          ],
        },
        Partner: {
          root: (id) => `partner(id: "${id}")`,
          tokens: [
            ["ADMIN", admin],
            ["PARTNER", partner.token],
            ["MEMBER", member],
          ],
        },
        Offer: {
          root: (id) => `offer(id: "${id}")`,
          tokens: [
            ["ADMIN", admin],
            ["PARTNER", partner.token],
            ["MEMBER", member],
          ],
        },
        PointsTransaction: {
          root: (id) => `transaction(id: "${id}")`,
          tokens: [
            ["ADMIN", admin],
            ["PARTNER", partner.token],
            ["MEMBER", member],
          ],
        },
        SettlementRun: {
          root: (id) => `settlementRun(id: "${id}")`,
          tokens: [
            ["ADMIN", admin],
            ["PARTNER", partner.token],
          ],
        },
      };
      const runs: { label: string; token: string; query: string }[] = [];
      for (const t of trips) {
        if (t.from === "Member") runs.push({ label: `MEMBER ${t.path}`, token: member, query: `{ me ${t.selection} }` });
        const r = roots[t.from];
        if (r) for (const [role, token] of r.tokens) runs.push({ label: `${role} ${t.path}`, token, query: `{ ${r.root(ids[t.from]!)} ${t.selection} }` });
      }
      // The walk covers the paths of the issue and the types without a root field (OfferClaim) from their parents.
      expect(trips.map((t) => t.path)).toEqual(expect.arrayContaining(["Member.activity → PointsTransaction.member → Member.wallet", "Member.claimedOffers → OfferClaim.member → Member.claimedOffers"]));
      const failures: string[] = [];
      for (let i = 0; i < runs.length; i += 8) {
        await Promise.all(
          runs.slice(i, i + 8).map(async (run) => {
            const r = await hub.gql(run.token, run.query);
            const internal = (r.errors ?? []).filter((e) => !e.extensions?.code || e.extensions.code === "INTERNAL_SERVER_ERROR");
            if (r.status >= 500 || internal.length) failures.push(`${run.label}: ${r.status} ${JSON.stringify(internal[0] ?? r.errors?.[0])}`);
          }),
        );
      }
      expect(failures).toEqual([]);
      expect(runs.length).toBeGreaterThan(500);
    }, 600_000);
  });

  describe("introspection (default: partners and admins)", () => {
    test("a partner and an admin may introspect; a member may not", async () => {
      for (const t of [partner.token, admin]) {
        const r = await hub.gql(t, getIntrospectionQuery());
        expect(r.errors ?? []).toEqual([]);
        expect(r.data?.__schema.queryType.name).toBe("Query");
      }
      const m = await hub.gql(member, getIntrospectionQuery());
      expect(m.data?.__schema ?? null).toBeNull();
      expect(m.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
      const type = await hub.gql(member, '{ __type(name: "Member") { name } }');
      expect(type.data?.__type ?? null).toBeNull();
      // __typename is not introspection of the schema.
      expect((await hub.gql(member, "{ __typename }")).data).toEqual({ __typename: "Query" });
    });

    test("an introspection query nesting types in fields is refused before execution", async () => {
      // graphql-js's MaxIntrospectionDepthRule refuses it in validation already; the introspection
      // cost cap (gateway/src/cost.test.ts) is the second line.
      const nested = `{ __schema { types { fields { type { fields { type { fields { type { fields { type { fields { name } } } } } } } } } } } }`;
      const r = await hub.gql(admin, nested);
      expect(r.data ?? null).toBeNull();
      expect(["GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COSTLY"]).toContain(r.errors?.[0]?.extensions?.code);
    });
  });
});

describe("one gateway setting and the per-request limits (fake subgraphs)", () => {
  let subs: FakeSubgraphs;
  let silent: Server;
  const gateways: RunningGateway[] = [];
  const start = async (limits: Parameters<typeof startGateway>[0]["limits"], urls?: Partial<FakeSubgraphs["urls"]>) => {
    const g = await startGateway({ port: 0, supergraphSdl: subs.supergraphSdl, subgraphUrls: { ...subs.urls, ...urls }, internalSecret: TEST_INTERNAL_SECRET, dataDir: undefined, signingKeys: undefined, limits });
    gateways.push(g);
    return g;
  };
  const tokenOf = async (g: RunningGateway, clientId: string, secret: string) => {
    const r = await fetch(`${g.url}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: secret }) });
    return ((await r.json()) as { access_token: string }).access_token;
  };
  const gql = async (g: RunningGateway, token: string, query: string) => {
    const r = await fetch(`${g.url}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
    return { status: r.status, body: (await r.json()) as { data?: any; errors?: any[] } };
  };

  beforeAll(async () => {
    subs = await startFakeSubgraphs(testInternalKey);
    // A subgraph that accepts the connection and never answers.
    silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  });
  afterAll(async () => {
    for (const g of gateways) await g.close();
    silent.closeAllConnections();
    silent.close();
    await subs?.close();
  });

  test("introspection: off for everybody with one setting (admins too)", async () => {
    const g = await start({ introspection: "off" });
    const admin = await tokenOf(g, "fake-admin", "fake-admin-secret");
    const r = await gql(g, admin, "{ __schema { queryType { name } } }");
    expect(r.body.data?.__schema ?? null).toBeNull();
    expect(r.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    expect((await gql(g, admin, "{ whoami { role } }")).body.data).toEqual({ whoami: { role: "ADMIN" } });
    const on = await start({});
    expect((await gql(on, await tokenOf(on, "fake-admin", "fake-admin-secret"), "{ __schema { queryType { name } } }")).body.data).toEqual({ __schema: { queryType: { name: "Query" } } });
  });

  test("a subgraph that does not answer: GATEWAY_TIMEOUT after the fetch timeout, the other fields still answer", async () => {
    const port = (silent.address() as AddressInfo).port;
    // points never answers (partner must: the token service authenticates clients there).
    const g = await start({ subgraphTimeoutMs: 300, requestDeadlineMs: 5_000 }, { points: `http://127.0.0.1:${port}/graphql` });
    const t = await tokenOf(g, "fake-admin", "fake-admin-secret");
    const r = await gql(g, t, '{ whoami { role } member(id: "m-1") { id balance } }');
    expect(r.status).toBeLessThan(500);
    expect(r.body.errors?.[0]?.extensions?.code).toBe("GATEWAY_TIMEOUT");
    expect(r.body.data?.whoami ?? null).toEqual({ role: "ADMIN" });
  });

  test("the request deadline bounds the fetches even when each one's timeout is longer", async () => {
    const port = (silent.address() as AddressInfo).port;
    const g = await start({ subgraphTimeoutMs: 60_000, requestDeadlineMs: 400 }, { points: `http://127.0.0.1:${port}/graphql` });
    const r = await gql(g, await tokenOf(g, "fake-admin", "fake-admin-secret"), '{ member(id: "m-1") { id balance } }');
    expect(r.body.errors?.[0]?.extensions?.code).toBe("GATEWAY_TIMEOUT");
  });

  test("a response above the size cap: RESPONSE_TOO_LARGE and no data at all (never half an answer)", async () => {
    const g = await start({ maxResponseBytes: 200 });
    const t = await tokenOf(g, "fake-admin", "fake-admin-secret");
    expect((await gql(g, t, "{ echo(n: 1) }")).body).toEqual({ data: { echo: 1 } });
    const big = await gql(g, t, `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: whoami { role sub requestId }`).join(" ")} }`);
    expect(big.body.data ?? null).toBeNull();
    expect(big.body.errors?.[0]?.extensions).toMatchObject({ code: "RESPONSE_TOO_LARGE", allowedBytes: 200 });
  });
});

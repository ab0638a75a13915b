import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Issue 17 §6: Relay PageInfo (hasPreviousPage, startCursor) and backward paging (last/before) on
// every connection of the public schema, and the errors the gateway answers itself in GraphQL's
// shape with their HTTP status, as Apollo Client 4 reads them (application/graphql-response+json).
// Filters of partnerTransactions in both directions: tests/e2e/reconciliation.e2e.ts.
process.env.HUB_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
let hub: TestHub;
let admin: string;
let partner: { id: string; token: string };
let memberId = "";
const APOLLO_ACCEPT = "application/graphql-response+json,application/json;q=0.9";

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Relay Shop", category: "ECOMMERCE", issuePrice: "0.01", redemptionRate: "0.01" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  partner = { id: registerPartner.id, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  const { enrollMember } = expectNoGraphQLErrors(await hub.gql(partner.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "relay@example.com", externalRef: "R-1" } }));
  memberId = enrollMember.id;
  await hub.flushEvents();
  for (let i = 0; i < 3; i++)
    expectNoGraphQLErrors(await hub.gql(partner.token, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { externalRef: "R-1", points: 10 + i, idempotencyKey: randomUUID() } }));
  await seedEveryConnection();
}, 180_000);

// A second partner with at least five items in each of the eight connections of the public schema.
let shop: { id: string; token: string };
let shopMember = "";
let endpointId = "";
const SERVICING = { "coalition-purpose": "ACCOUNT_SERVICING" };
async function seedEveryConnection() {
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Relay Two", category: "ECOMMERCE", issuePrice: "0.01", redemptionRate: "0.01" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  shop = { id: registerPartner.id, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  const email = "relay-two@example.com";
  shopMember = expectNoGraphQLErrors(await hub.gql(shop.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email, externalRef: "T-1" } })).enrollMember.id;
  await hub.flushEvents();
  const session = await hub.memberSession(email, await hub.activateMember(shop.token, shopMember, email));
  expectNoGraphQLErrors(
    await hub.gql(session, "mutation($i: GrantConsentInput!) { grantConsent(input: $i) { id } }", {
      i: { partnerId: shop.id, categories: ["TIER", "POINTS_BALANCE", "ACTIVITY"], purpose: "ACCOUNT_SERVICING", noticeVersion: "2026-12" },
    }),
  );
  endpointId = expectNoGraphQLErrors(
    await hub.gql(shop.token, "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id } } }", { i: { url: "http://127.0.0.1:9/hook", eventTypes: ["POINTS_EARNED"] } }),
  ).createWebhookEndpoint.endpoint.id;
  await hub.flushEvents();
  // 1,001 points: SILVER, so tier benefits can be applied; then four more earns.
  for (const purchaseAmount of ["1001", "5", "6", "7", "8"])
    expectNoGraphQLErrors(await hub.gql(shop.token, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId: shopMember, purchaseAmount, idempotencyKey: randomUUID() } }));
  for (let i = 0; i < 5; i++) {
    // Each consent-scoped read is one entry of the member's data-access log.
    expectNoGraphQLErrors(await hub.gql(shop.token, "query($id: ID!) { member(id: $id) { wallet { balance } } }", { id: shopMember }, SERVICING));
    expectNoGraphQLErrors(
      await hub.gql(
        shop.token,
        "mutation($i: ApplyTierBenefitInput!) { applyTierBenefit(input: $i) { id } }",
        { i: { memberId: shopMember, benefitCode: "DISCOUNT", purchaseAmount: "100.00", discountAmount: "5.00", currency: "CNY", idempotencyKey: randomUUID() } },
        SERVICING,
      ),
    );
    const now = Date.now();
    expectNoGraphQLErrors(
      await hub.gql(shop.token, "mutation($i: CreateOfferInput!) { createOffer(input: $i) { id } }", {
        i: {
          title: `Relay offer ${i}`,
          kind: "BONUS_POINTS",
          bonusPoints: 5,
          coIssuers: [{ partnerId: shop.id, shareBps: 10000 }],
          redeemableAtPartnerIds: [shop.id],
          startsAt: new Date(now + 60_000).toISOString(),
          endsAt: new Date(now + 30 * 86_400_000).toISOString(),
          budgetPoints: 100,
          perMemberLimit: 1,
        },
      }),
    );
    const day = new Date(Date.UTC(2026, 0, 1 + i));
    expectNoGraphQLErrors(
      await hub.gql(admin, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }", {
        s: day.toISOString(),
        e: new Date(day.getTime() + 86_400_000).toISOString(),
      }),
    );
  }
  await hub.flushEvents();
}

type Conn = { edges: { cursor: string }[]; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null } };
type PageArgs = { first?: number; after?: string | null; last?: number; before?: string | null };

/** Pages a connection forward with `first`, then back from the end with `last`/`before`: same items (cursors are (time, id)), same order, pageInfo right on every page. */
async function pagesBothWays(read: (args: PageArgs) => Promise<Conn>, size = 2) {
  const forward: string[] = [];
  let after: string | null = null;
  for (let i = 0; ; i++) {
    const c: Conn = await read({ first: size, after });
    expect(c.pageInfo.startCursor).toBe(c.edges[0]?.cursor ?? null);
    expect(c.pageInfo.endCursor).toBe(c.edges.at(-1)?.cursor ?? null);
    expect(c.pageInfo.hasPreviousPage).toBe(i > 0);
    forward.push(...c.edges.map((e) => e.cursor));
    if (!c.pageInfo.hasNextPage) break;
    after = c.pageInfo.endCursor;
  }
  const pages: string[][] = [];
  let before: string | null = null;
  for (let i = 0; ; i++) {
    const c: Conn = await read({ last: size, before });
    expect(c.pageInfo.startCursor).toBe(c.edges[0]?.cursor ?? null);
    expect(c.pageInfo.endCursor).toBe(c.edges.at(-1)?.cursor ?? null);
    expect(c.pageInfo.hasNextPage).toBe(i > 0);
    pages.unshift(c.edges.map((e) => e.cursor));
    if (!c.pageInfo.hasPreviousPage) break;
    before = c.pageInfo.startCursor;
  }
  expect(forward.length).toBeGreaterThan(2 * size);
  expect(pages.flat()).toEqual(forward);
  const both = await read({ first: 1, last: 1 }).then(
    () => "accepted",
    (e: Error) => e.message,
  );
  expect(both).toBe("BAD_USER_INPUT");
  return forward;
}

const CONN = "edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }";
const PAGING = "$first: Int, $after: String, $last: Int, $before: String";
const PASS = "first: $first, after: $after, last: $last, before: $before";

/** Runs a query and returns the connection at `path`; a GraphQL error is thrown as its code. */
async function connection(token: string, query: string, path: string[], vars: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Conn> {
  const r = await hub.gql(token, query, vars, headers);
  if (r.errors?.length) throw new Error(String(r.errors[0]!.extensions?.code ?? r.errors[0]!.message));
  return path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], r.data) as Conn;
}
afterAll(() => hub?.close());

describe("PageInfo", () => {
  test("startCursor is the first edge's cursor on every connection; lists paged forward answer hasPreviousPage false", async () => {
    const { member } = expectNoGraphQLErrors(
      await hub.gql(admin, "query($id: ID!) { member(id: $id) { activity(first: 2) { edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }", { id: memberId }),
    );
    const a = member.activity;
    expect(a.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: a.edges[0].cursor, endCursor: a.edges[1].cursor });
    const runs = expectNoGraphQLErrors(await hub.gql(admin, "{ settlementRuns(first: 1) { edges { cursor } pageInfo { hasPreviousPage startCursor endCursor } } }")).settlementRuns;
    expect(runs.pageInfo).toEqual({ hasPreviousPage: false, startCursor: runs.edges[0].cursor, endCursor: runs.edges[0].cursor });
    const none = expectNoGraphQLErrors(await hub.gql(admin, '{ appliedTierBenefits(partnerId: "00000000-0000-4000-8000-000000000000") { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }'));
    expect(none.appliedTierBenefits.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null });
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const first = expectNoGraphQLErrors(
      await hub.gql(partner.token, "query($f: PartnerTransactionFilter!) { partnerTransactions(filter: $f, first: 2) { edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }", {
        f: { from, to },
      }),
    ).partnerTransactions;
    expect(first.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: first.edges[0].cursor, endCursor: first.edges[1].cursor });
    const second = expectNoGraphQLErrors(
      await hub.gql(partner.token, "query($f: PartnerTransactionFilter!, $a: String) { partnerTransactions(filter: $f, first: 2, after: $a) { edges { cursor } pageInfo { hasNextPage hasPreviousPage } } }", {
        f: { from, to },
        a: first.pageInfo.endCursor,
      }),
    ).partnerTransactions;
    expect(second.edges).toHaveLength(1);
    expect(second.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true });
  });
});

describe("backward paging (last/before) on every connection: the same items as forward paging, in order", () => {
  const fromTo = { from: new Date(Date.now() - 3_600_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() };
  test.each([
    [
      "Member.activity (PointsTransactionConnection)",
      () => (a: PageArgs) => connection(shop.token, `query($id: ID!, ${PAGING}) { member(id: $id) { activity(${PASS}) { ${CONN} } } }`, ["member", "activity"], { id: shopMember, ...a }, SERVICING),
    ],
    [
      "Member.dataAccessLog (DataAccessConnection)",
      () => (a: PageArgs) =>
        connection(
          admin,
          `query($id: ID!, ${PAGING}) { member(id: $id) { dataAccessLog(${PASS}) { edges { cursor node { at } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`,
          ["member", "dataAccessLog"],
          { id: shopMember, ...a },
        ),
    ],
    ["offers (OfferConnection)", () => (a: PageArgs) => connection(shop.token, `query(${PAGING}) { offers(${PASS}) { ${CONN} } }`, ["offers"], a)],
    ["auditTrail (AuditEntryConnection)", () => (a: PageArgs) => connection(admin, `query(${PAGING}) { auditTrail(${PASS}) { ${CONN} } }`, ["auditTrail"], a)],
    [
      "webhookDeliveries (WebhookDeliveryConnection)",
      () => (a: PageArgs) => connection(shop.token, `query($e: ID!, ${PAGING}) { webhookDeliveries(endpointId: $e, ${PASS}) { ${CONN} } }`, ["webhookDeliveries"], { e: endpointId, ...a }),
    ],
    [
      "partnerTransactions (PartnerTransactionConnection)",
      () => (a: PageArgs) => connection(shop.token, `query($f: PartnerTransactionFilter!, ${PAGING}) { partnerTransactions(filter: $f, ${PASS}) { ${CONN} } }`, ["partnerTransactions"], { f: fromTo, ...a }),
    ],
    ["settlementRuns (SettlementRunConnection)", () => (a: PageArgs) => connection(admin, `query(${PAGING}) { settlementRuns(${PASS}) { ${CONN} } }`, ["settlementRuns"], a)],
    ["appliedTierBenefits (TierBenefitUseConnection)", () => (a: PageArgs) => connection(shop.token, `query(${PAGING}) { appliedTierBenefits(${PASS}) { ${CONN} } }`, ["appliedTierBenefits"], a)],
  ] as const)("%s", async (_name, reader) => {
    await hub.flushEvents(); // reads of the other cases add data-access entries: none arrive while paging
    await pagesBothWays(reader());
  });

  test("every connection of the public schema is covered above", () => {
    const sdl = readFileSync(new URL("../../schema/public.graphql", import.meta.url), "utf8");
    const names = [...sdl.matchAll(/^type (\w+Connection) /gm)].map((m) => m[1]).sort();
    expect(names).toEqual([
      "AuditEntryConnection",
      "DataAccessConnection",
      "OfferConnection",
      "PartnerTransactionConnection",
      "PointsTransactionConnection",
      "SettlementRunConnection",
      "TierBenefitUseConnection",
      "WebhookDeliveryConnection",
    ]);
  });
});

describe("errors the gateway answers itself: GraphQL's shape, HTTP status kept", () => {
  const post = (headers: Record<string, string>) => fetch(hub.gatewayUrl, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query: "{ viewer { role } }" }) });

  test("401 UNAUTHENTICATED: application/graphql-response+json for Apollo Client 4, application/json otherwise, same body", async () => {
    for (const [headers, reason] of [
      [{}, "TOKEN_MISSING"],
      [{ authorization: "Bearer not.a.token" }, "TOKEN_MALFORMED"],
      [{ authorization: "Basic abc" }, "TOKEN_MALFORMED"],
    ] as const) {
      const apollo = await post({ ...headers, accept: APOLLO_ACCEPT });
      expect(apollo.status).toBe(401);
      expect(apollo.headers.get("content-type")).toMatch(/^application\/graphql-response\+json/);
      expect(apollo.headers.get("www-authenticate")).toMatch(/^Bearer /);
      const body = (await apollo.json()) as { errors: { message: string; extensions: { code: string; reason: string; requestId: string } }[] };
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0]!.extensions).toMatchObject({ code: "UNAUTHENTICATED", reason });
      expect(typeof body.errors[0]!.message).toBe("string");
      expect(body.errors[0]!.extensions.requestId).toBe(apollo.headers.get("x-request-id"));
      const plain = await post({ ...headers });
      expect(plain.status).toBe(401);
      expect(plain.headers.get("content-type")).toMatch(/^application\/json/);
      expect(((await plain.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe("UNAUTHENTICATED");
    }
  });

  test("403 FORBIDDEN from a page origin the token's client does not list; 400 for a bad purpose header", async () => {
    const r = await post({ authorization: `Bearer ${partner.token}`, origin: "https://evil.example", accept: APOLLO_ACCEPT });
    expect(r.status).toBe(403);
    expect(r.headers.get("content-type")).toMatch(/^application\/graphql-response\+json/);
    expect(((await r.json()) as { errors: { extensions: { code: string; reason: string } }[] }).errors[0]!.extensions).toMatchObject({ code: "FORBIDDEN", reason: "ORIGIN_NOT_ALLOWED" });
    const bad = await post({ authorization: `Bearer ${partner.token}`, "coalition-purpose": "SPYING", accept: APOLLO_ACCEPT });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe("BAD_USER_INPUT");
  });
});

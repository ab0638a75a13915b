import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Issue 17 §6: Relay PageInfo (hasPreviousPage, startCursor) on every connection, and the errors
// the gateway answers itself in GraphQL's shape with their HTTP status, as Apollo Client 4 reads
// them (application/graphql-response+json). Backward paging (last/before) of partnerTransactions:
// tests/e2e/reconciliation.e2e.ts.
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
}, 120_000);
afterAll(() => hub?.close());

describe("PageInfo", () => {
  test("startCursor is the first edge's cursor on every connection; lists paged forward answer hasPreviousPage false", async () => {
    const { member } = expectNoGraphQLErrors(
      await hub.gql(admin, "query($id: ID!) { member(id: $id) { activity(first: 2) { edges { cursor } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }", { id: memberId }),
    );
    const a = member.activity;
    expect(a.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: a.edges[0].cursor, endCursor: a.edges[1].cursor });
    const runs = expectNoGraphQLErrors(await hub.gql(admin, "{ settlementRuns { edges { cursor } pageInfo { hasPreviousPage startCursor endCursor } } }")).settlementRuns;
    expect(runs.pageInfo).toEqual({ hasPreviousPage: false, startCursor: null, endCursor: null });
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

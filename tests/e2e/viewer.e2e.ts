import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// `viewer` (issue 17 §6): who am I, for every kind of token.
const VIEWER = "{ viewer { role authority clientId partner { id slug } member { id } personRole scopes purpose } }";
let hub: TestHub;
let admin: string;
let partner: { id: string; clientId: string; secret: string; token: string };

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Grand Stay", category: "HOTEL", issuePrice: "0.01", redemptionRate: "0.01" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER, defaultPurpose: OFFER_TARGETING) { clientId clientSecret } }", { p: registerPartner.id }),
  );
  partner = { id: registerPartner.id, clientId: createApiClient.clientId, secret: createApiClient.clientSecret, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
});
afterAll(() => hub?.close());

describe("viewer", () => {
  test("an admin client", async () => {
    const { viewer } = expectNoGraphQLErrors(await hub.gql(admin, VIEWER));
    expect(viewer).toEqual({ role: "ADMIN", authority: "CLIENT", clientId: "test-admin", partner: null, member: null, personRole: null, scopes: ["hub:admin"], purpose: null });
  });

  test("a partner client: its partner with id and slug, and the purpose in force (header, else the client's default)", async () => {
    const byDefault = expectNoGraphQLErrors(await hub.gql(partner.token, VIEWER)).viewer;
    expect(byDefault).toEqual({
      role: "PARTNER",
      authority: "CLIENT",
      clientId: partner.clientId,
      partner: { id: partner.id, slug: "grand-stay" },
      member: null,
      personRole: null,
      scopes: ["hub:partner"],
      purpose: "OFFER_TARGETING",
    });
    const declared = expectNoGraphQLErrors(await hub.gql(partner.token, VIEWER, {}, { "coalition-purpose": "ANALYTICS" })).viewer;
    expect(declared.purpose).toBe("ANALYTICS");
  });

  test("a member's own session, and a partner's view of one member (token exchange)", async () => {
    const m = await hub.memberWithPassword(partner.token, { email: "viewer-member@example.com", externalRef: "guest-1" });
    const own = expectNoGraphQLErrors(await hub.gql(await hub.memberSession(m.login, m.password), VIEWER)).viewer;
    expect(own).toMatchObject({ role: "MEMBER", authority: "PERSON", clientId: "hub-member-app", partner: null, member: { id: m.memberId }, purpose: null });
    const view = expectNoGraphQLErrors(await hub.gql(await hub.exchangeToken(partner.clientId, partner.secret, "guest-1"), VIEWER)).viewer;
    expect(view).toMatchObject({ role: "PARTNER", authority: "PARTNER_VIEW", clientId: partner.clientId, partner: { id: partner.id }, member: { id: m.memberId } });
  });

  test("no token: 401 UNAUTHENTICATED in GraphQL's error shape", async () => {
    const r = await hub.gql(null, VIEWER);
    expect(r.status).toBe(401);
    expect(r.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });
});

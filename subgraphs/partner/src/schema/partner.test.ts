import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectNoGraphQLErrors } from "../../../../tests/support/subgraph.ts";
import { prisma } from "../db.ts";
import { verifyPassword } from "../../../../lib/password.ts";
import { createApiClientWithSecret } from "../services/api-clients.ts";
import { ratesAt } from "../services/partners.ts";
import { adminPrincipal, codes, memberPrincipal, newPartner, type PartnerHarness, partnerPrincipal, startPartnerHarness } from "../testing/harness.ts";

let h: PartnerHarness;
beforeAll(async () => {
  h = await startPartnerHarness();
});
afterAll(() => h?.close());

const REGISTER = `mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id name slug category active issuePrice redemptionRate earnRate } }`;

describe("partners", () => {
  test("registerPartner is ADMIN only; slug derived and unique; initial rates recorded; events emitted", async () => {
    const input = { name: "Fresh Mart", category: "fmcg", issuePrice: "0.0150", redemptionRate: "0.01" };
    for (const p of [partnerPrincipal(crypto.randomUUID()), memberPrincipal(crypto.randomUUID())]) {
      const r = await h.as(p, REGISTER, { i: input });
      expect(codes(r)).toEqual(["FORBIDDEN"]);
    }
    const r = expectNoGraphQLErrors(await h.as<{ registerPartner: { id: string } }>(adminPrincipal(), REGISTER, { i: input }));
    expect(r.registerPartner).toMatchObject({ name: "Fresh Mart", slug: "fresh-mart", category: "FMCG", active: true, issuePrice: "0.015", redemptionRate: "0.01", earnRate: "1" });
    const dup = await h.as(adminPrincipal(), REGISTER, { i: input });
    expect(codes(dup)).toEqual(["BAD_USER_INPUT"]);
    const events = await prisma().partnerOutboxEvent.findMany({ where: { payload: { path: ["partnerId"], equals: r.registerPartner.id } }, orderBy: { createdAt: "asc" } });
    expect(events.map((e) => e.type).sort()).toEqual(["audit.recorded", "partner.rates_changed", "partner.registered"]);
    expect(events.find((e) => e.type === "partner.registered")?.payload).toMatchObject({ partnerId: r.registerPartner.id, name: "Fresh Mart", earnRate: "1" });
  });

  test("invalid rates are BAD_USER_INPUT and write nothing", async () => {
    const before = await prisma().partner.count();
    for (const issuePrice of ["0", "-1", "0.1234567", "1e3"]) {
      const r = await h.as(adminPrincipal(), REGISTER, { i: { name: `Bad ${issuePrice}`, category: "HOTEL", issuePrice, redemptionRate: "0.01" } });
      expect(codes(r)).toEqual(["BAD_USER_INPUT"]);
    }
    expect(await prisma().partner.count()).toBe(before);
  });

  test("setPartnerRates appends to the history; past rates stay; ratesAt answers by time", async () => {
    const p = await newPartner({ issuePrice: "0.015", redemptionRate: "0.01" });
    const t0 = new Date();
    const SET = `mutation($p: ID!, $i: Decimal!, $r: Decimal!, $at: DateTime) { setPartnerRates(partnerId: $p, issuePrice: $i, redemptionRate: $r, effectiveFrom: $at) { issuePrice redemptionRate rateHistory { issuePrice effectiveFrom } } }`;
    expect(codes(await h.as(partnerPrincipal(p.id), SET, { p: p.id, i: "0.02", r: "0.012" }))).toEqual(["FORBIDDEN"]);
    const now = expectNoGraphQLErrors(await h.as<{ setPartnerRates: { issuePrice: string; rateHistory: unknown[] } }>(adminPrincipal(), SET, { p: p.id, i: "0.02", r: "0.012" }));
    expect(now.setPartnerRates.issuePrice).toBe("0.02");
    expect(now.setPartnerRates.rateHistory).toHaveLength(2);
    const future = new Date(Date.now() + 86_400_000);
    const f = expectNoGraphQLErrors(await h.as<{ setPartnerRates: { issuePrice: string } }>(adminPrincipal(), SET, { p: p.id, i: "0.03", r: "0.02", at: future.toISOString() }));
    expect(f.setPartnerRates.issuePrice).toBe("0.02"); // not in force yet
    expect(codes(await h.as(adminPrincipal(), SET, { p: p.id, i: "0.03", r: "0.02", at: "2020-01-01T00:00:00Z" }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(adminPrincipal(), SET, { p: p.id, i: "abc", r: "0.02" }))).toEqual(["BAD_USER_INPUT"]);
    expect((await ratesAt(p.id, new Date(t0.getTime() - 1)))?.issuePrice.toString()).toBe("0.015");
    expect((await ratesAt(p.id, new Date()))?.issuePrice.toString()).toBe("0.02");
    expect((await ratesAt(p.id, new Date(future.getTime() + 1)))?.issuePrice.toString()).toBe("0.03");
    expect(await ratesAt(p.id, new Date("2000-01-01"))).toBeNull();
    const evs = await prisma().partnerOutboxEvent.findMany({ where: { type: "partner.rates_changed", payload: { path: ["partnerId"], equals: p.id } } });
    expect(evs).toHaveLength(3);
    expect(evs.map((e) => (e.payload as { issuePrice: string }).issuePrice).sort()).toEqual(["0.015", "0.02", "0.03"]);
  });

  test("rates and API clients: admin and self see them; another partner and members get null / empty", async () => {
    const a = await newPartner();
    const b = await newPartner();
    await createApiClientWithSecret({ clientId: `cl-${a.slug}`, secret: "a-secret-123", role: "PARTNER", partnerId: a.id });
    const Q = `query($id: ID!) { partner(id: $id) { id name issuePrice redemptionRate rateHistory { issuePrice } apiClients { clientId role } } }`;
    const self = expectNoGraphQLErrors(await h.as<{ partner: Record<string, unknown> }>(partnerPrincipal(a.id), Q, { id: a.id }));
    expect(self.partner).toMatchObject({ issuePrice: "0.015", redemptionRate: "0.01", apiClients: [{ clientId: `cl-${a.slug}`, role: "PARTNER" }] });
    const admin = expectNoGraphQLErrors(await h.as<{ partner: Record<string, unknown> }>(adminPrincipal(), Q, { id: a.id }));
    expect(admin.partner.issuePrice).toBe("0.015");
    for (const p of [partnerPrincipal(b.id), memberPrincipal(crypto.randomUUID())]) {
      const other = expectNoGraphQLErrors(await h.as<{ partner: Record<string, unknown> }>(p, Q, { id: a.id }));
      expect(other.partner).toEqual({ id: a.id, name: a.name, issuePrice: null, redemptionRate: null, rateHistory: [], apiClients: [] });
    }
    // Through entity references too.
    const ents = expectNoGraphQLErrors(
      await h.as<{ _entities: unknown[] }>(partnerPrincipal(b.id), `query($r: [_Any!]!) { _entities(representations: $r) { ... on Partner { id issuePrice apiClients { clientId } } } }`, {
        r: [
          { __typename: "Partner", id: a.id },
          { __typename: "Partner", id: b.id },
          { __typename: "Partner", id: crypto.randomUUID() },
        ],
      }),
    );
    expect(ents._entities).toEqual([{ id: a.id, issuePrice: null, apiClients: [] }, { id: b.id, issuePrice: "0.015", apiClients: [] }, null]);
    expect(codes(await h.as(adminPrincipal(), Q, { id: "not-a-uuid" }))).toEqual(["NOT_FOUND"]);
  });
});

describe("API clients", () => {
  const CREATE = `mutation($p: ID, $r: Role!, $d: Purpose) { createApiClient(partnerId: $p, role: $r, defaultPurpose: $d) { clientId clientSecret role partner { id } defaultPurpose } }`;

  test("createApiClient is ADMIN only; the secret is shown once and stored only as a scrypt hash", async () => {
    const p = await newPartner();
    expect(codes(await h.as(partnerPrincipal(p.id), CREATE, { p: p.id, r: "PARTNER" }))).toEqual(["FORBIDDEN"]);
    const r = expectNoGraphQLErrors(await h.as<{ createApiClient: { clientId: string; clientSecret: string } }>(adminPrincipal(), CREATE, { p: p.id, r: "PARTNER", d: "OFFER_TARGETING" }));
    expect(r.createApiClient).toMatchObject({ role: "PARTNER", partner: { id: p.id }, defaultPurpose: "OFFER_TARGETING" });
    expect(r.createApiClient.clientSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = await prisma().apiClient.findUniqueOrThrow({ where: { clientId: r.createApiClient.clientId } });
    expect(row.secretHash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(row.secretHash).not.toContain(r.createApiClient.clientSecret);
    expect(await verifyPassword(r.createApiClient.clientSecret, row.secretHash)).toBe(true);
    expect(await verifyPassword(`${r.createApiClient.clientSecret}x`, row.secretHash)).toBe(false);
    // Role/partner mismatches.
    expect(codes(await h.as(adminPrincipal(), CREATE, { r: "PARTNER" }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(adminPrincipal(), CREATE, { p: p.id, r: "ADMIN" }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(adminPrincipal(), CREATE, { p: p.id, r: "MEMBER" }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(adminPrincipal(), CREATE, { p: crypto.randomUUID(), r: "PARTNER" }))).toEqual(["BAD_USER_INPUT"]);
    const admin = expectNoGraphQLErrors(await h.as<{ createApiClient: { partner: null; role: string } }>(adminPrincipal(), CREATE, { r: "ADMIN" }));
    expect(admin.createApiClient).toMatchObject({ role: "ADMIN", partner: null });
  });

  test("clients/authenticate: right secret → identity; wrong, unknown, revoked, inactive partner → 401 invalid_client", async () => {
    const p = await newPartner();
    await createApiClientWithSecret({ clientId: "demo-admin", secret: "demo-admin-secret", role: "ADMIN" });
    await createApiClientWithSecret({ clientId: `demo-${p.slug}`, secret: `demo-${p.slug}-secret`, role: "PARTNER", partnerId: p.id, defaultPurpose: "OFFER_TARGETING" });
    expect(await h.internal("clients/authenticate", { clientId: "demo-admin", clientSecret: "demo-admin-secret" })).toEqual({
      status: 200,
      body: { clientId: "demo-admin", role: "ADMIN", partnerId: null, defaultPurpose: "ACCOUNT_SERVICING", scope: "hub:admin" },
    });
    expect(await h.internal("clients/authenticate", { clientId: `demo-${p.slug}`, clientSecret: `demo-${p.slug}-secret` })).toEqual({
      status: 200,
      body: { clientId: `demo-${p.slug}`, role: "PARTNER", partnerId: p.id, defaultPurpose: "OFFER_TARGETING", scope: "hub:partner" },
    });
    const refused = { status: 401, body: { error: "invalid_client" } };
    expect(await h.internal("clients/authenticate", { clientId: "demo-admin", clientSecret: "wrong" })).toEqual(refused);
    expect(await h.internal("clients/authenticate", { clientId: "nobody", clientSecret: "demo-admin-secret" })).toEqual(refused);
    expect(await h.internal("clients/authenticate", { clientId: "demo-admin" })).toEqual(refused);
    expect(await h.internal("clients/authenticate", {})).toEqual(refused);

    // Partner A cannot revoke B's client (NOT_FOUND); the owner can; afterwards it is refused.
    const other = await newPartner();
    const REVOKE = `mutation($c: String!) { revokeApiClient(clientId: $c) { clientId revokedAt } }`;
    expect(codes(await h.as(partnerPrincipal(other.id), REVOKE, { c: `demo-${p.slug}` }))).toEqual(["NOT_FOUND"]);
    expect(codes(await h.as(memberPrincipal(crypto.randomUUID()), REVOKE, { c: `demo-${p.slug}` }))).toEqual(["FORBIDDEN"]);
    const rev = expectNoGraphQLErrors(await h.as<{ revokeApiClient: { revokedAt: string } }>(partnerPrincipal(p.id), REVOKE, { c: `demo-${p.slug}` }));
    expect(rev.revokeApiClient.revokedAt).toBeTruthy();
    expect(await h.internal("clients/authenticate", { clientId: `demo-${p.slug}`, clientSecret: `demo-${p.slug}-secret` })).toEqual(refused);

    // Inactive partner.
    await createApiClientWithSecret({ clientId: `demo-${other.slug}`, secret: "other-secret", role: "PARTNER", partnerId: other.id });
    expect((await h.internal("clients/authenticate", { clientId: `demo-${other.slug}`, clientSecret: "other-secret" })).status).toBe(200);
    expectNoGraphQLErrors(await h.as(adminPrincipal(), `mutation($p: ID!) { setPartnerActive(partnerId: $p, active: false) { active } }`, { p: other.id }));
    expect(await h.internal("clients/authenticate", { clientId: `demo-${other.slug}`, clientSecret: "other-secret" })).toEqual(refused);
  });

  test("an unknown client id costs about as much as a wrong secret (one scrypt)", async () => {
    await createApiClientWithSecret({ clientId: "timing-client", secret: "timing-secret", role: "ADMIN" });
    const time = async (body: unknown) => {
      const t = performance.now();
      await h.internal("clients/authenticate", body);
      return performance.now() - t;
    };
    await time({ clientId: "nobody-warmup", clientSecret: "x" });
    const unknown = await time({ clientId: "nobody-at-all", clientSecret: "x" });
    const wrong = await time({ clientId: "timing-client", clientSecret: "x" });
    expect(unknown).toBeGreaterThan(wrong * 0.4);
  });
});

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Who sees what, through the gateway as clients see it: partner isolation (members, clients,
// offers, rates) and consent-scoped fields across all three subgraphs, with the access log.
let hub: TestHub;
let admin: string;
const partners: Record<"a" | "b", { id: string; token: string; clientId: string; secret: string }> = {} as never;
let memberA: string; // linked to A only
let memberAB: string; // linked to A and B
let memberToken: string; // memberAB's own token (via A)

const q = async (token: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) => hub.gql(token, query, variables, headers);

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  for (const [k, name] of [
    ["a", "Alpha Mart"],
    ["b", "Beta Foods"],
  ] as const) {
    const { registerPartner } = expectNoGraphQLErrors(
      await q(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name, category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" } }),
    );
    const { createApiClient } = expectNoGraphQLErrors(await q(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
    partners[k] = { id: registerPartner.id, clientId: createApiClient.clientId, secret: createApiClient.clientSecret, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  }
  const enrol = async (k: "a" | "b", email: string, ref: string) =>
    q(partners[k].token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email, displayName: `Name of ${ref}`, phone: "+86 138 0000 0000", externalRef: ref } });
  memberA = expectNoGraphQLErrors(await enrol("a", "only-a@example.com", "A-1")).enrollMember.id;
  memberAB = expectNoGraphQLErrors(await enrol("a", "both@example.com", "A-2")).enrollMember.id;
  // B enrolling a known email creates a link request the member confirms.
  const pending = await enrol("b", "both@example.com", "B-2");
  expect(pending.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", linkPending: true });
  // The member's own session (sign-in page, code + PKCE): confirming a link needs the member's authority.
  memberToken = await hub.memberSession("both@example.com", await hub.activateMember(partners.a.token, memberAB, "both@example.com"));
  expectNoGraphQLErrors(await q(memberToken, "mutation($p: ID!) { confirmPartnerLink(partnerId: $p) { externalRef } }", { p: partners.b.id }));
  await hub.flushEvents();
  expectNoGraphQLErrors(await q(partners.a.token, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId: memberAB, idempotencyKey: "e2e-1", points: 500 } }));
  await hub.flushEvents();
}, 120_000);
afterAll(() => hub?.close());

describe("partner isolation", () => {
  test("partner B never sees a member linked only to A: member(id) and memberByPartnerRef are NOT_FOUND", async () => {
    const byId = await q(partners.b.token, "query($id: ID!) { member(id: $id) { id } }", { id: memberA });
    expect(byId.data?.member ?? null).toBeNull();
    expect(byId.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const byRef = await q(partners.b.token, 'query($p: ID!) { memberByPartnerRef(partnerId: $p, externalRef: "A-1") { id } }', { p: partners.a.id });
    expect(byRef.data?.memberByPartnerRef ?? null).toBeNull();
    expect(["NOT_FOUND", "FORBIDDEN"]).toContain(byRef.errors?.[0]?.extensions?.code);
    // The same id from A: visible.
    expect(expectNoGraphQLErrors(await q(partners.a.token, "query($id: ID!) { member(id: $id) { id } }", { id: memberA })).member.id).toBe(memberA);
  });

  test("an unknown id and an unlinked member look the same", async () => {
    const unknown = await q(partners.b.token, "query($id: ID!) { member(id: $id) { id } }", { id: "00000000-0000-4000-8000-000000000000" });
    const unlinked = await q(partners.b.token, "query($id: ID!) { member(id: $id) { id } }", { id: memberA });
    expect(unknown.errors?.[0]?.extensions?.code).toBe(unlinked.errors?.[0]?.extensions?.code);
    expect(unknown.errors?.[0]?.message.replace(/[0-9a-f-]{36}/g, "<id>")).toBe(unlinked.errors?.[0]?.message.replace(/[0-9a-f-]{36}/g, "<id>"));
  });

  test("partner B cannot read A's API clients or rates; the federation entry point is not public", async () => {
    const r = await q(partners.b.token, "query($id: ID!) { partner(id: $id) { name issuePrice redemptionRate apiClients { clientId } } }", { id: partners.a.id });
    expect(r.data?.partner?.name).toBe("Alpha Mart");
    expect(r.data?.partner?.issuePrice ?? null).toBeNull();
    expect(r.data?.partner?.apiClients ?? []).toEqual([]);
    const own = expectNoGraphQLErrors(await q(partners.a.token, "query($id: ID!) { partner(id: $id) { issuePrice apiClients { clientId } } }", { id: partners.a.id }));
    expect(own.partner.issuePrice).toBe("0.015");
    expect(own.partner.apiClients.map((c: any) => c.clientId)).toContain(partners.a.clientId);
    const entities = await q(partners.b.token, '{ _entities(representations: [{ __typename: "Member", id: "x" }]) { __typename } }');
    expect(entities.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  test("partner B cannot see A's draft offers, nor approve them", async () => {
    const now = Date.now();
    const { createOffer } = expectNoGraphQLErrors(
      await q(partners.a.token, "mutation($i: CreateOfferInput!) { createOffer(input: $i) { id status } }", {
        i: {
          title: "A only",
          kind: "BONUS_POINTS",
          bonusPoints: 50,
          coIssuers: [{ partnerId: partners.a.id, shareBps: 10000 }],
          redeemableAtPartnerIds: [partners.a.id],
          startsAt: new Date(now + 60_000).toISOString(),
          endsAt: new Date(now + 30 * 86_400_000).toISOString(),
          budgetPoints: 1000,
          perMemberLimit: 1,
        },
      }),
    );
    const seen = await q(partners.b.token, "query($id: ID!) { offer(id: $id) { id } }", { id: createOffer.id });
    expect(seen.data?.offer ?? null).toBeNull();
    const list = expectNoGraphQLErrors(await q(partners.b.token, "{ offers(first: 50) { edges { node { id } } } }"));
    expect(list.offers.edges.map((e: any) => e.node.id)).not.toContain(createOffer.id);
    const approve = await q(partners.b.token, "mutation($id: ID!) { approveOffer(offerId: $id) { id } }", { id: createOffer.id });
    expect(approve.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  test("a member sees only itself; partner-only and admin-only mutations are refused", async () => {
    const me = expectNoGraphQLErrors(await q(memberToken, "{ me { id } }"));
    expect(me.me.id).toBe(memberAB);
    const other = await q(memberToken, "query($id: ID!) { member(id: $id) { id } }", { id: memberA });
    expect(other.data?.member ?? null).toBeNull();
    const reg = await q(partners.a.token, 'mutation { registerPartner(input: { name: "Sneaky", category: "FMCG", issuePrice: "0.01", redemptionRate: "0.01" }) { id } }');
    expect(reg.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});

describe("consent-scoped fields across subgraphs", () => {
  const READ = "query($id: ID!) { member(id: $id) { id joinedAt email phone displayName wallet { balance } tier { tier } lifecycle } }";
  const codes = (r: Awaited<ReturnType<typeof q>>) => Object.fromEntries((r.errors ?? []).map((e) => [String(e.path?.at(-1)), e.extensions]));

  test("without consent: every gated field is null with CONSENT_REQUIRED naming its category, the rest answers", async () => {
    const r = await q(partners.b.token, READ, { id: memberAB }, { "coalition-purpose": "OFFER_TARGETING" });
    expect(r.data?.member?.id).toBe(memberAB);
    expect(r.data?.member?.joinedAt).toEqual(expect.any(String));
    for (const f of ["email", "phone", "displayName", "wallet", "tier", "lifecycle"]) expect(r.data?.member?.[f], f).toBeNull();
    const c = codes(r);
    expect(c.email).toMatchObject({ code: "CONSENT_REQUIRED", category: "PROFILE_CONTACT" });
    expect(c.wallet).toMatchObject({ code: "CONSENT_REQUIRED", category: "POINTS_BALANCE" });
    expect(c.tier).toMatchObject({ code: "CONSENT_REQUIRED", category: "TIER" });
    expect(c.lifecycle).toMatchObject({ code: "CONSENT_REQUIRED", category: "SEGMENTS" });
  });

  test("granted for OFFER_TARGETING: visible under that purpose only; revoked: hidden on the very next request; the log lists exactly the reads", async () => {
    const { grantConsent } = expectNoGraphQLErrors(
      await q(memberToken, "mutation($i: GrantConsentInput!) { grantConsent(input: $i) { id status } }", {
        i: { partnerId: partners.b.id, categories: ["PROFILE_CONTACT", "POINTS_BALANCE"], purpose: "OFFER_TARGETING", noticeVersion: "2026-11" },
      }),
    );
    expect(grantConsent.status).toBe("ACTIVE");
    const targeting = await q(partners.b.token, READ, { id: memberAB }, { "coalition-purpose": "OFFER_TARGETING", "x-request-id": "read-1" });
    expect(targeting.data?.member?.email).toBe("both@example.com");
    expect(targeting.data?.member?.wallet?.balance).toBe(500);
    expect(targeting.data?.member?.tier ?? null).toBeNull(); // TIER was not granted
    const analytics = await q(partners.b.token, READ, { id: memberAB }, { "coalition-purpose": "ANALYTICS" });
    expect(analytics.data?.member?.email ?? null).toBeNull();
    expect(analytics.data?.member?.wallet ?? null).toBeNull();

    await hub.flushEvents(); // the points subgraph's read reaches the member's log as an event
    const log = expectNoGraphQLErrors(await q(memberToken, "{ me { dataAccessLog(first: 20) { edges { node { partner { id } categories purpose } } } } }"));
    const entries = log.me.dataAccessLog.edges.map((e: any) => e.node);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e: any) => e.partner.id === partners.b.id && e.purpose === "OFFER_TARGETING")).toBe(true);
    const categories = new Set(entries.flatMap((e: any) => e.categories));
    expect([...categories].sort()).toEqual(["POINTS_BALANCE", "PROFILE_CONTACT"]);

    expectNoGraphQLErrors(await q(memberToken, "mutation($id: ID!) { revokeConsent(consentId: $id) { status } }", { id: grantConsent.id }));
    const after = await q(partners.b.token, READ, { id: memberAB }, { "coalition-purpose": "OFFER_TARGETING" });
    expect(after.data?.member?.email ?? null).toBeNull();
    expect(after.data?.member?.wallet ?? null).toBeNull();
    expect(codes(after).email).toMatchObject({ code: "CONSENT_REQUIRED" });
  });

  test("the member and admins read everything without consent", async () => {
    const self = expectNoGraphQLErrors(await q(memberToken, "{ me { email wallet { balance } tier { tier } lifecycle } }"));
    expect(self.me.email).toBe("both@example.com");
    expect(self.me.wallet.balance).toBe(500);
    const asAdmin = expectNoGraphQLErrors(await q(admin, READ, { id: memberAB }));
    expect(asAdmin.member.email).toBe("both@example.com");
    expect(asAdmin.member.wallet.balance).toBe(500);
  });

  test("an expired consent stops counting by itself", async () => {
    const expiresAt = new Date(Date.now() + 2500).toISOString();
    const granted = await q(memberToken, "mutation($i: GrantConsentInput!) { grantConsent(input: $i) { id status expiresAt } }", {
      i: { partnerId: partners.b.id, categories: ["PROFILE_CONTACT"], purpose: "ACCOUNT_SERVICING", noticeVersion: "2026-11", expiresAt },
    });
    expect(expectNoGraphQLErrors(granted).grantConsent.status).toBe("ACTIVE");
    expect((await q(partners.b.token, READ, { id: memberAB }, { "coalition-purpose": "ACCOUNT_SERVICING" })).data?.member?.email).toBe("both@example.com");
    await new Promise((r) => setTimeout(r, 2800));
    const later = await q(partners.b.token, READ, { id: memberAB }, { "coalition-purpose": "ACCOUNT_SERVICING" });
    expect(later.data?.member?.email ?? null).toBeNull();
    const { me } = expectNoGraphQLErrors(await q(memberToken, "{ me { consents { id status } } }"));
    expect(me.consents.find((c: any) => c.id === granted.data?.grantConsent.id)?.status).toBe("EXPIRED");
  });
});

describe("insights", () => {
  test("audience overlap below the minimum cohort is suppressed: no number at all", async () => {
    const r = expectNoGraphQLErrors(
      await q(partners.a.token, "query($p: ID!) { audienceOverlap(withPartnerId: $p) { members suppressed minimumCohort partner { id } withPartner { id } } }", { p: partners.b.id }, { "coalition-purpose": "ANALYTICS" }),
    );
    expect(r.audienceOverlap).toMatchObject({ members: null, suppressed: true, partner: { id: partners.a.id }, withPartner: { id: partners.b.id } });
    expect(r.audienceOverlap.minimumCohort).toBeGreaterThanOrEqual(2);
  });
});

import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors, type GraphQLResult } from "../support/subgraph.ts";

// Issue 13, "Prove" 1 and 6, through the gateway as clients see it. The attack: partner A, with only
// its own client credentials and its own reference for a member, exchanges them for a token
// (RFC 8693) and tries, step by step, to read the member's data at other brands and unconsented
// fields, grant itself every consent, confirm another partner's pending link request, create a
// redemption code for itself and spend the member's balance. Every step fails with the exchanged
// (PARTNER_VIEW) token; the same steps succeed with the member's own session and with a token of
// A's app carrying the scope, and only within the scope; every partner read made with an
// exchanged or delegated token is in the member's access log with the partner and the purpose.
let hub: TestHub;
let admin: string;
type Partner = { id: string; clientId: string; secret: string; token: string };
const partners: Record<"a" | "b" | "c", Partner> = {} as never;
const app = { clientId: "", secret: "", redirectUri: "https://alpha.example/callback" };
let member: { memberId: string; login: string; password: string };
let otherMember: string; // another member of A
let session: string; // the member's own session

const codes = (r: GraphQLResult) => (r.errors ?? []).map((e) => e.extensions?.code);
const byPath = (r: GraphQLResult) => Object.fromEntries((r.errors ?? []).map((e) => [e.path?.join("."), { code: e.extensions?.code, ...(e.extensions?.scope ? { scope: e.extensions.scope } : {}) }]));

const AWARD = `mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }`;
const GRANT = `mutation($i: GrantConsentInput!) { grantConsent(input: $i) { id partner { id } categories } }`;
const CONFIRM = `mutation($p: ID!) { confirmPartnerLink(partnerId: $p) { partner { id } confirmedAt } }`;
const CODE = `mutation($p: ID!, $n: Int!) { createRedemptionCode(partnerId: $p, points: $n) { code points } }`;
const REDEEM = `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { id points } }`;
const ALL_CATEGORIES = ["PROFILE_BASIC", "PROFILE_CONTACT", "TIER", "POINTS_BALANCE", "ACTIVITY", "SEGMENTS"];
const LOG = `{ me { dataAccessLog(first: 100) { edges { node { partner { id } categories purpose operationName } } } } }`;

let idem = 0;
const key = () => `ma-${++idem}`;

async function balance(): Promise<number> {
  return expectNoGraphQLErrors(await hub.gql(session, "{ me { wallet { balance } } }")).me.wallet.balance;
}
async function accessLog(): Promise<{ partner: { id: string }; categories: string[]; purpose: string; operationName: string | null }[]> {
  await hub.flushEvents(); // the points subgraph's reads arrive as points.data_accessed events
  return expectNoGraphQLErrors(await hub.gql(session, LOG)).me.dataAccessLog.edges.map((e: { node: unknown }) => e.node);
}
const linkOf = async (partnerId: string) => (await hub.db.client().linkedAccount.findUnique({ where: { memberId_partnerId: { memberId: member.memberId, partnerId } } }))?.confirmedAt ?? null;

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  for (const [k, name] of [
    ["a", "Alpha Mart"],
    ["b", "Beta Hotels"],
    ["c", "Gamma Fuel"],
  ] as const) {
    const { registerPartner } = expectNoGraphQLErrors(
      await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name, category: "RETAIL", issuePrice: "0.015", redemptionRate: "0.010" } }),
    );
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
    partners[k] = { id: registerPartner.id, clientId: createApiClient.clientId, secret: createApiClient.clientSecret, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  }
  const a = partners.a;
  const { registerPartnerApp } = expectNoGraphQLErrors(
    await hub.gql(a.token, 'mutation($p: ID!, $r: [String!]!, $s: [String!]!) { registerPartnerApp(partnerId: $p, appName: "Alpha app", redirectUris: $r, scopes: $s) { clientId clientSecret } }', {
      p: a.id,
      r: [app.redirectUri],
      s: ["member:profile", "member:wallet", "member:offers", "member:redeem", "member:consents", "member:links"],
    }),
  );
  Object.assign(app, { clientId: registerPartnerApp.clientId, secret: registerPartnerApp.clientSecret });

  // The member joined at A (reference A-1), then linked B; C's link request waits for the member.
  member = await hub.memberWithPassword(a.token, { email: "victim@example.com", externalRef: "A-1" });
  otherMember = expectNoGraphQLErrors(await hub.gql(a.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "neighbour@example.com", externalRef: "A-2" } })).enrollMember.id;
  for (const [k, ref] of [
    ["b", "B-1"],
    ["c", "C-1"],
  ] as const) {
    const pending = await hub.gql(partners[k].token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "victim@example.com", externalRef: ref } });
    expect(pending.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", linkPending: true });
  }
  session = await hub.memberSession(member.login, member.password);
  expectNoGraphQLErrors(await hub.gql(session, CONFIRM, { p: partners.b.id }));
  // What the member shares with A: its name, for account servicing. With B: name, e-mail, balance.
  expectNoGraphQLErrors(await hub.gql(session, GRANT, { i: { partnerId: a.id, categories: ["PROFILE_BASIC"], purpose: "ACCOUNT_SERVICING", noticeVersion: "v1" } }));
  expectNoGraphQLErrors(await hub.gql(session, GRANT, { i: { partnerId: partners.b.id, categories: ["PROFILE_BASIC", "PROFILE_CONTACT", "POINTS_BALANCE"], purpose: "ACCOUNT_SERVICING", noticeVersion: "v1" } }));
  await hub.flushEvents();
  // Points earned at A and at B (a balance the attacker would like to spend at A).
  expectNoGraphQLErrors(await hub.gql(a.token, AWARD, { i: { memberId: member.memberId, points: 400, idempotencyKey: key() } }));
  expectNoGraphQLErrors(await hub.gql(partners.b.token, AWARD, { i: { memberId: member.memberId, points: 600, idempotencyKey: key() } }));
  await hub.flushEvents();
}, 180_000);
afterAll(() => hub?.close());

describe("the attack: partner A's exchanged token (credentials + its own reference, no member present)", () => {
  let exchanged: string;
  beforeAll(async () => {
    exchanged = await hub.exchangeToken(partners.a.clientId, partners.a.secret, "A-1");
  });

  test("it is a partner-view token bound to the member, never a member token", () => {
    expect(decodeJwt(exchanged)).toMatchObject({ role: "PARTNER", sub: partners.a.clientId, partner_id: partners.a.id, authority: "PARTNER_VIEW", bound_member_id: member.memberId });
  });

  test("step 1: it reads only what A itself may: unconsented fields are CONSENT_REQUIRED, nothing about other brands, no other member", async () => {
    const r = await hub.gql(
      exchanged,
      "query Snoop { me { id displayName email phone lifecycle wallet { balance } activity(first: 10) { edges { node { partner { id } points } } } linkedAccounts { partner { id } } linkRequests { partner { id } } consents { partner { id } } } }",
    );
    expect(r.status).toBe(200);
    expect(r.data?.me).toMatchObject({
      id: member.memberId,
      displayName: null, // activated members have no display name here: consented, but empty
      email: null,
      phone: null,
      lifecycle: null,
      wallet: null,
      activity: null,
      linkedAccounts: [{ partner: { id: partners.a.id } }],
      linkRequests: [],
      consents: [{ partner: { id: partners.a.id } }],
    });
    expect(byPath(r)).toEqual({
      "me.email": { code: "CONSENT_REQUIRED" },
      "me.phone": { code: "CONSENT_REQUIRED" },
      "me.lifecycle": { code: "CONSENT_REQUIRED" },
      "me.wallet": { code: "CONSENT_REQUIRED" },
      "me.activity": { code: "CONSENT_REQUIRED" },
    });
    // Another member of A, and the member by B's reference: not visible through this token.
    expect(codes(await hub.gql(exchanged, "query($id: ID!) { member(id: $id) { id } }", { id: otherMember }))).toEqual(["NOT_FOUND"]);
    expect(codes(await hub.gql(exchanged, 'query($p: ID!) { memberByPartnerRef(partnerId: $p, externalRef: "B-1") { id } }', { p: partners.b.id }))).toEqual(["NOT_FOUND"]);
    // Partner-level data is not reachable with it either.
    for (const q of ["{ offers(first: 5) { edges { node { id } } } }", "{ settlementRuns(first: 1) { edges { node { id } } } }", "query($p: ID!) { audienceOverlap(withPartnerId: $p) { suppressed } }"]) {
      expect(codes(await hub.gql(exchanged, q, { p: partners.b.id })), q).toContain("FORBIDDEN");
    }
  });

  test("step 2: it cannot grant consent to A (or anyone)", async () => {
    const before = await hub.db.client().consent.count({ where: { memberId: member.memberId } });
    const r = await hub.gql(exchanged, GRANT, { i: { partnerId: partners.a.id, categories: ALL_CATEGORIES, purpose: "OFFER_TARGETING", noticeVersion: "v1" } });
    expect(codes(r)).toEqual(["FORBIDDEN"]);
    expect(await hub.db.client().consent.count({ where: { memberId: member.memberId } })).toBe(before);
  });

  test("step 3: it cannot confirm C's pending link request", async () => {
    expect(codes(await hub.gql(exchanged, CONFIRM, { p: partners.c.id }))).toEqual(["FORBIDDEN"]);
    expect(await linkOf(partners.c.id)).toBeNull();
  });

  test("step 4: it cannot create a redemption code, and A cannot redeem without one", async () => {
    const before = await balance();
    expect(codes(await hub.gql(exchanged, CODE, { p: partners.a.id, n: before }))).toEqual(["FORBIDDEN"]);
    expect(await hub.db.client().pointsRedemptionCode.count({ where: { memberId: member.memberId } })).toBe(0);
    expect(codes(await hub.gql(exchanged, REDEEM, { i: { memberId: member.memberId, points: before, idempotencyKey: key() } }))).toEqual(["FORBIDDEN"]);
    expect(codes(await hub.gql(partners.a.token, REDEEM, { i: { memberId: member.memberId, points: before, idempotencyKey: key() } }))).toEqual(["REDEMPTION_CODE_INVALID"]);
    expect(await balance()).toBe(before);
  });

  test("its reads are in the member's access log under A and the request's purpose", async () => {
    const before = (await accessLog()).length;
    const r = expectNoGraphQLErrors(await hub.gql(exchanged, "query FrontEnd { me { displayName } }"));
    expect(r.me).toEqual({ displayName: null });
    const withPurpose = await hub.gql(exchanged, "query Targeting { me { displayName } }", {}, { "coalition-purpose": "OFFER_TARGETING" });
    expect(codes(withPurpose)).toEqual(["CONSENT_REQUIRED"]); // A's consent is for ACCOUNT_SERVICING only
    const log = await accessLog();
    expect(log.length).toBe(before + 1);
    expect(log[0]).toEqual({ partner: { id: partners.a.id }, categories: ["PROFILE_BASIC"], purpose: "ACCOUNT_SERVICING", operationName: "FrontEnd" });
    // The step-1 read (Snoop) is there too: what passed, under A.
    expect(log.some((e) => e.operationName === "Snoop" && e.partner.id === partners.a.id && e.purpose === "ACCOUNT_SERVICING")).toBe(true);
  });
});

describe("the same steps with the member's own session succeed", () => {
  test("reads everything, grants a consent, confirms C's link, creates a code that A redeems", async () => {
    const me = expectNoGraphQLErrors(await hub.gql(session, "{ me { email lifecycle wallet { balance } linkedAccounts { partner { id } } consents { id } } }")).me;
    expect(me.email).toBe("victim@example.com");
    expect(me.linkedAccounts.map((l: { partner: { id: string } }) => l.partner.id).sort()).toEqual([partners.a.id, partners.b.id].sort());
    expectNoGraphQLErrors(await hub.gql(session, GRANT, { i: { partnerId: partners.a.id, categories: ["TIER"], purpose: "OFFER_TARGETING", noticeVersion: "v1" } }));
    expectNoGraphQLErrors(await hub.gql(session, CONFIRM, { p: partners.c.id }));
    expect(await linkOf(partners.c.id)).not.toBeNull();
    const before = await balance();
    // No daily cap on the member's own codes.
    const { createRedemptionCode } = expectNoGraphQLErrors(await hub.gql(session, CODE, { p: partners.a.id, n: 500 }));
    await hub.flushEvents();
    const spent = expectNoGraphQLErrors(await hub.gql(partners.a.token, REDEEM, { i: { redemptionCode: createRedemptionCode.code, points: 500, idempotencyKey: key() } }));
    expect(spent.redeemPoints.points).toBe(-500);
    expect(await balance()).toBe(before - 500);
  });
});

describe("the same steps with A's app acting under the member's grant: only within the scopes", () => {
  test("member:profile + member:wallet + member:redeem (300 points a day): reads them, nothing else; codes only for A and within the limit; every read logged under A", async () => {
    const { accessToken } = await hub.delegatedToken({
      clientId: app.clientId,
      clientSecret: app.secret,
      redirectUri: app.redirectUri,
      login: member.login,
      password: member.password,
      scopes: ["member:profile", "member:wallet", "member:redeem"],
      redeemDailyLimit: 300,
    });
    const logBefore = (await accessLog()).length;
    const r = await hub.gql(accessToken, "query AppHome { me { email wallet { balance } tier { tier } lifecycle consents { id } eligibleOffers { id } } }");
    expect(r.data?.me).toMatchObject({ email: "victim@example.com", wallet: { balance: await balance() }, tier: { tier: expect.any(String) }, lifecycle: null, consents: null, eligibleOffers: null });
    expect(byPath(r)).toEqual({
      "me.lifecycle": { code: "FORBIDDEN", scope: "member" },
      "me.consents": { code: "FORBIDDEN", scope: "member" },
      "me.eligibleOffers": { code: "FORBIDDEN", scope: "member:offers" },
    });
    // Without member:consents / member:links the app cannot act on them.
    const grant = await hub.gql(accessToken, GRANT, { i: { partnerId: partners.a.id, categories: ALL_CATEGORIES, purpose: "ANALYTICS", noticeVersion: "v1" } });
    expect(byPath(grant)).toEqual({ grantConsent: { code: "FORBIDDEN", scope: "member:consents" } });
    expect(byPath(await hub.gql(accessToken, CONFIRM, { p: partners.c.id }))).toEqual({ confirmPartnerLink: { code: "FORBIDDEN", scope: "member:links" } });
    // Redemption codes: only for A, at most 300 points today.
    expect(codes(await hub.gql(accessToken, CODE, { p: partners.b.id, n: 10 }))).toEqual(["FORBIDDEN"]);
    const { createRedemptionCode } = expectNoGraphQLErrors(await hub.gql(accessToken, CODE, { p: partners.a.id, n: 200 }));
    const over = await hub.gql(accessToken, CODE, { p: partners.a.id, n: 101 });
    expect(over.errors?.[0]?.extensions).toMatchObject({ code: "FORBIDDEN", dailyLimitPoints: 300, remainingPoints: 100 });
    const before = await balance();
    expectNoGraphQLErrors(await hub.gql(partners.a.token, REDEEM, { i: { redemptionCode: createRedemptionCode.code, points: 200, idempotencyKey: key() } }));
    expect(await balance()).toBe(before - 200);

    const log = await accessLog();
    const appReads = log.slice(0, log.length - logBefore).filter((e) => e.operationName === "AppHome");
    expect(appReads.every((e) => e.partner.id === partners.a.id && e.purpose === "ACCOUNT_SERVICING")).toBe(true);
    expect([...new Set(appReads.flatMap((e) => e.categories))].sort()).toEqual(["POINTS_BALANCE", "PROFILE_CONTACT", "TIER"]);
  });

  test("member:consents + member:links: the app may grant a consent and confirm a link, and still reads nothing", async () => {
    const d = await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Delta Air", category: "TRAVEL", issuePrice: "0.015", redemptionRate: "0.010" } });
    const delta = expectNoGraphQLErrors(d).registerPartner.id as string;
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: delta }));
    const deltaToken = await hub.token(createApiClient.clientId, createApiClient.clientSecret);
    await hub.gql(deltaToken, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "victim@example.com", externalRef: "D-1" } });

    const { accessToken } = await hub.delegatedToken({
      clientId: app.clientId,
      clientSecret: app.secret,
      redirectUri: app.redirectUri,
      login: member.login,
      password: member.password,
      scopes: ["member:consents", "member:links"],
    });
    const granted = expectNoGraphQLErrors(await hub.gql(accessToken, GRANT, { i: { partnerId: partners.a.id, categories: ["PROFILE_CONTACT"], purpose: "ACCOUNT_SERVICING", noticeVersion: "v1" } }));
    expect(granted.grantConsent.categories).toEqual(["PROFILE_CONTACT"]);
    expectNoGraphQLErrors(await hub.gql(accessToken, CONFIRM, { p: delta }));
    expect(await linkOf(delta)).not.toBeNull();
    const read = await hub.gql(accessToken, "{ me { email wallet { balance } } }");
    expect(read.data?.me).toEqual({ email: null, wallet: null });
    expect(byPath(read)).toEqual({ "me.email": { code: "FORBIDDEN", scope: "member:profile" }, "me.wallet": { code: "FORBIDDEN", scope: "member:wallet" } });
    expect(codes(await hub.gql(accessToken, CODE, { p: partners.a.id, n: 1 }))).toEqual(["FORBIDDEN"]);
  });

  test("member:offers: the app reads the member's offers, logged under A (the list reveals tier and segment)", async () => {
    const { accessToken } = await hub.delegatedToken({ clientId: app.clientId, clientSecret: app.secret, redirectUri: app.redirectUri, login: member.login, password: member.password, scopes: ["member:offers"] });
    const r = await hub.gql(accessToken, "query AppOffers { me { eligibleOffers { id } claimedOffers { id } wallet { balance } } }");
    expect(r.data?.me).toEqual({ eligibleOffers: [], claimedOffers: [], wallet: null });
    expect(byPath(r)).toEqual({ "me.wallet": { code: "FORBIDDEN", scope: "member:wallet" } });
    const entries = (await accessLog()).filter((e) => e.operationName === "AppOffers");
    expect(entries.every((e) => e.partner.id === partners.a.id && e.purpose === "ACCOUNT_SERVICING")).toBe(true);
    expect([...new Set(entries.flatMap((e) => e.categories))].sort()).toEqual(["ACTIVITY", "SEGMENTS", "TIER"]);
  });
});

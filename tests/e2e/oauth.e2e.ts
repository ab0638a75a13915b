import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { passwordHashCount } from "../../lib/password.ts";
import { authorize, challengeOf, MEMBER_APP, newVerifier, tokenRequest } from "../../scripts/oauth-client.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// The authorization server end to end (issue 13): members sign in through the real pages (code +
// PKCE), partner apps act only with the member's grant, token exchange yields a PARTNER_VIEW,
// refresh rotation with family revocation, RFC errors, revocation within seconds.
let hub: TestHub;
let admin: string;
const shop = { id: "", clientId: "", secret: "", token: "" };
const app = { clientId: "", secret: "", redirectUri: "https://shop.example/callback" };
let member: { memberId: string; login: string; password: string };

beforeAll(async () => {
  hub = await startTestHub({ codeTtlMs: 8000 });
  admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Shop", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" } }),
  );
  shop.id = registerPartner.id;
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: shop.id }));
  Object.assign(shop, { clientId: createApiClient.clientId, secret: createApiClient.clientSecret, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) });
  const { registerPartnerApp } = expectNoGraphQLErrors(
    await hub.gql(shop.token, 'mutation($p: ID!, $r: [String!]!, $s: [String!]!) { registerPartnerApp(partnerId: $p, appName: "Shop app", redirectUris: $r, scopes: $s) { clientId clientSecret } }', {
      p: shop.id,
      r: [app.redirectUri],
      s: ["member:wallet", "member:redeem"],
    }),
  );
  Object.assign(app, { clientId: registerPartnerApp.clientId, secret: registerPartnerApp.clientSecret });
  member = await hub.memberWithPassword(shop.token, { email: "signin@example.com", externalRef: "S-1" });
  await hub.flushEvents();
}, 120_000);
afterAll(() => hub?.close());

const claims = (t: string) => decodeJwt(t) as Record<string, any>;
const delegated = (o: Partial<Parameters<TestHub["delegatedToken"]>[0]> = {}) =>
  hub.delegatedToken({
    clientId: app.clientId,
    clientSecret: app.secret,
    redirectUri: app.redirectUri,
    login: member.login,
    password: member.password,
    scopes: ["member:wallet", "member:redeem"],
    redeemDailyLimit: 300,
    ...o,
  });

describe("member session (the hub's member app, public client, code + PKCE)", () => {
  test("signs in through the page; the token is the member's own PERSON session with scope member", async () => {
    const token = await hub.memberSession(member.login, member.password);
    expect(claims(token)).toMatchObject({ sub: member.memberId, role: "MEMBER", scope: "member", authority: "PERSON", client_id: MEMBER_APP.clientId });
    expect(claims(token).grant_id).toEqual(expect.any(String));
    expect(expectNoGraphQLErrors(await hub.gql(token, "{ me { id } }")).me.id).toBe(member.memberId);
    // the member number works as the login as well
    expect(claims(await hub.memberSession(member.memberId, member.password)).sub).toBe(member.memberId);
  });

  test("a wrong password is refused on the page (no redirect, no code)", async () => {
    await expect(hub.memberSession(member.login, "wrong-password-123")).rejects.toThrow(/sign-in failed: HTTP 401/);
    // The first failure earns a short delay (300 ms; the brute-force test covers what happens inside
    // it); once it has passed, the right password signs in: a delay, never a lock. The tests after
    // this one use the same member.
    await new Promise((r) => setTimeout(r, 400));
    await expect(hub.memberSession(member.login, member.password)).resolves.toEqual(expect.any(String));
  });
});

describe("partner app with the member's grant", () => {
  test("the token names the member, the app (act/azp) and only the approved scopes; me.appGrants lists the receipt", async () => {
    const { accessToken, refreshToken } = await delegated();
    expect(refreshToken).toEqual(expect.any(String));
    expect(claims(accessToken)).toMatchObject({
      sub: member.memberId,
      role: "MEMBER",
      partner_id: shop.id,
      client_id: app.clientId,
      azp: app.clientId,
      act: { sub: app.clientId },
      scope: "member:wallet member:redeem",
      authority: "DELEGATED",
      redeem_daily_limit: 300,
    });
    const session = await hub.memberSession(member.login, member.password);
    const { me } = expectNoGraphQLErrors(await hub.gql(session, "{ me { appGrants { id appName clientId scopes redeemDailyLimit partner { id } revokedAt } } }"));
    expect(me.appGrants[0]).toMatchObject({
      id: claims(accessToken).grant_id,
      appName: "Shop app",
      clientId: app.clientId,
      scopes: ["member:wallet", "member:redeem"],
      redeemDailyLimit: 300,
      partner: { id: shop.id },
      revokedAt: null,
    });
  });

  test("the member approves a subset; denying sends access_denied back to the app", async () => {
    const { accessToken } = await hub.delegatedToken({ clientId: app.clientId, clientSecret: app.secret, redirectUri: app.redirectUri, login: member.login, password: member.password, scopes: ["member:wallet"] });
    expect(claims(accessToken).scope).toBe("member:wallet");
    expect(claims(accessToken).redeem_daily_limit).toBeUndefined();
    const { params } = await authorize({ baseUrl: hub.baseUrl, clientId: app.clientId, redirectUri: app.redirectUri, login: member.login, password: member.password, deny: true });
    expect(params.get("error")).toBe("access_denied");
  });

  test("an app asking for a scope it is not allowed (or `member`) gets invalid_scope", async () => {
    for (const scope of ["member", "member:consents"]) {
      const res = await fetch(
        `${hub.baseUrl}/oauth/authorize?${new URLSearchParams({ response_type: "code", client_id: app.clientId, redirect_uri: app.redirectUri, code_challenge: challengeOf(newVerifier()), code_challenge_method: "S256", scope })}`,
        { redirect: "manual" },
      );
      expect(res.status).toBe(303);
      expect(new URL(res.headers.get("location")!).searchParams.get("error")).toBe("invalid_scope");
    }
  });
});

describe("token exchange → PARTNER_VIEW", () => {
  test("a PARTNER token bound to the member, never MEMBER", async () => {
    const t = claims(await hub.exchangeToken(shop.clientId, shop.secret, "S-1"));
    expect(t).toMatchObject({ sub: shop.clientId, role: "PARTNER", partner_id: shop.id, authority: "PARTNER_VIEW", bound_member_id: member.memberId, purpose: "ACCOUNT_SERVICING" });
    expect(t.role).not.toBe("MEMBER");
  });
});

describe("refresh tokens rotate; reuse revokes the family", () => {
  test("refresh gives a new pair; presenting the old refresh token again revokes the grant (new tokens refused too)", async () => {
    const first = await delegated();
    const basic = { clientId: app.clientId, secret: app.secret };
    const r1 = await tokenRequest(hub.baseUrl, { grant_type: "refresh_token", refresh_token: first.refreshToken }, basic);
    expect(r1.status).toBe(200);
    expect(r1.refresh_token).not.toBe(first.refreshToken);
    expect((await hub.gql(r1.access_token, "{ me { id } }")).status).toBe(200);
    const reuse = await tokenRequest(hub.baseUrl, { grant_type: "refresh_token", refresh_token: first.refreshToken }, basic);
    expect(reuse).toMatchObject({ status: 400, error: "invalid_grant" });
    const r2 = await tokenRequest(hub.baseUrl, { grant_type: "refresh_token", refresh_token: r1.refresh_token }, basic);
    expect(r2).toMatchObject({ status: 400, error: "invalid_grant" });
    await hub.pollRevocations();
    const refused = await hub.gql(r1.access_token, "{ me { id } }");
    expect(refused.status).toBe(401);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: "UNAUTHENTICATED", reason: "TOKEN_REVOKED" });
  });
});

describe("authorization code errors (RFC 6749 / 7636)", () => {
  const start = (o: Record<string, string>) =>
    fetch(`${hub.baseUrl}/oauth/authorize?${new URLSearchParams({ response_type: "code", client_id: MEMBER_APP.clientId, redirect_uri: MEMBER_APP.redirectUri, ...o })}`, { redirect: "manual" });
  const session = async () => {
    const { params, verifier } = await authorize({ baseUrl: hub.baseUrl, clientId: MEMBER_APP.clientId, redirectUri: MEMBER_APP.redirectUri, login: member.login, password: member.password });
    return { code: params.get("code")!, verifier };
  };
  const redeem = (code: string, verifier: string, o: Record<string, string> = {}) =>
    tokenRequest(hub.baseUrl, { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: MEMBER_APP.redirectUri, client_id: MEMBER_APP.clientId, ...o });

  test("plain PKCE and a missing challenge are refused with invalid_request", async () => {
    const plain = await start({ code_challenge: newVerifier(), code_challenge_method: "plain" });
    expect(new URL(plain.headers.get("location")!).searchParams.get("error")).toBe("invalid_request");
    const none = await start({});
    expect(new URL(none.headers.get("location")!).searchParams.get("error")).toBe("invalid_request");
  });

  test("an unregistered redirect_uri is never redirected to", async () => {
    const res = await start({ redirect_uri: "https://evil.example/cb", code_challenge: challengeOf(newVerifier()), code_challenge_method: "S256" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
  });

  test("wrong redirect_uri, wrong verifier, reused code, another client's code, expired code → invalid_grant", async () => {
    const a = await session();
    expect(await redeem(a.code, a.verifier, { redirect_uri: "http://127.0.0.1:9999/callback" })).toMatchObject({ status: 400, error: "invalid_grant" });
    const b = await session();
    expect(await redeem(b.code, newVerifier())).toMatchObject({ status: 400, error: "invalid_grant" });
    const c = await session();
    const ok = await redeem(c.code, c.verifier);
    expect(ok.status).toBe(200);
    expect(await redeem(c.code, c.verifier)).toMatchObject({ status: 400, error: "invalid_grant" });
    // the reused code revoked what it produced
    await hub.pollRevocations();
    expect((await hub.gql(ok.access_token, "{ me { id } }")).status).toBe(401);
    const d = await session();
    const other = await tokenRequest(hub.baseUrl, { grant_type: "authorization_code", code: d.code, code_verifier: d.verifier, redirect_uri: MEMBER_APP.redirectUri }, { clientId: app.clientId, secret: app.secret });
    expect(other).toMatchObject({ status: 400, error: "invalid_grant" });
    const e = await session();
    await new Promise((r) => setTimeout(r, 8100)); // this hub's codes live 8 s
    expect(await redeem(e.code, e.verifier)).toMatchObject({ status: 400, error: "invalid_grant" });
  });

  test("malformed, missing or oversized parameters → RFC errors, never 500", async () => {
    const cases: [Record<string, string>, number, string][] = [
      [{}, 400, "invalid_request"],
      [{ grant_type: "password" }, 400, "unsupported_grant_type"],
      [{ grant_type: "authorization_code" }, 401, "invalid_client"],
      [{ grant_type: "authorization_code", client_id: MEMBER_APP.clientId }, 400, "invalid_request"],
      [{ grant_type: "authorization_code", client_id: MEMBER_APP.clientId, code: "x", redirect_uri: MEMBER_APP.redirectUri, code_verifier: "short" }, 400, "invalid_request"],
      [{ grant_type: "authorization_code", client_id: MEMBER_APP.clientId, code: "x".repeat(5000), redirect_uri: MEMBER_APP.redirectUri, code_verifier: newVerifier() }, 400, "invalid_request"],
      [{ grant_type: "refresh_token", client_id: MEMBER_APP.clientId }, 400, "invalid_request"],
      [{ grant_type: "refresh_token", client_id: MEMBER_APP.clientId, refresh_token: "nope" }, 400, "invalid_grant"],
      [{ grant_type: "refresh_token", client_id: app.clientId, refresh_token: "nope" }, 401, "invalid_client"],
    ];
    for (const [form, status, error] of cases) expect(await tokenRequest(hub.baseUrl, form), JSON.stringify(form)).toMatchObject({ status, error });
    const revoke = await fetch(`${hub.baseUrl}/oauth/revoke`, { method: "POST", body: new URLSearchParams({ token: "x" }) });
    expect(revoke.status).toBe(401);
    const introspect = await fetch(`${hub.baseUrl}/oauth/introspect`, { method: "POST", headers: { "content-type": "application/json" }, body: "[1" });
    expect(introspect.status).toBe(400);
  });
});

describe("revocation (RFC 7009), introspection (RFC 7662), discovery (RFC 8414)", () => {
  test("introspection answers for our JWT access tokens and refresh tokens; revoking signs out within one poll", async () => {
    const t = await delegated();
    const basic = `Basic ${Buffer.from(`${app.clientId}:${app.secret}`).toString("base64")}`;
    const intro = async (token: string) => (await fetch(`${hub.baseUrl}/oauth/introspect`, { method: "POST", headers: { authorization: basic }, body: new URLSearchParams({ token }) })).json();
    expect(await intro(t.accessToken)).toMatchObject({ active: true, sub: member.memberId, client_id: app.clientId, authority: "DELEGATED", scope: "member:wallet member:redeem" });
    expect(await intro(t.refreshToken)).toMatchObject({ active: true, token_type: "refresh_token", client_id: app.clientId });
    // another client sees nothing of this app's tokens
    const shopBasic = `Basic ${Buffer.from(`${shop.clientId}:${shop.secret}`).toString("base64")}`;
    expect(await (await fetch(`${hub.baseUrl}/oauth/introspect`, { method: "POST", headers: { authorization: shopBasic }, body: new URLSearchParams({ token: t.accessToken }) })).json()).toEqual({ active: false });
    const rev = await fetch(`${hub.baseUrl}/oauth/revoke`, { method: "POST", headers: { authorization: basic }, body: new URLSearchParams({ token: t.refreshToken, token_type_hint: "refresh_token" }) });
    expect(rev.status).toBe(200);
    await hub.pollRevocations();
    expect(await intro(t.accessToken)).toEqual({ active: false });
    expect((await hub.gql(t.accessToken, "{ me { id } }")).status).toBe(401);
  });

  test("discovery metadata at both well-known addresses", async () => {
    for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]) {
      const m = await (await fetch(`${hub.baseUrl}${path}`)).json();
      expect(m).toMatchObject({ code_challenge_methods_supported: ["S256"], response_types_supported: ["code"] });
      expect(m.grant_types_supported).toEqual(expect.arrayContaining(["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]));
      expect(m.token_endpoint).toBe(`${hub.baseUrl}/oauth/token`);
    }
  });
});

describe("revocation within seconds (the gateway polls the owners every second)", () => {
  const until401 = async (token: string) => {
    // Refused once the next poll ran (at most ~1 s); the bound is the poll interval, not this loop.
    for (let i = 0; i < 50; i++) {
      const r = await hub.gql(token, "{ __typename }");
      if (r.status === 401) return r;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error("still accepted after 5 s");
  };

  test("the member revokes an app grant", async () => {
    const t = await delegated();
    expect((await hub.gql(t.accessToken, "{ me { id } }")).status).toBe(200);
    const session = await hub.memberSession(member.login, member.password);
    expectNoGraphQLErrors(await hub.gql(session, "mutation($id: ID!) { revokeAppGrant(id: $id) { revokedAt } }", { id: claims(t.accessToken).grant_id }));
    expect((await until401(t.accessToken)).errors?.[0]?.extensions?.reason).toBe("TOKEN_REVOKED");
    expect(await tokenRequest(hub.baseUrl, { grant_type: "refresh_token", refresh_token: t.refreshToken }, { clientId: app.clientId, secret: app.secret })).toMatchObject({ error: "invalid_grant" });
  });

  test("a revoked API client", async () => {
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: shop.id }));
    const token = await hub.token(createApiClient.clientId, createApiClient.clientSecret);
    expect((await hub.gql(token, "{ __typename }")).status).toBe(200);
    expectNoGraphQLErrors(await hub.gql(admin, "mutation($c: String!) { revokeApiClient(clientId: $c) { revokedAt } }", { c: createApiClient.clientId }));
    await until401(token);
  });

  test("a disabled member (sessions and app grants) and a signed-out session", async () => {
    const other = await hub.memberWithPassword(shop.token, { email: "disable-me@example.com", externalRef: "S-DIS" });
    const session = await hub.memberSession(other.login, other.password);
    expect((await hub.gql(session, "{ me { id } }")).status).toBe(200);
    expectNoGraphQLErrors(await hub.gql(admin, "mutation($m: ID!) { setMemberSignInDisabled(memberId: $m, disabled: true) }", { m: other.memberId }));
    await until401(session);
    await expect(hub.memberSession(other.login, other.password)).rejects.toThrow(/sign-in failed/);
    // sign-out: RFC 7009 on the session's access token
    const mine = await hub.memberSession(member.login, member.password);
    const rev = await fetch(`${hub.baseUrl}/oauth/revoke`, { method: "POST", body: new URLSearchParams({ token: mine, client_id: MEMBER_APP.clientId }) });
    expect(rev.status).toBe(200);
    await until401(mine);
  });

  test("a deactivated partner (its client tokens, exchanged tokens and app tokens)", async () => {
    const view = await hub.exchangeToken(shop.clientId, shop.secret, "S-1");
    const t = await delegated();
    expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID!) { setPartnerActive(partnerId: $p, active: false) { active } }", { p: shop.id }));
    await until401(shop.token);
    await until401(view);
    await until401(t.accessToken);
    expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID!) { setPartnerActive(partnerId: $p, active: true) { active } }", { p: shop.id }));
    await hub.pollRevocations();
    shop.token = await hub.token(shop.clientId, shop.secret);
  });
});

describe("people who are not members (console sign-in, PERSON tokens)", () => {
  test("an invited ADMIN activates (TOTP secret shown once), signs in with password + TOTP, and gets an ADMIN PERSON token; without the code it is refused", async () => {
    const adminPerson = await hub.personToken(admin, { email: "ops@example.com", role: "ADMIN" });
    expect(adminPerson.totpSecret).toMatch(/^[A-Z2-7]+$/);
    expect(claims(adminPerson.token)).toMatchObject({ sub: adminPerson.personId, role: "ADMIN", person_role: "ADMIN", authority: "PERSON", client_id: "hub-console" });
    expect((await hub.gql(adminPerson.token, "{ partners { id } }")).status).toBe(200);
    const { personSignIn } = await import("../../scripts/oauth-client.ts");
    await expect(personSignIn(hub.baseUrl, "ops@example.com", "person-ops@example.com-password")).rejects.toThrow(/sign-in failed: HTTP 401/);
  });

  test("a PARTNER_ADMIN invites staff of its own partner only; staff tokens are PARTNER PERSON tokens; disabling one refuses it within seconds", async () => {
    const lead = await hub.personToken(admin, { email: "lead@shop.example", role: "PARTNER_ADMIN", partnerId: shop.id });
    expect(claims(lead.token)).toMatchObject({ role: "PARTNER", person_role: "PARTNER_ADMIN", partner_id: shop.id, authority: "PERSON" });
    const staff = await hub.personToken(lead.token, { email: "clerk@shop.example", role: "PARTNER_STAFF", partnerId: shop.id });
    expect(claims(staff.token)).toMatchObject({ role: "PARTNER", person_role: "PARTNER_STAFF", partner_id: shop.id });
    const asAdmin = await hub.gql(lead.token, 'mutation { invitePerson(email: "evil@example.com", role: ADMIN) { activationCode } }');
    expect(asAdmin.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const asStaff = await hub.gql(staff.token, 'mutation($p: ID) { invitePerson(email: "x@example.com", role: PARTNER_STAFF, partnerId: $p) { activationCode } }', { p: shop.id });
    expect(asStaff.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect((await hub.gql(staff.token, "{ __typename }")).status).toBe(200);
    expectNoGraphQLErrors(await hub.gql(lead.token, "mutation($id: ID!) { setPersonDisabled(personId: $id, disabled: true) { disabledAt } }", { id: staff.personId }));
    await hub.pollRevocations();
    expect((await hub.gql(staff.token, "{ __typename }")).status).toBe(401);
    // sign-out of a person: RFC 7009 on its access token (public console client)
    const rev = await fetch(`${hub.baseUrl}/oauth/revoke`, { method: "POST", body: new URLSearchParams({ token: lead.token, client_id: "hub-console" }) });
    expect(rev.status).toBe(200);
    await hub.pollRevocations();
    expect((await hub.gql(lead.token, "{ __typename }")).status).toBe(401);
  });
});

describe("brute force", () => {
  test("1,000 wrong passwords from many addresses cost a bounded number of hashes and do not lock the member out", async () => {
    const victim = await hub.memberWithPassword(shop.token, { email: "victim@example.com", externalRef: "S-V" });
    const before = passwordHashCount();
    let throttled = 0;
    let lastRetryMs = 0;
    // Straight to the member subgraph's sign-in (the gateway's per-address limit is not the point here: many addresses).
    for (let i = 0; i < 1000; i++) {
      const r = await hubCall("auth/sign-in", { login: victim.login, password: `guess-${i}-xxxxxxxx` });
      if (r.body.error === "throttled") throttled++;
      if (r.body.retryAfterMs) lastRetryMs = r.body.retryAfterMs;
    }
    const hashes = passwordHashCount() - before;
    expect(throttled).toBeGreaterThan(900);
    expect(hashes).toBeLessThan(20);
    await new Promise((r) => setTimeout(r, lastRetryMs + 50));
    expect(claims(await hub.memberSession(victim.login, victim.password)).sub).toBe(victim.memberId);
  }, 120_000);
});

async function hubCall(route: string, body: unknown): Promise<{ status: number; body: any }> {
  const { IDENTITY_HEADER, internalKey, signIdentity } = await import("../../lib/internal-auth.ts");
  const { TEST_INTERNAL_SECRET } = await import("../support/subgraph.ts");
  const res = await fetch(`${new URL(hub.subgraphs.member.url).origin}/internal/${route}`, {
    method: "POST",
    headers: { "content-type": "application/json", [IDENTITY_HEADER]: await signIdentity(internalKey(TEST_INTERNAL_SECRET), { sub: "service:gateway", role: "SERVICE" }) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { decodeJwt } from "jose";
import * as oidc from "openid-client";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { signInAt, tokenRequest } from "../../scripts/oauth-client.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// The authorization server as standard clients see it: openid-client driven by our discovery
// metadata, and a real browser (Debian chromium, headless) on the hub's own pages.
const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = path.resolve(import.meta.dirname, "../artifacts");
let hub: TestHub;
const app = { clientId: "", secret: "", redirectUri: "https://shop.example/callback" };
let member: { memberId: string; login: string; password: string };

beforeAll(async () => {
  hub = await startTestHub();
  const admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Shop", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  const shopToken = await hub.token(createApiClient.clientId, createApiClient.clientSecret);
  const { registerPartnerApp } = expectNoGraphQLErrors(
    await hub.gql(shopToken, 'mutation($p: ID!, $r: [String!]!, $s: [String!]!) { registerPartnerApp(partnerId: $p, appName: "Shop app", redirectUris: $r, scopes: $s) { clientId clientSecret } }', {
      p: registerPartner.id,
      r: [app.redirectUri],
      s: ["member:wallet", "member:redeem"],
    }),
  );
  Object.assign(app, { clientId: registerPartnerApp.clientId, secret: registerPartnerApp.clientSecret });
  member = await hub.memberWithPassword(shopToken, { email: "browser@example.com", externalRef: "B-1" });
}, 120_000);
afterAll(() => hub?.close());

describe("openid-client with the hub's discovery metadata", () => {
  test("authorization code + PKCE, then refresh, then reuse of the old refresh token is refused", async () => {
    const metadata = (await (await fetch(`${hub.baseUrl}/.well-known/oauth-authorization-server`)).json()) as oidc.ServerMetadata;
    const config = new oidc.Configuration(metadata, app.clientId, { redirect_uris: [app.redirectUri] }, oidc.ClientSecretBasic(app.secret));
    oidc.allowInsecureRequests(config); // the test hub is plain http on localhost
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: app.redirectUri, scope: "member:wallet", code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256", state });
    const callback = await signInAt(url, { login: member.login, password: member.password });
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: member.memberId, authority: "DELEGATED", scope: "member:wallet", azp: app.clientId });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    // the reuse revoked the family: the rotated token is dead too
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
  });
});

describe("in Chromium (headless)", () => {
  test("a member signs in, approves the app, the app gets tokens and refreshes, the member revokes, the app is refused within 5 s", async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); this test never skips`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const profile = mkdtempSync(path.join(tmpdir(), "hub-chromium-"));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      locale: "zh-CN",
      extraHTTPHeaders: { "accept-language": "zh-CN,zh;q=0.9" },
    });
    try {
      const page = await browser.newPage();
      let callback: URL | undefined;
      await page.route("https://shop.example/**", async (route) => {
        callback = new URL(route.request().url());
        await route.fulfill({ status: 200, contentType: "text/html", body: "<p>app callback</p>" });
      });
      const verifier = oidc.randomPKCECodeVerifier();
      const q = new URLSearchParams({
        response_type: "code",
        client_id: app.clientId,
        redirect_uri: app.redirectUri,
        scope: "member:wallet member:redeem",
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
        state: "s1",
      });
      await page.goto(`${hub.baseUrl}/oauth/authorize?${q}`);
      expect(await page.textContent("h1")).toBe("登录");
      await page.screenshot({ path: path.join(ARTIFACTS, "sign-in-zh.png"), fullPage: true });
      await page.click("a.lang"); // the language switch
      expect(await page.textContent("h1")).toBe("Sign in");
      await page.fill("#login", member.login);
      await page.fill("#password", member.password);
      await page.screenshot({ path: path.join(ARTIFACTS, "sign-in-en.png"), fullPage: true });
      await page.click("button[type=submit]");
      await page.waitForSelector("ul.scopes");
      expect(await page.textContent("h1")).toBe("Allow access?");
      expect(await page.textContent("ul.scopes")).toContain("Read my points balance");
      await page.fill("#redeem_daily_limit", "250");
      await page.screenshot({ path: path.join(ARTIFACTS, "consent-en.png"), fullPage: true });
      await page.click("button[value=approve]");
      await page.waitForURL(/shop\.example/);
      expect(callback?.searchParams.get("state")).toBe("s1");
      const code = callback!.searchParams.get("code")!;
      const basic = { clientId: app.clientId, secret: app.secret };
      const tokens = await tokenRequest(hub.baseUrl, { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: app.redirectUri }, basic);
      expect(tokens.status).toBe(200);
      expect(decodeJwt(tokens.access_token)).toMatchObject({ redeem_daily_limit: 250, scope: "member:wallet member:redeem" });
      const refreshed = await tokenRequest(hub.baseUrl, { grant_type: "refresh_token", refresh_token: tokens.refresh_token }, basic);
      expect(refreshed.status).toBe(200);
      expect((await hub.gql(refreshed.access_token, "{ me { id } }")).status).toBe(200);

      // The member revokes the grant in the member app (own session).
      const session = await hub.memberSession(member.login, member.password);
      const { me } = expectNoGraphQLErrors(await hub.gql(session, "{ me { appGrants { id revokedAt } } }"));
      expectNoGraphQLErrors(await hub.gql(session, "mutation($id: ID!) { revokeAppGrant(id: $id) { revokedAt } }", { id: me.appGrants[0].id }));
      let status = 200;
      for (let i = 0; i < 50 && status !== 401; i++) {
        status = (await hub.gql(refreshed.access_token, "{ me { id } }")).status;
        if (status !== 401) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(401);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 120_000);
});

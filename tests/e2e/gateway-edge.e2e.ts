import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeSubgraphs, startFakeSubgraphs } from "../../gateway/src/testing/fake-subgraphs.ts";
import { type RunningGateway, startGateway } from "../../gateway/src/server.ts";
import { TEST_INTERNAL_SECRET, testInternalKey } from "../support/subgraph.ts";

// What gateway-auth.e2e.ts does not cover: request ids when the client sends none, the operation
// name and identity on federated fetches (entity calls included), masking of leaky subgraphs,
// readiness, JSON token requests, rate limiting, an external member IdP.
const ISSUER = "https://hub.edge.test";
const AUDIENCE = "hub-edge-api";
const IDP_ISSUER = "https://idp.edge.test";

let subs: FakeSubgraphs;
let gateway: RunningGateway;
let base: string;
let idpServer: Server;
let idpKey: CryptoKey;

beforeAll(async () => {
  subs = await startFakeSubgraphs(testInternalKey);
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  idpKey = privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "idp-1", alg: "ES256", use: "sig" }] });
  idpServer = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(jwks);
  });
  await new Promise<void>((r) => idpServer.listen(0, "127.0.0.1", r));
  const { privateKey: hubKey } = await generateKeyPair("ES256", { extractable: true });
  gateway = await startGateway({
    port: 0,
    supergraphSdl: subs.supergraphSdl,
    subgraphUrls: subs.urls,
    internalSecret: TEST_INTERNAL_SECRET,
    signingKeys: [{ ...(await exportJWK(hubKey)), kid: "edge-1" } as JWK],
    issuer: ISSUER,
    audience: AUDIENCE,
    externalIdp: { issuer: IDP_ISSUER, jwksUrl: `http://127.0.0.1:${(idpServer.address() as AddressInfo).port}/jwks`, audience: AUDIENCE, memberClaim: "member_id", algorithms: ["ES256"] },
  });
  base = gateway.url;
});
afterAll(async () => {
  await gateway?.close();
  await subs?.close();
  idpServer?.close();
});

async function token(form: Record<string, string>, init: { json?: boolean; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${base}/oauth/token`, {
    method: "POST",
    headers: { ...(init.json ? { "content-type": "application/json" } : {}), ...init.headers },
    body: init.json ? JSON.stringify(form) : new URLSearchParams(form),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}
const shopToken = async () => (await token({ grant_type: "client_credentials", client_id: "fake-shop", client_secret: "fake-shop-secret" })).body.access_token as string;
async function gql(tok: string, query: string, opts: { headers?: Record<string, string>; variables?: unknown; operationName?: string } = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${tok}`, ...opts.headers },
    body: JSON.stringify({ query, variables: opts.variables, operationName: opts.operationName }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { data?: any; errors?: any[] } };
}

describe("forwarding", () => {
  test("every subgraph fetch (entity fetches too) carries the principal, one request id and the operation name", async () => {
    const t = await shopToken();
    subs.seen.length = 0;
    const r = await gql(t, 'query Wallet { member(id: "m-9") { id displayName balance seenBy } }', { headers: { "coalition-purpose": "ANALYTICS" } });
    expect(r.status).toBe(200);
    expect(r.body.data.member).toEqual({ id: "m-9", displayName: "Member m-9", balance: 1200, seenBy: "PARTNER:fake-shop:ANALYTICS" });
    const requestId = r.headers.get("x-request-id");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const fetches = subs.seen.filter((s) => s.path === "/graphql");
    expect(fetches.map((s) => s.subgraph).sort()).toEqual(["member", "points"]);
    for (const f of fetches) {
      expect(f.requestId).toBe(requestId);
      expect(f.operationName).toBe("Wallet");
      expect(f.identity).toMatchObject({ role: "PARTNER", sub: "fake-shop", partnerId: "p-shop", purpose: "ANALYTICS", memberId: null });
    }
  });

  test("the signed assertion is reused across requests of one token and purpose, not across purposes", async () => {
    const t = await shopToken();
    subs.seen.length = 0;
    await gql(t, "{ partnerSeenBy }");
    await gql(t, "{ partnerSeenBy }");
    await gql(t, "{ partnerSeenBy }", { headers: { "coalition-purpose": "ACCOUNT_SERVICING" } });
    // Only GraphQL fetches: the gateway's revocation-feed polls reach the fake subgraphs too.
    const graphqlSeen = subs.seen.filter((s) => s.path === "/graphql");
    const ids = graphqlSeen.map((s) => s.rawIdentity);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
    expect(graphqlSeen[2].identity).toMatchObject({ purpose: "ACCOUNT_SERVICING" });
  });

  test("Coalition-Purpose is ignored for ADMIN tokens (even an unknown value) and checked for an exchanged PARTNER_VIEW token like any partner token", async () => {
    const admin = (await token({ grant_type: "client_credentials", client_id: "fake-admin", client_secret: "fake-admin-secret" })).body.access_token;
    const r = await gql(admin, "{ whoami { role purpose } }", { headers: { "coalition-purpose": "MARKETING" } });
    expect(r.status).toBe(200);
    expect(r.body.data.whoami).toEqual({ role: "ADMIN", purpose: null });
    const view = (
      await token({
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        client_id: "fake-shop",
        client_secret: "fake-shop-secret",
        subject_token: "SM-0001",
        subject_token_type: "urn:coalition:partner-member-ref",
      })
    ).body.access_token;
    expect((await gql(view, "{ whoami { role purpose } }", { headers: { "coalition-purpose": "MARKETING" } })).status).toBe(400);
    expect((await gql(view, "{ whoami { role purpose } }", { headers: { "coalition-purpose": "ANALYTICS" } })).body.data.whoami).toEqual({ role: "PARTNER", purpose: "ANALYTICS" });
  });

  test("a client x-request-id that is not sane is replaced", async () => {
    const r = await gql(await shopToken(), "{ partnerSeenBy }", { headers: { "x-request-id": "bad id\twith spaces" } });
    expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("errors", () => {
  test("leaky subgraph errors are masked with the response's request id; public codes keep their path, without serviceName", async () => {
    const r = await gql(await shopToken(), "{ boom weirdCode missing }");
    const requestId = r.headers.get("x-request-id");
    const text = JSON.stringify(r.body);
    expect(text).not.toMatch(/SELECT|postgres:|stacktrace|serviceName|DATABASE_EXPLODED/);
    const byPath = Object.fromEntries(r.body.errors!.map((e) => [e.path[0], e]));
    expect(byPath.boom).toMatchObject({ message: "Internal server error", path: ["boom"], extensions: { code: "INTERNAL_SERVER_ERROR", requestId } });
    expect(byPath.boom.extensions).toEqual({ code: "INTERNAL_SERVER_ERROR", requestId });
    expect(byPath.weirdCode.extensions).toEqual({ code: "INTERNAL_SERVER_ERROR", requestId });
    expect(byPath.missing).toMatchObject({ message: "Member x not found", path: ["missing"], extensions: { code: "NOT_FOUND", requestId } });
  });

  test("a wrong variable type is BAD_USER_INPUT and not a server error", async () => {
    const r = await gql(await shopToken(), "query($n: Int!) { echo(n: $n) }", { variables: { n: "seven" } });
    expect(r.status).toBeLessThan(500);
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", requestId: r.headers.get("x-request-id") });
  });

  test("parse errors are GRAPHQL_PARSE_FAILED; an oversized body is refused before parsing", async () => {
    const t = await shopToken();
    expect((await gql(t, "{ whoami { ")).body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
    const huge = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t}` },
      body: JSON.stringify({ query: `{ partnerSeenBy } #${"x".repeat(2 * 1024 * 1024)}` }),
    });
    expect(huge.status).toBe(413);
  });
});

describe("token service", () => {
  test("JSON bodies work; tokens are at+jwt with the documented claims", async () => {
    const r = await token({ grant_type: "client_credentials", client_id: "fake-shop", client_secret: "fake-shop-secret" }, { json: true });
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const [h, p] = r.body.access_token
      .split(".")
      .slice(0, 2)
      .map((s: string) => JSON.parse(Buffer.from(s, "base64url").toString()));
    expect(h).toEqual({ alg: "ES256", kid: "edge-1", typ: "at+jwt" });
    expect(p).toMatchObject({ iss: ISSUER, aud: AUDIENCE, sub: "fake-shop", role: "PARTNER", partner_id: "p-shop", scope: "hub:partner", purpose: "OFFER_TARGETING", client_id: "fake-shop" });
    expect(p.exp - p.iat).toBe(900);
    expect(typeof p.jti).toBe("string");
  });

  test("HTTP Basic: malformed escapes are invalid_client (not a 500); Basic plus a body secret is invalid_request", async () => {
    const bad = await token({ grant_type: "client_credentials" }, { headers: { authorization: `Basic ${Buffer.from("fake-shop:%E0%A4%A").toString("base64")}` } });
    expect(bad.status).toBe(401);
    expect(bad.body.error).toBe("invalid_client");
    expect(bad.headers.get("www-authenticate")).toMatch(/^Basic/);
    const both = await token({ grant_type: "client_credentials", client_secret: "fake-shop-secret" }, { headers: { authorization: `Basic ${Buffer.from("fake-shop:fake-shop-secret").toString("base64")}` } });
    expect(both.status).toBe(400);
    expect(both.body.error).toBe("invalid_request");
  });

  test("the internal calls carry the SERVICE identity", async () => {
    subs.seen.length = 0;
    await shopToken();
    expect(subs.seen.find((s) => s.path === "/internal/clients/authenticate")?.identity).toEqual({ sub: "service:gateway", role: "SERVICE" });
  });

  test("repeated failed authentications are rate limited per client id", async () => {
    const bad = { grant_type: "client_credentials", client_id: "fake-admin", client_secret: "wrong" };
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await token(bad)).status);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    const limited = await token(bad);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    // Even the right secret waits: guessing must not be able to race the limit.
    expect((await token({ ...bad, client_secret: "fake-admin-secret" })).status).toBe(429);
  });
});

describe("external member IdP", () => {
  const idpToken = (claims: Record<string, unknown>, iss = IDP_ISSUER) =>
    new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "idp-1" }).setIssuer(iss).setAudience(AUDIENCE).setSubject("idp-user-1").setIssuedAt().setExpirationTime("5m").sign(idpKey);

  test("its tokens speak for the member in the configured claim", async () => {
    const r = await gql(await idpToken({ member_id: "m-0001" }), "{ whoami { role sub memberId partnerId } }");
    expect(r.status).toBe(200);
    expect(r.body.data.whoami).toEqual({ role: "MEMBER", sub: "m-0001", memberId: "m-0001", partnerId: null });
  });

  test("without the member claim, or from another issuer with the IdP's key, it is refused", async () => {
    const noClaim = await gql(await idpToken({}), "{ whoami { sub } }");
    expect(noClaim.status).toBe(401);
    const otherIss = await gql(await idpToken({ member_id: "m-0001" }, "https://evil.example"), "{ whoami { sub } }");
    expect(otherIss.status).toBe(401);
    expect(otherIss.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });
});

describe("readiness", () => {
  test("ready while every subgraph answers, 503 naming the one that does not", async () => {
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    await subs.stop("points");
    const r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    const body = (await r.json()) as { subgraphs: Record<string, string> };
    expect(body.subgraphs.member).toBe("ready");
    expect(body.subgraphs.points).not.toBe("ready");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

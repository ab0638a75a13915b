import { buildSubgraphSchema } from "@apollo/subgraph";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";
import { parse } from "graphql";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startGateway, type RunningGateway } from "../../gateway/src/server.ts";
import type { HubContext } from "../../lib/pothos.ts";
import { startSubgraph, type RunningSubgraph } from "../../lib/subgraph-server.ts";
import { TEST_INTERNAL_SECRET, testInternalKey } from "../support/subgraph.ts";

// The gateway's security edge against tiny real subgraphs: hostile tokens, the token service,
// identity forwarding, purpose, masking. The fake subgraphs verify the gateway's assertion with the
// same code the real ones use (lib/subgraph-server.ts).
const ISSUER = "https://hub.test";
const AUDIENCE = "hub-test-api";
const PARTNER_ID = "11111111-1111-4111-8111-111111111111";
const MEMBER_ID = "22222222-2222-4222-8222-222222222222";

const memberSdl = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
  type Who { sub: String! role: String! partnerId: String memberId: String purpose: String requestId: String! }
  type Query { whoami: Who! boom: String needsInt(n: Int!): Int! }
`;
const stubSdl = (name: string) => `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
  type Query { ${name}Ping: String! }
`;

let subgraphs: RunningSubgraph[] = [];
let gateway: RunningGateway;
let base: string;
let signingJwk: JWK;

beforeAll(async () => {
  const resolvers = {
    Query: {
      whoami: (_: unknown, __: unknown, ctx: HubContext) => ({ ...ctx.principal, requestId: ctx.requestId }),
      boom: () => {
        throw new Error("SELECT secret FROM internals -- must never reach a client");
      },
      needsInt: (_: unknown, { n }: { n: number }) => n,
    },
  };
  const member = await startSubgraph({
    name: "member",
    schema: buildSubgraphSchema({ typeDefs: parse(memberSdl), resolvers: resolvers as never }),
    internalKey: testInternalKey,
    createContext: (b) => b,
    internalRoutes: {
      "members/by-partner-ref": async (body) => {
        const { partnerId, externalRef } = body as { partnerId: string; externalRef: string };
        return partnerId === PARTNER_ID && externalRef === "REF-1" ? { status: 200, body: { memberId: MEMBER_ID } } : { status: 404, body: { error: "not_found" } };
      },
    },
  });
  const clients: Record<string, { secret: string; role: string; partnerId: string | null }> = {
    "admin-1": { secret: "admin-secret", role: "ADMIN", partnerId: null },
    "partner-1": { secret: "partner-secret", role: "PARTNER", partnerId: PARTNER_ID },
  };
  const partner = await startSubgraph({
    name: "partner",
    schema: buildSubgraphSchema({ typeDefs: parse(stubSdl("partner")), resolvers: { Query: { partnerPing: () => "pong" } } }),
    internalKey: testInternalKey,
    createContext: (b) => b,
    internalRoutes: {
      "clients/authenticate": async (body) => {
        const { clientId, clientSecret } = body as { clientId: string; clientSecret: string };
        const c = clients[clientId];
        if (!c || c.secret !== clientSecret) return { status: 401, body: { error: "invalid_client" } };
        return { status: 200, body: { clientId, role: c.role, partnerId: c.partnerId, defaultPurpose: "ACCOUNT_SERVICING", scope: `hub:${c.role.toLowerCase()}` } };
      },
    },
  });
  const points = await startSubgraph({
    name: "points",
    schema: buildSubgraphSchema({ typeDefs: parse(stubSdl("points")), resolvers: { Query: { pointsPing: () => "pong" } } }),
    internalKey: testInternalKey,
    createContext: (b) => b,
  });
  subgraphs = [member, partner, points];
  const composed = composeServices([
    { name: "member", url: member.url, typeDefs: parse(memberSdl) },
    { name: "points", url: points.url, typeDefs: parse(stubSdl("points")) },
    { name: "partner", url: partner.url, typeDefs: parse(stubSdl("partner")) },
  ]);
  if (compositionHasErrors(composed)) throw new Error(composed.errors.map((e) => e.message).join("\n"));
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  signingJwk = { ...(await exportJWK(privateKey)), kid: "test-key-1" };
  gateway = await startGateway({
    supergraphSdl: composed.supergraphSdl,
    subgraphUrls: { member: member.url, points: points.url, partner: partner.url },
    internalSecret: TEST_INTERNAL_SECRET,
    signingKeys: [signingJwk],
    issuer: ISSUER,
    audience: AUDIENCE,
  });
  base = gateway.url;
});
afterAll(async () => {
  await gateway?.close();
  for (const s of subgraphs) await s.close();
});

async function tokenRequest(body: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/oauth/token`, { method: "POST", headers, body: new URLSearchParams(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}
async function clientToken(id = "partner-1", secret = "partner-secret") {
  const r = await tokenRequest({ grant_type: "client_credentials", client_id: id, client_secret: secret });
  expect(r.status).toBe(200);
  return r.body.access_token as string;
}
async function gql(token: string | null, query: string, headers: Record<string, string> = {}, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, any> }[] } };
}
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("hostile tokens are refused before planning, each with its reason", () => {
  const sign = async (claims: Record<string, unknown>, header: Record<string, unknown> = {}, key?: JWK) => {
    const { importJWK } = await import("jose");
    const k = await importJWK(key ?? signingJwk, "ES256");
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ role: "ADMIN", jti: crypto.randomUUID(), ...claims })
      .setProtectedHeader({ alg: "ES256", kid: "test-key-1", typ: "at+jwt", ...header } as never)
      .setIssuer((claims.iss as string) ?? ISSUER)
      .setAudience((claims.aud as string) ?? AUDIENCE)
      .setSubject("admin-1")
      .setIssuedAt((claims.iat as number) ?? now)
      .setExpirationTime((claims.exp as number) ?? now + 600)
      .sign(k);
  };
  const cases: [string, () => Promise<string | null>, string][] = [
    ["missing", async () => null, "TOKEN_MISSING"],
    ["expired", () => sign({ exp: Math.floor(Date.now() / 1000) - 60, iat: Math.floor(Date.now() / 1000) - 1000 }), "TOKEN_EXPIRED"],
    ["not yet valid", () => sign({ nbf: Math.floor(Date.now() / 1000) + 3600 }), "TOKEN_NOT_YET_VALID"],
    ["wrong issuer", () => sign({ iss: "https://evil.example" }), "TOKEN_BAD_ISSUER"],
    ["wrong audience", () => sign({ aud: "someone-else" }), "TOKEN_BAD_AUDIENCE"],
    ["unknown kid", () => sign({}, { kid: "nope" }), "TOKEN_UNKNOWN_KID"],
    ["alg none", async () => `${b64({ alg: "none", typ: "at+jwt", kid: "test-key-1" })}.${b64({ sub: "admin-1", role: "ADMIN", iss: ISSUER, aud: AUDIENCE, exp: 9999999999 })}.`, "TOKEN_ALG_NOT_ALLOWED"],
    [
      "HS256 signed with the public key",
      async () => {
        const { d: _d, ...pub } = signingJwk;
        return new SignJWT({ role: "ADMIN", jti: "x" })
          .setProtectedHeader({ alg: "HS256", kid: "test-key-1", typ: "at+jwt" })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject("admin-1")
          .setIssuedAt()
          .setExpirationTime("10m")
          .sign(new TextEncoder().encode(JSON.stringify(pub)));
      },
      "TOKEN_ALG_NOT_ALLOWED",
    ],
    [
      "bad signature (another key, same kid)",
      async () => {
        const { privateKey } = await generateKeyPair("ES256", { extractable: true });
        return sign({}, {}, { ...(await exportJWK(privateKey)), kid: "test-key-1" });
      },
      "TOKEN_BAD_SIGNATURE",
    ],
    ["malformed", async () => "not.a.token", "TOKEN_MALFORMED"],
    ["wrong token type", () => sign({}, { typ: "JWT" }), "TOKEN_WRONG_TYPE"],
  ];
  for (const [name, make, reason] of cases) {
    test(name, async () => {
      const r = await gql(await make(), "{ whoami { sub } }");
      expect(r.status).toBe(401);
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "UNAUTHENTICATED", reason });
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(r.body.data).toBeUndefined();
    });
  }
});

describe("token service", () => {
  test("client credentials in the body and with HTTP Basic; the subgraph sees the principal", async () => {
    const viaBody = await clientToken();
    const basic = await tokenRequest({ grant_type: "client_credentials" }, { authorization: `Basic ${Buffer.from("admin-1:admin-secret").toString("base64")}` });
    expect(basic.status).toBe(200);
    expect(basic.body).toMatchObject({ token_type: "Bearer", expires_in: 900 });
    expect(basic.headers.get("cache-control")).toBe("no-store");
    const partner = await gql(viaBody, "{ whoami { sub role partnerId purpose requestId } }", { "x-request-id": "req-abc-123" });
    expect(partner.body.data.whoami).toEqual({ sub: "partner-1", role: "PARTNER", partnerId: PARTNER_ID, purpose: "ACCOUNT_SERVICING", requestId: "req-abc-123" });
    expect(partner.headers.get("x-request-id")).toBe("req-abc-123");
    const admin = await gql(basic.body.access_token, "{ whoami { sub role partnerId purpose } }");
    expect(admin.body.data.whoami).toEqual({ sub: "admin-1", role: "ADMIN", partnerId: null, purpose: null });
  });

  test("a wrong secret or unknown client is invalid_client; an unknown grant is unsupported_grant_type", async () => {
    expect((await tokenRequest({ grant_type: "client_credentials", client_id: "partner-1", client_secret: "wrong" })).body.error).toBe("invalid_client");
    const basic = await tokenRequest({ grant_type: "client_credentials" }, { authorization: `Basic ${Buffer.from("nobody:x").toString("base64")}` });
    expect(basic.status).toBe(401);
    expect(basic.headers.get("www-authenticate")).toMatch(/^Basic/);
    expect((await tokenRequest({ grant_type: "password", username: "a", password: "b" })).body.error).toBe("unsupported_grant_type");
    expect((await tokenRequest({})).body.error).toBe("invalid_request");
  });

  test("token exchange gives a partner a PARTNER_VIEW token for its linked member only, never a member token", async () => {
    const ok = await tokenRequest({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      client_id: "partner-1",
      client_secret: "partner-secret",
      subject_token: "REF-1",
      subject_token_type: "urn:coalition:partner-member-ref",
    });
    expect(ok.status).toBe(200);
    expect(ok.body.issued_token_type).toBe("urn:ietf:params:oauth:token-type:access_token");
    // The subgraph server lets a partner-view token reach only the member queries (lib/authority.ts):
    // this test subgraph's whoami is refused, after the gateway verified and forwarded the token.
    const who = await gql(ok.body.access_token, "{ whoami { sub role memberId partnerId } }");
    expect(who.body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect(who.body.errors?.[0]?.message).toMatch(/partner-view token/);
    expect(JSON.parse(Buffer.from(ok.body.access_token.split(".")[1], "base64url").toString())).toMatchObject({ authority: "PARTNER_VIEW", bound_member_id: MEMBER_ID });
    const unknown = await tokenRequest({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      client_id: "partner-1",
      client_secret: "partner-secret",
      subject_token: "REF-2",
      subject_token_type: "urn:coalition:partner-member-ref",
    });
    expect(unknown.body.error).toBe("invalid_grant");
    const asAdmin = await tokenRequest({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      client_id: "admin-1",
      client_secret: "admin-secret",
      subject_token: "REF-1",
      subject_token_type: "urn:coalition:partner-member-ref",
    });
    expect(asAdmin.body.error).toBe("unauthorized_client");
  });

  test("key rotation: tokens of the old key keep working, JWKS lists both", async () => {
    const old = await clientToken();
    const oldKid = JSON.parse(Buffer.from(old.split(".")[0], "base64url").toString()).kid;
    const newKid = await gateway.keys.rotate();
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([newKid, oldKid].sort());
    expect(jwks.keys.every((k) => !("d" in k))).toBe(true);
    expect((await gql(old, "{ whoami { sub } }")).status).toBe(200);
    const fresh = await clientToken();
    expect(JSON.parse(Buffer.from(fresh.split(".")[0], "base64url").toString()).kid).toBe(newKid);
    expect((await gql(fresh, "{ whoami { sub } }")).body.data.whoami.sub).toBe("partner-1");
  });
});

describe("requests", () => {
  test("Coalition-Purpose: default, declared, unknown", async () => {
    const t = await clientToken();
    expect((await gql(t, "{ whoami { purpose } }", { "coalition-purpose": "ANALYTICS" })).body.data.whoami.purpose).toBe("ANALYTICS");
    const bad = await gql(t, "{ whoami { purpose } }", { "coalition-purpose": "MARKETING" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  test("internal errors are masked and carry the request id", async () => {
    const r = await gql(await clientToken(), "{ boom }", { "x-request-id": "req-boom-1" });
    expect(r.body.errors?.[0]).toMatchObject({ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR", requestId: "req-boom-1" } });
    expect(JSON.stringify(r.body)).not.toMatch(/SELECT|internals/);
  });

  test("malformed JSON, unknown field and wrong variable type get codes", async () => {
    const t = await clientToken();
    const malformed = await fetch(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${t}` }, body: "{ nope" });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as any).errors[0].extensions.code).toBe("BAD_REQUEST");
    expect((await gql(t, "{ whoami { nope } }")).body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    const wrongVar = await gql(t, "query($n: Int!) { needsInt(n: $n) }", {}, { n: "not a number" });
    expect(wrongVar.body.errors?.[0]?.extensions?.code).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);
    expect(JSON.stringify(wrongVar.body)).not.toMatch(/\.ts:\d+/);
  });

  test("a query deeper than the limit is refused", async () => {
    const deep = `{ whoami { ${"sub ".repeat(1)} } ${Array.from({ length: 40 }, (_, i) => `a${i}: whoami { sub }`).join(" ")} }`;
    const r = await gql(await clientToken(), deep);
    expect(r.body.errors?.[0]?.extensions?.code).toBe("BAD_REQUEST");
  });

  test("subgraphs refuse anyone but the gateway", async () => {
    for (const s of subgraphs) {
      const direct = await fetch(s.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ __typename }" }) });
      expect(direct.status).toBe(401);
      const forged = await fetch(s.url, { method: "POST", headers: { "content-type": "application/json", "x-hub-identity": await clientToken() }, body: JSON.stringify({ query: "{ __typename }" }) });
      expect(forged.status).toBe(401);
    }
  });

  test("health, readiness and the local GraphiQL page", async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(((await (await fetch(`${base}/readyz`)).json()) as any).status).toBe("ready");
    const page = await fetch(`${base}/graphql`, { headers: { accept: "text/html" } });
    const html = await page.text();
    expect(html).toContain('<script src="/graphiql/app.js');
    expect(html).not.toMatch(/https?:\/\/(cdn|unpkg|jsdelivr)/);
  });
});

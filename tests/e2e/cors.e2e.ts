import { existsSync, mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Browser apps call the hub cross-origin (issue 17 §4): origins are set per API client, the
// preflight is answered for a listed origin only, and a token is usable only from its own client's
// origins. Proved with HTTP and in Chromium with pages on other origins.
const CHROMIUM = "/usr/bin/chromium";
const SET = "mutation($c: String!, $o: [String!]!) { setApiClientAllowedOrigins(clientId: $c, origins: $o) { clientId allowedOrigins } }";
let hub: TestHub;
let admin: string;
const partners: Record<"a" | "b", { id: string; clientId: string; token: string }> = {} as never;
const pages: { server: Server; origin: string }[] = [];

async function page(): Promise<{ server: Server; origin: string }> {
  // A partner's single-page app: it fetches the hub with the token given in the URL fragment.
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>shop app</title><body><pre id="out">waiting</pre><script>
      const [hub, token] = decodeURIComponent(location.hash.slice(1)).split("|");
      fetch(hub + "/graphql", { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer " + token }, body: JSON.stringify({ query: "{ partners { slug } }" }) })
        .then((r) => r.json()).then((j) => { document.getElementById("out").textContent = "OK " + JSON.stringify(j); })
        .catch((e) => { document.getElementById("out").textContent = "BLOCKED " + e.message; });
    </script></body>`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const p = { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  pages.push(p);
  return p;
}

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  for (const [k, name] of [
    ["a", "Shop A"],
    ["b", "Shop B"],
  ] as const) {
    const { registerPartner } = expectNoGraphQLErrors(
      await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name, category: "ECOMMERCE", issuePrice: "0.01", redemptionRate: "0.01" } }),
    );
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
    partners[k] = { id: registerPartner.id, clientId: createApiClient.clientId, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  }
});
afterAll(async () => {
  for (const p of pages) p.server.close();
  await hub?.close();
});

const preflight = (origin: string) =>
  fetch(`${hub.baseUrl}/graphql`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type,coalition-purpose" } });
const post = (token: string, origin?: string) =>
  fetch(`${hub.baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...(origin ? { origin } : {}) },
    body: JSON.stringify({ query: "{ partners { slug } }" }),
  });

describe("allowed origins per API client", () => {
  test("only exact https origins (http for loopback), at most 20, no wildcard: anything else is BAD_USER_INPUT and nothing is stored", async () => {
    const ok = expectNoGraphQLErrors(await hub.gql(partners.a.token, SET, { c: partners.a.clientId, o: ["https://app.shop-a.example", "https://app.shop-a.example"] }));
    expect(ok.setApiClientAllowedOrigins.allowedOrigins).toEqual(["https://app.shop-a.example"]);
    const bad = [
      "*",
      "https://*.shop-a.example",
      "https://app.shop-a.example/",
      "https://app.shop-a.example/path",
      "http://app.shop-a.example",
      "null",
      "ftp://x.example",
      "https://a.example\u0000",
      "https://APP.shop-a.example",
      `https://${"a".repeat(200)}.example`,
    ];
    for (const o of bad) {
      const r = await hub.gql(partners.a.token, SET, { c: partners.a.clientId, o: [o] });
      expect(r.errors?.[0]?.extensions?.code, o).toBe("BAD_USER_INPUT");
    }
    const many = Array.from({ length: 21 }, (_, i) => `https://app${i}.shop-a.example`);
    expect((await hub.gql(partners.a.token, SET, { c: partners.a.clientId, o: many })).errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    const now = await hub.gql(admin, "{ partner(id: $id) { apiClients { clientId allowedOrigins } } }".replace("$id", JSON.stringify(partners.a.id)));
    expect(now.data?.partner?.apiClients).toEqual([{ clientId: partners.a.clientId, allowedOrigins: ["https://app.shop-a.example"] }]);
  });

  test("a partner cannot set another partner's client (NOT_FOUND); an admin can", async () => {
    expect((await hub.gql(partners.b.token, SET, { c: partners.a.clientId, o: ["https://evil.example"] })).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expectNoGraphQLErrors(await hub.gql(admin, SET, { c: partners.b.clientId, o: ["https://app.shop-b.example"] }));
  });
});

describe("preflight and requests over HTTP", () => {
  test("a listed origin gets its own origin back (never *), the headers an app sends, a cached answer; an unlisted one gets no CORS headers", async () => {
    expectNoGraphQLErrors(await hub.gql(partners.a.token, SET, { c: partners.a.clientId, o: ["https://app.shop-a.example"] }));
    await hub.pollCorsOrigins();
    const yes = await preflight("https://app.shop-a.example");
    expect(yes.status).toBe(204);
    expect(yes.headers.get("access-control-allow-origin")).toBe("https://app.shop-a.example");
    expect(yes.headers.get("access-control-allow-headers")).toContain("authorization");
    expect(yes.headers.get("access-control-allow-headers")).toContain("coalition-purpose");
    expect(yes.headers.get("access-control-allow-methods")).toContain("POST");
    expect(yes.headers.get("access-control-max-age")).toBe("600");
    expect(yes.headers.get("access-control-allow-credentials")).toBeNull();
    expect(yes.headers.get("vary")).toMatch(/origin/i);
    const no = await preflight("https://evil.example");
    expect(no.headers.get("access-control-allow-origin")).toBeNull();
    expect(no.status).toBe(403);
  });

  test("a token is usable only from its own client's origins: another client's origin is 403 ORIGIN_NOT_ALLOWED before anything runs", async () => {
    const own = await post(partners.a.token, "https://app.shop-a.example");
    expect(own.status).toBe(200);
    expect(own.headers.get("access-control-allow-origin")).toBe("https://app.shop-a.example");
    expect(own.headers.get("access-control-expose-headers")).toContain("x-request-id");
    const borrowed = await post(partners.b.token, "https://app.shop-a.example");
    expect(borrowed.status).toBe(403);
    const body = (await borrowed.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0].extensions).toMatchObject({ code: "FORBIDDEN", reason: "ORIGIN_NOT_ALLOWED" });
    // Readable by the page (so the app sees the code), although it did not run.
    expect(borrowed.headers.get("access-control-allow-origin")).toBe("https://app.shop-a.example");
    expect((await post(partners.a.token, "https://evil.example")).status).toBe(403);
    // Server to server (no Origin) is unaffected.
    expect((await post(partners.b.token)).status).toBe(200);
    // A bad token from a listed origin: the 401 is readable by the app.
    const bad = await post("not-a-token", "https://app.shop-a.example");
    expect(bad.status).toBe(401);
    expect(bad.headers.get("access-control-allow-origin")).toBe("https://app.shop-a.example");
  });

  test("a revoked client's origins stop being allowed once the gateway polls", async () => {
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId } }", { p: partners.a.id }));
    expectNoGraphQLErrors(await hub.gql(admin, SET, { c: createApiClient.clientId, o: ["https://old.shop-a.example"] }));
    await hub.pollCorsOrigins();
    expect((await preflight("https://old.shop-a.example")).status).toBe(204);
    expectNoGraphQLErrors(await hub.gql(admin, "mutation($c: String!) { revokeApiClient(clientId: $c) { clientId } }", { c: createApiClient.clientId }));
    await hub.pollCorsOrigins();
    expect((await preflight("https://old.shop-a.example")).status).toBe(403);
  });
});

describe("in Chromium", () => {
  test("a page on an allowed origin calls the hub with its token; a page on another origin is blocked by the browser", async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); this test never skips`);
    const allowed = await page();
    const other = await page();
    expectNoGraphQLErrors(await hub.gql(partners.a.token, SET, { c: partners.a.clientId, o: ["https://app.shop-a.example", allowed.origin] }));
    await hub.pollCorsOrigins();
    const browser = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), "hub-chromium-")), {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    try {
      const tab = await browser.newPage();
      const run = async (origin: string) => {
        await tab.goto(`${origin}/#${encodeURIComponent(`${hub.baseUrl}|${partners.a.token}`)}`);
        await tab.waitForFunction(() => document.getElementById("out")?.textContent !== "waiting", undefined, { timeout: 20_000 });
        return (await tab.textContent("#out")) ?? "";
      };
      const ok = await run(allowed.origin);
      expect(ok).toMatch(/^OK /);
      expect(JSON.parse(ok.slice(3))).toEqual({ data: { partners: expect.arrayContaining([{ slug: "shop-a" }, { slug: "shop-b" }]) } });
      expect(await run(other.origin)).toMatch(/^BLOCKED /);
    } finally {
      await browser.close();
    }
  }, 120_000);
});

import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { diff } from "@graphql-inspector/core";
import { buildSchema } from "graphql";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";

// What a partner developer opens first: the published schema at GET /schema.graphql and GraphiQL
// at /graphql in a browser (served from the hub's own files: no CDN).
const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = path.resolve(import.meta.dirname, "../artifacts");
const PUBLIC_SDL = path.resolve(import.meta.dirname, "../../schema/public.graphql");
let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(async () => {
  await hub?.close();
});

describe("GET /schema.graphql", () => {
  test("serves the public schema: the same API as schema/public.graphql, no federation internals or @inaccessible fields", async () => {
    const res = await fetch(`${hub.baseUrl}/schema.graphql`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const served = await res.text();
    expect(await diff(buildSchema(readFileSync(PUBLIC_SDL, "utf8")), buildSchema(served))).toEqual([]);
    expect(served).not.toMatch(/join__|link__|_Entity|_Service|sharedScopes/);
    expect(served).toContain("type Query");
  });
});

describe("GraphiQL", () => {
  test("the page loads its scripts from the hub only, under a policy without inline scripts", async () => {
    const res = await fetch(`${hub.baseUrl}/graphql`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    const html = await res.text();
    const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) expect(src).toMatch(/^\/graphiql\//);
    expect(html).not.toMatch(/https?:\/\//);
    const app = await fetch(`${hub.baseUrl}${scripts[0]}`, { headers: { "accept-encoding": "gzip" } });
    expect(app.status).toBe(200);
    expect(app.headers.get("cache-control")).toContain("max-age");
    expect(app.headers.get("content-encoding")).toBe("gzip");
    // fetch has already decoded the gzip body: the whole GraphiQL bundle arrived intact.
    expect((await app.text()).length).toBeGreaterThan(1_000_000);
    const plain = await fetch(`${hub.baseUrl}${scripts[0]}`, { headers: { "accept-encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect((await fetch(`${hub.baseUrl}/graphiql/nope.js`)).status).toBe(404);
  });

  test("in Chromium: a developer pastes a token, runs a query and reads the docs", async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); this test never skips`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const token = await hub.adminToken();
    const made = await hub.gql(token, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Lotus Hotels", category: "HOSPITALITY", issuePrice: "0.015", redemptionRate: "0.01" } });
    expect(made.errors).toBeUndefined();
    const profile = mkdtempSync(path.join(tmpdir(), "hub-chromium-"));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      viewport: { width: 1400, height: 900 },
    });
    const problems: string[] = [];
    const external: string[] = [];
    try {
      const page = await browser.newPage();
      page.on("console", (m) => {
        // The first schema fetch, with the "<token>" placeholder, is answered 401 by design.
        if (m.type() === "error" && !m.text().includes("401")) problems.push(m.text());
      });
      page.on("pageerror", (e) => problems.push(e.message));
      page.on("request", (r) => {
        if (!r.url().startsWith(hub.baseUrl) && !r.url().startsWith("blob:") && !r.url().startsWith("data:")) external.push(r.url());
      });
      await page.goto(`${hub.baseUrl}/graphql`);
      await page.waitForSelector(".graphiql-container", { timeout: 30_000 });
      await page.screenshot({ path: path.join(ARTIFACTS, "graphiql-start.png") });
      // The headers editor (open below the query): replace the placeholder with the token.
      const headers = page.locator(".graphiql-editor-tool .monaco-editor:visible");
      await headers.click();
      await page.keyboard.press("Control+A");
      await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));
      await page.keyboard.press("Control+Shift+End"); // the editor's auto-closed brackets and quotes
      await page.keyboard.press("Delete");
      const query = page.locator(".graphiql-query-editor .monaco-editor").first();
      await query.click();
      await page.keyboard.press("Control+A");
      await page.keyboard.insertText("query Partners { partners { name slug } }");
      await page.keyboard.press("Control+Shift+End");
      await page.keyboard.press("Delete");
      await page.screenshot({ path: path.join(ARTIFACTS, "graphiql-typed.png") });
      const answered = page.waitForResponse((r) => r.url().endsWith("/graphql") && (r.request().postData() ?? "").includes("Partners"));
      await page.click(".graphiql-execute-button");
      const response = await answered;
      expect(response.request().headers().authorization).toBe(`Bearer ${token}`);
      expect(await response.json()).toEqual({ data: { partners: [{ name: "Lotus Hotels", slug: "lotus-hotels" }] } });
      await page.waitForFunction(() => document.querySelector(".graphiql-response")?.textContent?.includes("lotus-hotels"), undefined, { timeout: 20_000 });
      await page.screenshot({ path: path.join(ARTIFACTS, "graphiql-run.png") });
      // The schema, fetched with the token (introspection is open to admins and partners): the docs explorer lists the root fields.
      const introspected = page.waitForResponse((r) => r.url().endsWith("/graphql") && (r.request().postData() ?? "").includes("__schema"));
      await page.click(".graphiql-sidebar button[aria-label*='Re-fetch']");
      expect((await introspected).status()).toBe(200);
      await page.click(".graphiql-sidebar button[aria-label*='Documentation']");
      await page.waitForSelector(".graphiql-doc-explorer", { timeout: 20_000 });
      await page.getByText("Query", { exact: true }).first().click();
      await page.waitForFunction(
        () => document.querySelector(".graphiql-doc-explorer")?.textContent?.includes("registerPartner") || document.querySelector(".graphiql-doc-explorer")?.textContent?.includes("partners"),
        undefined,
        { timeout: 20_000 },
      );
      await page.screenshot({ path: path.join(ARTIFACTS, "graphiql-docs.png") });
    } finally {
      await browser.close();
    }
    expect(problems, "console errors and page errors (a CSP violation shows here)").toEqual([]);
    expect(external, "requests to other origins (the page must need no CDN)").toEqual([]);
  }, 180_000);
});

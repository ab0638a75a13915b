import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePorts, ROOT } from "../../bench/processes.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors, TEST_INTERNAL_SECRET } from "../support/subgraph.ts";

// Per-partner and per-client limits (issue 18 §4), through the gateway: admins set them, the
// gateway enforces them before planning (429 + Retry-After + RATE_LIMITED), the partner sees them.
// The multi-replica case starts TWO gateway processes (gateway/src/main.ts) in front of this test
// hub's subgraphs, sharing the machine's Redis (REDIS_URL, default redis://127.0.0.1:6379: CI has
// it) under a key prefix of this run, and checks that one partner's limit holds across both.
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const LIMITS = "{ viewer { limits { scope kind limit remaining resetAt windowSeconds } } }";

let hub: TestHub;
let admin: string;
type Partner = { id: string; clientId: string; secret: string; token: string };
const partners: Partner[] = [];

async function newPartner(name: string): Promise<Partner> {
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name, category: "RETAIL", issuePrice: "0.01", redemptionRate: "0.01" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER, defaultPurpose: ACCOUNT_SERVICING) { clientId clientSecret } }", { p: registerPartner.id }),
  );
  return { id: registerPartner.id, clientId: createApiClient.clientId, secret: createApiClient.clientSecret, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
}

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  for (const name of ["Limited One", "Limited Two", "Replica One", "Replica Two"]) partners.push(await newPartner(name));
}, 600_000);
afterAll(() => hub?.close());

const setPartnerLimits = (partnerId: string, input: Record<string, unknown>, token = admin) =>
  hub.gql(token, "mutation($p: ID!, $i: RateLimitsInput!) { setPartnerLimits(partnerId: $p, input: $i) { id rateLimits { requestsPerMinute costPerMinute requestsPerMinuteIsDefault costPerMinuteIsDefault } } }", {
    p: partnerId,
    i: input,
  });

async function post(url: string, token: string, query: string) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as { data?: Record<string, any>; errors?: { message: string; extensions?: Record<string, unknown> }[] } };
}

describe("admins set limits; partners see them", () => {
  test("setPartnerLimits: ADMIN only, bounds checked, NOT_FOUND for an unknown partner, null returns to the default", async () => {
    const [one, two] = partners;
    expect((await setPartnerLimits(one!.id, { requestsPerMinute: 5 }, one!.token)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    for (const bad of [0, -1, 10_000_001]) {
      const r = await setPartnerLimits(one!.id, { requestsPerMinute: bad });
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "requestsPerMinute" });
    }
    expect((await setPartnerLimits(one!.id, { costPerMinute: 2 ** 31 })).errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect((await setPartnerLimits(randomUUID(), { requestsPerMinute: 5 })).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect((await setPartnerLimits("not-a-uuid\u0000", { requestsPerMinute: 5 })).errors?.[0]?.extensions?.code).toMatch(/NOT_FOUND|BAD_USER_INPUT/);
    const set = expectNoGraphQLErrors(await setPartnerLimits(one!.id, { requestsPerMinute: 5, costPerMinute: 1_000 }));
    expect(set.setPartnerLimits.rateLimits).toEqual({ requestsPerMinute: 5, costPerMinute: 1_000, requestsPerMinuteIsDefault: false, costPerMinuteIsDefault: false });
    // The partner reads its own; another partner gets null.
    const own = expectNoGraphQLErrors(await hub.gql(one!.token, "query($id: ID!) { partner(id: $id) { rateLimits { requestsPerMinute costPerMinute } } }", { id: one!.id }));
    expect(own.partner.rateLimits).toEqual({ requestsPerMinute: 5, costPerMinute: 1_000 });
    const other = expectNoGraphQLErrors(await hub.gql(two!.token, "query($id: ID!) { partner(id: $id) { rateLimits { requestsPerMinute } } }", { id: one!.id }));
    expect(other.partner.rateLimits).toBeNull();
    // null = back to the default; an absent field is kept.
    const back = expectNoGraphQLErrors(await setPartnerLimits(one!.id, { costPerMinute: null }));
    expect(back.setPartnerLimits.rateLimits).toMatchObject({ requestsPerMinute: 5, requestsPerMinuteIsDefault: false, costPerMinuteIsDefault: true });
    expect(back.setPartnerLimits.rateLimits.costPerMinute).toBeGreaterThan(1_000);
  });

  test("setApiClientLimits: a partner's client only (an admin client is not limited), NOT_FOUND for an unknown client", async () => {
    const r = await hub.gql(admin, 'mutation { setApiClientLimits(clientId: "test-admin", input: { requestsPerMinute: 1 }) { clientId } }');
    expect(r.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect((await hub.gql(admin, 'mutation { setApiClientLimits(clientId: "nope", input: { requestsPerMinute: 1 }) { clientId } }')).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect((await hub.gql(partners[1]!.token, `mutation { setApiClientLimits(clientId: "${partners[1]!.clientId}", input: { requestsPerMinute: 1 }) { clientId } }`)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});

describe("one gateway (in memory)", () => {
  test("over the partner's request limit: HTTP 429, Retry-After, RATE_LIMITED naming the limit; viewer.limits counts down; another partner is not affected", async () => {
    const [one, two] = partners;
    expectNoGraphQLErrors(await setPartnerLimits(one!.id, { requestsPerMinute: 5, costPerMinute: null }));
    await hub.pollRateLimits();
    const seen: number[] = [];
    let refused: Awaited<ReturnType<typeof post>> | undefined;
    for (let i = 0; i < 8 && !refused; i++) {
      const r = await post(hub.gatewayUrl, one!.token, LIMITS);
      if (r.status === 429) refused = r;
      else {
        expect(r.status).toBe(200);
        const status = r.body.data!.viewer.limits.find((s: { scope: string; kind: string }) => s.scope === "PARTNER" && s.kind === "REQUESTS");
        expect(status.limit).toBe(5);
        expect(status.windowSeconds).toBe(60);
        expect(Date.parse(status.resetAt)).toBeGreaterThan(Date.now() - 1000);
        seen.push(status.remaining);
      }
    }
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    expect(refused).toBeDefined();
    const retry = Number(refused!.retryAfter);
    expect(Number.isInteger(retry) && retry >= 1 && retry <= 60).toBe(true);
    expect(refused!.body.data).toBeUndefined();
    expect(refused!.body.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", retryAfterSeconds: retry, scope: "PARTNER", kind: "REQUESTS", limit: 5 });
    expect(refused!.body.errors?.[0]?.message).toMatch(/per 60 seconds/);
    // Isolation: the other partner's requests go through (its own counters, untouched).
    for (let i = 0; i < 6; i++) expect((await post(hub.gatewayUrl, two!.token, LIMITS)).status).toBe(200);
    // Admins and members are not limited by partners' counters.
    const adminView = expectNoGraphQLErrors(await hub.gql(admin, LIMITS));
    expect(adminView.viewer.limits).toEqual([]);
  });

  test("over the client's cost budget: 429 RATE_LIMITED kind COST before anything executes", async () => {
    const two = partners[1]!;
    const set = await hub.gql(admin, "mutation($c: String!) { setApiClientLimits(clientId: $c, input: { costPerMinute: 50 }) { clientId rateLimits { costPerMinute } } }", { c: two.clientId });
    expect(expectNoGraphQLErrors(set).setApiClientLimits.rateLimits.costPerMinute).toBe(50);
    await hub.pollRateLimits();
    // A page of 100 offers estimates above 50: refused whole, nothing planned.
    const r = await post(hub.gatewayUrl, two.token, "{ offers(first: 100) { edges { node { id title } } } }");
    expect(r.status).toBe(429);
    expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(r.body.data).toBeUndefined();
    expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", scope: "API_CLIENT", kind: "COST", limit: 50 });
    expect(r.body.errors?.[0]?.extensions?.retryAfterSeconds).toBe(Number(r.retryAfter));
  });
});

describe("two gateway processes sharing Redis", () => {
  const children: ChildProcess[] = [];
  let dataDir: string;
  const urls: string[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "hub-replicas-"));
    const prefix = `test:${randomUUID()}`;
    const ports = await freePorts(2);
    for (const port of ports) {
      const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "gateway/src/main.ts")], {
        cwd: ROOT,
        env: {
          ...process.env,
          HUB_PORT: String(port),
          HUB_INTERNAL_SECRET: TEST_INTERNAL_SECRET,
          HUB_MEMBER_URL: hub.subgraphs.member.url,
          HUB_POINTS_URL: hub.subgraphs.points.url,
          HUB_PARTNER_URL: hub.subgraphs.partner.url,
          // One key set for both (the first creates it; the second starts after it is ready).
          HUB_DATA_DIR: dataDir,
          REDIS_URL,
          HUB_RATE_LIMIT_PREFIX: prefix,
          HUB_RATE_LIMITS_POLL_MS: "200",
          HUB_LOG_LEVEL: process.env.LC_DEBUG ? "debug" : "warn",
        },
        stdio: ["ignore", "ignore", "inherit"],
      });
      children.push(child);
      const url = `http://127.0.0.1:${port}`;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`gateway on ${port} exited with ${child.exitCode}`);
        const ok = await fetch(`${url}/readyz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      urls.push(`${url}/graphql`);
    }
  }, 600_000);
  afterAll(async () => {
    await Promise.all(
      children.map((c) => {
        if (c.exitCode !== null) return;
        const exited = new Promise((r) => c.once("exit", r));
        c.kill("SIGTERM");
        return exited;
      }),
    );
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("both gateways report Redis in readiness", async () => {
    for (const url of urls) {
      const body = (await (await fetch(url.replace("/graphql", "/readyz"))).json()) as { redis?: string };
      expect(body.redis).toBe("ok");
    }
  });

  test("a partner's limit holds across both replicas; the other partner's requests go through on both", async () => {
    const [, , limited, free] = partners;
    const token = async (p: Partner) => {
      const res = await fetch(urls[0]!.replace("/graphql", "/oauth/token"), { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: p.clientId, client_secret: p.secret }) });
      return ((await res.json()) as { access_token: string }).access_token;
    };
    const [limitedToken, freeToken] = [await token(limited!), await token(free!)];
    expectNoGraphQLErrors(await setPartnerLimits(limited!.id, { requestsPerMinute: 20 }));
    // Each replica learns the limit from its own poll of the partner subgraph.
    let last: { remaining: number; resetAt: string } | undefined;
    for (const url of urls) {
      for (let i = 0; ; i++) {
        const r = await post(url, limitedToken, LIMITS);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        const s = r.body.data!.viewer.limits.find((x: { scope: string; kind: string }) => x.scope === "PARTNER" && x.kind === "REQUESTS");
        if (s.limit === 20) {
          last = s;
          break;
        }
        if (i > 100) throw new Error(`${url} never learned the limit`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // What is left of the 20 is shared: alternating replicas, exactly that many more succeed.
    const left = last!.remaining;
    expect(left).toBeGreaterThanOrEqual(10);
    const outcomes: { replica: number; status: number }[] = [];
    for (let i = 0; i < left + 10; i++) {
      const r = await post(urls[i % 2]!, limitedToken, "{ viewer { role } }");
      outcomes.push({ replica: i % 2, status: r.status });
      if (r.status === 429) {
        expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: "RATE_LIMITED", scope: "PARTNER", kind: "REQUESTS", limit: 20 });
        expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      } else expect(r.status).toBe(200);
    }
    // (All within the window that `last` reported, or the count would start again.)
    expect(Date.now()).toBeLessThan(Date.parse(last!.resetAt));
    expect(outcomes.filter((o) => o.status === 200)).toHaveLength(left);
    expect(outcomes.filter((o) => o.status === 429)).toHaveLength(10);
    // Both replicas refused: each saw the other's requests in the shared counter.
    expect(new Set(outcomes.filter((o) => o.status === 429).map((o) => o.replica))).toEqual(new Set([0, 1]));
    // Isolation across replicas: the other partner is untouched.
    for (const url of urls) for (let i = 0; i < 3; i++) expect((await post(url, freeToken, "{ viewer { role } }")).status).toBe(200);
  });
});

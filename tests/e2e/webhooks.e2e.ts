import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Webhooks end to end (issue 17 §1) through the gateway, on the real outbox: the owners' events →
// the partner subgraph's consumer (WebhookDelivery rows in its inbox transaction) → the dispatcher →
// a receiver that fails its first deliveries and is slow on some. Every delivery's signature is
// verified with the `standardwebhooks` package (the hub signs with node:crypto: two implementations).

// 127.0.0.1 (the receivers) is allow-listed; everything else private is refused (not the demo).
process.env.HUB_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
process.env.HUB_DEMO = "0";

/** The hub's request timeout here: far above this machine's delivery delays (~1–2 s under load), so waiting on it shows. */
const DEAD_TIMEOUT_MS = 8_000;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

let hub: TestHub;
let admin: string;
let receiver: Server;
let base: string;
const received: Received[] = [];
/** Per path: how many requests to fail with 503 first, and which request numbers to answer slowly. */
const behaviour = new Map<string, { failFirst: number; slowEvery: number; hang?: boolean; seen: number }>();
const hung: { at: number }[] = [];

const A: { id: string; token: string; clientId: string; secret: string } = { id: "", token: "", clientId: "", secret: "" };
const B: { id: string; token: string; clientId: string; secret: string } = { id: "", token: "", clientId: "", secret: "" };

const CREATE = `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id url status eventTypes purpose } } }`;
const AWARD = `mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }`;

async function partner(name: string, into: typeof A) {
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name, category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  Object.assign(into, { id: registerPartner.id, clientId: createApiClient.clientId, secret: createApiClient.clientSecret, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) });
}

async function endpoint(token: string, path: string, eventTypes: string[], extra: Record<string, unknown> = {}) {
  const r = expectNoGraphQLErrors(await hub.gql(token, CREATE, { i: { url: `${base}${path}`, eventTypes, description: `receiver ${path}`, ...extra } }));
  return { id: r.createWebhookEndpoint.endpoint.id as string, secret: r.createWebhookEndpoint.secret as string };
}

const payloadOf = (r: Received) => JSON.parse(r.body) as { id: string; type: string; occurredAt: string; partnerId: string; data: Record<string, any> };
const at = (path: string) => received.filter((r) => r.path === path);
/** First arrival of each event id, in arrival order (at-least-once: duplicates dropped by id). */
function deduped(path: string): Received[] {
  const seen = new Set<string>();
  return at(path).filter((r) => {
    const id = String(r.headers["webhook-id"]);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, deadlineMs = 20_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const b = behaviour.get(path) ?? { failFirst: 0, slowEvery: 0, seen: 0 };
      behaviour.set(path, b);
      b.seen++;
      if (b.hang) {
        hung.push({ at: Date.now() });
        return; // never answers: the hub's timeout ends it
      }
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() });
      const answer = () => {
        if (b.seen <= b.failFirst) {
          res.statusCode = 503;
          res.end("not yet");
        } else res.end("ok");
      };
      if (b.slowEvery && b.seen % b.slowEvery === 0) setTimeout(answer, 300);
      else answer();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  hub = await startTestHub({ webhooks: { settings: { backoffBaseMs: 50, backoffMaxMs: 400, timeoutMs: DEAD_TIMEOUT_MS, retryWindowSeconds: 20, pollMs: 100, endpointConcurrency: 2 } } });
  admin = await hub.adminToken();
  await partner("Webhook Mart", A);
  await partner("Other Brand", B);
}, 120_000);

afterAll(async () => {
  for (const b of behaviour.values()) b.hang = false;
  receiver?.closeAllConnections();
  receiver?.close();
  await hub?.close();
});

test("every event arrives exactly once after dedup, in order per member, signed (verified by standardwebhooks); a revocation arrives within 5 s with what to stop using", async () => {
  behaviour.set("/a", { failFirst: 3, slowEvery: 4, seen: 0 });
  const ep = await endpoint(A.token, "/a", ["LINK_CONFIRMED", "CONSENT_GRANTED", "CONSENT_REVOKED", "POINTS_EARNED"]);
  expect(ep.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

  const m1 = await hub.memberWithPassword(A.token, { email: "wh-one@example.com", externalRef: "A-1" });
  const m2 = await hub.memberWithPassword(A.token, { email: "wh-two@example.com", externalRef: "A-2" });
  await hub.flushEvents();
  const s1 = await hub.memberSession(m1.login, m1.password);
  const grant = expectNoGraphQLErrors(
    await hub.gql(s1, "mutation($i: GrantConsentInput!) { grantConsent(input: $i) { id } }", { i: { partnerId: A.id, categories: ["ACTIVITY"], purpose: "ACCOUNT_SERVICING", noticeVersion: "v1" } }),
  );
  await hub.flushEvents();
  for (let i = 0; i < 3; i++) {
    expectNoGraphQLErrors(await hub.gql(A.token, AWARD, { i: { memberId: m1.memberId, idempotencyKey: `wh-m1-${i}`, points: 10 + i } }));
    expectNoGraphQLErrors(await hub.gql(A.token, AWARD, { i: { memberId: m2.memberId, idempotencyKey: `wh-m2-${i}`, points: 20 + i } }));
  }
  await hub.flushEvents();
  // Wait for the backlog first, so the revocation's clock measures the revocation alone.
  await waitFor("the first deliveries", () => deduped("/a").length >= 9);

  const revokedAt = Date.now();
  expectNoGraphQLErrors(await hub.gql(s1, "mutation($id: ID!) { revokeConsent(consentId: $id) { id } }", { id: grant.grantConsent.id }));
  // No flush: the relay and the dispatcher on their own.
  const revoked = await waitFor("consent.revoked", () => deduped("/a").find((r) => payloadOf(r).type === "consent.revoked"), 5_000);
  expect(revoked.at - revokedAt).toBeLessThan(5_000);
  expect(payloadOf(revoked).data).toMatchObject({
    memberId: m1.memberId,
    partnerRef: "A-1",
    consentId: grant.grantConsent.id,
    purpose: "ACCOUNT_SERVICING",
    stopUsing: { purpose: "ACCOUNT_SERVICING", categories: ["ACTIVITY"] },
  });

  // After the revocation an earn's points are withheld (consent evaluated when the payload is built).
  expectNoGraphQLErrors(await hub.gql(A.token, AWARD, { i: { memberId: m1.memberId, idempotencyKey: "wh-m1-after", points: 99 } }));
  await hub.flushEvents();
  const last = await waitFor("the earn after the revocation", () => deduped("/a").find((r) => payloadOf(r).type === "points.earned" && payloadOf(r).data.memberId === m1.memberId && payloadOf(r).data.points === null));
  expect(payloadOf(last).data).toMatchObject({ memberId: m1.memberId, partnerRef: "A-1", points: null, withheld: [{ field: "points", category: "ACTIVITY" }] });

  // Signatures: the reference verifier accepts every delivery (retries included) with the secret; a tampered body is refused.
  const wh = new Webhook(ep.secret);
  for (const r of at("/a")) expect(wh.verify(r.body, r.headers as Record<string, string>)).toEqual(JSON.parse(r.body));
  const one = at("/a")[0]!;
  expect(() => wh.verify(one.body.replace("}", " }"), one.headers as Record<string, string>)).toThrow();
  expect(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString("base64")}`).verify(one.body, one.headers as Record<string, string>)).toThrow();

  // Exactly once after dedup, in order per member: m1: link, consent, 3 earns (points visible), revocation, earn (withheld).
  const events = deduped("/a").map(payloadOf);
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  for (const e of events) expect(e.partnerId).toBe(A.id);
  const ofM1 = events.filter((e) => e.data.memberId === m1.memberId);
  expect(ofM1.map((e) => e.type)).toEqual(["link.confirmed", "consent.granted", "points.earned", "points.earned", "points.earned", "consent.revoked", "points.earned"]);
  expect(ofM1.filter((e) => e.type === "points.earned").map((e) => e.data.points)).toEqual([10, 11, 12, null]);
  const ofM2 = events.filter((e) => e.data.memberId === m2.memberId);
  expect(ofM2.map((e) => e.type)).toEqual(["link.confirmed", "points.earned", "points.earned", "points.earned"]);
  // m2 never consented: its points are withheld from the start.
  expect(ofM2.slice(1).map((e) => e.data.points)).toEqual([null, null, null]);
  // The receiver failed its first 3 requests: there were retries, and the delivery list says so.
  expect(at("/a").length).toBeGreaterThan(events.length);
  // The receiver has answered the last delivery; the dispatcher records the outcome right after
  // (its own statement, after the response): read the list once every row has its outcome (≤ 15 s).
  const readList = async () =>
    expectNoGraphQLErrors(
      await hub.gql(
        A.token,
        "query($e: ID!) { webhookDeliveries(endpointId: $e, first: 100) { edges { node { id eventId eventType status attempts lastResponseCode lastLatencyMs nextAttemptAt lastError } } pageInfo { hasNextPage } } }",
        { e: ep.id },
      ),
    ).webhookDeliveries.edges.map((x: any) => x.node);
  let nodes = await readList();
  for (const until = Date.now() + 15_000; Date.now() < until && nodes.some((n: any) => n.status !== "DELIVERED"); ) {
    await new Promise((r) => setTimeout(r, 200));
    nodes = await readList();
  }
  expect(nodes).toHaveLength(events.length);
  for (const n of nodes) expect(n).toMatchObject({ status: "DELIVERED", lastResponseCode: 200, nextAttemptAt: null, lastError: null, lastLatencyMs: expect.any(Number) });
  expect(nodes.some((n: any) => n.attempts > 1)).toBe(true);
}, 120_000);

test("a dead endpoint of another partner does not delay this partner's deliveries; it is dead-lettered, listed and replayable", async () => {
  behaviour.set("/b-dead", { failFirst: 0, slowEvery: 0, hang: true, seen: 0 });
  behaviour.set("/a-fast", { failFirst: 0, slowEvery: 0, seen: 0 });
  const dead = await endpoint(B.token, "/b-dead", ["POINTS_EARNED"]);
  await endpoint(A.token, "/a-fast", ["POINTS_EARNED"]);
  const bMembers = [];
  for (let i = 0; i < 4; i++) bMembers.push(await hub.memberWithPassword(B.token, { email: `wh-b${i}@example.com`, externalRef: `B-${i}` }));
  const a = await hub.memberWithPassword(A.token, { email: "wh-fast@example.com", externalRef: "A-fast" });
  await hub.flushEvents();
  // Baseline: A's arrival delays with nothing else going on.
  const delays = async (n: number, tag: string) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const before = at("/a-fast").length;
      const t0 = Date.now();
      expectNoGraphQLErrors(await hub.gql(A.token, AWARD, { i: { memberId: a.memberId, idempotencyKey: `wh-fast-${tag}-${i}`, points: 5 } }));
      const r = await waitFor("A's delivery", () => at("/a-fast")[before]);
      out.push(r.at - t0);
    }
    return out;
  };
  const baseline = await delays(3, "base");
  expect(hung).toHaveLength(0);
  // Now B's members earn: B's dead endpoint hangs every request until the timeout. Both endpoints
  // are on the same host (one receiver), as two partners' endpoints at one integration platform are:
  // a per-host connection pool would queue A behind B's hanging requests (it did, before the fix).
  for (const [i, m] of bMembers.entries()) for (let k = 0; k < 2; k++) expectNoGraphQLErrors(await hub.gql(B.token, AWARD, { i: { memberId: m.memberId, idempotencyKey: `wh-b-${i}-${k}`, points: 7 } }));
  await waitFor("B's endpoint to be hanging", () => hung.length >= 2);
  const loaded = await delays(3, "loaded");
  console.log(`webhooks: A's arrival delays (ms) alone ${baseline.join(", ")}; while B's endpoint hangs ${loaded.join(", ")}; B's timeout ${DEAD_TIMEOUT_MS} ms`);
  // Compared arrival delays: none of A's waited out one of B's hanging requests (each would then
  // take at least B's timeout); the figures are printed above beside the baseline.
  for (const d of loaded) expect(d).toBeLessThan(DEAD_TIMEOUT_MS);
  // B's endpoint held at most its concurrency (2) at once.
  expect(hung.length).toBeLessThanOrEqual(bMembers.length * 2);

  // After the retry window (20 s here; 3 days by default) B's deliveries are DEAD, listed, replayable.
  const deadNodes: any[] = await waitFor(
    "B's deliveries dead-lettered",
    async () => {
      const r = await hub.gql(B.token, "query($e: ID!) { webhookDeliveries(endpointId: $e, status: DEAD, first: 50) { edges { node { id status attempts lastError lastResponseCode } } } }", { e: dead.id });
      const nodes = r.data?.webhookDeliveries.edges.map((x: any) => x.node) ?? [];
      return nodes.length >= 1 && nodes;
    },
    60_000,
  );
  expect(deadNodes[0]).toMatchObject({ status: "DEAD", lastResponseCode: null, lastError: expect.stringMatching(/timeout|abort/i) });
  expect(deadNodes[0].attempts).toBeGreaterThan(1);
  const replay = expectNoGraphQLErrors(await hub.gql(B.token, "mutation($id: ID!) { replayWebhookDelivery(id: $id) { id status attempts } }", { id: deadNodes[0].id }));
  expect(replay.replayWebhookDelivery).toMatchObject({ id: deadNodes[0].id, status: "PENDING", attempts: 0 });
  // Stop hanging: B's endpoint is paused, so nothing more is sent to it.
  expectNoGraphQLErrors(await hub.gql(B.token, "mutation($id: ID!) { pauseWebhookEndpoint(id: $id) { status } }", { id: dead.id }));
}, 120_000);

test("pause holds deliveries in order, resume sends them; replay of one and of a time range; rotation signs with both secrets", async () => {
  behaviour.set("/p", { failFirst: 0, slowEvery: 0, seen: 0 });
  const ep = await endpoint(A.token, "/p", ["POINTS_EARNED"]);
  const m = await hub.memberWithPassword(A.token, { email: "wh-pause@example.com", externalRef: "A-p" });
  await hub.flushEvents();
  const paused = expectNoGraphQLErrors(await hub.gql(A.token, "mutation($id: ID!) { pauseWebhookEndpoint(id: $id) { id status } }", { id: ep.id }));
  expect(paused.pauseWebhookEndpoint.status).toBe("PAUSED");
  const from = new Date(Date.now() - 1000).toISOString();
  for (let i = 0; i < 3; i++) expectNoGraphQLErrors(await hub.gql(A.token, AWARD, { i: { memberId: m.memberId, idempotencyKey: `wh-p-${i}`, points: 1 + i } }));
  await hub.flushEvents();
  // Recorded while paused, not sent.
  const pending = expectNoGraphQLErrors(await hub.gql(A.token, "query($e: ID!) { webhookDeliveries(endpointId: $e, status: PENDING) { edges { node { id } } } }", { e: ep.id }));
  expect(pending.webhookDeliveries.edges).toHaveLength(3);
  await new Promise((r) => setTimeout(r, 500));
  expect(at("/p")).toHaveLength(0);
  expectNoGraphQLErrors(await hub.gql(A.token, "mutation($id: ID!) { resumeWebhookEndpoint(id: $id) { status } }", { id: ep.id }));
  await waitFor("the held deliveries", () => at("/p").length >= 3);
  expect(at("/p").map((r) => payloadOf(r).data.kind && payloadOf(r).data.memberId)).toEqual([m.memberId, m.memberId, m.memberId]);
  const eventIds = at("/p").map((r) => String(r.headers["webhook-id"]));
  expect(new Set(eventIds).size).toBe(3);

  // Replay one: the same webhook-id arrives again.
  const list = expectNoGraphQLErrors(await hub.gql(A.token, "query($e: ID!) { webhookDeliveries(endpointId: $e) { edges { node { id eventId status } } } }", { e: ep.id }));
  const target = list.webhookDeliveries.edges[0].node;
  expectNoGraphQLErrors(await hub.gql(A.token, "mutation($id: ID!) { replayWebhookDelivery(id: $id) { id } }", { id: target.id }));
  await waitFor("the replay", () => at("/p").length >= 4);
  expect(String(at("/p")[3]!.headers["webhook-id"])).toBe(target.eventId);

  // Replay a time range: all three again.
  const range = expectNoGraphQLErrors(
    await hub.gql(A.token, "mutation($e: ID!, $f: DateTime!, $t: DateTime!) { replayWebhookDeliveries(endpointId: $e, from: $f, to: $t) }", { e: ep.id, f: from, t: new Date(Date.now() + 60_000).toISOString() }),
  );
  expect(range.replayWebhookDeliveries).toBe(3);
  await waitFor("the range replay", () => at("/p").length >= 7);
  expect(
    new Set(
      at("/p")
        .slice(4)
        .map((r) => String(r.headers["webhook-id"])),
    ),
  ).toEqual(new Set(eventIds));

  // Rotation: both the old and the new secret verify the next delivery (two signatures).
  const rotated = expectNoGraphQLErrors(await hub.gql(A.token, "mutation($id: ID!) { rotateWebhookSecret(id: $id, overlapSeconds: 3600) { secret endpoint { previousSecretExpiresAt secretRotatedAt } } }", { id: ep.id }));
  const newSecret = rotated.rotateWebhookSecret.secret as string;
  expect(newSecret).not.toBe(ep.secret);
  expect(rotated.rotateWebhookSecret.endpoint.previousSecretExpiresAt).toEqual(expect.any(String));
  expectNoGraphQLErrors(await hub.gql(A.token, AWARD, { i: { memberId: m.memberId, idempotencyKey: "wh-p-rotated", points: 4 } }));
  await hub.flushEvents();
  const afterRotation = await waitFor("a delivery after the rotation", () => at("/p")[7]);
  expect(String(afterRotation.headers["webhook-signature"]).split(" ")).toHaveLength(2);
  const headers = afterRotation.headers as Record<string, string>;
  expect(new Webhook(newSecret).verify(afterRotation.body, headers)).toEqual(JSON.parse(afterRotation.body));
  expect(new Webhook(ep.secret).verify(afterRotation.body, headers)).toEqual(JSON.parse(afterRotation.body));
  // Rotating with no overlap: only the newest secret signs.
  const again = expectNoGraphQLErrors(await hub.gql(A.token, "mutation($id: ID!) { rotateWebhookSecret(id: $id, overlapSeconds: 0) { secret } }", { id: ep.id }));
  expectNoGraphQLErrors(await hub.gql(A.token, AWARD, { i: { memberId: m.memberId, idempotencyKey: "wh-p-rotated-2", points: 5 } }));
  await hub.flushEvents();
  const single = await waitFor("a delivery after the second rotation", () => at("/p")[8]);
  expect(String(single.headers["webhook-signature"]).split(" ")).toHaveLength(1);
  expect(() => new Webhook(newSecret).verify(single.body, single.headers as Record<string, string>)).toThrow();
  expect(new Webhook(again.rotateWebhookSecret.secret).verify(single.body, single.headers as Record<string, string>)).toEqual(JSON.parse(single.body));
  // The secret is never readable again: no field carries it.
  const read = await hub.gql(A.token, "{ webhookEndpoints { id secret } }");
  expect(read.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
}, 120_000);

test("bad registrations are BAD_USER_INPUT naming the field, private addresses are refused (SSRF), and nothing is stored", async () => {
  const count = async () => await hub.db.client().webhookEndpoint.count({ where: { partnerId: A.id } });
  const before = await count();
  const bad: [Record<string, unknown>, string][] = [
    [{ url: "ftp://127.0.0.1/x", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "javascript:alert(1)", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "not a url", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "http://user:pw@127.0.0.1/x", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "http://localhost:9/x", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "http://10.1.2.3/x", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "http://192.168.0.1/x", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "http://169.254.169.254/latest/meta-data", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "http://[::1]/x", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "http://[::ffff:127.0.0.2]/x", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "http://0.0.0.0/x", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "http://127.2/x", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: "http://2130706434/x", eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: `http://127.0.0.1/${"x".repeat(3000)}`, eventTypes: ["POINTS_EARNED"] }, "input.url"],
    [{ url: `${base}/ok`, eventTypes: [] }, "input.eventTypes"],
    [{ url: `${base}/ok`, eventTypes: ["POINTS_EARNED"], description: "d".repeat(501) }, "input.description"],
  ];
  for (const [i, field] of bad) {
    const r = await hub.gql(A.token, CREATE, { i });
    expect(
      r.errors?.map((e) => [e.extensions?.code, e.extensions?.field]),
      JSON.stringify(i).slice(0, 80),
    ).toEqual([["BAD_USER_INPUT", field]]);
    expect(r.status).toBeLessThan(500);
  }
  // An unknown event type, NUL in the URL: refused before the resolver (GraphQL validation / the text-input guard), never a 500.
  const unknownType = await hub.gql(A.token, CREATE, { i: { url: `${base}/ok`, eventTypes: ["MEMBER_ERASED"] } });
  expect(unknownType.errors?.[0]?.extensions?.code).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);
  const nul = await hub.gql(A.token, CREATE, { i: { url: `${base}/ok\u0000`, eventTypes: ["POINTS_EARNED"] } });
  expect(nul.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  expect(await count()).toBe(before);
}, 60_000);

test("who may: another partner's endpoint and delivery ids are NOT_FOUND; PARTNER_STAFF and members FORBIDDEN; PARTNER_ADMIN manages; ADMIN lists", async () => {
  const own = await endpoint(A.token, "/who", ["DISPUTE_RESOLVED"]);
  const d = await hub.db.client().webhookDelivery.findFirst({ where: { partnerId: A.id } });
  expect(d).not.toBeNull();
  for (const [q, v] of [
    ["mutation($id: ID!) { pauseWebhookEndpoint(id: $id) { id } }", { id: own.id }],
    ["mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }", { id: own.id }],
    ["mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }", { id: own.id }],
    ["query($id: ID!) { webhookDeliveries(endpointId: $id) { edges { node { id } } } }", { id: own.id }],
    ["mutation($id: ID!) { replayWebhookDelivery(id: $id) { id } }", { id: d!.id }],
  ] as const) {
    const r = await hub.gql(B.token, q, v);
    expect(
      r.errors?.map((e) => e.extensions?.code),
      q,
    ).toEqual(["NOT_FOUND"]);
  }
  expect(expectNoGraphQLErrors(await hub.gql(B.token, "{ webhookEndpoints { id } }")).webhookEndpoints.map((e: any) => e.id)).not.toContain(own.id);
  expect(await hub.db.client().webhookEndpoint.count({ where: { id: own.id } })).toBe(1);

  const staff = await hub.personToken(admin, { email: "wh-staff@example.com", role: "PARTNER_STAFF", partnerId: A.id });
  const staffTry = await hub.gql(staff.token, CREATE, { i: { url: `${base}/staff`, eventTypes: ["POINTS_EARNED"] } });
  expect(staffTry.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
  const padmin = await hub.personToken(admin, { email: "wh-padmin@example.com", role: "PARTNER_ADMIN", partnerId: A.id });
  const made = expectNoGraphQLErrors(await hub.gql(padmin.token, CREATE, { i: { url: `${base}/padmin`, eventTypes: ["POINTS_EARNED"] } }));
  expect(made.createWebhookEndpoint.endpoint.url).toBe(`${base}/padmin`);
  const adminList = expectNoGraphQLErrors(await hub.gql(admin, "query($p: ID) { webhookEndpoints(partnerId: $p) { id partner { id } } }", { p: A.id }));
  expect(adminList.webhookEndpoints.map((e: any) => e.id)).toEqual(expect.arrayContaining([own.id, made.createWebhookEndpoint.endpoint.id]));
  const adminCreate = await hub.gql(admin, CREATE, { i: { url: `${base}/adm`, eventTypes: ["POINTS_EARNED"] } });
  expect(adminCreate.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
  const deleted = expectNoGraphQLErrors(await hub.gql(A.token, "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { id } }", { id: own.id }));
  expect(deleted.deleteWebhookEndpoint.id).toBe(own.id);
  const gone = await hub.gql(A.token, "mutation($id: ID!) { pauseWebhookEndpoint(id: $id) { id } }", { id: own.id });
  expect(gone.errors?.map((e) => e.extensions?.code)).toEqual(["NOT_FOUND"]);
}, 60_000);

test("the partners' own business: offer approval requested/approved, the settlement run with each one's statement, the dispute resolution", async () => {
  const types = ["OFFER_APPROVAL_REQUESTED", "OFFER_APPROVED", "SETTLEMENT_RUN_APPROVED", "DISPUTE_RESOLVED"];
  const epA = await endpoint(A.token, "/biz-a", types);
  await endpoint(B.token, "/biz-b", types);
  const DAY = 86_400_000;
  const { createOffer } = expectNoGraphQLErrors(
    await hub.gql(A.token, "mutation($i: CreateOfferInput!) { createOffer(input: $i) { id } }", {
      i: {
        title: "Webhook co-issued bonus",
        kind: "BONUS_POINTS",
        bonusPoints: 10,
        coIssuers: [
          { partnerId: A.id, shareBps: 6000 },
          { partnerId: B.id, shareBps: 4000 },
        ],
        redeemableAtPartnerIds: [A.id],
        startsAt: new Date(Date.now() - DAY).toISOString(),
        endsAt: new Date(Date.now() + 30 * DAY).toISOString(),
        budgetPoints: 1_000,
        perMemberLimit: 1,
      },
    }),
  );
  const offerId = createOffer.id as string;
  expectNoGraphQLErrors(await hub.gql(A.token, "mutation($id: ID!) { submitOffer(offerId: $id) { status } }", { id: offerId }));
  expectNoGraphQLErrors(await hub.gql(A.token, "mutation($id: ID!) { approveOffer(offerId: $id) { status } }", { id: offerId }));
  expectNoGraphQLErrors(await hub.gql(B.token, "mutation($id: ID!) { approveOffer(offerId: $id) { status } }", { id: offerId }));
  await hub.flushEvents();
  const types4 = (path: string) => deduped(path).map((r) => [payloadOf(r).type, payloadOf(r).data.active ?? null]);
  await waitFor("B's offer deliveries", () => deduped("/biz-b").length >= 3);
  await waitFor("A's offer deliveries", () => deduped("/biz-a").length >= 2);
  // B is asked to approve (A submitted it: A is not asked); both hear each approval, in order; the last made it active.
  expect(types4("/biz-b")).toEqual([
    ["offer.approval_requested", null],
    ["offer.approved", false],
    ["offer.approved", true],
  ]);
  expect(types4("/biz-a")).toEqual([
    ["offer.approved", false],
    ["offer.approved", true],
  ]);
  expect(payloadOf(deduped("/biz-b")[0]!).data).toMatchObject({ offerId, title: "Webhook co-issued bonus", submittedByPartnerId: A.id, coIssuerPartnerIds: [A.id, B.id].sort() });
  for (const r of [...at("/biz-a"), ...at("/biz-b")]) expect(() => new Webhook("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").verify(r.body, r.headers as Record<string, string>)).toThrow();
  for (const r of at("/biz-a")) expect(new Webhook(epA.secret).verify(r.body, r.headers as Record<string, string>)).toEqual(JSON.parse(r.body));

  // Settlement: each partner gets its own statement only.
  const { createSettlementRun: run } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }", { s: new Date(Date.now() - DAY).toISOString(), e: new Date().toISOString() }),
  );
  expectNoGraphQLErrors(await hub.gql(admin, "mutation($id: ID!) { approveSettlementRun(id: $id) { status } }", { id: run.id }));
  await hub.flushEvents();
  const settledA = await waitFor("A's statement", () => deduped("/biz-a").find((r) => payloadOf(r).type === "settlement.run_approved"));
  const settledB = await waitFor("B's statement", () => deduped("/biz-b").find((r) => payloadOf(r).type === "settlement.run_approved"));
  expect(payloadOf(settledA).data).toMatchObject({ runId: run.id, currency: expect.any(String), statement: { partnerId: A.id, pointsIssued: expect.stringMatching(/^\d+$/), amountDue: expect.any(String) } });
  expect(payloadOf(settledB).data.statement.partnerId).toBe(B.id);
  expect(settledA.headers["webhook-id"]).toBe(settledB.headers["webhook-id"]); // one hub event, one statement each
  const seen = expectNoGraphQLErrors(await hub.gql(A.token, "query($id: ID!) { settlementRun(id: $id) { statements { lines { id kind } } } }", { id: run.id }));
  const line = seen.settlementRun.statements[0].lines[0];
  expectNoGraphQLErrors(await hub.gql(A.token, 'mutation($l: ID!) { disputeStatementLine(lineId: $l, reason: "check this") { id } }', { l: line.id }));
  expectNoGraphQLErrors(await hub.gql(admin, 'mutation($l: ID!) { resolveStatementDispute(lineId: $l, adjustmentPoints: 0, note: "as recorded") { resolvedAt } }', { l: line.id }));
  await hub.flushEvents();
  const resolved = await waitFor("dispute.resolved", () => deduped("/biz-a").find((r) => payloadOf(r).type === "dispute.resolved"));
  expect(payloadOf(resolved).data).toMatchObject({ lineId: line.id, runId: run.id, adjustmentPoints: 0, note: "as recorded" });
  expect(deduped("/biz-b").some((r) => payloadOf(r).type === "dispute.resolved")).toBe(false);
}, 120_000);

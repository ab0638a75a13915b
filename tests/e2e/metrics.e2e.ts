import { afterAll, beforeAll, expect, test } from "vitest";
import { recordWebhookDelivery } from "../../lib/metrics.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Issue 18 §2: GET /metrics (Prometheus text) on the gateway and on each subgraph, after real
// traffic through the gateway: request rates, errors by code, latency per operation and per
// subgraph, relay figures, webhook outcomes, and the business gauges read from the ledger.
let hub: TestHub;
let partnerId: string;
let partner: string;

/** One sample's value, by metric name and labels (exact label match on the given ones). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function scrape(base: string): Promise<string> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

beforeAll(async () => {
  hub = await startTestHub();
  const admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Metric Mart", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" } }),
  );
  partnerId = registerPartner.id;
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: partnerId }));
  partner = await hub.token(createApiClient.clientId, createApiClient.clientSecret);
  const { enrollMember } = expectNoGraphQLErrors(
    await hub.gql(partner, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "metrics@example.com", displayName: "Metric Member", externalRef: "M-1" } }),
  );
  await hub.flushEvents();
  expectNoGraphQLErrors(await hub.gql(partner, "mutation Earn($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId: enrollMember.id, idempotencyKey: "m-1", points: 700 } }));
  // Errors by code: a bad input (BAD_USER_INPUT from the subgraph) and a forged token (UNAUTHENTICATED at the gateway).
  const bad = await hub.gql(partner, "mutation Earn($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId: enrollMember.id, idempotencyKey: "m-2", points: -5 } });
  expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  expect((await hub.gql("forged.token.value", "query Me { me { id } }")).status).toBe(401);
  await hub.flushEvents();
}, 120_000);
afterAll(() => hub?.close());

test("the gateway's /metrics: requests, operations, errors by code, latency per operation and per subgraph, relay, business gauges", async () => {
  recordWebhookDelivery("delivered", 120);
  recordWebhookDelivery("failed", 5000);
  const text = await scrape(hub.baseUrl);
  expect(sample(text, "hub_http_requests_total", { service: "gateway", route: "/graphql", status: "200" })).toBeGreaterThanOrEqual(2);
  expect(sample(text, "hub_http_requests_total", { service: "gateway", route: "/graphql", status: "401" })).toBe(1);
  expect(sample(text, "hub_graphql_operations_total", { service: "gateway", operation: "Earn", outcome: "ok" })).toBe(1);
  expect(sample(text, "hub_graphql_operations_total", { service: "gateway", operation: "Earn", outcome: "error" })).toBe(1);
  expect(sample(text, "hub_graphql_errors_total", { service: "gateway", code: "BAD_USER_INPUT" })).toBe(1);
  expect(sample(text, "hub_graphql_errors_total", { service: "gateway", code: "UNAUTHENTICATED" })).toBe(1);
  expect(sample(text, "hub_graphql_errors_total", { service: "points", code: "BAD_USER_INPUT" })).toBe(1);
  expect(sample(text, "hub_graphql_operation_duration_seconds_count", { service: "gateway", operation: "Earn" })).toBe(2);
  expect(sample(text, "hub_subgraph_request_duration_seconds_count", { subgraph: "points" })).toBeGreaterThanOrEqual(2);
  expect(sample(text, "hub_subgraph_requests_total", { subgraph: "points", outcome: "ok" })).toBeGreaterThanOrEqual(2);
  // Relay: the earn's events were delivered (lag observed), nothing pending or dead.
  expect(sample(text, "hub_events_delivered_total", { schema: "points" })).toBeGreaterThan(0);
  expect(sample(text, "hub_event_relay_lag_seconds_count", { schema: "points" })).toBeGreaterThan(0);
  expect(sample(text, "hub_outbox_pending_events", { schema: "points" })).toBe(0);
  expect(sample(text, "hub_dead_letter_events", { schema: "points" })).toBe(0);
  // Webhook outcomes, through the exported API.
  expect(sample(text, "hub_webhook_deliveries_total", { outcome: "delivered" })).toBe(1);
  expect(sample(text, "hub_webhook_deliveries_total", { outcome: "failed" })).toBe(1);
  // Business gauges from the ledger: this partner issued 700 points in the last hour; they are in a wallet; no hold is open.
  expect(sample(text, "hub_points_issued_last_hour", { partner_id: partnerId })).toBe(700);
  expect(sample(text, "hub_points_redeemed_last_hour", { partner_id: partnerId })).toBe(0);
  expect(sample(text, "hub_points_outstanding_liability")).toBeGreaterThanOrEqual(700);
  expect(sample(text, "hub_holds_open")).toBe(0);
  // Process figures (prom-client defaults).
  expect(sample(text, "hub_process_resident_memory_bytes")).toBeGreaterThan(0);
  // The caller's secrets never become label values.
  expect(text).not.toContain("forged.token.value");
});

test("each subgraph serves /metrics too (same registry in the embedded hub); a non-GET is refused", async () => {
  for (const s of Object.values(hub.subgraphs)) {
    const text = await scrape(new URL(s.url).origin);
    expect(sample(text, "hub_http_requests_total", { service: s.name, route: "/graphql", status: "200" })).toBeGreaterThan(0);
  }
  expect((await fetch(`${hub.baseUrl}/metrics`, { method: "POST" })).status).toBe(405);
});

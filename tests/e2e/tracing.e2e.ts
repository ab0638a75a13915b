import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createLogger, useLogger } from "../../lib/logger.ts";
import { flushTraces, startTracing, stopTracing } from "../../lib/tracing.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Issue 18 §1: one wallet query through the gateway is one trace: the gateway's HTTP span at its
// root, a SERVER span in each of the three subgraphs parented to the gateway's fetch of it, and
// Prisma's SQL spans under those; an event emitted by a traced request is consumed in a span of the
// same trace (traceparent stored on the outbox row). In-memory exporter, every request sampled.
const exporter = new InMemorySpanExporter();
let hub: TestHub;
let partner: string;
let memberId: string;
let memberToken: string;

const WALLET_QUERY = `query Wallet($first: Int!) {
  me {
    id
    displayName
    wallet { balance available held }
    tier { tier qualifyingPoints nextTier pointsToNextTier }
    eligibleOffers { id title kind bonusPoints coIssuers { shareBps partner { id name } } }
    activity(first: $first) { edges { cursor node { id kind points postedAt balanceAfter partner { id name } } } pageInfo { hasNextPage endCursor } }
  }
}`;

const parentId = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const byId = (spans: ReadableSpan[]) => new Map(spans.map((s) => [s.spanContext().spanId, s]));
function ancestors(span: ReadableSpan, index: Map<string, ReadableSpan>): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  for (let p = parentId(span); p && index.has(p); p = parentId(index.get(p)!)) out.push(index.get(p)!);
  return out;
}

beforeAll(async () => {
  expect(await startTracing({ serviceName: "test-hub", exporter, sampleRatio: 1 })).toBe(true);
  hub = await startTestHub();
  const admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Trace Air", category: "AIRLINE", issuePrice: "0.015", redemptionRate: "0.010" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  partner = await hub.token(createApiClient.clientId, createApiClient.clientSecret);
  const { enrollMember } = expectNoGraphQLErrors(
    await hub.gql(partner, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "trace@example.com", displayName: "Trace Member", externalRef: "T-1" } }),
  );
  memberId = enrollMember.id;
  await hub.flushEvents();
  expectNoGraphQLErrors(await hub.gql(partner, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId, idempotencyKey: "trace-1", points: 500 } }));
  memberToken = await hub.memberSession("trace@example.com", await hub.activateMember(partner, memberId, "trace@example.com"));
  await hub.flushEvents();
}, 120_000);
afterAll(async () => {
  await hub?.close();
  await stopTracing();
});

test("one wallet query: one trace, gateway root, a SERVER span per subgraph under the gateway's fetch, SQL spans under each", async () => {
  await flushTraces();
  exporter.reset();
  const lines: Record<string, unknown>[] = [];
  // debug: the subgraphs' lines (internal hops) are debug when they succeed quickly (D43).
  const prev = useLogger(createLogger({ level: "debug", destination: { write: (l: string) => void lines.push(JSON.parse(l)) } }));
  let res: Awaited<ReturnType<typeof hub.gql<{ me: { wallet: { balance: number } } }>>> | undefined;
  try {
    res = await hub.gql<{ me: { wallet: { balance: number } } }>(memberToken, WALLET_QUERY, { first: 5 });
  } finally {
    useLogger(prev);
  }
  expect(expectNoGraphQLErrors(res!).me.wallet.balance).toBe(500);
  await flushTraces();
  const spans = exporter.getFinishedSpans();
  const roots = spans.filter((s) => !parentId(s));
  // Exactly one root: the gateway's HTTP span (Hive's OpenTelemetry plugin), kind SERVER.
  expect(roots.map((s) => [s.name, s.kind])).toEqual([[expect.stringMatching(/graphql|POST/i), SpanKind.SERVER]]);
  const traceId = roots[0]!.spanContext().traceId;
  expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([traceId]));
  const index = byId(spans);
  // Every span hangs off the root (nothing orphaned).
  for (const s of spans) if (s !== roots[0]) expect(ancestors(s, index).at(-1), s.name).toBe(roots[0]);

  // Prisma's in-process serialize/compile steps are left out (lib/tracing.ts PRISMA_SPANS_NOT_KEPT).
  expect(spans.filter((s) => s.name === "prisma:client:serialize" || s.name === "prisma:client:compile")).toEqual([]);
  const gatewaySpans = spans.filter((s) => s.instrumentationScope.name === "gateway");
  expect(gatewaySpans.some((s) => /subgraph\.execute/.test(s.name))).toBe(true);
  const servers = spans.filter((s) => s.kind === SpanKind.SERVER && s.attributes["hub.subgraph"]);
  expect(new Set(servers.map((s) => s.attributes["hub.subgraph"]))).toEqual(new Set(["member", "points", "partner"]));
  for (const server of servers) {
    // Parent: the gateway's span of that fetch (its subgraph.execute or the fetch under it).
    const chain = ancestors(server, index);
    expect(
      chain.some((a) => /subgraph\.execute/.test(a.name) && String(a.attributes["gateway.upstream.subgraph.name"] ?? a.name).includes(String(server.attributes["hub.subgraph"]))),
      server.name,
    ).toBe(true);
    // SQL: Prisma's db_query spans (with the statement) below this subgraph's server span.
    const sql = spans.filter((s) => s.name === "prisma:client:db_query" && ancestors(s, index).includes(server));
    expect(sql.length, `${server.attributes["hub.subgraph"]} SQL spans`).toBeGreaterThan(0);
    expect(String(sql[0]!.attributes["db.query.text"])).toMatch(/SELECT|INSERT|BEGIN/i);
  }

  // Logs (§3): one request line per server, all with the request id and this trace's id: the
  // gateway's (the client's request) at info, the subgraphs' hops at debug.
  const requests = lines.filter((l) => l.msg === "request");
  const gateway = requests.find((l) => l.service === "gateway")!;
  expect(gateway).toMatchObject({ level: "info", route: "/graphql", operationName: "Wallet", role: "MEMBER", status: 200, outcome: "ok", traceId, requestId: expect.any(String), durationMs: expect.any(Number) });
  const sub = requests.filter((l) => l.service !== "gateway" && l.route === "/graphql");
  expect(new Set(sub.map((l) => l.service))).toEqual(new Set(["member", "points", "partner"]));
  for (const l of sub) expect(l).toMatchObject({ level: "debug", requestId: gateway.requestId, traceId, operationName: "Wallet", role: "MEMBER", status: 200, outcome: "ok" });
});

test("an event emitted by a traced request is consumed in a span of the same trace, parented to the emitting span", async () => {
  await flushTraces();
  exporter.reset();
  expectNoGraphQLErrors(await hub.gql(partner, "mutation Earn($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId, idempotencyKey: "trace-2", points: 50 } }));
  await hub.flushEvents();
  await flushTraces();
  const spans = exporter.getFinishedSpans();
  const root = spans.find((s) => !parentId(s) && s.kind === SpanKind.SERVER)!;
  expect(root).toBeDefined();
  const consumers = spans.filter((s) => s.kind === SpanKind.CONSUMER);
  expect(consumers.length).toBeGreaterThan(0);
  const index = byId(spans);
  for (const c of consumers) {
    expect(c.spanContext().traceId).toBe(root.spanContext().traceId);
    // Its parent is a span of the emitting request (the points subgraph's work for awardPoints).
    const parent = index.get(parentId(c)!);
    expect(parent, c.name).toBeDefined();
    expect(ancestors(c, index).at(-1)).toBe(root);
  }
  // The consumer's own SQL (inbox row, handler) nests under it.
  expect(spans.some((s) => s.name === "prisma:client:db_query" && consumers.some((c) => ancestors(s, index).includes(c)))).toBe(true);
});

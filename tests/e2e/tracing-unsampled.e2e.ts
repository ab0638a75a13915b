import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createLogger, useLogger } from "../../lib/logger.ts";
import { flushTraces, startTracing, stopTracing, withSpan } from "../../lib/tracing.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Issue 18 (Measure: tracing overhead): a request not drawn for sampling costs no tracing work.
// With tracing on at ratio 0: no span anywhere (the gateway draws before any span exists), no
// traceparent reaches the subgraphs, Prisma makes no span outside a recording one, and a caller's
// "sampled" traceparent cannot force a trace. tests/e2e/tracing.e2e.ts proves the sampled side.
const exporter = new InMemorySpanExporter();
let hub: TestHub;
let partner: string;

const PARTNERS = "query Partners { partners { id name } viewer { role } }";

beforeAll(async () => {
  expect(await startTracing({ serviceName: "test-hub", exporter, sampleRatio: 0 })).toBe(true);
  hub = await startTestHub();
  const admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Quiet Air", category: "AIRLINE", issuePrice: "0.015", redemptionRate: "0.010" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  partner = await hub.token(createApiClient.clientId, createApiClient.clientSecret);
}, 120_000);
afterAll(async () => {
  await hub?.close();
  await stopTracing();
});

async function requestLines(fn: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  // debug: the subgraphs' lines (internal hops) are debug when they succeed quickly (D43).
  const prev = useLogger(createLogger({ level: "debug", destination: { write: (l: string) => void lines.push(JSON.parse(l)) } }));
  try {
    await fn();
  } finally {
    useLogger(prev);
  }
  return lines.filter((l) => l.msg === "request");
}

test("a request not drawn: no span exported, and no trace context reaches the subgraphs", async () => {
  await flushTraces();
  exporter.reset();
  const lines = await requestLines(async () => {
    for (let i = 0; i < 5; i++) expectNoGraphQLErrors(await hub.gql(partner, PARTNERS));
    const { enrollMember } = expectNoGraphQLErrors(await hub.gql(partner, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "quiet@example.com", externalRef: "Q-1" } }));
    await hub.flushEvents();
    expectNoGraphQLErrors(await hub.gql(partner, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId: enrollMember.id, idempotencyKey: "quiet-1", points: 5 } }));
  });
  await flushTraces();
  expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual([]);
  const sub = lines.filter((l) => l.service !== "gateway" && l.route === "/graphql");
  expect(new Set(sub.map((l) => l.service))).toEqual(new Set(["member", "points", "partner"]));
  // The subgraph line's traceId would come from the gateway's traceparent header: none was sent.
  for (const l of lines) expect(l.traceId, `${l.service} ${l.route}`).toBeUndefined();
});

test("a caller's sampled traceparent does not force a trace (it only names the trace in the log lines)", async () => {
  await flushTraces();
  exporter.reset();
  const caller = "4bf92f3577b34da6a3ce929d0e0e4736";
  const lines = await requestLines(async () => {
    for (let i = 0; i < 3; i++) expectNoGraphQLErrors(await hub.gql(partner, PARTNERS, {}, { traceparent: `00-${caller}-00f067aa0ba902b7-01` }));
  });
  await flushTraces();
  expect(exporter.getFinishedSpans()).toEqual([]);
  const gateway = lines.filter((l) => l.service === "gateway");
  expect(gateway.length).toBe(3);
  for (const l of gateway) expect(l.traceId).toBe(caller);
});

test("Prisma traces only under a recording span: none outside, its statements under one", async () => {
  await flushTraces();
  exporter.reset();
  const client = hub.db.client();
  await client.partner.count();
  await flushTraces();
  expect(exporter.getFinishedSpans()).toEqual([]);
  // A recording root (what a drawn request is): Prisma's operation and SQL spans nest under it.
  await withSpan("sampled request", { kind: SpanKind.SERVER }, async () => {
    await client.partner.count();
  });
  await flushTraces();
  const spans = exporter.getFinishedSpans();
  const root = spans.find((s) => s.name === "sampled request")!;
  expect(root).toBeDefined();
  const sql = spans.filter((s) => s.name === "prisma:client:db_query");
  expect(sql.length).toBeGreaterThan(0);
  for (const s of sql) expect(s.spanContext().traceId).toBe(root.spanContext().traceId);
});

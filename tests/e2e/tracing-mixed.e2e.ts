import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, expect, test } from "vitest";
import { flushTraces, startTracing, stopTracing } from "../../lib/tracing.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Issue 18 (Measure): the gateway's tracing plugin runs only for the requests drawn for sampling
// (lib/tracing.ts `onlyDrawn`). With half of them drawn, every request is answered, the drawn ones
// make whole traces (gateway root, a SERVER span in the subgraph it reached, SQL under it) and the
// others make no span. tracing.e2e.ts (all drawn) and tracing-unsampled.e2e.ts (none) are the ends.
const exporter = new InMemorySpanExporter();
let hub: TestHub;
let partner: string;

const PARTNERS = "query Partners { partners { id name } viewer { role } }";

beforeAll(async () => {
  expect(await startTracing({ serviceName: "test-hub", exporter, sampleRatio: 0.5 })).toBe(true);
  hub = await startTestHub();
  const admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Half Air", category: "AIRLINE", issuePrice: "0.015", redemptionRate: "0.010" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  partner = await hub.token(createApiClient.clientId, createApiClient.clientSecret);
}, 120_000);
afterAll(async () => {
  await hub?.close();
  await stopTracing();
});

test("half drawn: every request answered; each drawn one is a whole trace, the others leave no span", async () => {
  await flushTraces();
  exporter.reset();
  const n = 40;
  for (let i = 0; i < n; i++) expectNoGraphQLErrors(await hub.gql(partner, PARTNERS));
  await flushTraces();
  const spans = exporter.getFinishedSpans();
  const roots = spans.filter((s) => !s.parentSpanContext?.spanId);
  // 40 draws at 0.5: all or none drawn has a chance of 2 × 2^-40.
  expect(roots.length).toBeGreaterThan(0);
  expect(roots.length).toBeLessThan(n);
  for (const root of roots) {
    expect(root.kind).toBe(SpanKind.SERVER);
    const trace = spans.filter((s) => s.spanContext().traceId === root.spanContext().traceId);
    expect(trace.some((s) => /subgraph\.execute/.test(s.name))).toBe(true);
    expect(trace.some((s) => s.kind === SpanKind.SERVER && s.attributes["hub.subgraph"] === "partner")).toBe(true);
    expect(trace.some((s) => s.name === "prisma:client:db_query")).toBe(true);
  }
  // No span outside the drawn traces (nothing orphaned from the requests not drawn).
  const traced = new Set(roots.map((r) => r.spanContext().traceId));
  for (const s of spans) expect(traced.has(s.spanContext().traceId), s.name).toBe(true);
});

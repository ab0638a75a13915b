import { serverAudits } from "graphql-http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeSubgraphs, startFakeSubgraphs } from "../../gateway/src/testing/fake-subgraphs.ts";
import { type RunningGateway, startGateway } from "../../gateway/src/server.ts";
import { TEST_INTERNAL_SECRET, testInternalKey } from "../support/subgraph.ts";

// graphql-http's GraphQL-over-HTTP audit suite against the gateway, authentication on: every
// audit request carries a valid partner token (a request without one is 401, tested elsewhere).
let subs: FakeSubgraphs;
let gateway: RunningGateway;
let bearer: string;

beforeAll(async () => {
  subs = await startFakeSubgraphs(testInternalKey);
  gateway = await startGateway({ port: 0, supergraphSdl: subs.supergraphSdl, subgraphUrls: subs.urls, internalSecret: TEST_INTERNAL_SECRET });
  const r = await fetch(`${gateway.url}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: "fake-shop", client_secret: "fake-shop-secret" }) });
  bearer = ((await r.json()) as { access_token: string }).access_token;
});
afterAll(async () => {
  await gateway?.close();
  await subs?.close();
});

const audits = serverAudits({
  url: () => `${gateway.url}/graphql`,
  fetchFn: (input: RequestInfo | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    headers.set("authorization", `Bearer ${bearer}`);
    return fetch(input, { ...init, headers });
  },
});

describe("graphql-http server audits (authenticated as a partner)", () => {
  test.each(audits.map((a) => [a.name, a] as const))("%s", async (_name, audit) => {
    const result = await audit.fn();
    expect(result.status === "ok" ? "ok" : `${result.status}: ${"reason" in result ? result.reason : ""}`).toBe("ok");
  });
});

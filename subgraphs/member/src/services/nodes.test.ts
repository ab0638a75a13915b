import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { toGlobalId } from "graphql-relay";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { HubError } from "../../../../lib/errors.ts";
import { IDENTITY_HEADER, internalKey, verifyIdentity } from "../../../../lib/internal-auth.ts";
import { adminPrincipal } from "../../../../tests/support/subgraph.ts";
import type { MemberContext } from "../context.ts";
import { resolveNodes, useNodePeers } from "./nodes.ts";

// The member subgraph's side of node(id:) without a hub: what it asks the owner, and how each of the
// owner's answers (its own lookup's data or error, silence, a refused connection) becomes that id's result.
const key = internalKey("x".repeat(32));
let server: Server;
let url = "";
let answer: (query: string, variables: Record<string, string>) => unknown = () => ({ data: {} });
let delayMs = 0;
const seen: { query: string; identity: string | undefined }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const { query, variables } = JSON.parse(body);
      seen.push({ query, identity: req.headers[IDENTITY_HEADER] as string | undefined });
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(answer(query, variables)));
      }, delayMs).unref();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});
afterEach(() => {
  delayMs = 0;
  seen.length = 0;
  useNodePeers(null);
});

const ctx = { principal: adminPrincipal(), requestId: "req-1", loaders: {} } as unknown as MemberContext;
const ids = ["7d1c4a8e-5b1f-4c34-9d1a-0b7c2f3e4a51", "0f9d7b2a-3c4e-4f5a-8b6c-7d8e9f0a1b2c"];
const offerIds = ids.map((id) => toGlobalId("Offer", id));
const codeOf = (r: unknown) => (r instanceof HubError ? r.extensions.code : "stub");

describe("resolveNodes against an owner", () => {
  test("one request per owner with an aliased lookup per id, under the caller's own identity", async () => {
    useNodePeers({ key, peers: () => ({ partner: url }), timeoutMs: 2_000 });
    answer = (_q, v) => ({ data: { n0: { id: v.i0 }, n1: { id: v.i1 } } });
    const r = await resolveNodes(ctx, offerIds);
    expect(r).toEqual([
      { __typename: "Offer", id: ids[0] },
      { __typename: "Offer", id: ids[1] },
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.query).toBe("query NodeVisibility($i0: ID!, $i1: ID!) { n0: offer(id: $i0) { id } n1: offer(id: $i1) { id } }");
    const who = await verifyIdentity(key, seen[0]!.identity ?? "");
    expect(who).toMatchObject({ sub: "test-admin", role: "ADMIN" });
  });

  test("the lookup's own answer decides: null is NOT_FOUND, its public codes pass, an internal error stays masked", async () => {
    useNodePeers({ key, peers: () => ({ partner: url }), timeoutMs: 2_000 });
    answer = () => ({
      data: { n0: null, n1: null },
      errors: [
        { message: "Offer x not found", path: ["n0"], extensions: { code: "NOT_FOUND" } },
        { message: "needs member:offers", path: ["n1"], extensions: { code: "FORBIDDEN" } },
      ],
    });
    expect((await resolveNodes(ctx, offerIds)).map(codeOf)).toEqual(["NOT_FOUND", "FORBIDDEN"]);
    answer = () => ({ data: { n0: null, n1: null }, errors: [{ message: "boom", path: ["n1"], extensions: { code: "INTERNAL_SERVER_ERROR" } }] });
    const [missing, failed] = await resolveNodes(ctx, offerIds);
    expect(codeOf(missing)).toBe("NOT_FOUND");
    expect(codeOf(failed)).toBe("INTERNAL_SERVER_ERROR");
    expect((failed as Error).message).not.toContain("boom");
  });

  test("an owner slower than the timeout: GATEWAY_TIMEOUT for each of its ids; malformed ids are answered without it", async () => {
    useNodePeers({ key, peers: () => ({ partner: url }), timeoutMs: 150 });
    delayMs = 1_000;
    answer = () => ({ data: { n0: { id: "x" } } });
    const r = await resolveNodes(ctx, [offerIds[0]!, "junk", offerIds[1]!]);
    expect(r.map(codeOf)).toEqual(["GATEWAY_TIMEOUT", "BAD_USER_INPUT", "GATEWAY_TIMEOUT"]);
  });

  test("an owner that refuses the connection, or none configured: SERVICE_UNAVAILABLE", async () => {
    useNodePeers({ key, peers: () => ({ partner: "http://127.0.0.1:1/graphql" }), timeoutMs: 1_000 });
    expect((await resolveNodes(ctx, offerIds)).map(codeOf)).toEqual(["SERVICE_UNAVAILABLE", "SERVICE_UNAVAILABLE"]);
    useNodePeers(null);
    expect((await resolveNodes(ctx, [toGlobalId("SettlementRun", ids[0]!)])).map(codeOf)).toEqual(["SERVICE_UNAVAILABLE"]);
    expect(seen).toHaveLength(0);
  });
});

import { readFileSync } from "node:fs";
import path from "node:path";
import { expect, test } from "vitest";
import { internalKey } from "../../lib/internal-auth.ts";
import { createExecutor } from "./gateway.ts";

// Issue 18 §5: on SIGTERM the hub drains (lib/serve.ts) and only then disposes the gateway's
// runtime. Hive Gateway registers SIGTERM/SIGINT listeners of its own that dispose the runtime at
// once, aborting every operation in flight (seen: 99 of 100 in-flight mutations answered
// "operation has been aborted because the server is shutting down"); none may stay registered.
test("creating the gateway's runtime leaves no SIGTERM/SIGINT listener behind (the hub decides when it stops)", async () => {
  const before = { SIGTERM: process.listeners("SIGTERM"), SIGINT: process.listeners("SIGINT") };
  const runtime = createExecutor({
    supergraphSdl: readFileSync(path.resolve(import.meta.dirname, "../../schema/supergraph.graphql"), "utf8"),
    subgraphUrls: { member: "http://127.0.0.1:1/graphql", points: "http://127.0.0.1:1/graphql", partner: "http://127.0.0.1:1/graphql" },
    internalKey: internalKey("x".repeat(43)),
  });
  try {
    expect({ SIGTERM: process.listeners("SIGTERM"), SIGINT: process.listeners("SIGINT") }).toEqual(before);
  } finally {
    await runtime.dispose?.();
  }
});

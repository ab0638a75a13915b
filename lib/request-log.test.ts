import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { expect, test } from "vitest";
import { createLogger, type Level, useLogger } from "./logger.ts";
import { HOP_SLOW_MS, type RequestRecord, recordRequest } from "./request-log.ts";

// Issue 18 §3: every client request at the gateway leaves one line (request id, trace id,
// operation, caller, duration, outcome); a subgraph's answer to the gateway (an internal hop) is a
// debug line unless it fails or is slow (D43).

/** A response that finishes when told, as node:http's does (`finish`, then `close`). */
function response(headers: Record<string, string> = {}) {
  const res = new EventEmitter() as EventEmitter & { statusCode: number; writableFinished: boolean; req: { headers: Record<string, string> } };
  res.statusCode = 200;
  res.writableFinished = false;
  res.req = { headers };
  return {
    res: res as unknown as ServerResponse,
    finish(status: number) {
      res.statusCode = status;
      res.writableFinished = true;
      res.emit("finish");
      res.emit("close");
    },
  };
}

function linesAt(level: Level, fn: () => void): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  const prev = useLogger(createLogger({ level, destination: { write: (l: string) => void lines.push(JSON.parse(l)) } }));
  try {
    fn();
  } finally {
    useLogger(prev);
  }
  return lines.filter((l) => l.msg === "request");
}

const PARTNER = { role: "PARTNER", partnerId: "p-1", clientId: "shop-app" } as const;
const CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

function request(init: Partial<RequestRecord>, status: number, opts: { headers?: Record<string, string>; tookMs?: number; errorCodes?: string[] } = {}) {
  const r = response(opts.headers);
  const rec = recordRequest(r.res, { service: "gateway", requestId: "req-1", route: "/graphql", method: "POST", ...init });
  rec.started -= opts.tookMs ?? 0;
  rec.errorCodes.push(...(opts.errorCodes ?? []));
  r.finish(status);
}

test("a client request at the gateway: one info line with request id, trace id, operation, caller, duration and outcome", () => {
  const lines = linesAt("info", () => request({ operationName: "Earn", principal: PARTNER, graphql: true }, 200, { headers: { traceparent: `00-${CALLER_TRACE}-00f067aa0ba902b7-01` }, tookMs: 12 }));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({
    level: "info",
    service: "gateway",
    requestId: "req-1",
    traceId: CALLER_TRACE,
    operationName: "Earn",
    role: "PARTNER",
    partnerId: "p-1",
    clientId: "shop-app",
    status: 200,
    outcome: "ok",
  });
  expect(lines[0]!.durationMs).toBeGreaterThanOrEqual(12);
});

test("a subgraph's successful, quick answer to the gateway is a debug line, not an info one", () => {
  const hop = { service: "points", hop: true, operationName: "Earn", principal: PARTNER, graphql: true };
  expect(linesAt("info", () => request(hop, 200, { tookMs: 5 }))).toEqual([]);
  const debug = linesAt("debug", () => request(hop, 200, { tookMs: 5 }));
  expect(debug).toHaveLength(1);
  expect(debug[0]).toMatchObject({ level: "debug", service: "points", requestId: "req-1", operationName: "Earn", partnerId: "p-1", outcome: "ok" });
});

test("a hop that fails or is slow stays at info (warn for 5xx)", () => {
  const hop = { service: "member", hop: true, operationName: "Wallet", graphql: true };
  const lines = linesAt("info", () => {
    request(hop, 200, { errorCodes: ["FORBIDDEN"] });
    request(hop, 400);
    request(hop, 200, { tookMs: HOP_SLOW_MS + 1 });
    request(hop, 503);
  });
  expect(lines.map((l) => [l.level, l.status, l.outcome])).toEqual([
    ["info", 200, "client_error"],
    ["info", 400, "client_error"],
    ["info", 200, "ok"],
    ["warn", 503, "error"],
  ]);
  expect(lines[0]).toMatchObject({ errorCodes: ["FORBIDDEN"] });
  expect(lines[2]!.durationMs).toBeGreaterThanOrEqual(HOP_SLOW_MS);
});

test("plumbing (health, /internal/*) is debug unless it fails, as before", () => {
  const lines = linesAt("info", () => {
    request({ service: "partner", hop: true, route: "/internal/events" }, 200);
    request({ route: "/healthz", method: "GET" }, 200);
    request({ service: "partner", hop: true, route: "/internal/events" }, 401);
  });
  expect(lines.map((l) => [l.route, l.status])).toEqual([["/internal/events", 401]]);
});

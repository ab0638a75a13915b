import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Socket } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { operationLabel, serveMetrics, throttled } from "./metrics.ts";

// /metrics protection: with HUB_METRICS_TOKEN a bearer token (constant-time compare) from anywhere;
// without it loopback clients only.
const TOKEN = "metrics-token-0123456789";
let base = "";
let token: string | undefined;
const server = createServer((req, res) => void serveMetrics(req, res, token));
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

test("with a token: 401 without it or with another one (same length too), 200 with it", async () => {
  token = TOKEN;
  expect((await fetch(`${base}/metrics`)).status).toBe(401);
  expect((await fetch(`${base}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
  expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${"x".repeat(TOKEN.length)}` } })).status).toBe(401);
  expect((await fetch(`${base}/metrics`, { headers: { authorization: `Basic ${TOKEN}` } })).status).toBe(401);
  const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(ok.status).toBe(200);
  expect(await ok.text()).toContain("# TYPE hub_http_requests_total counter");
});

test("without a token: loopback only; another address gets 403", async () => {
  token = undefined;
  expect((await fetch(`${base}/metrics`)).status).toBe(200);
  const sent: { status?: number } = {};
  const socket = new Socket();
  Object.defineProperty(socket, "remoteAddress", { value: "10.1.2.3" });
  const req = { method: "GET", headers: {}, socket } as unknown as IncomingMessage;
  const res = {
    writeHead(status: number) {
      sent.status = status;
      return res;
    },
    end: () => undefined,
  } as unknown as ServerResponse;
  await serveMetrics(req, res, undefined);
  expect(sent.status).toBe(403);
});

test("operation names as labels are clipped and capped (a client cannot blow up the series)", () => {
  expect(operationLabel(null)).toBe("(anonymous)");
  expect(operationLabel("x".repeat(500))).toHaveLength(64);
  for (let i = 0; i < 1000; i++) operationLabel(`Op${i}`);
  expect(operationLabel("BrandNewOperation")).toBe("(other)");
});

test("a throttled collector runs at most once per interval and survives a failure", async () => {
  let runs = 0;
  const c = throttled("t", 60_000, async () => {
    runs++;
    throw new Error("db down");
  });
  await c();
  await c();
  expect(runs).toBe(1);
});

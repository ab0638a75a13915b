import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { BodyTooLargeError, readBody, sendJson } from "./http.ts";

// One server that echoes the body's length, or answers 413 when readBody refuses it.
const server = createServer(async (req, res) => {
  try {
    const body = await readBody(req, 1024);
    sendJson(res, 200, { bytes: body.length, text: body.toString("utf8") }, { "x-echo": "1" });
  } catch (e) {
    sendJson(res, e instanceof BodyTooLargeError ? 413 : 400, { error: e instanceof BodyTooLargeError ? "too_large" : "bad" });
  }
});
let url = "";
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

test("a body up to the limit arrives whole; sendJson answers JSON in UTF-8 with the extra headers", async () => {
  const text = "ä".repeat(512); // 1,024 bytes: exactly the limit
  const res = await fetch(url, { method: "POST", body: text });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  expect(res.headers.get("x-echo")).toBe("1");
  expect(await res.json()).toEqual({ bytes: 1024, text });
});

test("a body over the limit is refused with BodyTooLargeError, and the client still gets the 413 answer", async () => {
  const res = await fetch(url, { method: "POST", body: "x".repeat(64 * 1024) });
  expect(res.status).toBe(413);
  expect(await res.json()).toEqual({ error: "too_large" });
});

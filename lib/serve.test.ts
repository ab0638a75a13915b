import type net from "node:net";
import { afterEach, expect, test } from "vitest";
import { connect, request } from "../tests/support/raw-http.ts";
import { type Served, serve } from "./serve.ts";

// Issue 18 §5, the late request: after SIGTERM (drain) a request that arrives on a kept-alive
// connection, or on a new connection while the server still listens, gets a whole, clean HTTP 503
// in GraphQL error shape (extensions.code SHUTTING_DOWN, Retry-After, Connection: close) before
// anything of it runs; it is never cut mid-response nor reset, and the requests already in flight
// finish. tests/e2e/lifecycle.e2e.ts proves the same on `npm start` with a real SIGTERM.

let served: Served | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await served?.drain({ timeoutMs: 0 });
  served = undefined;
});

test("after drain starts: a request on a kept-alive connection and one on a new connection get a whole 503 SHUTTING_DOWN with Connection: close; the one in flight finishes", async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let handled = 0;
  let arrived!: () => void;
  const inFlightArrived = new Promise<void>((r) => (arrived = r));
  served = await serve({
    name: "test",
    port: 0,
    host: "127.0.0.1",
    setting: "TEST_PORT",
    handler: (req, res) => {
      handled++;
      req.resume();
      const answer = () => {
        const text = JSON.stringify({ data: { ok: true, pad: "x".repeat(100_000) } });
        res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
        res.end(text);
      };
      if (req.headers["x-hold"]) {
        arrived();
        void released.then(answer);
      } else answer();
    },
  });
  served.ready();

  // A kept-alive connection that has already served one request, idle when the drain starts.
  const keptAlive = await connect(served.port);
  sockets.push(keptAlive);
  expect((await request(keptAlive, '{"query":"{ ok }"}')).status).toBe(200);
  // A request in flight on another connection.
  const busy = await connect(served.port);
  sockets.push(busy);
  const inFlight = request(busy, '{"query":"{ ok }"}', { "x-hold": "1" });
  await inFlightArrived;

  const drained = served.drain({ timeoutMs: 60_000 });
  expect(served.phase()).toBe("draining");
  const handledBefore = handled;

  const refusedShape = {
    status: 503,
    headers: expect.objectContaining({ connection: "close", "retry-after": "1", "content-type": "application/json; charset=utf-8" }),
  };
  const late = await request(keptAlive, '{"query":"mutation { x }"}');
  expect(late).toMatchObject(refusedShape);
  expect(JSON.parse(late.body)).toEqual({ errors: [{ message: expect.stringContaining("shutting down"), extensions: { code: "SHUTTING_DOWN", retryAfterSeconds: 1 } }] });

  const fresh = await connect(served.port);
  sockets.push(fresh);
  const lateNew = await request(fresh, '{"query":"mutation { x }"}');
  expect(lateNew).toMatchObject(refusedShape);
  expect(JSON.parse(lateNew.body).errors[0].extensions.code).toBe("SHUTTING_DOWN");

  // A late request with a large body (a batch upload) is refused whole as well, not reset.
  const big = await connect(served.port);
  sockets.push(big);
  const lateBig = await request(big, JSON.stringify({ query: "mutation { x }", variables: { pad: "y".repeat(2_000_000) } }));
  expect(lateBig).toMatchObject(refusedShape);
  expect(JSON.parse(lateBig.body).errors[0].extensions.code).toBe("SHUTTING_DOWN");

  // Nothing of the late requests ran; the one in flight completes whole.
  expect(handled).toBe(handledBefore);
  release();
  const finished = await inFlight;
  expect(finished.status).toBe(200);
  expect(finished.headers.connection).toBe("close");
  expect(JSON.parse(finished.body).data.ok).toBe(true);
  expect(await drained).toEqual({ cut: 0 });
  expect(served.phase()).toBe("stopped");
});

test("while starting, requests get 503 SERVICE_UNAVAILABLE (not SHUTTING_DOWN): the instance is coming, not going", async () => {
  served = await serve({ name: "test", port: 0, host: "127.0.0.1", setting: "TEST_PORT" });
  const s = await connect(served.port);
  sockets.push(s);
  const answer = await request(s, '{"query":"{ ok }"}');
  expect(answer.status).toBe(503);
  expect(JSON.parse(answer.body).errors[0].extensions.code).toBe("SERVICE_UNAVAILABLE");
});

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { backoffMs } from "./dispatcher.ts";
import { newSecret, sign, signatureHeader } from "./secrets.ts";
import { guardedAgent, literalHostProblem, refusedAddress, urlFormProblem, urlPolicy } from "./url-guard.ts";
import { Webhook } from "standardwebhooks";

describe("addresses", () => {
  test.each([
    "127.0.0.1",
    "127.255.0.9",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "ff02::1",
  ])("%s is refused", (a) => expect(refusedAddress(a)).not.toBeNull());
  test.each(["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:8.8.8.8"])("%s is public", (a) => expect(refusedAddress(a)).toBeNull());
});

describe("URL form", () => {
  test.each([
    ["ftp://example.com/", /http or https/],
    ["file:///etc/passwd", /http or https/],
    ["http://u:p@example.com/", /credentials/],
    ["http://u@example.com/", /credentials/],
    ["https://example.com/#x", /fragment/],
    ["example.com/hook", /absolute/],
  ])("%s", (u, why) => expect(urlFormProblem(u)).toMatch(why));
  test("a plain https URL is fine", () => expect(urlFormProblem("https://example.com/hooks?x=1")).toBeNull());
});

describe("at delivery: the connection's own DNS answer is checked (no rebinding window)", () => {
  let server: ReturnType<typeof createServer>;
  let port = 0;
  beforeAll(async () => {
    server = createServer((_q, r) => r.end("ok"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  test("a name resolving to loopback is refused when connecting; allowed when listed", async () => {
    const strict = guardedAgent({ allowedHosts: new Set(), allowPrivate: false }, { connectTimeoutMs: 2000 });
    await expect(request(`http://localhost:${port}/`, { dispatcher: strict })).rejects.toThrow(/non-public address/);
    await strict.close();
    const listed = guardedAgent({ allowedHosts: new Set(["localhost"]), allowPrivate: false }, { connectTimeoutMs: 2000 });
    const res = await request(`http://localhost:${port}/`, { dispatcher: listed });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    await listed.close();
  });

  test("an IP-literal host (no DNS) is checked before sending", () => {
    const strict = { allowedHosts: new Set<string>(), allowPrivate: false };
    expect(literalHostProblem(`http://127.0.0.1:${port}/`, strict)).toMatch(/refused/);
    expect(literalHostProblem("http://[::1]/", strict)).toMatch(/refused/);
    expect(literalHostProblem("http://127.0.0.1/", { allowedHosts: new Set(["127.0.0.1"]), allowPrivate: false })).toBeNull();
  });

  test("the allow-list and the demo come from the configuration", () => {
    expect(urlPolicy({ HUB_WEBHOOK_ALLOWED_HOSTS: " 127.0.0.1, [::1] ,Example.COM", HUB_DEMO: "0" })).toEqual({ allowedHosts: new Set(["127.0.0.1", "::1", "example.com"]), allowPrivate: false });
    expect(urlPolicy({ HUB_DEMO: "1" }).allowPrivate).toBe(true);
    expect(urlPolicy({ DATABASE_URL: "postgresql://x@db/y" }).allowPrivate).toBe(false);
    expect(urlPolicy({ NODE_ENV: "production", HUB_DEMO: "1" }).allowPrivate).toBe(false);
  });
});

describe("signatures (Standard Webhooks), checked by the reference package", () => {
  test("one signature per valid secret; each verifies alone", () => {
    const [s1, s2] = [newSecret(), newSecret()];
    const body = JSON.stringify({ id: "e1", type: "points.earned", data: { ü: 1 } });
    const ts = Math.floor(Date.now() / 1000);
    const id = "2b1b8c4e-0000-4000-8000-000000000000";
    const header = signatureHeader([s1, s2], id, ts, body);
    expect(header.split(" ")).toEqual([sign(s1, id, ts, body), sign(s2, id, ts, body)]);
    const headers = { "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": header };
    for (const s of [s1, s2]) expect(new Webhook(s).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow();
  });
});

describe("backoff", () => {
  const s = { backoffBaseMs: 5_000, backoffMaxMs: 3_600_000 };
  test("doubles from the base, capped, with ±50 % jitter", () => {
    expect(backoffMs(1, s, () => 0.5)).toBe(5_000);
    expect(backoffMs(2, s, () => 0.5)).toBe(10_000);
    expect(backoffMs(5, s, () => 0.5)).toBe(80_000);
    expect(backoffMs(50, s, () => 0.5)).toBe(3_600_000);
    expect(backoffMs(3, s, () => 0)).toBe(10_000);
    expect(backoffMs(3, s, () => 0.999999)).toBe(30_000);
  });
  test("about 3 days of attempts: a failing delivery is tried ~80 times before it is dead", () => {
    let t = 0;
    let n = 0;
    while (t < 3 * 86_400_000) t += backoffMs(++n, s, () => 0.5);
    expect(n).toBeGreaterThan(70);
    expect(n).toBeLessThan(90);
  });
});

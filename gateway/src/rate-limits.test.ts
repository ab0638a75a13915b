import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, test } from "vitest";
import { loadEnv } from "../../lib/config.ts";
import { limitedKeys, RateLimits } from "./rate-limits.ts";

// The counters behind the gateway's 429s (gateway/src/rate-limits.ts). The Redis cases use the
// machine's Redis (REDIS_URL, default redis://127.0.0.1:6379; CI has it) with a key prefix of
// their own, so runs never share counters.
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const env = loadEnv({ HUB_RATE_PARTNER_REQUESTS_PER_MINUTE: "5", HUB_RATE_CLIENT_REQUESTS_PER_MINUTE: "3", HUB_RATE_PARTNER_COST_PER_MINUTE: "100", HUB_RATE_CLIENT_COST_PER_MINUTE: "1000" });
const unreachable = () => "http://127.0.0.1:9";
const open: RateLimits[] = [];
const limits = (o: { redisUrl?: string; prefix?: string } = {}) => {
  const l = new RateLimits({ key: new Uint8Array(32), partnerOrigin: unreachable, env, prefix: o.prefix ?? `test:${randomUUID()}`, redisUrl: o.redisUrl });
  open.push(l);
  return l;
};
afterEach(() => {
  for (const l of open.splice(0)) l.close();
});

const partnerA = { partnerId: randomUUID(), clientId: "client-a", authority: "CLIENT" as const };
const partnerA2 = { ...partnerA, clientId: "client-a2" };
const partnerB = { partnerId: randomUUID(), clientId: "client-b", authority: "CLIENT" as const };

async function spend(l: RateLimits, p: typeof partnerA, n: number) {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push((await l.consume(p, "REQUESTS", 1)).ok);
  return out;
}

describe("who is limited", () => {
  test("a partner's clients and apps count for the partner and for themselves; staff (console) only for the partner; admins and members' own sessions not at all", () => {
    expect(limitedKeys(partnerA)).toEqual([
      { scope: "PARTNER", id: partnerA.partnerId },
      { scope: "API_CLIENT", id: "client-a" },
    ]);
    expect(limitedKeys({ partnerId: partnerA.partnerId, clientId: "hub-console", authority: "PERSON" })).toEqual([{ scope: "PARTNER", id: partnerA.partnerId }]);
    expect(limitedKeys({ partnerId: null, clientId: "test-admin", authority: "CLIENT" })).toEqual([]);
    expect(limitedKeys({ partnerId: null, clientId: "hub-member-app", authority: "PERSON" })).toEqual([]);
  });
});

describe("in memory (the embedded default)", () => {
  test("the client's limit, then the partner's across its clients; another partner is untouched", async () => {
    const l = limits();
    expect(await spend(l, partnerA, 4)).toEqual([true, true, true, false]); // client-a: 3 per minute
    // client-a2 of the same partner: the partner has 5, of which client-a used 4 (the refused one counts too).
    expect(await spend(l, partnerA2, 2)).toEqual([true, false]);
    expect(await spend(l, partnerB, 3)).toEqual([true, true, true]);
    const refused = await l.consume(partnerA2, "REQUESTS", 1);
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.limited).toMatchObject({ scope: "PARTNER", kind: "REQUESTS", limit: 5 });
      expect(refused.limited.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(refused.limited.retryAfterSeconds).toBeLessThanOrEqual(60);
    }
  });

  test("statuses say limit, remaining and the window's end", async () => {
    const l = limits();
    const before = Date.now();
    const r = await l.consume(partnerB, "REQUESTS", 1);
    expect(r.ok).toBe(true);
    expect(r.statuses.map(({ scope, kind, limit, remaining, windowSeconds }) => ({ scope, kind, limit, remaining, windowSeconds }))).toEqual([
      { scope: "PARTNER", kind: "REQUESTS", limit: 5, remaining: 4, windowSeconds: 60 },
      { scope: "API_CLIENT", kind: "REQUESTS", limit: 3, remaining: 2, windowSeconds: 60 },
    ]);
    for (const s of r.statuses) {
      expect(s.resetAt).toBeGreaterThan(before);
      expect(s.resetAt).toBeLessThanOrEqual(Date.now() + 60_000);
    }
  });

  test("cost: one operation above the whole budget is refused; the budget is the sum of the operations' estimates", async () => {
    const l = limits();
    expect((await l.consume(partnerB, "COST", 60)).ok).toBe(true);
    const second = await l.consume(partnerB, "COST", 60);
    expect(second.ok).toBe(false);
    if (!second.ok) expect(second.limited).toMatchObject({ scope: "PARTNER", kind: "COST", limit: 100 });
    expect((await limits().consume(partnerA, "COST", 101)).ok).toBe(false);
  });
});

describe("Redis (shared by replicas)", () => {
  test("two gateways' counters with one prefix are one counter", async () => {
    const prefix = `test:${randomUUID()}`;
    const [one, two] = [limits({ redisUrl: REDIS_URL, prefix }), limits({ redisUrl: REDIS_URL, prefix })];
    expect(await one.connected(10_000)).toBe(true);
    expect(await two.connected(10_000)).toBe(true);
    const ok: boolean[] = [];
    for (let i = 0; i < 8; i++) ok.push((await (i % 2 ? two : one).consume(partnerB, "REQUESTS", 1)).ok);
    expect(ok).toEqual([true, true, true, false, false, false, false, false]); // client-b: 3 across both
    expect(one.redisStatus()).toBe("ok");
  });

  test("Redis unreachable: fail open to this gateway's memory (still limited, per replica), reported by readiness", async () => {
    const l = limits({ redisUrl: "redis://127.0.0.1:1" });
    expect(await l.connected(300)).toBe(false);
    expect(await spend(l, partnerB, 4)).toEqual([true, true, true, false]);
    expect(l.redisStatus()).toMatch(/^unavailable/);
  });
});

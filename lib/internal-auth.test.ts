import { afterEach, expect, test, vi } from "vitest";
import { IdentityError, internalKey, serviceIdentity, signIdentity, verifyIdentity } from "./internal-auth.ts";
import type { Principal } from "./principal.ts";

const key = internalKey("k".repeat(32));
const other = internalKey("o".repeat(32));
const partner: Principal = { sub: "client-1", role: "PARTNER", partnerId: crypto.randomUUID(), memberId: null, scope: "points:write", purpose: "ACCOUNT_SERVICING" };

afterEach(() => {
  vi.useRealTimers();
});

test("a verified assertion is answered from the cache with the same principal, and a copy of it", async () => {
  const token = await signIdentity(key, partner);
  const a = await verifyIdentity(key, token);
  expect(a).toEqual(partner);
  (a as Principal).scope = "changed";
  expect(await verifyIdentity(key, token)).toEqual(partner);
});

test("a cached assertion stops being accepted when it expires", async () => {
  vi.useFakeTimers({ toFake: ["Date"] });
  const token = await signIdentity(key, partner, 5);
  expect(await verifyIdentity(key, token)).toEqual(partner);
  vi.setSystemTime(Date.now() + 6_000);
  await expect(verifyIdentity(key, token)).rejects.toBeInstanceOf(IdentityError);
});

test("the cache is per key: an assertion verified under one key is refused under another", async () => {
  const token = await signIdentity(key, partner);
  await verifyIdentity(key, token);
  await expect(verifyIdentity(other, token)).rejects.toBeInstanceOf(IdentityError);
});

test("a tampered assertion is refused", async () => {
  const token = await signIdentity(key, partner);
  await verifyIdentity(key, token);
  const [h, p, s] = token.split(".");
  const forged = JSON.parse(Buffer.from(p!, "base64url").toString());
  forged.role = "ADMIN";
  await expect(verifyIdentity(key, `${h}.${Buffer.from(JSON.stringify(forged)).toString("base64url")}.${s}`)).rejects.toBeInstanceOf(IdentityError);
});

test("the service identity is signed once and reused while fresh", async () => {
  const a = await serviceIdentity(key, "service:relay");
  expect(await serviceIdentity(key, "service:relay")).toBe(a);
  expect(await verifyIdentity(key, a)).toEqual({ sub: "service:relay", role: "SERVICE" });
  expect(await serviceIdentity(key, "service:other")).not.toBe(a);
});

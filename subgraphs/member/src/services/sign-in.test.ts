import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { passwordHashCount } from "../../../../lib/password.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { newPartnerId } from "../testing/harness.ts";
import { enrollMember } from "./members.ts";
import { activate, createGrant, issueActivationCode, rotateRefreshToken, issueRefreshToken, signIn } from "./sign-in.ts";

let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

test("activation codes: the enrolling partner until the member has a password, an admin always; a code works once; nothing is stored in clear", async () => {
  const shop = newPartnerId();
  const other = newPartnerId();
  const { member } = await enrollMember(partnerPrincipal(shop), { email: "act@example.com", externalRef: "A-1" });
  await expect(issueActivationCode(partnerPrincipal(other), member.id)).rejects.toMatchObject({ extensions: { code: "NOT_FOUND" } });
  const { code } = await issueActivationCode(partnerPrincipal(shop), member.id);
  expect(await activate("act@example.com", code, "short")).toMatchObject({ ok: false, error: "bad_password" });
  expect(await activate("act@example.com", code.toLowerCase().replace(/-/g, " "), "a-good-password-1")).toMatchObject({ ok: true });
  expect(await activate("act@example.com", code, "another-password-2")).toMatchObject({ ok: false, error: "invalid" });
  const row = await prisma().memberCredential.findUniqueOrThrow({ where: { memberId: member.id } });
  expect(row.passwordHash).toMatch(/^scrypt\$/);
  expect(row.passwordHash).not.toContain("a-good-password-1");
  // A partner must never be able to take over an account the member already uses.
  await expect(issueActivationCode(partnerPrincipal(shop), member.id)).rejects.toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
  const reset = await issueActivationCode(adminPrincipal(), member.id);
  expect(await activate(member.id, reset.code, "reset-password-3")).toMatchObject({ ok: true });
  expect(await signIn("ACT@example.com", "reset-password-3")).toMatchObject({ ok: true, value: { memberId: member.id } });
});

test("during the delay no hash runs; after it the right password works (no lock)", async () => {
  const shop = newPartnerId();
  const { member } = await enrollMember(partnerPrincipal(shop), { email: "delay@example.com", externalRef: "D-1" });
  const { code } = await issueActivationCode(adminPrincipal(), member.id);
  await activate("delay@example.com", code, "the-right-password");
  let now = new Date("2030-01-01T00:00:00Z");
  const before = passwordHashCount();
  for (let i = 0; i < 200; i++) await signIn("delay@example.com", `wrong-${i}`, now);
  expect(passwordHashCount() - before).toBe(1); // the first guess claimed the account; the rest waited
  const r = await signIn("delay@example.com", "the-right-password", now);
  expect(r).toMatchObject({ ok: false, error: "throttled" });
  now = new Date(now.getTime() + (r.ok ? 0 : r.retryAfterMs!) + 1);
  expect(await signIn("delay@example.com", "the-right-password", now)).toMatchObject({ ok: true });
});

test("a rotated refresh token presented again revokes the grant", async () => {
  const shop = newPartnerId();
  const { member } = await enrollMember(partnerPrincipal(shop), { email: "rt@example.com", externalRef: "R-1" });
  const { code } = await issueActivationCode(adminPrincipal(), member.id);
  await activate("rt@example.com", code, "refresh-password-1");
  const grant = await createGrant({ memberId: member.id, kind: "SESSION", clientId: "hub-member-app", partnerId: null, appName: "Hub", scopes: ["member"], redeemDailyLimit: null });
  const first = await issueRefreshToken(grant.id);
  const second = await rotateRefreshToken(first, "hub-member-app");
  expect(second.ok).toBe(true);
  expect(await rotateRefreshToken(first, "other-client")).toMatchObject({ ok: false });
  expect(await rotateRefreshToken(first, "hub-member-app")).toMatchObject({ ok: false });
  expect((await prisma().appGrant.findUniqueOrThrow({ where: { id: grant.id } })).revokedReason).toBe("REFRESH_REUSE");
  expect(await rotateRefreshToken(second.ok ? second.refreshToken : "", "hub-member-app")).toMatchObject({ ok: false });
});

import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, memberPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { newPartnerId } from "../testing/harness.ts";
import { enrollMember, enrollMembers } from "./members.ts";

let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

test("bulk enrolment applies enrollMember's rules row by row; bad rows change nothing, the rest go through", async () => {
  const shop = newPartnerId();
  const hotel = newPartnerId();
  const existing = (await enrollMember(partnerPrincipal(hotel), { email: "known@example.com", externalRef: "H-1", displayName: "Known" })).member;
  await enrollMember(partnerPrincipal(shop), { email: "taken@example.com", externalRef: "S-TAKEN" });
  const rows = [
    { email: "a@example.com", externalRef: "S-A" }, // 0 new
    { email: "KNOWN@example.com", externalRef: "S-K", displayName: "ignored" }, // 1 existing member: a link request, pending
    { email: "a@example.com", externalRef: "S-A" }, // 2 same row again: the same member, not created twice
    { email: "a@example.com", externalRef: "S-A2" }, // 3 same member under another ref: refused
    { email: "b@example.com", externalRef: "S-TAKEN" }, // 4 ref of another member: refused
    { email: "not an email", externalRef: "S-X" }, // 5 invalid
    { email: "c@example.com" }, // 6 partner without ref: refused
    { email: "d@example.com", externalRef: "S-D", joinedAt: new Date("2026-05-01T00:00:00Z") }, // 7 back-dated
  ];
  const r = await enrollMembers(partnerPrincipal(shop), rows);
  const summary = r.map((x) => ("error" in x ? `${x.index}:${x.error.field}` : `${x.index}:${x.created ? "created" : "linked"}`));
  expect(summary).toEqual(["0:created", "1:email", "2:linked", "3:externalRef", "4:externalRef", "5:email", "6:externalRef", "7:created"]);
  expect(r[1]).toMatchObject({ error: { linkPending: true } });
  const ok = r.filter((x) => !("error" in x)) as Extract<(typeof r)[number], { member: unknown }>[];
  expect(ok[0]!.member.id).toBe(ok[1]!.member.id);
  expect(ok[2]!.member.joinedAt.toISOString()).toBe("2026-05-01T00:00:00.000Z");
  const request = await prisma().linkedAccount.findUniqueOrThrow({ where: { memberId_partnerId: { memberId: existing.id, partnerId: shop } } });
  expect(request).toMatchObject({ externalRef: "S-K", confirmedAt: null });
  // What the rows say is what the database holds, events included.
  const a = await prisma().member.findUniqueOrThrow({ where: { email: "a@example.com" }, include: { linkedAccounts: true } });
  expect(a.linkedAccounts.map((l) => [l.partnerId, l.externalRef])).toEqual([[shop, "S-A"]]);
  expect((await prisma().member.findUniqueOrThrow({ where: { id: existing.id } })).displayName).toBe("Known");
  expect(await prisma().member.count({ where: { email: { in: ["b@example.com", "c@example.com"] } } })).toBe(0);
  const events = await prisma().memberOutboxEvent.findMany({ where: { payload: { path: ["partnerId"], equals: shop } } });
  const enrolled = events
    .filter((e) => e.type === "member.enrolled")
    .map((e) => (e.payload as { email: string }).email)
    .sort();
  expect(enrolled).toEqual(["a@example.com", "d@example.com", "taken@example.com"]);
  expect(events.filter((e) => e.type === "member.linked")).toHaveLength(3); // taken, a, d
  expect(events.filter((e) => e.type === "member.link_requested").map((e) => (e.payload as { memberId: string }).memberId)).toEqual([existing.id]);
});

test("admins enrol in bulk without links; members may not", async () => {
  const r = await enrollMembers(adminPrincipal(), [{ email: "adm1@example.com" }, { email: "adm1@example.com" }, { email: "adm2@example.com", externalRef: "X" }]);
  expect(r.map((x) => ("error" in x ? x.error.field : "ok"))).toEqual(["ok", "email", "externalRef"]);
  await expect(enrollMembers(memberPrincipal(crypto.randomUUID()), [{ email: "m@example.com" }])).rejects.toMatchObject({ extensions: { code: "FORBIDDEN" } });
});

test("500 members in one call (the demo seed's path) take a few statements per chunk", async () => {
  const shop = newPartnerId();
  const rows = Array.from({ length: 500 }, (_, i) => ({ email: `bulk${i}@example.com`, externalRef: `B-${i}`, displayName: `Bulk ${i}` }));
  const t0 = performance.now();
  const r = await enrollMembers(partnerPrincipal(shop), rows);
  const ms = performance.now() - t0;
  expect(r.every((x) => !("error" in x) && x.created)).toBe(true);
  expect(await prisma().linkedAccount.count({ where: { partnerId: shop } })).toBe(500);
  expect(ms).toBeLessThan(15_000);
});

test("concurrent enrolments of one email at several partners make one member, one active link and one request per other partner; concurrent revocations emit one event", async () => {
  const partners = Array.from({ length: 6 }, newPartnerId);
  const results = (
    await Promise.all(
      partners.flatMap((p, i) => [enrollMembers(partnerPrincipal(p), [{ email: "race@example.com", externalRef: `R-${i}` }]), enrollMembers(partnerPrincipal(p), [{ email: "Race@Example.com", externalRef: `R-${i}` }])]),
    )
  ).flat();
  const ok = results.filter((r) => !("error" in r)) as Extract<(typeof results)[number], { member: unknown }>[];
  expect(results.filter((r) => "error" in r && !r.error.linkPending)).toEqual([]);
  const ids = new Set(ok.map((r) => r.member.id));
  expect(ids.size).toBe(1);
  const [memberId] = [...ids];
  const links = await prisma().linkedAccount.findMany({ where: { memberId } });
  expect(links).toHaveLength(6);
  expect(links.filter((l) => l.confirmedAt)).toHaveLength(1);
  expect(await prisma().memberOutboxEvent.count({ where: { type: "member.enrolled", payload: { path: ["memberId"], equals: memberId! } } })).toBe(1);
  expect(await prisma().memberOutboxEvent.count({ where: { type: "member.linked", payload: { path: ["memberId"], equals: memberId! } } })).toBe(1);
  expect(await prisma().memberOutboxEvent.count({ where: { type: "member.link_requested", payload: { path: ["memberId"], equals: memberId! } } })).toBe(5);
  const winner = links.find((l) => l.confirmedAt)!.partnerId;

  const { grantConsent, revokeConsent } = await import("./consents.ts");
  const c = await grantConsent(memberPrincipal(memberId!), { partnerId: winner, categories: ["TIER"], purpose: "ANALYTICS", noticeVersion: "v1" });
  const revoked = await Promise.all(Array.from({ length: 8 }, () => revokeConsent(memberPrincipal(memberId!), c.id)));
  expect(new Set(revoked.map((r) => r.revokedAt?.toISOString())).size).toBe(1);
  expect(await prisma().memberOutboxEvent.count({ where: { type: "member.consent_revoked", payload: { path: ["consentId"], equals: c.id } } })).toBe(1);
});

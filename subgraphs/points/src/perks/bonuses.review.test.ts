import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase, onPostgres } from "../../../../tests/support/db.ts";
import { partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { lotExpiry } from "../config.ts";
import { prisma, usePrisma } from "../db.ts";
import { awardPoints } from "../earning/award.ts";
import { awardPointsBatch } from "../earning/bulk.ts";
import { classicProgram } from "../program/model.ts";
import { applyEvents, registered } from "../testing/harness.ts";
import "../testing/verify-after-each.ts";

// Review of b52dcd9 (set-based program bonuses through postCredits): the ledger rules of a
// PROGRAM_BONUS credit in a batch, and a deterministic interleaving of a group-committed earn
// (bulk path) that has paid the welcome bonus but not committed yet with a single earn of the same
// member (real PostgreSQL locks, no sleeps deciding the outcome).

let db: Database;
const shop = randomUUID();
const P = partnerPrincipal(shop);
const PROGRAM = {
  ...classicProgram(),
  bonuses: { welcome: { points: 200, windowMonths: 3, trigger: "FIRST_PURCHASE" }, birthday: { kind: "MULTIPLIER", points: null, multiplier: "2", consentCategory: "PROFILE_BASIC" } },
};
const now = new Date(Date.UTC(2030, 2, 10, 12)); // March 2030

beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
  await applyEvents(registered(shop));
  await prisma().$executeRaw`
    INSERT INTO "points"."ProgramVersion" (id, version, "effectiveFrom", document, "createdBy") VALUES (${randomUUID()}::uuid, 2, ${new Date("2030-01-01T00:00:00Z")}, ${JSON.stringify(PROGRAM)}::jsonb, 'test')`;
});
afterAll(() => db?.close());

const enrol = async (m: string, birthMonth: number | null) => {
  await applyEvents({ type: "member.enrolled", payload: { memberId: m, joinedAt: "2030-03-01T00:00:00.000Z", partnerId: shop } });
  if (birthMonth) await applyEvents({ type: "member.consent_granted", payload: { consentId: randomUUID(), memberId: m, partnerId: shop, purpose: "ACCOUNT_SERVICING", categories: ["PROFILE_BASIC"], birthMonth } });
};
const programBonusBalance = async () => (await prisma().ledgerAccount.findUnique({ where: { code: "program-bonus" } }))?.balance ?? 0n;

test("a batch with several earns of one member, the welcome and per-earn birthday bonuses: balanceAfter follows the member's last earn, lots, lifetimeEarned, program-bonus once", async () => {
  const m = randomUUID();
  await enrol(m, 3);
  const before = await programBonusBalance();
  const r = await awardPointsBatch(
    P,
    [10, 20, 3].map((a, k) => ({ memberId: m, purchaseAmount: String(a), idempotencyKey: `${m}:${k}` })),
    { now },
  );
  expect(r.rejected).toEqual([]);
  const txs = await prisma().ledgerTransaction.findMany({ where: { memberId: m }, include: { postings: true } });
  const earns = txs.filter((t) => t.kind === "EARN");
  const bonuses = txs.filter((t) => t.kind === "PROGRAM_BONUS");
  const earned = earns.reduce((s, t) => s + Number(t.memberPoints), 0);
  const lastEarn = Math.max(...earns.map((t) => Number(t.balanceAfter)));
  expect(lastEarn).toBe(earned);
  // Welcome 200 + birthday extra = each earn's points × (2 − 1).
  expect(bonuses.map((b) => Number(b.memberPoints)).sort((a, b) => a - b)).toEqual([...earns.map((e) => Number(e.memberPoints)), 200].sort((a, b) => a - b));
  // Bonuses come after every earn of the batch: their balanceAfter values are lastEarn + a running sum, ending at the wallet's balance.
  const total = earned + bonuses.reduce((s, t) => s + Number(t.memberPoints), 0);
  expect(Math.max(...bonuses.map((b) => Number(b.balanceAfter)))).toBe(total);
  expect(Math.min(...bonuses.map((b) => Number(b.balanceAfter!) - Number(b.memberPoints)))).toBe(lastEarn);
  for (const t of txs) expect(t.postings.reduce((s, p) => s + Number(p.amount), 0)).toBe(0);
  const wallet = await prisma().ledgerAccount.findUnique({ where: { code: `wallet:${m}` } });
  expect(wallet).toMatchObject({ balance: BigInt(total), lifetimeEarned: BigInt(total) });
  expect(await programBonusBalance()).toBe(before - BigInt(total - earned));
  const lots = await prisma().lot.findMany({ where: { sourceTransactionId: { in: bonuses.map((b) => b.id) } } });
  expect(lots.map((l) => [l.issuerPartnerId, l.expiresAt?.getTime() ?? null])).toEqual(bonuses.map(() => [null, lotExpiry(now)?.getTime() ?? null]));
});

// Two connections racing: PostgreSQL only (PGlite has one connection, so the racing earn would wait
// for a transaction that waits for it). `.ci/run` runs it on PostgreSQL.
test.runIf(onPostgres())("PostgreSQL: a batch that paid the welcome bonus holds the wallet until commit: a concurrent single earn of the member waits, then pays no second welcome", async () => {
  const m = randomUUID();
  await enrol(m, null);
  // A blocker holds the program-bonus row: the batch stops at its last statement (applyDeferred),
  // after its BonusGrant insert and its PROGRAM_BONUS credit, wallet locked, not committed.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const blocker = prisma().$transaction(
    async (tx) => {
      await tx.$queryRaw`SELECT id FROM "points"."LedgerAccount" WHERE code = 'program-bonus' FOR UPDATE`;
      locked();
      await gate;
    },
    { timeout: 60_000 },
  );
  await isLocked;
  const waiting = async () => Number((await prisma().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)[0]!.n);
  const until = async (n: number) => {
    for (let i = 0; i < 400 && (await waiting()) < n; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await waiting()).toBeGreaterThanOrEqual(n);
  };
  const batch = awardPointsBatch(P, [{ memberId: m, purchaseAmount: "10", idempotencyKey: `${m}:batch` }], { now });
  await until(1); // the batch waits on the program-bonus row
  const single = awardPoints(P, { memberId: m, purchaseAmount: "5", idempotencyKey: `${m}:single` }, { now });
  await until(2); // the single earn waits on the wallet the batch holds
  release();
  await blocker;
  const [b, s] = await Promise.all([batch, single]);
  expect(b.rejected).toEqual([]);
  expect(Number(s.balanceAfter)).toBe(215); // 10 + 200 (welcome, paid by the batch) + 5
  const welcomes = await prisma().ledgerTransaction.count({ where: { memberId: m, kind: "PROGRAM_BONUS" } });
  expect(welcomes).toBe(1);
});

test("birthday bonus only under an active, unexpired receipt of the member for the earning partner covering the program's category", async () => {
  const other = randomUUID();
  await applyEvents(registered(other));
  const grant = (m: string, o: { partnerId?: string; expiresAt?: string; categories?: string[]; consentId?: string }) =>
    applyEvents({
      type: "member.consent_granted",
      payload: {
        consentId: o.consentId ?? randomUUID(),
        memberId: m,
        partnerId: o.partnerId ?? shop,
        purpose: "ACCOUNT_SERVICING",
        categories: o.categories ?? ["PROFILE_BASIC"],
        birthMonth: 3,
        expiresAt: o.expiresAt ?? null,
      },
    });
  const birthdayPaid = async (m: string, at: Date) => {
    const r = await awardPointsBatch(P, [{ memberId: m, purchaseAmount: "10", idempotencyKey: `${m}:b` }], { now: at });
    expect(r.rejected).toEqual([]);
    return prisma().ledgerTransaction.count({ where: { memberId: m, kind: "PROGRAM_BONUS", idempotencyKey: { startsWith: "birthday" } } });
  };
  const cases: [string, (m: string) => Promise<void>, number][] = [
    ["valid receipt (control)", (m) => grant(m, {}), 1],
    ["receipt for another partner", (m) => grant(m, { partnerId: other }), 0],
    ["receipt expired before the earn", (m) => grant(m, { expiresAt: "2030-03-05T00:00:00.000Z" }), 0],
    [
      "receipt revoked",
      async (m) => {
        const consentId = randomUUID();
        await grant(m, { consentId });
        await applyEvents({ type: "member.consent_revoked", payload: { consentId, memberId: m, partnerId: shop, purpose: "ACCOUNT_SERVICING" } });
      },
      0,
    ],
    ["receipt without PROFILE_BASIC (no birth month kept)", (m) => grant(m, { categories: ["TIER", "ACTIVITY"] }), 0],
  ];
  for (const [name, setup, expected] of cases) {
    const m = randomUUID();
    await enrol(m, null);
    await setup(m);
    expect([name, await birthdayPaid(m, now)]).toEqual([name, expected]);
  }
  // A program whose birthday needs PROFILE_CONTACT: a PROFILE_BASIC-only receipt pays nothing; one covering both pays.
  await prisma().$executeRaw`
    INSERT INTO "points"."ProgramVersion" (id, version, "effectiveFrom", document, "createdBy") VALUES (${randomUUID()}::uuid, 3, ${new Date("2031-01-01T00:00:00Z")},
      ${JSON.stringify({ ...PROGRAM, bonuses: { welcome: null, birthday: { ...PROGRAM.bonuses.birthday, consentCategory: "PROFILE_CONTACT" } } })}::jsonb, 'test')`;
  const later = new Date(Date.UTC(2031, 2, 10, 12));
  const basicOnly = randomUUID();
  await enrol(basicOnly, null);
  await grant(basicOnly, {});
  expect(await birthdayPaid(basicOnly, later)).toBe(0);
  const both = randomUUID();
  await enrol(both, null);
  await grant(both, { categories: ["PROFILE_BASIC", "PROFILE_CONTACT"] });
  expect(await birthdayPaid(both, later)).toBe(1);
});

test("receipts naming different birth months (a changed birthday): the newest receipt's month counts", async () => {
  const m = randomUUID();
  await enrol(m, null);
  const grant = (birthMonth: number) =>
    applyEvents({ type: "member.consent_granted", payload: { consentId: randomUUID(), memberId: m, partnerId: shop, purpose: "ACCOUNT_SERVICING", categories: ["PROFILE_BASIC"], birthMonth } });
  await grant(2);
  await new Promise((r) => setTimeout(r, 20)); // the second receipt is recorded later (updatedAt)
  await grant(3);
  const birthdayBonuses = async (at: Date, key: string) => {
    const r = await awardPointsBatch(P, [{ memberId: m, purchaseAmount: "10", idempotencyKey: key }], { now: at });
    expect(r.rejected).toEqual([]);
    return prisma().ledgerTransaction.count({ where: { memberId: m, kind: "PROGRAM_BONUS", idempotencyKey: { startsWith: "birthday" } } });
  };
  expect(await birthdayBonuses(new Date(Date.UTC(2030, 1, 10, 12)), `${m}:feb`)).toBe(0); // February: the older receipt's month
  expect(await birthdayBonuses(now, `${m}:mar`)).toBe(1); // March: the newest receipt's month
});

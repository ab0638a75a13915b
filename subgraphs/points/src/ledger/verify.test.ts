import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, callSubgraph, memberPrincipal, partnerPrincipal, testInternalKey } from "../../../../tests/support/subgraph.ts";
import type { RunningSubgraph } from "../../../../lib/subgraph-server.ts";
import { startPointsSubgraph } from "../server.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled } from "../testing/harness.ts";
import { awardPoints } from "../earning/award.ts";
import { authorizeRedemption, captureHold, createRedemptionCode, redeemPoints } from "../redemption/redeem.ts";
import { type VerifyCheck, verifyLedger } from "./verify.ts";

// The verifier against a database corrupted on purpose: each test breaks one invariant around the
// triggers and constraints that normally hold it (session_replication_role = replica skips the
// append-only and balance triggers; a dropped CHECK or unique index lets a bad row in) and expects
// the verifier to name that invariant and the row's id. Each corruption touches its own rows, so
// the earlier tests' violations stay in the report and each test looks for its own.
let db: Database;
let subgraph: RunningSubgraph;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
  subgraph = await startPointsSubgraph({ prisma: db.client(), internalKey: testInternalKey });
});
afterAll(async () => {
  await subgraph?.close();
  await db?.close();
});

const VERIFY_QUERY = `{ ledgerVerification(maxViolations: 1000) { ok violationCount violations { check id detail } checks { check examined violations } startedAt finishedAt } }`;
type Verification = { ledgerVerification: { ok: boolean; violationCount: number; violations: { check: string; id: string; detail: string }[]; checks: { check: string; examined: number }[] } | null };

const shop = randomUUID();

async function member(points: number) {
  const m = randomUUID();
  await applyEvents(enrolled(m, shop));
  const earn = await awardPoints(partnerPrincipal(shop), { memberId: m, points, idempotencyKey: randomUUID() });
  const wallet = await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: `wallet:${m}` } });
  const lot = await prisma().lot.findFirstOrThrow({ where: { sourceTransactionId: earn.id } });
  return { m, earn, walletId: String(wallet.id), lotId: String(lot.id) };
}

/** Runs `sql` statements in one transaction with the ledger's triggers off (and FK checks). */
async function corrupt(...sql: string[]) {
  await prisma().$transaction(async (tx) => {
    await tx.$executeRawUnsafe(`SET LOCAL session_replication_role = replica`);
    for (const s of sql) await tx.$executeRawUnsafe(s);
  });
}

async function expectViolation(check: VerifyCheck, id: string) {
  const r = await verifyLedger(prisma(), { maxViolations: 10_000, pageSize: 7 });
  expect(r.ok).toBe(false);
  expect(r.violations.filter((v) => v.id === id).map((v) => v.check)).toContain(check);
  expect(r.checks.find((c) => c.check === check)?.violations).toBeGreaterThan(0);
  return r;
}

describe("ledger verifier", () => {
  test("a sound ledger (earns, a redemption, a captured hold, a pending hold) has no violations, over several pages", async () => {
    const a = await member(500);
    const code = await createRedemptionCode(memberPrincipal(a.m), { partnerId: shop, points: 120 });
    await redeemPoints(partnerPrincipal(shop), { redemptionCode: code.code, points: 120, idempotencyKey: randomUUID() });
    const code2 = await createRedemptionCode(memberPrincipal(a.m), { partnerId: shop, points: 100 });
    const hold = await authorizeRedemption(partnerPrincipal(shop), { redemptionCode: code2.code, points: 100, idempotencyKey: randomUUID() });
    await captureHold(partnerPrincipal(shop), hold.id, 60, randomUUID());
    const code3 = await createRedemptionCode(memberPrincipal(a.m), { partnerId: shop, points: 50 });
    await authorizeRedemption(partnerPrincipal(shop), { redemptionCode: code3.code, points: 50, idempotencyKey: randomUUID() });
    for (let i = 0; i < 5; i++) await member(10 + i);
    const r = await verifyLedger(prisma(), { pageSize: 3 }); // pages of 3 rows: every boundary is crossed
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.eventsChecked).toBe(true);
    expect(r.checks.find((c) => c.check === "TRANSACTION_UNBALANCED")?.examined).toBe(await prisma().ledgerTransaction.count());
    expect(r.checks.find((c) => c.check === "HOLD_STATE")?.examined).toBe(2);
  });

  test("GraphQL ledgerVerification: ADMIN gets the report; partners and members are FORBIDDEN", async () => {
    const ok = await callSubgraph<Verification>(subgraph.url, adminPrincipal(), VERIFY_QUERY);
    expect(ok.errors).toBeUndefined();
    expect(ok.data?.ledgerVerification).toMatchObject({ ok: true, violationCount: 0, violations: [] });
    expect(ok.data?.ledgerVerification?.checks.find((c) => c.check === "ACCOUNT_BALANCE")?.examined).toBeGreaterThan(0);
    for (const p of [partnerPrincipal(shop), memberPrincipal(randomUUID())]) {
      const r = await callSubgraph<Verification>(subgraph.url, p, VERIFY_QUERY);
      expect(r.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
      expect(r.data?.ledgerVerification ?? null).toBeNull();
    }
    const bad = await callSubgraph<Verification>(subgraph.url, adminPrincipal(), `{ ledgerVerification(maxViolations: 0) { ok } }`);
    expect(bad.errors?.map((e) => e.extensions?.code)).toEqual(["BAD_USER_INPUT"]);
  });

  test("an unbalanced transaction (one posting) is TRANSACTION_UNBALANCED with its id", async () => {
    await member(10);
    const id = randomUUID();
    await corrupt(
      `INSERT INTO "points"."LedgerTransaction" (id, kind, "idempotencyScope", "idempotencyKey", "requestHash", "createdBy") VALUES ('${id}', 'ADJUSTMENT', 'test', '${id}', 'h', 'test')`,
      `INSERT INTO "points"."Posting" ("transactionId", "accountId", amount) VALUES ('${id}', (SELECT id FROM "points"."LedgerAccount" WHERE code = 'issuance:${shop}'), 7)`,
    );
    await expectViolation("TRANSACTION_UNBALANCED", id);
    const r = await callSubgraph<Verification>(subgraph.url, adminPrincipal(), VERIFY_QUERY);
    expect(r.data?.ledgerVerification?.ok).toBe(false);
    expect(r.data?.ledgerVerification?.violations).toContainEqual({ check: "TRANSACTION_UNBALANCED", id, detail: "1 posting(s) summing to 7" });
  });

  test("a stored balance that is not the sum of its postings is ACCOUNT_BALANCE; on a wallet also WALLET_LOTS", async () => {
    const a = await member(10);
    await prisma().$executeRawUnsafe(`UPDATE "points"."LedgerAccount" SET balance = balance + 5 WHERE id = ${a.walletId}`);
    const r = await expectViolation("ACCOUNT_BALANCE", a.walletId);
    expect(r.violations.filter((v) => v.id === a.walletId).map((v) => v.check)).toContain("WALLET_LOTS");
  });

  test("a wallet below zero (CHECK dropped) is ACCOUNT_NEGATIVE", async () => {
    const a = await member(10);
    await prisma().$executeRawUnsafe(`ALTER TABLE "points"."LedgerAccount" DROP CONSTRAINT account_nonnegative`);
    await prisma().$executeRawUnsafe(`ALTER TABLE "points"."LedgerAccount" DROP CONSTRAINT account_held_within_balance`);
    await prisma().$executeRawUnsafe(`UPDATE "points"."LedgerAccount" SET balance = -3 WHERE id = ${a.walletId}`);
    await expectViolation("ACCOUNT_NEGATIVE", a.walletId);
  });

  test("held above the balance is ACCOUNT_HELD; held without pending holds is WALLET_HOLDS", async () => {
    const a = await member(10);
    await prisma().$executeRawUnsafe(`UPDATE "points"."LedgerAccount" SET held = 11 WHERE id = ${a.walletId}`);
    await expectViolation("ACCOUNT_HELD", a.walletId);
    const b = await member(10);
    await prisma().$executeRawUnsafe(`UPDATE "points"."LedgerAccount" SET held = 4 WHERE id = ${b.walletId}`);
    await expectViolation("WALLET_HOLDS", b.walletId);
  });

  test("an extra lot is WALLET_LOTS; a lost lot is TRANSACTION_LOTS of its earn", async () => {
    const a = await member(10);
    await prisma().$executeRawUnsafe(`INSERT INTO "points"."Lot" ("memberId", "sourceTransactionId", points, remaining, "earnedAt") VALUES ('${a.m}', '${randomUUID()}', 5, 5, now())`);
    await expectViolation("WALLET_LOTS", a.walletId);
    const b = await member(10);
    await prisma().$executeRawUnsafe(`DELETE FROM "points"."Lot" WHERE id = ${b.lotId}`);
    await expectViolation("TRANSACTION_LOTS", b.earn.id);
  });

  test("a lot consumed without its remaining going down is LOT_CONSUMPTION", async () => {
    const a = await member(10);
    await prisma().$executeRawUnsafe(`INSERT INTO "points"."LotConsumption" ("lotId", "transactionId", points) VALUES (${a.lotId}, '${randomUUID()}', 4)`);
    await expectViolation("LOT_CONSUMPTION", a.lotId);
  });

  test("memberPoints rewritten (append-only trigger off) is TRANSACTION_MEMBER_POINTS", async () => {
    const a = await member(10);
    await corrupt(`UPDATE "points"."LedgerTransaction" SET "memberPoints" = 11 WHERE id = '${a.earn.id}'`);
    await expectViolation("TRANSACTION_MEMBER_POINTS", a.earn.id);
  });

  test("a hold marked captured with no capture is HOLD_STATE; a second transaction for a captured hold is HOLD_POSTINGS", async () => {
    const a = await member(100);
    const code = await createRedemptionCode(memberPrincipal(a.m), { partnerId: shop, points: 30 });
    const hold = await authorizeRedemption(partnerPrincipal(shop), { redemptionCode: code.code, points: 30, idempotencyKey: randomUUID() });
    await prisma().$executeRawUnsafe(`UPDATE "points"."Hold" SET status = 'CAPTURED', "capturedPoints" = 30, "resolvedAt" = now() WHERE id = '${hold.id}'`);
    await prisma().$executeRawUnsafe(`UPDATE "points"."LedgerAccount" SET held = 0 WHERE id = ${a.walletId}`);
    await expectViolation("HOLD_STATE", hold.id);

    const b = await member(100);
    const code2 = await createRedemptionCode(memberPrincipal(b.m), { partnerId: shop, points: 30 });
    const hold2 = await authorizeRedemption(partnerPrincipal(shop), { redemptionCode: code2.code, points: 30, idempotencyKey: randomUUID() });
    await captureHold(partnerPrincipal(shop), hold2.id, null, randomUUID());
    const again = randomUUID();
    await corrupt(
      `INSERT INTO "points"."LedgerTransaction" (id, kind, "memberId", "partnerId", "holdId", "idempotencyScope", "idempotencyKey", "requestHash", "createdBy")
       VALUES ('${again}', 'ADJUSTMENT', NULL, '${shop}', '${hold2.id}', 'test', '${again}', 'h', 'test')`,
      `INSERT INTO "points"."Posting" ("transactionId", "accountId", amount)
       SELECT '${again}', id, CASE WHEN code = 'breakage' THEN 1 ELSE -1 END FROM "points"."LedgerAccount" WHERE code IN ('breakage', 'issuance:${shop}')`,
      `INSERT INTO "points"."LedgerAccount" (kind, code) VALUES ('BREAKAGE', 'breakage') ON CONFLICT DO NOTHING`,
    );
    await expectViolation("HOLD_POSTINGS", again);
  });

  test("two holds under one idempotency key (unique index dropped) are IDEMPOTENCY_DUPLICATE named scope/key", async () => {
    const a = await member(100);
    const code = await createRedemptionCode(memberPrincipal(a.m), { partnerId: shop, points: 30 });
    const key = randomUUID();
    const hold = await authorizeRedemption(partnerPrincipal(shop), { redemptionCode: code.code, points: 30, idempotencyKey: key });
    await prisma().$executeRawUnsafe(`DROP INDEX "points"."Hold_idempotencyScope_idempotencyKey_key"`);
    await prisma().$executeRawUnsafe(
      `INSERT INTO "points"."Hold" (id, "memberId", "partnerId", points, status, "expiresAt", "resolvedAt", "createdBy", "idempotencyScope", "idempotencyKey", "requestHash")
       SELECT gen_random_uuid(), "memberId", "partnerId", points, 'VOIDED', "expiresAt", now(), "createdBy", "idempotencyScope", "idempotencyKey", "requestHash" FROM "points"."Hold" WHERE id = '${hold.id}'`,
    );
    await expectViolation("IDEMPOTENCY_DUPLICATE", `partner:${shop}/${key}`);
  });

  test("approved runs that overlap, a broken chain and an unbalanced run are named by run id", async () => {
    const run = (id: string, start: string, end: string, wm: number, margin = 0, prevEnd: string | null = null, prevWm: number | null = null) =>
      prisma().$executeRawUnsafe(
        `INSERT INTO "points"."SettlementRun" (id, "periodStart", "periodEnd", status, currency, "watermarkPostingId", "prevPeriodEnd", "prevWatermarkPostingId", "operatorMargin", "createdBy", "computedAt", "approvedAt")
         VALUES ('${id}', '${start}', '${end}', 'APPROVED', 'CNY', ${wm}, ${prevEnd ? `'${prevEnd}'` : "NULL"}, ${prevWm ?? "NULL"}, ${margin}, 'test', now(), now())`,
      );
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await run(a, "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", 10);
    await run(b, "2026-01-15T00:00:00Z", "2026-03-01T00:00:00Z", 20, 0, "2026-02-01T00:00:00Z", 10); // starts inside a
    await run(c, "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", 30, 5, "2026-02-01T00:00:00Z", 10); // records a, not b; margin without statements
    await expectViolation("SETTLEMENT_OVERLAP", b);
    await expectViolation("SETTLEMENT_CHAIN", c);
    await expectViolation("SETTLEMENT_UNBALANCED", c);
  });

  test("a delivered event missing from a consumer's inbox, an unknown inbox entry and a double inbox entry are named by event id", async () => {
    const lost = randomUUID();
    await prisma().$executeRawUnsafe(`INSERT INTO "points"."OutboxEvent" (id, type, payload, "deliveredAt") VALUES ('${lost}', 'points.tier_changed', '{}', now())`);
    await expectViolation("EVENT_NOT_APPLIED", lost);
    const stray = randomUUID();
    await prisma().$executeRawUnsafe(`INSERT INTO "partner"."InboxEvent" ("eventId", type) VALUES ('${stray}', 'points.activity')`);
    await expectViolation("EVENT_UNKNOWN", stray);
    await prisma().$executeRawUnsafe(`ALTER TABLE "member"."InboxEvent" DROP CONSTRAINT "InboxEvent_pkey"`);
    const twice = randomUUID();
    await prisma().$executeRawUnsafe(`INSERT INTO "member"."InboxEvent" ("eventId", type) VALUES ('${twice}', 'points.activity'), ('${twice}', 'points.activity')`);
    await expectViolation("EVENT_APPLIED_TWICE", twice);
  });
});

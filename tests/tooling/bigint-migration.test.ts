import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, expect, test } from "vitest";

// The 64-bit amounts migration (issue 14 §2) on a database that already holds data at int4's limits —
// the state of the defect: a partner's issuance account stuck at the bottom of int4. The migrations before
// it are applied, data is written, then it and every later migration run; values are kept exactly,
// the columns are int8, amounts beyond 2^31 are accepted, and the ledger's triggers and CHECKs still hold.
const MIGRATION = "20261202002100_bigint_amounts";
const dir = "prisma/migrations";
const all = readdirSync(dir)
  .filter((d) => /^\d{14}_/.test(d))
  .sort();
const sql = (d: string) => readFileSync(path.join(dir, d, "migration.sql"), "utf8");

let db: PGlite;
const partnerId = randomUUID();
const memberId = randomUUID();
const txId = randomUUID();
beforeAll(async () => {
  db = new PGlite();
  for (const d of all.filter((d) => d < MIGRATION)) await db.exec(sql(d));
  // Existing data: an issuance account and a wallet at ∓(2^31 − 1) from one balanced transaction of
  // ±2,147,483,647, a lot at the int4 maximum, a month of 2,147,483,647 earned points.
  await db.exec(`
    BEGIN;
    INSERT INTO "points"."LedgerAccount" (kind, code, "partnerId", balance) VALUES ('PARTNER_ISSUANCE', 'issuance:${partnerId}', '${partnerId}', -2147483647);
    INSERT INTO "points"."LedgerAccount" (kind, code, "memberId", balance, "lifetimeEarned") VALUES ('MEMBER_WALLET', 'wallet:${memberId}', '${memberId}', 2147483647, 2147483647);
    INSERT INTO "points"."LedgerTransaction" (id, kind, "memberId", "partnerId", "memberPoints", "balanceAfter", "idempotencyScope", "idempotencyKey", "requestHash", "createdBy")
      VALUES ('${txId}', 'EARN', '${memberId}', '${partnerId}', 2147483647, 2147483647, 'partner:${partnerId}', 'k1', 'h', 'test');
    INSERT INTO "points"."Posting" ("transactionId", "accountId", amount)
      SELECT '${txId}', id, CASE kind WHEN 'MEMBER_WALLET' THEN 2147483647 ELSE -2147483647 END FROM "points"."LedgerAccount";
    INSERT INTO "points"."Lot" ("memberId", "issuerPartnerId", "sourceTransactionId", points, remaining, "earnedAt") VALUES ('${memberId}', '${partnerId}', '${txId}', 2147483647, 2147483647, now());
    INSERT INTO "member"."Member" (id, email) VALUES ('${memberId}', 'm@example.com');
    INSERT INTO "member"."MemberActivityMonth" ("memberId", month, "activityCount", "earnedPoints") VALUES ('${memberId}', '2026-11-01', 1, 2147483647);
    COMMIT;`);
  // The defect itself, before the migration: the stuck account cannot take one more point.
  await expect(db.exec(`UPDATE "points"."LedgerAccount" SET balance = balance - 2 WHERE code = 'issuance:${partnerId}'`)).rejects.toThrow(/out of range/);
  for (const d of all.filter((d) => d >= MIGRATION)) await db.exec(sql(d));
}, 120_000);
afterAll(() => db?.close());

test("every amount column is int8 and existing values are kept exactly", async () => {
  const types = await db.query<{ col: string; data_type: string }>(`
    SELECT table_schema || '.' || table_name || '.' || column_name AS col, data_type FROM information_schema.columns
    WHERE (table_schema, table_name, column_name) IN (
      ('points', 'LedgerAccount', 'balance'), ('points', 'LedgerAccount', 'held'), ('points', 'LedgerAccount', 'lifetimeEarned'),
      ('points', 'LedgerTransaction', 'memberPoints'), ('points', 'LedgerTransaction', 'balanceAfter'), ('points', 'Posting', 'amount'),
      ('points', 'Lot', 'points'), ('points', 'Lot', 'remaining'), ('points', 'LotConsumption', 'points'), ('member', 'MemberActivityMonth', 'earnedPoints'))
    ORDER BY 1`);
  expect(types.rows).toHaveLength(10);
  expect(new Set(types.rows.map((r) => r.data_type))).toEqual(new Set(["bigint"]));
  const accounts = await db.query<{ code: string; balance: string; lifetime: string }>(`SELECT code, balance::text AS balance, "lifetimeEarned"::text AS lifetime FROM "points"."LedgerAccount" ORDER BY kind`);
  expect(accounts.rows).toEqual([
    { code: `wallet:${memberId}`, balance: "2147483647", lifetime: "2147483647" },
    { code: `issuance:${partnerId}`, balance: "-2147483647", lifetime: "0" },
  ]);
  const month = await db.query<{ e: string }>(`SELECT "earnedPoints"::text AS e FROM "member"."MemberActivityMonth"`);
  expect(month.rows).toEqual([{ e: "2147483647" }]);
});

test("after it: the stuck account moves past -2^31, a transaction of ±3,000,000,000 posts; the invariants still refuse what they refused", async () => {
  await db.exec(`UPDATE "points"."LedgerAccount" SET balance = balance - 3000000000 WHERE code = 'issuance:${partnerId}'`);
  await db.exec(`UPDATE "points"."LedgerAccount" SET balance = balance + 3000000000, "lifetimeEarned" = "lifetimeEarned" + 3000000000 WHERE code = 'wallet:${memberId}'`);
  const t2 = randomUUID();
  await db.exec(`
    BEGIN;
    INSERT INTO "points"."LedgerTransaction" (id, kind, "memberId", "partnerId", "memberPoints", "balanceAfter", "idempotencyScope", "idempotencyKey", "requestHash", "createdBy")
      VALUES ('${t2}', 'EARN', '${memberId}', '${partnerId}', 3000000000, 5147483647, 'partner:${partnerId}', 'k2', 'h', 'test');
    INSERT INTO "points"."Posting" ("transactionId", "accountId", amount)
      SELECT '${t2}', id, CASE kind WHEN 'MEMBER_WALLET' THEN 3000000000 ELSE -3000000000 END FROM "points"."LedgerAccount";
    COMMIT;`);
  const sums = await db.query<{ code: string; balance: string; postings: string }>(`
    SELECT a.code, a.balance::text AS balance, (SELECT sum(amount) FROM "points"."Posting" p WHERE p."accountId" = a.id)::text AS postings
    FROM "points"."LedgerAccount" a ORDER BY kind`);
  expect(sums.rows).toEqual([
    { code: `wallet:${memberId}`, balance: "5147483647", postings: "5147483647" },
    { code: `issuance:${partnerId}`, balance: "-5147483647", postings: "-5147483647" },
  ]);
  // The recreated balance check refuses an unbalanced transaction of amounts beyond int4 at commit.
  const t3 = randomUUID();
  await expect(
    db.exec(`
      BEGIN;
      INSERT INTO "points"."LedgerTransaction" (id, kind, "idempotencyScope", "idempotencyKey", "requestHash", "createdBy") VALUES ('${t3}', 'ADJUSTMENT', 's', 'k3', 'h', 't');
      INSERT INTO "points"."Posting" ("transactionId", "accountId", amount) SELECT '${t3}', id, 4000000000 FROM "points"."LedgerAccount";
      COMMIT;`),
  ).rejects.toThrow(/does not balance/);
  await db.exec("ROLLBACK").catch(() => undefined);
  // Append-only and the CHECKs survive the type change.
  await expect(db.exec(`UPDATE "points"."Posting" SET amount = amount + 1`)).rejects.toThrow(/append-only/);
  await expect(db.exec(`UPDATE "points"."LedgerAccount" SET balance = -1 WHERE code = 'wallet:${memberId}'`)).rejects.toThrow(/account_nonnegative|account_held_within_balance/);
  await expect(db.exec(`UPDATE "points"."Lot" SET remaining = points + 1`)).rejects.toThrow(/lot_remaining_range/);
  // int8's own limit is an error, not a wrap.
  await expect(db.exec(`UPDATE "points"."LedgerAccount" SET balance = balance + 9223372036854775807 WHERE code = 'wallet:${memberId}'`)).rejects.toThrow(/out of range/);
});

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { prisma, usePrisma } from "../db.ts";
import { ADJUSTMENTS, BREAKAGE, idempotentTransaction, issuanceCode, type PostInput, post, redemptionCode, requestHash, walletCode } from "./ledger.ts";

let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const earn = (memberId: string, partnerId: string, points: number, key: string = randomUUID()) =>
  idempotentTransaction({ scope: `partner:${partnerId}`, key, requestHash: requestHash({ memberId, points }) }, (tx) =>
    post(tx, {
      kind: "EARN",
      memberId,
      partnerId,
      postings: [
        { accountCode: walletCode(memberId), amount: points },
        { accountCode: issuanceCode(partnerId), amount: -points },
      ],
      idempotency: { scope: `partner:${partnerId}`, key, requestHash: requestHash({ memberId, points }) },
      createdBy: "test",
    }),
  );

describe("ledger core", () => {
  test("earn then redeem: balances, lots, balanceAfter; overdraft refused", async () => {
    const m = randomUUID();
    const p = randomUUID();
    const t1 = await earn(m, p, 500);
    expect(t1.balanceAfter).toBe(500n);
    const t2 = await prisma().$transaction((tx) =>
      post(tx, {
        kind: "REDEEM",
        memberId: m,
        partnerId: p,
        postings: [
          { accountCode: walletCode(m), amount: -200 },
          { accountCode: redemptionCode(p), amount: 200 },
        ],
        idempotency: { scope: "t", key: randomUUID(), requestHash: "x" },
        createdBy: "test",
      }),
    );
    expect(t2.balanceAfter).toBe(300n);
    await expect(
      prisma().$transaction((tx) =>
        post(tx, {
          kind: "REDEEM",
          memberId: m,
          partnerId: p,
          postings: [
            { accountCode: walletCode(m), amount: -301 },
            { accountCode: redemptionCode(p), amount: 301 },
          ],
          idempotency: { scope: "t", key: randomUUID(), requestHash: "x" },
          createdBy: "test",
        }),
      ),
    ).rejects.toMatchObject({ extensions: { code: "INSUFFICIENT_POINTS" } });
    const lots = await prisma().lot.findMany({ where: { memberId: m } });
    expect(lots.map((l) => l.remaining)).toEqual([300n]);
  });

  test("idempotent replay returns the original; another body is IDEMPOTENCY_CONFLICT", async () => {
    const m = randomUUID();
    const p = randomUUID();
    const a = await earn(m, p, 100, "k1");
    const b = await earn(m, p, 100, "k1");
    expect(b.id).toBe(a.id);
    await expect(earn(m, p, 101, "k1")).rejects.toMatchObject({ extensions: { code: "IDEMPOTENCY_CONFLICT" } });
  });

  test("append-only: UPDATE and DELETE of postings and transactions are refused; unbalanced postings refused at commit", async () => {
    const m = randomUUID();
    const t = await earn(m, randomUUID(), 10);
    await expect(prisma().$executeRawUnsafe(`UPDATE "points"."Posting" SET amount = 11 WHERE "transactionId" = '${t.id}'`)).rejects.toThrow(/append-only/);
    await expect(prisma().$executeRawUnsafe(`DELETE FROM "points"."Posting" WHERE "transactionId" = '${t.id}'`)).rejects.toThrow(/append-only/);
    await expect(prisma().$executeRawUnsafe(`UPDATE "points"."LedgerTransaction" SET reason = 'x' WHERE id = '${t.id}'`)).rejects.toThrow(/append-only/);
    await expect(prisma().$executeRawUnsafe(`DELETE FROM "points"."LedgerTransaction" WHERE id = '${t.id}'`)).rejects.toThrow(/append-only/);
    const acct = await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: walletCode(m) } });
    // The deferred checks run at COMMIT. pglite-prisma-adapter 0.7.2 does not report a failed COMMIT
    // (the transaction is rolled back but the promise resolves), so assert on what was stored.
    const refusedAtCommit = async (id: string, body: (tx: Parameters<Parameters<ReturnType<typeof prisma>["$transaction"]>[0]>[0]) => Promise<unknown>) => {
      const error = await prisma()
        .$transaction(async (tx) => {
          await body(tx);
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      if (db.kind === "postgres") expect(String(error)).toMatch(/does not balance|posting/);
      expect(await prisma().ledgerTransaction.count({ where: { id } })).toBe(0);
    };
    const empty = randomUUID();
    await refusedAtCommit(empty, (tx) =>
      tx.$executeRawUnsafe(`INSERT INTO "points"."LedgerTransaction" (id, kind, "idempotencyScope", "idempotencyKey", "requestHash", "createdBy") VALUES ('${empty}', 'ADJUSTMENT', 's', '${empty}', 'h', 'x')`),
    );
    const id = randomUUID();
    await refusedAtCommit(id, async (tx) => {
      await tx.$executeRawUnsafe(`INSERT INTO "points"."LedgerTransaction" (id, kind, "idempotencyScope", "idempotencyKey", "requestHash", "createdBy") VALUES ('${id}', 'ADJUSTMENT', 's', '${id}', 'h', 'x')`);
      await tx.$executeRawUnsafe(`INSERT INTO "points"."Posting" ("transactionId", "accountId", amount) VALUES ('${id}', ${acct.id}, 5), ('${id}', ${acct.id}, -4)`);
    });
    // Checked inside the transaction too (SET CONSTRAINTS ... IMMEDIATE), where every adapter reports it.
    const id2 = randomUUID();
    await expect(
      prisma().$transaction(async (tx) => {
        await tx.$executeRawUnsafe(`INSERT INTO "points"."LedgerTransaction" (id, kind, "idempotencyScope", "idempotencyKey", "requestHash", "createdBy") VALUES ('${id2}', 'ADJUSTMENT', 's', '${id2}', 'h', 'x')`);
        await tx.$executeRawUnsafe(`INSERT INTO "points"."Posting" ("transactionId", "accountId", amount) VALUES ('${id2}', ${acct.id}, 5), ('${id2}', ${acct.id}, -4)`);
        await tx.$executeRawUnsafe(`SET CONSTRAINTS ALL IMMEDIATE`);
      }),
    ).rejects.toThrow(/does not balance/);
    await expect(prisma().$executeRawUnsafe(`UPDATE "points"."LedgerAccount" SET balance = -1 WHERE id = ${acct.id}`)).rejects.toThrow(/account_nonnegative|held_within/);
  });

  test("a posting added to a committed transaction is refused; one bad transaction in a multi-transaction insert refuses all", async () => {
    const m = randomUUID();
    const t = await earn(m, randomUUID(), 10);
    const acct = await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: walletCode(m) } });
    // Its own statement (autocommit): the deferred check runs at that statement's commit.
    await expect(prisma().$executeRawUnsafe(`INSERT INTO "points"."Posting" ("transactionId", "accountId", amount) VALUES ('${t.id}', ${acct.id}, 3)`)).rejects.toThrow(/does not balance/);
    expect(await prisma().posting.count({ where: { transactionId: t.id } })).toBe(2);
    // Several transactions in one insert, one of them unbalanced: nothing of it is kept. (Checked with
    // SET CONSTRAINTS ... IMMEDIATE, which every adapter reports; see the test above for COMMIT.)
    const [a, b] = [randomUUID(), randomUUID()];
    await expect(
      prisma().$transaction(async (tx) => {
        await tx.$executeRawUnsafe(
          `INSERT INTO "points"."LedgerTransaction" (id, kind, "idempotencyScope", "idempotencyKey", "requestHash", "createdBy") VALUES ('${a}', 'ADJUSTMENT', 's', '${a}', 'h', 'x'), ('${b}', 'ADJUSTMENT', 's', '${b}', 'h', 'x')`,
        );
        await tx.$executeRawUnsafe(`INSERT INTO "points"."Posting" ("transactionId", "accountId", amount) VALUES ('${a}', ${acct.id}, 5), ('${a}', ${acct.id}, -5), ('${b}', ${acct.id}, 7)`);
        await tx.$executeRawUnsafe(`SET CONSTRAINTS ALL IMMEDIATE`);
      }),
    ).rejects.toThrow(/does not balance|posting\(s\)/);
    expect(await prisma().ledgerTransaction.count({ where: { id: { in: [a, b] } } })).toBe(0);
  });

  /** One post() in its own database transaction, with a fresh key. */
  const write = (input: Omit<PostInput, "idempotency" | "createdBy">) => prisma().$transaction((tx) => post(tx, { ...input, idempotency: { scope: "t", key: randomUUID(), requestHash: "x" }, createdBy: "test" }));
  const remaining = async (m: string) => (await prisma().lot.findMany({ where: { memberId: m }, orderBy: { id: "asc" } })).map((l) => Number(l.remaining));

  test("post refuses what cannot be a transaction: unbalanced, fewer than two non-zero postings, two wallets; nothing is written", async () => {
    const [m, m2, p] = [randomUUID(), randomUUID(), randomUUID()];
    await earn(m, p, 100);
    await earn(m2, p, 100);
    const before = await prisma().ledgerTransaction.count();
    await expect(
      write({
        kind: "ADJUSTMENT",
        memberId: m,
        postings: [
          { accountCode: walletCode(m), amount: 10 },
          { accountCode: ADJUSTMENTS, amount: -9 },
        ],
      }),
    ).rejects.toThrow(/must sum to 0/);
    // Two postings that cancel out on one account are no posting at all.
    await expect(
      write({
        kind: "ADJUSTMENT",
        memberId: m,
        postings: [
          { accountCode: walletCode(m), amount: 10 },
          { accountCode: walletCode(m), amount: -10 },
        ],
      }),
    ).rejects.toThrow(/at least two non-zero postings/);
    await expect(
      write({
        kind: "ADJUSTMENT",
        memberId: m,
        postings: [
          { accountCode: walletCode(m), amount: -10 },
          { accountCode: walletCode(m2), amount: 10 },
        ],
      }),
    ).rejects.toThrow(/at most one wallet/);
    expect(await prisma().ledgerTransaction.count()).toBe(before);
    expect([await remaining(m), await remaining(m2)]).toEqual([[100], [100]]);
  });

  test("lifetimeEarned counts what EARN and OFFER_BONUS credit to the wallet: not redemptions, not adjustments", async () => {
    const [m, p] = [randomUUID(), randomUUID()];
    await earn(m, p, 500);
    await write({
      kind: "REDEEM",
      memberId: m,
      partnerId: p,
      postings: [
        { accountCode: walletCode(m), amount: -200 },
        { accountCode: redemptionCode(p), amount: 200 },
      ],
    });
    await write({
      kind: "ADJUSTMENT",
      memberId: m,
      postings: [
        { accountCode: walletCode(m), amount: 50 },
        { accountCode: ADJUSTMENTS, amount: -50 },
      ],
    });
    const w = await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: walletCode(m) } });
    expect({ balance: w.balance, lifetimeEarned: w.lifetimeEarned }).toEqual({ balance: 350n, lifetimeEarned: 500n });
  });

  test("lots: an expiry takes exactly the lots it names (and they must add up); a debit takes lots in order across several; lots that do not cover it are refused", async () => {
    const [m, p] = [randomUUID(), randomUUID()];
    await earn(m, p, 100);
    await earn(m, p, 100);
    const [a, b] = await prisma().lot.findMany({ where: { memberId: m }, orderBy: { id: "asc" } });
    // The second lot, although the first would come first in FIFO order.
    await write({
      kind: "EXPIRY",
      memberId: m,
      postings: [
        { accountCode: walletCode(m), amount: -20 },
        { accountCode: BREAKAGE, amount: 20 },
      ],
      lots: { mode: "expire", lots: [{ id: b!.id, take: 20 }] },
    });
    expect(await remaining(m)).toEqual([100, 80]);
    await expect(
      write({
        kind: "EXPIRY",
        memberId: m,
        postings: [
          { accountCode: walletCode(m), amount: -20 },
          { accountCode: BREAKAGE, amount: 20 },
        ],
        lots: { mode: "expire", lots: [{ id: a!.id, take: 10 }] },
      }),
    ).rejects.toThrow(/do not match/);
    expect(await remaining(m)).toEqual([100, 80]);
    // 150 across both lots, oldest first.
    await write({
      kind: "REDEEM",
      memberId: m,
      partnerId: p,
      postings: [
        { accountCode: walletCode(m), amount: -150 },
        { accountCode: redemptionCode(p), amount: 150 },
      ],
    });
    expect(await remaining(m)).toEqual([0, 30]);
    // Lots that disagree with the wallet (a corrupted lot, here by hand) refuse the debit instead of taking less.
    await prisma().lot.update({ where: { id: b!.id }, data: { remaining: 10n } });
    await expect(
      write({
        kind: "REDEEM",
        memberId: m,
        partnerId: p,
        postings: [
          { accountCode: walletCode(m), amount: -25 },
          { accountCode: redemptionCode(p), amount: 25 },
        ],
      }),
    ).rejects.toThrow(/do not cover 25 points/);
    await prisma().lot.update({ where: { id: b!.id }, data: { remaining: 30n } });
    expect((await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: walletCode(m) } })).balance).toBe(30n);
  });
});

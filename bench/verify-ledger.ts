// The ledger verifier over a large ledger: memory stays bounded as the ledger grows.
// `npx tsx bench/verify-ledger.ts [transactions ...]` (default 100000 1000000) on the local PostgreSQL
// (DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres). Each size gets a scratch
// database (dropped after): one partner, 10,000 wallets, N earns (two postings and a lot each),
// written set-based with the ledger triggers off for speed (the verifier then checks it all).
import { randomUUID } from "node:crypto";
import { withScratchDatabase } from "./processes.ts";
import { verifyLedger } from "../subgraphs/points/src/ledger/verify.ts";

const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
for (const n of sizes.length ? sizes : [100_000, 1_000_000]) {
  await withScratchDatabase(
    `verify_bench_${n}`,
    async (db) => {
      const c = db.client();
      const partner = randomUUID();
      const t0 = performance.now();
      await c.$transaction(
        async (tx) => {
          await tx.$executeRawUnsafe(`SET LOCAL session_replication_role = replica`);
          await tx.$executeRawUnsafe(`INSERT INTO "points"."LedgerAccount" (kind, code, "partnerId") VALUES ('PARTNER_ISSUANCE', 'issuance:${partner}', '${partner}')`);
          await tx.$executeRawUnsafe(`CREATE TEMP TABLE m ON COMMIT DROP AS SELECT g AS k, gen_random_uuid() AS id FROM generate_series(0, 9999) g`);
          await tx.$executeRawUnsafe(`INSERT INTO "points"."LedgerAccount" (kind, code, "memberId") SELECT 'MEMBER_WALLET', 'wallet:' || id, id FROM m`);
          await tx.$executeRawUnsafe(`CREATE TEMP TABLE t ON COMMIT DROP AS SELECT g, gen_random_uuid() AS id, m.id AS member, 1 + g % 50 AS pts FROM generate_series(1, ${n}) g JOIN m ON m.k = g % 10000`);
          await tx.$executeRawUnsafe(
            `INSERT INTO "points"."LedgerTransaction" (id, kind, "memberId", "partnerId", "memberPoints", "idempotencyScope", "idempotencyKey", "requestHash", "createdBy")
           SELECT id, 'EARN', member, '${partner}', pts, 'partner:${partner}', 'k' || g, 'h', 'bench' FROM t`,
          );
          await tx.$executeRawUnsafe(
            `INSERT INTO "points"."Posting" ("transactionId", "accountId", amount)
           SELECT t.id, a.id, t.pts FROM t JOIN "points"."LedgerAccount" a ON a.code = 'wallet:' || t.member
           UNION ALL SELECT t.id, (SELECT id FROM "points"."LedgerAccount" WHERE code = 'issuance:${partner}'), -t.pts FROM t`,
          );
          await tx.$executeRawUnsafe(`INSERT INTO "points"."Lot" ("memberId", "issuerPartnerId", "sourceTransactionId", points, remaining, "earnedAt") SELECT member, '${partner}', id, pts, pts, now() FROM t`);
          await tx.$executeRawUnsafe(`UPDATE "points"."LedgerAccount" a SET balance = s.total FROM (SELECT "accountId", sum(amount) AS total FROM "points"."Posting" GROUP BY 1) s WHERE a.id = s."accountId"`);
        },
        { timeout: 3_600_000, maxWait: 60_000 },
      );
      await c.$executeRawUnsafe(`ANALYZE`);
      const built = (performance.now() - t0) / 1000;
      globalThis.gc?.();
      const rss0 = process.memoryUsage().rss;
      let peak = rss0;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
      const t1 = performance.now();
      const report = await verifyLedger(c, { events: true });
      clearInterval(sampler);
      const secs = (performance.now() - t1) / 1000;
      console.log(
        `${n.toLocaleString("en")} transactions (${(2 * n).toLocaleString("en")} postings, ${n.toLocaleString("en")} lots, 10,000 wallets): built in ${built.toFixed(0)} s; ` +
          `verified in ${secs.toFixed(1)} s, ok=${report.ok}, RSS ${(rss0 / 2 ** 20).toFixed(0)} MB before, peak ${(peak / 2 ** 20).toFixed(0)} MB (+${((peak - rss0) / 2 ** 20).toFixed(0)} MB)`,
      );
    },
    { base: BASE },
  );
}

// `npx tsx bench/export.ts`: memory of the reconciliation export (issue 17 §5: "any size, bounded
// memory"). A scratch PostgreSQL database (DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres;
// created and dropped here) gets one partner with N transactions loaded by SQL (triggers skipped:
// session_replication_role = replica; the export reads LedgerTransaction, its reversals and the
// MemberLink copy, and the totals read postings). The points subgraph's export route
// (`partnerTransactionsExport`, what GET /exports/partner-transactions runs) serves it over HTTP;
// a client reads the CSV as a stream. While it runs, the process's heap and RSS are sampled every
// 10 ms; the figure is the peak above the level before the export. Sizes alternate in one process
// (BENCH_EXPORT_SIZES, default 100000,1000000, each run twice): bounded memory means the peak does
// not grow with N. Run with `--expose-gc` (npx tsx --expose-gc bench/export.ts): then every 200 ms a
// full GC measures the live heap (what the export retains), beside the heap with garbage and RSS.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { migrate, openDatabase } from "../lib/db.ts";
import type { Principal } from "../lib/principal.ts";
import { usePrisma } from "../subgraphs/points/src/db.ts";
import { partnerTransactionsExport } from "../subgraphs/points/src/exports.ts";

const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const SIZES = (process.env.BENCH_EXPORT_SIZES ?? "100000,1000000")
  .split(",")
  .map(Number)
  .filter((n) => n > 0);
const PARTNER = "00000000-0000-4000-8000-00000000e001";
const MEMBERS = 1000;

const urlFor = (db: string) => {
  const u = new URL(BASE);
  u.pathname = `/${db}`;
  return u.toString();
};

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: BASE });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const mb = (n: number) => (n / 1024 / 1024).toFixed(1);

async function main() {
  const name = `hub_bench_export_${process.pid}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  const db = await openDatabase({ url: urlFor(name), poolSize: 4, statementTimeoutMs: 0 });
  try {
    await migrate(db);
    usePrisma(db.client());
    const load = new pg.Client({ connectionString: urlFor(name) });
    await load.connect();
    await load.query("SET session_replication_role = replica");
    await load.query(
      `INSERT INTO "points"."MemberLink" ("memberId", "partnerId", "linkedAt", "externalRef")
      SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, $1::uuid, now(), 'POS-' || i FROM generate_series(1, ${MEMBERS}) i`,
      [PARTNER],
    );
    const server = createServer((req, res) => {
      const principal: Principal = { sub: "bench", role: "PARTNER", partnerId: PARTNER, memberId: null, scope: "", purpose: "ACCOUNT_SERVICING" };
      partnerTransactionsExport(principal, new URL(req.url ?? "/", "http://x").searchParams, res, "bench").catch((e) => {
        console.error(e);
        res.destroy();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    let loaded = 0;
    const from = "2026-01-01T00:00:00Z";
    const to = "2026-12-31T00:00:00Z";
    const rows: string[] = [];
    for (const n of [...SIZES].sort((a, b) => a - b)) {
      // Grow the partner's ledger to n transactions (all inside [from, to)).
      await load.query(
        `INSERT INTO "points"."LedgerTransaction" (id, kind, "memberId", "partnerId", "memberPoints", "balanceAfter", reference, "idempotencyScope", "idempotencyKey", "requestHash", "createdBy", "postedAt")
         SELECT gen_random_uuid(), 'EARN', ('00000000-0000-4000-8000-' || lpad(to_hex(1 + i % ${MEMBERS}), 12, '0'))::uuid, $1::uuid, 1 + i % 50, 100, 'receipt-' || i,
                'partner:' || $1, 'bench-' || i, 'h', 'bench', timestamptz '2026-01-02' + (i || ' seconds')::interval
         FROM generate_series(${loaded + 1}, ${n}) i`,
        [PARTNER],
      );
      await load.query(`ANALYZE "points"."LedgerTransaction"`);
      loaded = n;
      for (let rep = 0; rep < 2; rep++) {
        global.gc?.();
        const before = process.memoryUsage();
        let peakHeap = before.heapUsed;
        let peakLive = before.heapUsed;
        let peakRss = before.rss;
        let ticks = 0;
        const sampler = setInterval(() => {
          // Every 20th sample (200 ms) after a full GC: the live heap, what the export retains.
          if (++ticks % 20 === 0 && global.gc) {
            global.gc();
            peakLive = Math.max(peakLive, process.memoryUsage().heapUsed);
          }
          const m = process.memoryUsage();
          peakHeap = Math.max(peakHeap, m.heapUsed);
          peakRss = Math.max(peakRss, m.rss);
        }, 10);
        const started = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}/?from=${from}&to=${to}`);
        let lines = 0;
        let bytes = 0;
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          bytes += chunk.length;
          for (const b of chunk) if (b === 10) lines++;
        }
        clearInterval(sampler);
        const secs = (performance.now() - started) / 1000;
        if (lines - 1 !== n) throw new Error(`exported ${lines - 1} rows, expected ${n}`);
        rows.push(
          `| ${n.toLocaleString("en")} | ${mb(bytes)} MB | ${secs.toFixed(1)} s | ${Math.round(n / secs).toLocaleString("en")} | +${mb(peakLive - before.heapUsed)} MB | +${mb(peakHeap - before.heapUsed)} MB | +${mb(peakRss - before.rss)} MB |`,
        );
        console.log(rows.at(-1));
      }
    }
    await load.end();
    server.close();
    console.log("\n| rows | CSV size | time | rows/s | peak live heap (after GC) above start | peak heap (with garbage) | peak RSS above start |\n|---|---|---|---|---|---|---|");
    for (const r of rows) console.log(r);
  } finally {
    await db.close();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  }
}

await main();

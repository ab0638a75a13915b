// `npm run bench:settlement`: the time to settle 1 million and 10 million postings on the local
// PostgreSQL (DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres), next to the
// bare SQL aggregate over the same rows (the reference; goal: a run within 2 × of it).
//
// A scratch database (created and dropped here) is filled with a synthetic ledger by SQL: 8
// partners with two rate periods each, 100,000 wallets, transactions of two postings each (80 %
// EARN: issuance → wallet, one lot each; 20 % REDEEM: wallet → a partner's redemption account,
// consuming one lot), spread over 30 days. The ledger's triggers are skipped while loading
// (session_replication_role = replica); the data is balanced by construction.
//
// Timed: `createSettlementRun` (statements, lines with rates, flows through the lots, liability
// from the lots, all stored) and then `recomputeSettlementRun`; the best of the two against the
// best of two runs of the bare aggregate (sum and count of the same covered postings on partner
// accounts, per account and transaction kind, with the same joins and coverage predicate).
// BENCH_SETTLEMENT_SIZES=1000000,10000000 (default) picks the sizes; BENCH_SETTLEMENT_KEEP=1 keeps
// the scratch database for EXPLAIN.
import pg from "pg";
import { migrate, openDatabase, Prisma } from "../lib/db.ts";
import { usePrisma, prisma } from "../subgraphs/points/src/db.ts";
import { type Coverage, covers } from "../subgraphs/points/src/settlement/compute.ts";
import { createSettlementRun, recomputeSettlementRun } from "../subgraphs/points/src/settlement/runs.ts";

/**
 * The reference: the bare per-account, per-kind sums of the same postings (the settlement run's
 * coverage predicate, settlement/compute.ts `covers`), without pricing buckets or attribution.
 */
function bareAggregateSql(c: Coverage): Prisma.Sql {
  return Prisma.sql`
    SELECT p."accountId", t.kind, sum(p.amount)::bigint AS sum, count(*)::bigint AS n
    FROM "points"."Posting" p
    JOIN "points"."LedgerAccount" a ON a.id = p."accountId" AND a.kind IN ('PARTNER_ISSUANCE', 'PARTNER_REDEMPTION')
    JOIN "points"."LedgerTransaction" t ON t.id = p."transactionId"
    WHERE ${covers(c)}
    GROUP BY 1, 2`;
}

const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const SIZES = (process.env.BENCH_SETTLEMENT_SIZES ?? "1000000,10000000")
  .split(",")
  .map(Number)
  .filter((n) => n > 0);
const PARTNERS = 8;
const MEMBERS = 100_000;
const DAY = 86_400_000;

export interface SettlementBenchResult {
  postings: number;
  seconds: number;
  bareAggregateSeconds: number;
  loadSeconds: number;
}

const urlFor = (db: string) => {
  const u = new URL(BASE);
  u.pathname = `/${db}`;
  return u.toString();
};

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

/** Adds `txCount` two-posting transactions (and their lots / lot consumptions) dated in [from, from + 30 days). */
async function load(c: pg.Client, txCount: number, from: Date, seq: number) {
  // Secondary indexes are dropped for the load and rebuilt after it (a sort each, instead of
  // millions of random B-tree inserts); transaction ids are ascending for the same reason.
  const { rows: indexes } = await c.query<{ indexname: string; indexdef: string }>(`
    SELECT i.indexname, i.indexdef FROM pg_indexes i
    WHERE i.schemaname = 'points' AND i.tablename IN ('Posting', 'LedgerTransaction', 'Lot', 'LotConsumption')
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)`);
  for (const i of indexes) await c.query(`DROP INDEX "points"."${i.indexname}"`);
  await c.query("SET session_replication_role = replica");
  await c.query("SET work_mem = '256MB'");
  await c.query(`
    CREATE TEMP TABLE g ON COMMIT DROP AS
    SELECT i, ('00000000-0000-4000-8000-' || lpad(to_hex(${seq}::bigint * 1000000000 + i), 12, '0'))::uuid AS id,
      CASE WHEN i % 5 = 0 THEN 'REDEEM' ELSE 'EARN' END AS kind,
      (((CASE WHEN i % 5 = 0 THEN i - 1 ELSE i END)::bigint * 7919) % ${MEMBERS})::int AS m, (i * 31) % ${PARTNERS} AS p, 1 + (i % 500) AS pts,
      '${from.toISOString()}'::timestamptz + ((i::bigint * 2592000000 / ${txCount}) || ' milliseconds')::interval AS at
    FROM generate_series(1, ${txCount}) i`);
  await c.query(`
    INSERT INTO "points"."LedgerTransaction" (id, kind, "memberId", "partnerId", "memberPoints", "idempotencyScope", "idempotencyKey", "requestHash", "createdBy", "postedAt")
    SELECT g.id, g.kind::"points"."TransactionKind", w."memberId", pa."partnerId", CASE g.kind WHEN 'EARN' THEN g.pts ELSE -g.pts END,
      'bench', '${seq}-' || lpad(g.i::text, 10, '0'), 'h', 'bench', g.at
    FROM g JOIN bench_wallet w ON w.n = g.m JOIN bench_partner pa ON pa.n = g.p`);
  await c.query(`
    INSERT INTO "points"."Posting" ("transactionId", "accountId", amount, "postedAt")
    SELECT g.id, x.account, x.amount, g.at
    FROM g JOIN bench_wallet w ON w.n = g.m JOIN bench_partner pa ON pa.n = g.p,
    LATERAL (VALUES
      (CASE g.kind WHEN 'EARN' THEN pa.issuance ELSE w.account END, -g.pts),
      (CASE g.kind WHEN 'EARN' THEN w.account ELSE pa.redemption END, g.pts)) AS x(account, amount)`);
  await c.query(`
    INSERT INTO "points"."Lot" ("memberId", "issuerPartnerId", "sourceTransactionId", points, remaining, "earnedAt", "expiresAt")
    SELECT w."memberId", pa."partnerId", g.id, g.pts, g.pts, g.at, g.at + interval '36 months'
    FROM g JOIN bench_wallet w ON w.n = g.m JOIN bench_partner pa ON pa.n = g.p WHERE g.kind = 'EARN'`);
  // Redemption i consumes (part of) the lot of earn i − 1: the same member's.
  await c.query(`
    INSERT INTO "points"."LotConsumption" ("lotId", "transactionId", points)
    SELECT l.id, g.id, LEAST(g.pts, l.points)
    FROM g JOIN g e ON e.i = g.i - 1 JOIN "points"."Lot" l ON l."sourceTransactionId" = e.id
    WHERE g.kind = 'REDEEM'`);
  await c.query("RESET session_replication_role");
  await c.query("SET maintenance_work_mem = '256MB'");
  for (const i of indexes) await c.query(i.indexdef);
}

async function setup(c: pg.Client, start: Date) {
  await c.query(`
    CREATE TABLE bench_partner AS SELECT n, gen_random_uuid() AS "partnerId", 0::bigint AS issuance, 0::bigint AS redemption FROM generate_series(0, ${PARTNERS - 1}) n;
    CREATE TABLE bench_wallet AS SELECT n, gen_random_uuid() AS "memberId", 0::bigint AS account FROM generate_series(0, ${MEMBERS - 1}) n;
    INSERT INTO "points"."LedgerAccount" (kind, code, "partnerId") SELECT 'PARTNER_ISSUANCE', 'issuance:' || "partnerId", "partnerId" FROM bench_partner;
    INSERT INTO "points"."LedgerAccount" (kind, code, "partnerId") SELECT 'PARTNER_REDEMPTION', 'redemption:' || "partnerId", "partnerId" FROM bench_partner;
    INSERT INTO "points"."LedgerAccount" (kind, code, "memberId") SELECT 'MEMBER_WALLET', 'wallet:' || "memberId", "memberId" FROM bench_wallet;
    UPDATE bench_partner b SET issuance = (SELECT id FROM "points"."LedgerAccount" WHERE code = 'issuance:' || b."partnerId"),
      redemption = (SELECT id FROM "points"."LedgerAccount" WHERE code = 'redemption:' || b."partnerId");
    UPDATE bench_wallet b SET account = a.id FROM "points"."LedgerAccount" a WHERE a.code = 'wallet:' || b."memberId";
    CREATE INDEX ON bench_wallet (n); CREATE INDEX ON bench_partner (n);
    INSERT INTO "points"."Partner" ("partnerId", name) SELECT "partnerId", 'Partner ' || n FROM bench_partner;
    INSERT INTO "points"."PartnerRate" ("partnerId", "issuePrice", "redemptionRate", "effectiveFrom")
      SELECT "partnerId", 0.01 + n * 0.001, 0.008 + n * 0.0005, '${start.toISOString()}'::timestamptz FROM bench_partner
      UNION ALL SELECT "partnerId", 0.0125 + n * 0.001, 0.0095 + n * 0.0005, '${new Date(start.getTime() + 15 * DAY).toISOString()}'::timestamptz FROM bench_partner;`);
}

export async function runSettlementBench(sizes: number[] = SIZES, log: (s: string) => void = console.log): Promise<SettlementBenchResult[]> {
  const db = `bench_settlement_${process.pid}_${Date.now()}`;
  await withClient(BASE, (c) => c.query(`CREATE DATABASE "${db}"`));
  const results: SettlementBenchResult[] = [];
  // The 10 M-posting aggregate runs longer than the default statement_timeout (lib/db.ts).
  const database = await openDatabase({ url: urlFor(db), poolSize: 4, statementTimeoutMs: 0 });
  try {
    await migrate(database);
    usePrisma(database.client());
    const start = new Date(Date.now() - 32 * DAY);
    const periodEnd = new Date(start.getTime() + 31 * DAY);
    const admin = { sub: "bench", role: "ADMIN" as const, partnerId: null, memberId: null };
    await withClient(urlFor(db), async (c) => {
      await setup(c, start);
      let loaded = 0;
      let seq = 0;
      let runId: string | null = null;
      for (const size of [...sizes].sort((a, b) => a - b)) {
        const t0 = process.hrtime.bigint();
        await c.query("BEGIN");
        await load(c, Math.ceil((size - loaded) / 2), start, seq++);
        await c.query("COMMIT");
        await c.query(`VACUUM ANALYZE "points"."Posting", "points"."LedgerTransaction", "points"."Lot", "points"."LotConsumption", "points"."LedgerAccount"`);
        const [{ n }] = (await c.query(`SELECT count(*)::bigint AS n FROM "points"."Posting"`)).rows as { n: string }[];
        loaded = Number(n);
        const loadSeconds = seconds(t0);

        const [{ max }] = (await c.query(`SELECT max(id)::bigint AS max FROM "points"."Posting"`)).rows as { max: string }[];
        const cov = { periodStart: start, periodEnd, watermark: BigInt(max), prevEnd: null, prevWatermark: null };
        const bare = async () => {
          const t = process.hrtime.bigint();
          await prisma().$queryRaw(bareAggregateSql(cov));
          return seconds(t);
        };
        await bare(); // warm the cache for both
        const bare1 = await bare();
        let t = process.hrtime.bigint();
        const run: { id: string } = runId ? await recomputeSettlementRun(admin, runId) : await createSettlementRun(admin, { periodStart: start, periodEnd });
        const id = run.id;
        runId = id;
        const run1 = seconds(t);
        t = process.hrtime.bigint();
        await recomputeSettlementRun(admin, id);
        const run2 = seconds(t);
        const bare2 = await bare();
        const r = { postings: loaded, seconds: Math.min(run1, run2), bareAggregateSeconds: Math.min(bare1, bare2), loadSeconds };
        const covered = Number((await prisma().settlementRun.findUniqueOrThrow({ where: { id } })).postingsCovered);
        results.push(r);
        log(
          `settlement of ${loaded.toLocaleString("en")} postings (${covered.toLocaleString("en")} on partner accounts): run ${r.seconds.toFixed(2)} s (runs: ${run1.toFixed(2)}, ${run2.toFixed(2)}), bare aggregate ${r.bareAggregateSeconds.toFixed(2)} s → ${(r.seconds / r.bareAggregateSeconds).toFixed(2)} × (goal ≤ 2); load ${loadSeconds.toFixed(0)} s`,
        );
      }
    });
  } finally {
    await database.close();
    if (process.env.BENCH_SETTLEMENT_KEEP === "1") log(`kept database ${db} (BENCH_SETTLEMENT_KEEP=1)`);
    else await withClient(BASE, (c) => c.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`));
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runSettlementBench().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}

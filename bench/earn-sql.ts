// `npm run bench:earn-sql`: what one earn costs the database, counted, not timed: the statements
// (round trips, BEGIN and COMMIT included) the points subgraph sends per earn on each write path —
// a single award (a group of one), a group-committed burst of 32 concurrent awards, and a bulk
// batch of 500 — each for first purchases (the classic program's welcome bonus is due) and for
// repeat purchases (no bonus). The counts do not depend on the machine's load, so they compare two
// versions of the code exactly: BENCH_ROOT=<another checkout> runs the same phases against that
// checkout's code (its own node_modules and Prisma client). Timings are printed for orientation only.
// Uses a scratch database on DATABASE_URL's server (created and dropped here).
import { randomUUID } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { adminSql } from "./processes.ts";

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = path.resolve(process.env.BENCH_ROOT ?? HERE);
const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const load = <T>(rel: string): Promise<T> => import(pathToFileURL(path.join(ROOT, rel)).href) as Promise<T>;

type Actor = { sub: string; role: "PARTNER"; partnerId: string; memberId: null; scope: string; purpose: string };

async function main() {
  const db = await load<typeof import("../lib/db.ts")>("lib/db.ts");
  const pointsDb = await load<typeof import("../subgraphs/points/src/db.ts")>("subgraphs/points/src/db.ts");
  const { awardPoints } = await load<typeof import("../subgraphs/points/src/earning/award.ts")>("subgraphs/points/src/earning/award.ts");
  const { awardPointsBatch } = await load<typeof import("../subgraphs/points/src/earning/bulk.ts")>("subgraphs/points/src/earning/bulk.ts");
  const { setEarnGroupCommit } = await load<typeof import("../subgraphs/points/src/earning/group-commit.ts")>("subgraphs/points/src/earning/group-commit.ts");
  const { applyEvent } = await load<typeof import("../lib/events/inbox.ts")>("lib/events/inbox.ts");
  const { eventConsumer } = await load<typeof import("../subgraphs/points/src/events.ts")>("subgraphs/points/src/events.ts");
  const req = createRequire(path.join(ROOT, "package.json"));
  const { PrismaPg } = (await import(pathToFileURL(req.resolve("@prisma/adapter-pg")).href)) as typeof import("@prisma/adapter-pg");

  const name = `bench_earnsql_${process.pid}_${Date.now()}`;
  const u = new URL(BASE);
  u.pathname = `/${name}`;
  await adminSql(`CREATE DATABASE "${name}"`, BASE);
  try {
    const migrated = await db.openDatabase({ url: u.toString(), poolSize: 2 });
    await db.migrate(migrated);
    await migrated.close();

    // A pool whose every client counts what it sends: each query() call is one round trip.
    let statements = 0;
    // BENCH_SHAPES=1: also the client-side time per statement shape (first words of the SQL), per phase.
    const shapes = new Map<string, { n: number; ms: number }>();
    const shapeOf = (a: unknown): string => {
      const text = typeof a === "string" ? a : ((a as { text?: string })?.text ?? "?");
      return text.replace(/\s+/g, " ").trim().slice(0, 90);
    };
    const pool = new pg.Pool({ connectionString: u.toString(), max: 40 });
    pool.on("error", () => {}); // an idle client cut by the DROP DATABASE at the end
    pool.on("connect", (client) => {
      const query = client.query.bind(client) as (...a: unknown[]) => unknown;
      (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
        statements++;
        if (!process.env.BENCH_SHAPES) return query(...a);
        const t0 = performance.now();
        const k = shapeOf(a[0]);
        const done = () => {
          const e = shapes.get(k) ?? { n: 0, ms: 0 };
          e.n++;
          e.ms += performance.now() - t0;
          shapes.set(k, e);
        };
        const r = query(...a) as Promise<unknown>;
        return r && typeof r.then === "function" ? r.finally(done) : r;
      };
    });
    const prisma = new db.PrismaClient({ adapter: new PrismaPg(pool) });
    pointsDb.usePrisma(prisma);
    setEarnGroupCommit(true);

    const partnerId = randomUUID();
    const actor: Actor = { sub: "bench", role: "PARTNER", partnerId, memberId: null, scope: "", purpose: "ACCOUNT_SERVICING" };
    const apply = (type: string, payload: unknown) => prisma.$transaction((tx) => applyEvent(eventConsumer, tx as never, { id: randomUUID(), type, payload, createdAt: new Date().toISOString() }), { timeout: 60_000 });
    await apply("partner.registered", { partnerId, name: "bench", earnRate: "1" });
    /** `n` members who joined now (the welcome bonus's window is open), linked to the partner. */
    const enrol = async (n: number) => {
      const ids = Array.from({ length: n }, () => randomUUID());
      await prisma.$transaction(
        async (tx) => {
          for (const m of ids)
            await applyEvent(eventConsumer, tx as never, { id: randomUUID(), type: "member.enrolled", payload: { memberId: m, partnerId, joinedAt: new Date().toISOString() }, createdAt: new Date().toISOString() });
        },
        { timeout: 120_000 },
      );
      return ids;
    };
    const award = (m: string) => awardPoints(actor as never, { memberId: m, purchaseAmount: "12.50", idempotencyKey: randomUUID() });
    // Warm-up: caches (program version, partner), connections.
    for (const m of await enrol(5)) await award(m);

    const rows: { phase: string; earns: number; statements: number; ms: number; cpu: number; dbCpu: number }[] = [];
    // The database's CPU for this run: the user+system time of the server processes serving this
    // scratch database (pg_stat_activity → /proc/<pid>/stat), so other databases' work is not counted.
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    const dbCpuMs = async () => {
      const c = new pg.Client({ connectionString: BASE });
      await c.connect();
      try {
        const { rows: pids } = await c.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1", [name]);
        let t = 0;
        for (const { pid } of pids) {
          try {
            const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
            t += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
          } catch {
            // the backend ended meanwhile
          }
        }
        return (t * 1000) / ticks;
      } finally {
        await c.end();
      }
    };
    const measure = async (phase: string, earns: number, run: () => Promise<void>) => {
      const s0 = statements;
      shapes.clear();
      const t0 = performance.now();
      const d0 = await dbCpuMs();
      const c0 = process.cpuUsage();
      await run();
      const c = process.cpuUsage(c0);
      const d1 = await dbCpuMs();
      rows.push({ phase, earns, statements: statements - s0, ms: performance.now() - t0, cpu: (c.user + c.system) / 1000, dbCpu: d1 - d0 });
      if (process.env.BENCH_SHAPES) {
        console.log(`-- ${phase}: client-side ms per statement shape (top 8 by total)`);
        for (const [k, v] of [...shapes].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8)) console.log(`${v.ms.toFixed(0).padStart(7)} ms ${String(v.n).padStart(6)}×  ${k}`);
      }
    };

    const singles = await enrol(40);
    await measure("single, first purchase", singles.length, async () => {
      for (const m of singles) await award(m);
    });
    await measure("single, repeat purchase", singles.length, async () => {
      for (const m of singles) await award(m);
    });
    const groups = await Promise.all(Array.from({ length: 20 }, () => enrol(32)));
    const burst = async () => {
      for (const g of groups) await Promise.all(g.map(award));
    };
    await measure("group of 32, first purchases", 20 * 32, burst);
    await measure("group of 32, repeat purchases", 20 * 32, burst);
    const bulkMembers = await enrol(500);
    const bulk = async () => {
      const r = await awardPointsBatch(
        actor as never,
        bulkMembers.map((m) => ({ memberId: m, purchaseAmount: "12.50", idempotencyKey: randomUUID() })),
      );
      if (r.rejected.length) throw new Error(`bulk rejected ${r.rejected.length}: ${JSON.stringify(r.rejected.slice(0, 2))}`);
    };
    await measure("bulk of 500, first purchases", 500, bulk);
    await measure("bulk of 500, repeat purchases", 500, bulk);
    if (process.env.BENCH_SHAPES) {
      // The ledger bench's bulk phase: 5,000 explicit-points items over 2,000 members with history.
      const many = await enrol(2000);
      await awardPointsBatch(
        actor as never,
        many.map((m) => ({ memberId: m, purchaseAmount: "12.50", idempotencyKey: randomUUID() })),
      );
      await measure("bulk of 5,000 explicit points (ledger bench)", 20_000, async () => {
        for (let k = 0; k < 4; k++)
          await awardPointsBatch(
            actor as never,
            Array.from({ length: 5000 }, (_, i) => ({ memberId: many[(i + k * 13) % many.length]!, points: 10 + (i % 90), idempotencyKey: randomUUID() })),
          );
      });
    }

    const [{ bonuses }] = await prisma.$queryRawUnsafe<{ bonuses: number }[]>(`SELECT count(*)::int AS bonuses FROM "points"."LedgerTransaction" WHERE kind::text = 'PROGRAM_BONUS'`);
    console.log(`earn SQL of ${path.relative(HERE, ROOT) || "this checkout"} (${ROOT}); ${bonuses} welcome bonuses paid`);
    console.log("path                               earns  statements  per earn   ms/earn  CPU ms/earn: node   database");
    for (const r of rows)
      console.log(
        `${r.phase.padEnd(34)} ${String(r.earns).padStart(5)} ${String(r.statements).padStart(11)} ${(r.statements / r.earns).toFixed(2).padStart(9)} ${(r.ms / r.earns).toFixed(2).padStart(9)} ${(r.cpu / r.earns).toFixed(3).padStart(9)} ${(r.dbCpu / r.earns).toFixed(3).padStart(9)}`,
      );
    await prisma.$disconnect();
    await pool.end();
  } finally {
    if (process.env.BENCH_KEEP) console.log(`kept database ${name}`);
    else await adminSql(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`, BASE);
  }
}

await main();
process.exit(0);

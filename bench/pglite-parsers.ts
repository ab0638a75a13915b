// `npm run bench:pglite-parsers`: what the embedded database's statements cost through Prisma with the
// adapter's parsers passed per statement (pglite-prisma-adapter as it is: PGlite copies its 318
// parsers and the adapter's into a new object each time) and with them adopted once by the instance
// (lib/pglite-parsers.ts, what lib/db.ts opens). Two PGlite instances with the same table; rounds
// alternate the two; each round runs BENCH_STATEMENTS (default 3000) one-row primary-key reads and as
// many single-row updates in interactive transactions. Prints µs per statement and the ratio.
import { PGlite } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "../lib/db.ts";
import { withAdapterParsers } from "../lib/pglite-parsers.ts";

const N = Number(process.env.BENCH_STATEMENTS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);

async function open(lean: boolean) {
  const pglite = await PGlite.create();
  await pglite.exec(`CREATE TABLE acct (id int PRIMARY KEY, code text, balance bigint, at timestamptz); INSERT INTO acct SELECT g, 'w:' || g, 1000, now() FROM generate_series(1, 1000) g;`);
  return { pglite, prisma: new PrismaClient({ adapter: new PrismaPGlite(lean ? withAdapterParsers(pglite) : pglite) }) };
}

const arrangements = { "per-statement parsers (adapter as is)": await open(false), "adopted parsers (lib/pglite-parsers.ts)": await open(true) };
const totals = new Map<string, { reads: number; writes: number }>();
for (let round = 0; round < ROUNDS; round++) {
  const order = Object.entries(arrangements);
  if (round % 2) order.reverse();
  for (const [name, { prisma }] of order) {
    let t = performance.now();
    for (let i = 0; i < N; i++) await prisma.$queryRaw`SELECT id, code, balance, at FROM acct WHERE id = ${1 + (i % 1000)}`;
    const reads = ((performance.now() - t) * 1000) / N;
    t = performance.now();
    for (let i = 0; i < N / 3; i++) {
      await prisma.$transaction(async (tx) => {
        await tx.$executeRaw`UPDATE acct SET balance = balance + 1, at = now() WHERE id = ${1 + (i % 1000)}`;
      });
    }
    const writes = ((performance.now() - t) * 1000) / N; // per statement: BEGIN, UPDATE, COMMIT
    if (round > 0) {
      const s = totals.get(name) ?? { reads: 0, writes: 0 };
      totals.set(name, { reads: s.reads + reads, writes: s.writes + writes });
    }
    process.stdout.write(`round ${round}${round === 0 ? " (warm-up)" : ""}  ${name.padEnd(40)} read ${reads.toFixed(0).padStart(4)} µs/statement   write ${writes.toFixed(0).padStart(4)} µs/statement\n`);
  }
}
const names = Object.keys(arrangements);
const a = totals.get(names[0]!);
const b = totals.get(names[1]!);
process.stdout.write(
  `\nmean of rounds 1–${ROUNDS - 1}: reads ${((a!.reads - b!.reads) / (ROUNDS - 1)).toFixed(0)} µs/statement saved (${(a!.reads / b!.reads).toFixed(2)}×), writes ${((a!.writes - b!.writes) / (ROUNDS - 1)).toFixed(0)} µs/statement saved (${(a!.writes / b!.writes).toFixed(2)}×)\n`,
);
for (const { prisma, pglite } of Object.values(arrangements)) {
  await prisma.$disconnect();
  await pglite.close();
}

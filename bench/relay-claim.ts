// `npm run bench:relay-claim`: the outbox relay's claim statement alone, on the local PostgreSQL
// (DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres; a scratch database created
// and dropped here). The claim in use (write order, a subject's events behind its failing or
// in-flight one: decision 44) against the claim before it (write order only) and a
// first form of the rule (NOT EXISTS), in alternating runs, each in a transaction rolled back.
// The outbox: BENCH_RELAY_DELIVERED (100,000) delivered events, BENCH_RELAY_BACKLOG (comma list,
// default 100,10000) undelivered ones over 2,000 members, BENCH_RELAY_FAILING (5) of them failing. Prints the median ms
// per claim of a batch of 200 (the relay's default).
import { relayClaimSql } from "../lib/events/relay.ts";
import { withScratchDatabase } from "./processes.ts";

const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const DELIVERED = Number(process.env.BENCH_RELAY_DELIVERED ?? 100_000);
const BACKLOGS = (process.env.BENCH_RELAY_BACKLOG ?? "100,10000").split(",").map(Number);
const RUNS = Number(process.env.BENCH_ROUNDS ?? 30);
const BATCH = 200;
/** Failing events in the backlog (the first of their members, backing off). */
const FAILING = Number(process.env.BENCH_RELAY_FAILING ?? 5);
const T = `"points"."OutboxEvent"`;

const ARMS = {
  /** Before decision 44: write order only. */
  "write order only": `WITH claimed AS (
       UPDATE ${T} SET "lockedUntil" = now() + interval '30 seconds', attempts = attempts + 1
       WHERE id IN (SELECT id FROM ${T} WHERE "deliveredAt" IS NULL AND ("lockedUntil" IS NULL OR "lockedUntil" < now())
                    ORDER BY seq NULLS FIRST, "createdAt", id LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
       RETURNING id, type, payload, "createdAt", attempts, traceparent, seq)
     SELECT id, type, payload, "createdAt", attempts, traceparent FROM claimed ORDER BY seq NULLS FIRST, "createdAt", id`,
  /** Decision 44's first rule (a member behind its failing event, every consumer) as a NOT EXISTS probe (not landed). */
  "behind failing, NOT EXISTS": `WITH failing AS (
       SELECT payload->>'memberId' AS member, min(seq) AS seq FROM ${T}
       WHERE "deliveredAt" IS NULL AND "lastError" IS NOT NULL AND payload->>'memberId' IS NOT NULL GROUP BY 1
     ), claimed AS (
       UPDATE ${T} SET "lockedUntil" = now() + interval '30 seconds', attempts = attempts + 1
       WHERE id IN (SELECT o.id FROM ${T} o WHERE o."deliveredAt" IS NULL AND (o."lockedUntil" IS NULL OR o."lockedUntil" < now())
                      AND NOT EXISTS (SELECT 1 FROM failing f WHERE f.member = o.payload->>'memberId' AND f.seq < o.seq)
                    ORDER BY o.seq NULLS FIRST, o."createdAt", o.id LIMIT ${BATCH} FOR UPDATE OF o SKIP LOCKED)
       RETURNING id, type, payload, "createdAt", attempts, traceparent, seq)
     SELECT id, type, payload, "createdAt", attempts, traceparent FROM claimed ORDER BY seq NULLS FIRST, "createdAt", id`,
  /** In use (lib/events/relay.ts). */
  "behind failing (in use)": relayClaimSql("points", BATCH),
} as const;
type Arm = keyof typeof ARMS;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
class Rollback extends Error {}

await withScratchDatabase(
  "bench_relay_claim",
  async (db) => {
    const c = db.client();
    await c.$executeRawUnsafe(
      `INSERT INTO ${T} (id, type, payload, "deliveredAt") SELECT gen_random_uuid(), 'points.activity', jsonb_build_object('memberId', gen_random_uuid()::text, 'points', 10), now() FROM generate_series(1, $1)`,
      DELIVERED,
    );
    let queued = 0;
    for (const backlog of BACKLOGS) {
      await c.$executeRawUnsafe(
        `INSERT INTO ${T} (id, type, payload) SELECT gen_random_uuid(), 'points.activity', jsonb_build_object('memberId', md5((g % 2000)::text)::uuid::text, 'points', 10) FROM generate_series(1, $1) g`,
        backlog - queued,
      );
      queued = backlog;
      // FAILING failing events (backing off), the first of their members.
      await c.$executeRawUnsafe(`UPDATE ${T} SET "lastError" = NULL, "failedPeers" = NULL, "lockedUntil" = NULL WHERE "deliveredAt" IS NULL`);
      await c.$executeRawUnsafe(
        `UPDATE ${T} SET "lastError" = 'partner: consumer down', "failedPeers" = ARRAY['partner'], "lockedUntil" = now() + interval '1 hour' WHERE id IN (SELECT id FROM ${T} WHERE "deliveredAt" IS NULL ORDER BY seq LIMIT $1)`,
        FAILING,
      );
      await c.$executeRawUnsafe("ANALYZE");
      const ms = Object.fromEntries(Object.keys(ARMS).map((a) => [a, [] as number[]])) as Record<Arm, number[]>;
      const claimed = {} as Record<Arm, number>;
      const names = Object.keys(ARMS) as Arm[];
      for (let r = 0; r < RUNS; r++) {
        for (const arm of r % 2 ? [...names].reverse() : names) {
          await c
            .$transaction(async (tx) => {
              const t = performance.now();
              const rows = await tx.$queryRawUnsafe<unknown[]>(ARMS[arm]);
              ms[arm].push(performance.now() - t);
              claimed[arm] = rows.length;
              throw new Rollback();
            })
            .catch((e) => {
              if (!(e instanceof Rollback)) throw e;
            });
        }
      }
      console.log(`${backlog} undelivered (${FAILING} failing), ${DELIVERED} delivered: ${names.map((a) => `${a} ${median(ms[a]).toFixed(2)} ms (${claimed[a]} claimed)`).join(", ")} — medians of ${RUNS}, alternating`);
    }
  },
  { base: BASE },
);

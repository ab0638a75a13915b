// `npm run bench:webhook-claim`: the webhook dispatcher's claim statement alone, on the local
// PostgreSQL (DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres; a scratch database
// created and dropped here). The claim in use (CLAIM_SQL: each active endpoint's queue head) against
// the one it replaced (every open delivery probed for an earlier open one of its member), in
// alternating runs, for backlogs of several shapes: BENCH_CLAIM_ENDPOINTS endpoints (comma list,
// default 100,2000), of which 100 have a backlog of BENCH_CLAIM_BACKLOG (100) open deliveries over 50
// members, every endpoint with 50 delivered ones of history. Prints the median ms per claim (32 free
// slots, 4 per endpoint; BENCH_CLAIM_HEAD rows read per endpoint, default 8 as the dispatcher) of each;
// then the claim in use again with 100,000 open consent withdrawals that cannot be sent now.
import { CLAIM_SQL } from "../subgraphs/partner/src/webhooks/dispatcher.ts";
import { withScratchDatabase } from "./processes.ts";

const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const SHAPES = (process.env.BENCH_CLAIM_ENDPOINTS ?? "100,2000").split(",").map(Number);
const BACKLOG = Number(process.env.BENCH_CLAIM_BACKLOG ?? 100);
const RUNS = Number(process.env.BENCH_ROUNDS ?? 20);
/** Rows read per endpoint (the dispatcher reads max(8, 2 × its per-endpoint concurrency): 8 by default). */
const HEAD = Number(process.env.BENCH_CLAIM_HEAD ?? 8);

/** The claim before decision 41 (every open delivery probed; oldest first across endpoints). */
const PROBING_SQL = `WITH inflight AS (
    SELECT "endpointId", count(*)::int AS n FROM "partner"."WebhookDelivery" WHERE status IN ('PENDING', 'RETRYING') AND "lockedUntil" > now() GROUP BY 1
  ), ready AS (
    SELECT d.id, d."endpointId", d.seq FROM "partner"."WebhookDelivery" d JOIN "partner"."WebhookEndpoint" e ON e.id = d."endpointId" AND e.status = 'ACTIVE'
    WHERE d.status IN ('PENDING', 'RETRYING') AND d."nextAttemptAt" <= now() AND (d."lockedUntil" IS NULL OR d."lockedUntil" <= now())
      AND NOT EXISTS (SELECT 1 FROM "partner"."WebhookDelivery" p WHERE p."endpointId" = d."endpointId" AND p."subjectKey" = d."subjectKey" AND p.seq < d.seq AND p.status IN ('PENDING', 'RETRYING'))
    ORDER BY d.seq LIMIT 5000
  ), ranked AS (
    SELECT r.id, r.seq, row_number() OVER (PARTITION BY r."endpointId" ORDER BY r.seq) + coalesce(i.n, 0) AS slot FROM ready r LEFT JOIN inflight i USING ("endpointId")
  )
  SELECT id::text FROM ranked WHERE slot <= $1 ORDER BY seq LIMIT $2`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const endpoints of SHAPES) {
  await withScratchDatabase(
    "bench_claim",
    async (db) => {
      const c = db.client();
      await c.$executeRawUnsafe(
        `INSERT INTO "partner"."WebhookEndpoint" (id, "partnerId", url, "eventTypes", "secretEncrypted", "createdBy", status)
       SELECT gen_random_uuid(), gen_random_uuid(), 'https://partner.example/hooks', ARRAY['POINTS_EARNED'], 'x', 'bench', 'ACTIVE' FROM generate_series(1, $1)`,
        endpoints,
      );
      const ids = (await c.$queryRawUnsafe<{ id: string }[]>(`SELECT id::text FROM "partner"."WebhookEndpoint" ORDER BY id`)).map((r) => r.id);
      const insert = (status: string, eps: string[], per: number) =>
        c.$executeRawUnsafe(
          `INSERT INTO "partner"."WebhookDelivery" (id, "endpointId", "partnerId", "eventId", "eventType", "subjectKey", "occurredAt", facts, status)
         SELECT gen_random_uuid(), e, gen_random_uuid(), gen_random_uuid(), 'POINTS_EARNED', 'member-' || (g % 50), now(), '{}'::jsonb, $3::"partner"."WebhookDeliveryStatus"
         FROM unnest($1::uuid[]) e, generate_series(1, $2) g`,
          eps,
          per,
          status,
        );
      await insert("DELIVERED", ids, 50);
      await insert("PENDING", ids.slice(0, 100), BACKLOG);
      await c.$executeRawUnsafe("ANALYZE");
      const ms: Record<"probing" | "heads", number[]> = { probing: [], heads: [] };
      for (let r = 0; r < RUNS; r++) {
        for (const arm of r % 2 ? (["heads", "probing"] as const) : (["probing", "heads"] as const)) {
          const t = performance.now();
          const rows = arm === "heads" ? await c.$queryRawUnsafe<unknown[]>(CLAIM_SQL, 4, 32, HEAD, [], []) : await c.$queryRawUnsafe<unknown[]>(PROBING_SQL, 4, 32);
          ms[arm].push(performance.now() - t);
          if (rows.length !== 32) throw new Error(`${arm} claimed ${rows.length}, not 32`);
        }
      }
      console.log(
        `${endpoints} endpoints (100 with ${BACKLOG} open each, ${100 * BACKLOG} open, ${endpoints * 50} delivered): probing every open delivery ${median(ms.probing).toFixed(1)} ms, queue heads ${median(ms.heads).toFixed(1)} ms per claim (medians of ${RUNS}, alternating)`,
      );
      // A withdrawal wave nobody can send now: 50,000 due on a paused endpoint, 50,000 waiting out a
      // retry on an active one (the claim looks at due withdrawals only, and at most 1,000).
      await c.$executeRawUnsafe(`UPDATE "partner"."WebhookEndpoint" SET status = 'PAUSED' WHERE id = $1::uuid`, ids.at(-1));
      for (const [endpoint, type, status, next] of [
        [ids.at(-1), "CONSENT_EXPIRED", "PENDING", "0"],
        [ids.at(-2), "CONSENT_REVOKED", "RETRYING", "60"],
      ] as const)
        await c.$executeRawUnsafe(
          `INSERT INTO "partner"."WebhookDelivery" (id, "endpointId", "partnerId", "eventId", "eventType", "subjectKey", "occurredAt", facts, status, "nextAttemptAt")
         SELECT gen_random_uuid(), $1::uuid, gen_random_uuid(), gen_random_uuid(), $2, 'wave-' || g, now(), '{}'::jsonb, $3::"partner"."WebhookDeliveryStatus", now() + $4::int * interval '1 minute'
         FROM generate_series(1, 50000) g`,
          endpoint,
          type,
          status,
          Number(next),
        );
      await c.$executeRawUnsafe("ANALYZE");
      const wave: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const t = performance.now();
        await c.$queryRawUnsafe<unknown[]>(CLAIM_SQL, 4, 32, HEAD, [], []);
        wave.push(performance.now() - t);
      }
      console.log(`  + 100,000 open withdrawals that cannot be sent now (paused endpoint, retry backoff): queue heads ${median(wave).toFixed(1)} ms per claim`);
    },
    { base: BASE },
  );
}

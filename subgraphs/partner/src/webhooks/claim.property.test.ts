import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { CLAIM_SQL } from "./dispatcher.ts";

/**
 * Property: the dispatcher's claim (CLAIM_SQL: each endpoint's queue head, looking past it only for
 * an endpoint whose full head yields too few) selects exactly what the reference claim selects — the
 * form it replaced, which probes every open delivery for an earlier open one of its subject — in the
 * same order, for any backlog: endpoints active or paused, members' chains of any length, deliveries
 * pending, retrying (waiting out a backoff or due), leased (in flight or with an expired lease),
 * delivered or dead, any per-endpoint concurrency, free slots and head size (small heads force the
 * look past the window). On the real SQL engine (PGlite, or PostgreSQL with DATABASE_URL).
 */

const REFERENCE_SQL = `WITH inflight AS (
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

let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(() => db?.close());

const STATUSES = ["PENDING", "RETRYING", "DELIVERED", "DEAD"] as const;
const row = fc.record({
  endpoint: fc.nat(3),
  subject: fc.nat(4),
  status: fc.constantFrom(...STATUSES, "PENDING", "RETRYING"),
  /** Minutes from now: ≤ 0 is due. */
  next: fc.constantFrom(-60, -1, 0, 5, 60),
  /** null: never leased or its outcome written; minutes from now otherwise (< 0: an expired lease). */
  lease: fc.constantFrom(null, null, null, -5, 5),
});

test("the head-of-queue claim selects what probing every open delivery selects", async () => {
  const client = db.client();
  await fc.assert(
    fc.asyncProperty(
      fc.array(row, { maxLength: 70 }),
      fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 8 }),
      async (rows, active, concurrency, free, head) => {
        const partnerId = randomUUID();
        const endpoints = active.map(() => randomUUID());
        try {
          for (const [i, id] of endpoints.entries())
            await client.$executeRawUnsafe(
              `INSERT INTO "partner"."WebhookEndpoint" (id, "partnerId", url, "eventTypes", "secretEncrypted", "createdBy", status)
               VALUES ($1::uuid, $2::uuid, 'https://partner.example/hooks', ARRAY['POINTS_EARNED'], 'x', 'test', $3::"partner"."WebhookEndpointStatus")`,
              id,
              partnerId,
              active[i] ? "ACTIVE" : "PAUSED",
            );
          // One statement, rows in array order: seq follows it.
          if (rows.length)
            await client.$executeRawUnsafe(
              `INSERT INTO "partner"."WebhookDelivery" (id, "endpointId", "partnerId", "eventId", "eventType", "subjectKey", "occurredAt", facts, status, "nextAttemptAt", "lockedUntil")
               SELECT gen_random_uuid(), e, $2::uuid, gen_random_uuid(), 'POINTS_EARNED', s, now(), '{}'::jsonb, st::"partner"."WebhookDeliveryStatus",
                      now() + nx * interval '1 minute', CASE WHEN lu IS NULL THEN NULL ELSE now() + lu * interval '1 minute' END
               FROM unnest($1::uuid[], $3::text[], $4::text[], $5::int[], $6::int[]) WITH ORDINALITY AS r(e, s, st, nx, lu, o) ORDER BY o`,
              rows.map((r) => endpoints[r.endpoint]),
              partnerId,
              rows.map((r) => `member-${r.subject}`),
              rows.map((r) => r.status),
              rows.map((r) => r.next),
              rows.map((r) => r.lease),
            );
          // Both in one transaction: the same now() and the same rows.
          const [claimed, reference] = await client.$transaction(async (tx) => [
            (await tx.$queryRawUnsafe<{ id: string }[]>(CLAIM_SQL, concurrency, free, head)).map((r) => r.id),
            (await tx.$queryRawUnsafe<{ id: string }[]>(REFERENCE_SQL, concurrency, free)).map((r) => r.id),
          ]);
          expect(claimed).toEqual(reference);
        } finally {
          await client.$executeRawUnsafe(`DELETE FROM "partner"."WebhookEndpoint" WHERE "partnerId" = $1::uuid`, partnerId);
        }
      },
    ),
    { numRuns: 150 },
  );
});

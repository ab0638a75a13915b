import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { CLAIM_SQL } from "./dispatcher.ts";

/**
 * Property: the dispatcher's claim (CLAIM_SQL: each endpoint's queue head, looking past it only for
 * an endpoint whose full head yields too few, plus the heads of chains holding a consent withdrawal)
 * selects exactly what the reference claim selects — the rules written out plainly: every open
 * delivery probed for an earlier open one of its subject and for an open withdrawal in its chain;
 * due withdrawal chains first, then each endpoint's first before any second (least recently served
 * first), then oldest — in the same order, for any
 * backlog: endpoints active or paused, members' chains of any length, deliveries
 * pending, retrying (waiting out a backoff or due), leased (in flight or with an expired lease),
 * delivered or dead, any per-endpoint concurrency, free slots and head size (small heads force the
 * look past the window). On the real SQL engine (PGlite, or PostgreSQL with DATABASE_URL).
 */

const REFERENCE_SQL = `WITH inflight AS (
    SELECT "endpointId", count(*)::int AS n FROM "partner"."WebhookDelivery" WHERE status IN ('PENDING', 'RETRYING') AND "lockedUntil" > now() GROUP BY 1
  ), ready AS (
    SELECT d.id, d."endpointId", d.seq,
      EXISTS (SELECT 1 FROM "partner"."WebhookDelivery" x WHERE x."endpointId" = d."endpointId" AND x."subjectKey" = d."subjectKey"
              AND x.status IN ('PENDING', 'RETRYING') AND x."eventType" IN ('CONSENT_REVOKED', 'CONSENT_EXPIRED') AND x."nextAttemptAt" <= now()) AS urgent
    FROM "partner"."WebhookDelivery" d JOIN "partner"."WebhookEndpoint" e ON e.id = d."endpointId" AND e.status = 'ACTIVE'
    WHERE d.status IN ('PENDING', 'RETRYING') AND d."nextAttemptAt" <= now() AND (d."lockedUntil" IS NULL OR d."lockedUntil" <= now())
      AND NOT EXISTS (SELECT 1 FROM "partner"."WebhookDelivery" p WHERE p."endpointId" = d."endpointId" AND p."subjectKey" = d."subjectKey" AND p.seq < d.seq AND p.status IN ('PENDING', 'RETRYING'))
  ), ranked AS (
    SELECT r.id, r.seq, r.urgent, coalesce(i.n, 0) AS busy, row_number() OVER (PARTITION BY r."endpointId" ORDER BY r.urgent DESC, r.seq) AS k,
      (SELECT t FROM unnest($3::uuid[], $4::bigint[]) AS sv(e, t) WHERE sv.e = r."endpointId") AS turn
    FROM ready r LEFT JOIN inflight i USING ("endpointId")
  )
  SELECT id::text FROM ranked WHERE k + busy <= $1 ORDER BY urgent DESC, k, turn NULLS FIRST, seq LIMIT $2`;

/** CLAIM_SQL without its look past the window (to count the runs where that part decided the result). */
const WITHOUT_BEYOND = CLAIM_SQL.replace("SELECT * FROM ready UNION SELECT * FROM beyond UNION SELECT * FROM urgent_heads", "SELECT * FROM ready UNION SELECT * FROM urgent_heads");

let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(() => db?.close());

const STATUSES = ["PENDING", "RETRYING", "DELIVERED", "DEAD"] as const;
const row = fc.record({
  endpoint: fc.nat(3),
  subject: fc.nat(11),
  /** A consent withdrawal (its chain jumps the queue) or an ordinary event. */
  type: fc.constantFrom("POINTS_EARNED", "POINTS_EARNED", "POINTS_EARNED", "CONSENT_REVOKED", "CONSENT_EXPIRED"),
  status: fc.constantFrom(...STATUSES, "PENDING", "PENDING", "RETRYING"),
  /** Minutes from now: ≤ 0 is due. */
  next: fc.constantFrom(-60, -5, -1, 0, 5, 60),
  /** null: never leased or its outcome written; minutes from now otherwise (< 0: an expired lease). */
  lease: fc.constantFrom(null, null, null, -5, 5),
});

const seen = { claimed: 0, cut: 0, beyond: 0 };

test("the head-of-queue claim selects what probing every open delivery selects", async () => {
  const client = db.client();
  await fc.assert(
    fc.asyncProperty(
      fc.array(row, { maxLength: 120 }),
      fc.array(fc.constantFrom(true, true, true, false), { minLength: 4, maxLength: 4 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 6 }),
      // Small heads (1–3) fill their window with blocked rows: the look past it decides the result.
      fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 8 })),
      /** The claim number that last served each endpoint (null: never). */
      fc.array(fc.option(fc.nat(3)), { minLength: 4, maxLength: 4 }),
      /** Members per endpoint: few make long chains (windows full of blocked rows). */
      fc.constantFrom(2, 2, 3, 12),
      async (generated, active, concurrency, free, head, turns, members) => {
        const rows = generated.map((r) => ({ ...r, subject: r.subject % members }));
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
               SELECT gen_random_uuid(), e, $2::uuid, gen_random_uuid(), ty, s, now(), '{}'::jsonb, st::"partner"."WebhookDeliveryStatus",
                      now() + nx * interval '1 minute', CASE WHEN lu IS NULL THEN NULL ELSE now() + lu * interval '1 minute' END
               FROM unnest($1::uuid[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[]) WITH ORDINALITY AS r(e, s, st, nx, lu, ty, o) ORDER BY o`,
              rows.map((r) => endpoints[r.endpoint]),
              partnerId,
              rows.map((r) => `member-${r.subject}`),
              rows.map((r) => r.status),
              rows.map((r) => r.next),
              rows.map((r) => r.lease),
              rows.map((r) => r.type),
            );
          // Both in one transaction: the same now() and the same rows.
          const served = endpoints.flatMap((id, i) => (turns[i] == null ? [] : [[id, turns[i]!] as const]));
          const servedIds = served.map(([id]) => id);
          const servedTurns = served.map(([, t]) => t);
          const [claimed, reference, withoutBeyond] = await client.$transaction(async (tx) => [
            (await tx.$queryRawUnsafe<{ id: string }[]>(CLAIM_SQL, concurrency, free, head, servedIds, servedTurns)).map((r) => r.id),
            (await tx.$queryRawUnsafe<{ id: string }[]>(REFERENCE_SQL, concurrency, free, servedIds, servedTurns)).map((r) => r.id),
            (await tx.$queryRawUnsafe<{ id: string }[]>(WITHOUT_BEYOND, concurrency, free, head, servedIds, servedTurns)).map((r) => r.id),
          ]);
          expect(claimed).toEqual(reference);
          // What the runs exercised (checked below: a property that never meets these proves little).
          if (JSON.stringify(withoutBeyond) !== JSON.stringify(claimed)) seen.beyond++;
          const full = await client.$queryRawUnsafe<{ id: string }[]>(REFERENCE_SQL, concurrency, 10_000, servedIds, servedTurns);
          if (full.length > claimed.length) seen.cut++;
          if (claimed.length) seen.claimed++;
        } finally {
          await client.$executeRawUnsafe(`DELETE FROM "partner"."WebhookEndpoint" WHERE "partnerId" = $1::uuid`, partnerId);
        }
      },
    ),
    { numRuns: 400 },
  );
  expect(seen.claimed).toBeGreaterThan(50);
  expect(seen.cut).toBeGreaterThan(5);
  // ~10 of 400 runs on average (the deterministic case below always needs it).
  expect(seen.beyond).toBeGreaterThan(0);
});

test("a full head of blocked rows: the claim looks past it for another member's delivery (one member's long chain does not stall an endpoint)", async () => {
  const client = db.client();
  const partnerId = randomUUID();
  const endpointId = randomUUID();
  await client.$executeRawUnsafe(
    `INSERT INTO "partner"."WebhookEndpoint" (id, "partnerId", url, "eventTypes", "secretEncrypted", "createdBy") VALUES ($1::uuid, $2::uuid, 'https://partner.example/hooks', ARRAY['POINTS_EARNED'], 'x', 'test')`,
    endpointId,
    partnerId,
  );
  try {
    // Member A: its first delivery waits out a retry, four more behind it; then member B's one delivery.
    await client.$executeRawUnsafe(
      `INSERT INTO "partner"."WebhookDelivery" (id, "endpointId", "partnerId", "eventId", "eventType", "subjectKey", "occurredAt", facts, status, "nextAttemptAt")
       SELECT gen_random_uuid(), $1::uuid, $2::uuid, gen_random_uuid(), 'POINTS_EARNED', s, now(), '{}'::jsonb, st::"partner"."WebhookDeliveryStatus", now() + nx * interval '1 minute'
       FROM unnest($3::text[], $4::text[], $5::int[]) WITH ORDINALITY AS r(s, st, nx, o) ORDER BY o`,
      endpointId,
      partnerId,
      ["a", "a", "a", "a", "a", "b"],
      ["RETRYING", "PENDING", "PENDING", "PENDING", "PENDING", "PENDING"],
      [5, 0, 0, 0, 0, 0],
    );
    const [b] = await client.$queryRawUnsafe<{ id: string }[]>(`SELECT id::text FROM "partner"."WebhookDelivery" WHERE "endpointId" = $1::uuid AND "subjectKey" = 'b'`, endpointId);
    // A head of 3 rows: all member A's, none ready.
    expect((await client.$queryRawUnsafe<{ id: string }[]>(CLAIM_SQL, 4, 10, 3, [], [])).map((r) => r.id)).toEqual([b!.id]);
    expect(await client.$queryRawUnsafe<{ id: string }[]>(WITHOUT_BEYOND, 4, 10, 3, [], [])).toEqual([]);
  } finally {
    await client.$executeRawUnsafe(`DELETE FROM "partner"."WebhookEndpoint" WHERE id = $1::uuid`, endpointId);
  }
});

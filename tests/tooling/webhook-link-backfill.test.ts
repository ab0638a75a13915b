import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, expect, test } from "vitest";

// The webhooks' link copy backfill (20261203000000): a deployment upgraded from before webhooks holds
// confirmed member links that never produced a member.linked event for the partner subgraph's copy.
// The migrations before the backfill are applied, links are written the way the previous release
// wrote them, then the backfill and every later migration run.
const MIGRATION = "20261203000000_webhook_link_backfill";
const dir = "prisma/migrations";
const all = readdirSync(dir)
  .filter((d) => /^\d{14}_/.test(d))
  .sort();
const sql = (d: string) => readFileSync(path.join(dir, d, "migration.sql"), "utf8");

let db: PGlite;
const [confirmed, pending, copied] = [randomUUID(), randomUUID(), randomUUID()];
const partnerId = randomUUID();
beforeAll(async () => {
  db = new PGlite();
  for (const d of all.filter((d) => d < MIGRATION)) await db.exec(sql(d));
  await db.exec(`
    INSERT INTO "member"."Member" (id, email) VALUES ('${confirmed}', 'a@example.com'), ('${pending}', 'b@example.com'), ('${copied}', 'c@example.com');
    INSERT INTO "member"."LinkedAccount" (id, "memberId", "partnerId", "externalRef", "linkedAt", "confirmedAt") VALUES
      (gen_random_uuid(), '${confirmed}', '${partnerId}', 'REF-A', '2026-06-01T00:00:00Z', '2026-06-02T00:00:00Z'),
      (gen_random_uuid(), '${pending}', '${partnerId}', 'REF-B', '2026-06-01T00:00:00Z', NULL),
      (gen_random_uuid(), '${copied}', '${partnerId}', 'REF-C', '2026-06-01T00:00:00Z', '2026-06-01T00:00:00Z');
    -- A copy its member.linked event already made (after the webhooks migration) is left as it is.
    INSERT INTO "partner"."WebhookMemberLink" ("memberId", "partnerId", "externalRef", "linkedAt") VALUES ('${copied}', '${partnerId}', 'REF-C-EVENT', '2026-06-05T00:00:00Z');`);
  for (const d of all.filter((d) => d >= MIGRATION)) await db.exec(sql(d));
}, 120_000);
afterAll(() => db?.close());

test("confirmed links get their webhook copy; a pending link does not; an existing copy is kept", async () => {
  const rows = await db.query<{ memberId: string; externalRef: string; linkedAt: Date }>(
    `SELECT "memberId"::text AS "memberId", "externalRef", "linkedAt" FROM "partner"."WebhookMemberLink" WHERE "partnerId" = $1 ORDER BY "externalRef"`,
    [partnerId],
  );
  expect(rows.rows.map((r) => [r.memberId, r.externalRef, new Date(r.linkedAt).toISOString()])).toEqual([
    [confirmed, "REF-A", "2026-06-02T00:00:00.000Z"],
    [copied, "REF-C-EVENT", "2026-06-05T00:00:00.000Z"],
  ]);
});

test("running the backfill again changes nothing (idempotent)", async () => {
  await db.exec(sql(MIGRATION));
  const n = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "partner"."WebhookMemberLink"`);
  expect(n.rows[0]!.n).toBe(2);
});

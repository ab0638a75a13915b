import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../lib/db.ts";
import { freshDatabase } from "./db.ts";

let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(() => db?.close());

test("a fresh test database is migrated and empty", async () => {
  const c = db.client();
  expect(await c.partner.count()).toBe(0);
  const rows = await c.$queryRaw<{ migration_name: string }[]>`SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL`;
  expect(rows.map((r) => r.migration_name)).toContain("20261122000000_init");
});

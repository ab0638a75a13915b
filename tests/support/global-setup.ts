import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { MIGRATIONS_DIR, migrate, openDatabase } from "../../lib/db.ts";

/**
 * Migrates one template database per test run (per migration content): PostgreSQL when
 * DATABASE_URL is set, else a dumped PGlite data dir. Each test file then clones it in ~1 s
 * instead of migrating from scratch.
 */
export function migrationsHash(): string {
  const h = createHash("sha256");
  for (const d of readdirSync(MIGRATIONS_DIR).sort()) {
    const f = path.join(MIGRATIONS_DIR, d, "migration.sql");
    if (existsSync(f)) h.update(d).update(readFileSync(f));
  }
  return h.digest("hex").slice(0, 12);
}

export default async function setup() {
  const hash = migrationsHash();
  process.env.HUB_TEST_TEMPLATE = hash;
  if (process.env.DATABASE_URL) {
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    const name = `hub_template_${hash}`;
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!exists.rowCount) {
      const building = `${name}_building_${process.pid}`;
      await admin.query(`DROP DATABASE IF EXISTS "${building}"`);
      await admin.query(`CREATE DATABASE "${building}"`);
      const url = new URL(process.env.DATABASE_URL);
      url.pathname = `/${building}`;
      const db = await openDatabase({ url: url.toString() });
      await migrate(db);
      await db.close();
      await admin.query(`ALTER DATABASE "${building}" RENAME TO "${name}"`).catch(() => admin.query(`DROP DATABASE "${building}"`));
    }
    await admin.end();
  } else {
    const file = `/tmp/coalition-hub-pglite-template-${hash}.tar.gz`;
    if (!existsSync(file)) {
      const db = await openDatabase({});
      await migrate(db);
      const dump = await db.pglite!.dumpDataDir("gzip");
      writeFileSync(file, Buffer.from(await dump.arrayBuffer()));
      await db.close();
    }
  }
}

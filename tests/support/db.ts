import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { type Database, openDatabase } from "../../lib/db.ts";

/**
 * A fresh, migrated database for one test file: a clone of the run's template on PostgreSQL
 * (when DATABASE_URL is set) or an in-memory PGlite loaded from the template dump. Dropped on close.
 */
export async function freshDatabase(): Promise<Database> {
  const hash = process.env.HUB_TEST_TEMPLATE;
  if (!hash) throw new Error("HUB_TEST_TEMPLATE unset: run tests through vitest (tests/support/global-setup.ts)");
  if (process.env.DATABASE_URL) {
    const name = `hub_test_${hash}_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    // CREATE DATABASE ... TEMPLATE fails while another session is connected to the template.
    for (let i = 0; ; i++) {
      try {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE "hub_template_${hash}"`);
        break;
      } catch (e) {
        if (i > 50 || !/being accessed by other users/.test(String(e))) throw e;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
    await admin.end();
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    const db = await openDatabase({ url: url.toString(), poolSize: 20 });
    const close = db.close;
    return Object.assign(db, {
      async close() {
        await close();
        const a = new pg.Client({ connectionString: process.env.DATABASE_URL });
        await a.connect();
        await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await a.end();
      },
    });
  }
  const dump = readFileSync(`/tmp/coalition-hub-pglite-template-${hash}.tar.gz`);
  return openDatabase({ loadDataDir: new Blob([dump]) });
}

/** True when tests run against real PostgreSQL (concurrency tests need it). */
export const onPostgres = () => Boolean(process.env.DATABASE_URL);

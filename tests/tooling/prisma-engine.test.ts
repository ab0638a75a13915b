// prisma/engine: the WASM schema engine and the adapter fixes it depends on (see the header of
// prisma/engine/wasm-engine.mjs). PostgreSQL tests run on DATABASE_URL's server (else the local one),
// each on scratch databases that they drop again; the PGlite ones run too.
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { ColumnTypeEnum } from "@prisma/driver-adapter-utils";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { pendingSql } from "../../prisma/engine/migrate.mjs";
import { CHAR_OID, listMigrations, openEngine, pgConfig, pgFactory, pgliteFactory, SchemaEnginePanic } from "../../prisma/engine/wasm-engine.mjs";

// These test the PostgreSQL adapter itself, so they need a PostgreSQL server: DATABASE_URL's, else
// the one every machine of this project's kind runs at 127.0.0.1:5432.
const ADMIN_URL: string = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const created: string[] = [];

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A new empty database on DATABASE_URL's server; its URL. Dropped after the file. */
async function scratchDatabase(): Promise<string> {
  const name = `hub_engine_test_${randomBytes(4).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  created.push(name);
  const url = new URL(ADMIN_URL!);
  url.pathname = `/${name}`;
  return url.toString();
}

async function query(url: string, sql: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

const shadowDatabases = () => admin(async (c) => (await c.query("SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db_%'")).rows.map((r) => r.datname as string));

afterAll(async () => {
  if (ADMIN_URL)
    await admin(async (c) => {
      for (const name of created) await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    });
});

const raw = (sql: string) => ({ sql, args: [], argTypes: [] });

describe("fix 1: the shadow database is configured from fields, never from the URL", () => {
  test("pgConfig splits a URL into pg fields (no connectionString to override `database`)", () => {
    const cfg = pgConfig("postgresql://hub%40ops:p%3Ass@db.example:6543/coalition_hub?sslmode=require&schema=member");
    expect(cfg).toEqual({ host: "db.example", port: 6543, database: "coalition_hub", user: "hub@ops", password: "p:ss", ssl: { rejectUnauthorized: false } });
    expect(cfg).not.toHaveProperty("connectionString");
    expect(pgConfig("postgresql://postgres@127.0.0.1/x").port).toBe(5432);
    expect(pgConfig("postgresql://postgres@localhost/x?host=/var/run/postgresql").host).toBe("/var/run/postgresql");
  });

  test("why: pg lets connectionString win over `database`, so {...urlConfig, database: shadow} is the main database", async () => {
    const main = await scratchDatabase();
    const c = new pg.Client({ connectionString: main, database: "postgres" });
    await c.connect();
    const { rows } = await c.query("SELECT current_database() AS db");
    await c.end();
    expect(rows[0].db).toBe(new URL(main).pathname.slice(1));
  });

  test("replaying the migrations happens on a throwaway shadow database; the main database is untouched and the shadow is dropped", async () => {
    const main = await scratchDatabase();
    await query(main, "CREATE TABLE sentinel (id int)");

    const factory = await pgFactory(main);
    const shadow = await factory.connectToShadowDb();
    const { rows } = await shadow.queryRaw(raw("SELECT current_database()"));
    const shadowName = rows[0][0] as string;
    expect(shadowName).toMatch(/^prisma_migrate_shadow_db_/);
    expect(await shadowDatabases()).toContain(shadowName);
    await shadow.dispose();
    expect(await shadowDatabases()).not.toContain(shadowName);

    // The drift check replays every migration (CREATE SCHEMA member, points, partner, ...) on the shadow.
    expect(await pendingSql({ shadow: main })).toBe("");
    await factory.close();

    const tables = await query(main, "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')");
    expect(tables.rows.map((r) => r.t)).toEqual(["public.sentinel"]);
  });
});

describe("a configured shadow database (shadowDatabaseUrl, for users without CREATEDB)", () => {
  test("is emptied and used instead of a throwaway database", async () => {
    const main = await scratchDatabase();
    const shadowUrl = await scratchDatabase();
    await query(shadowUrl, "CREATE SCHEMA leftover; CREATE TABLE leftover.t (id int)");
    const factory = await pgFactory(main, { shadowDatabaseUrl: shadowUrl });
    try {
      const shadow = await factory.connectToShadowDb();
      const { rows } = await shadow.queryRaw(raw("SELECT current_database(), to_regclass('leftover.t') IS NULL"));
      expect(rows[0]).toEqual([new URL(shadowUrl).pathname.slice(1), true]);
    } finally {
      await factory.close();
    }
  });

  test("is refused when it is the main database (it would be emptied)", async () => {
    const main = await scratchDatabase();
    await query(main, "CREATE TABLE precious (id int)");
    const factory = await pgFactory(main, { shadowDatabaseUrl: main });
    try {
      await expect(factory.connectToShadowDb()).rejects.toThrow("is the main database");
    } finally {
      await factory.close();
    }
    expect((await query(main, "SELECT to_regclass('public.precious') AS t")).rows[0].t).toBe("precious");
  });
});

describe('fix 2: Postgres "char" (OID 18) is read as a character', () => {
  test("stock adapter-pg 7.10 refuses the type (remove the fix when this fails after an upgrade)", async () => {
    const adapter = await new PrismaPg(pgConfig(ADMIN_URL!)).connect();
    try {
      await expect(adapter.queryRaw(raw(`SELECT 'c'::"char" AS contype`))).rejects.toMatchObject({ cause: { kind: "UnsupportedNativeDataType" } });
    } finally {
      await adapter.dispose();
    }
  });

  test("the fixed adapter returns it as ColumnType.Character, also inside transactions", async () => {
    const factory = await pgFactory(ADMIN_URL!);
    try {
      const adapter = await factory.connect();
      const r = await adapter.queryRaw(raw(`SELECT 'c'::"char" AS contype, 'x'::text AS other, ${CHAR_OID}::oid AS oid`));
      expect(r.columnTypes).toEqual([ColumnTypeEnum.Character, ColumnTypeEnum.Text, ColumnTypeEnum.Int64]);
      expect(r.rows[0].slice(0, 2)).toEqual(["c", "x"]);
      const tx = await adapter.startTransaction();
      const t = await tx.queryRaw(raw("SELECT contype FROM pg_constraint LIMIT 1"));
      expect(t.columnTypes).toEqual([ColumnTypeEnum.Character]);
      await tx.rollback();
    } finally {
      await factory.close();
    }
  });

  test("the schema engine describes a PostgreSQL database with CHECK constraints (the ledger_invariants migration) without panicking", async () => {
    // Relabelling "char" as text was not enough: the describer reads pg_constraint.contype as a char.
    expect(await pendingSql({ shadow: ADMIN_URL! })).toBe("");
  });

  test("the same on PGlite (its adapter maps the type itself)", async () => {
    expect(await pendingSql({ shadow: "pglite" })).toBe("");
  });
});

describe("fix 3: a migration script is sent whole, in one implicit transaction", () => {
  const functionScript = `
    CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL);
    CREATE FUNCTION refuse_negative() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.balance < 0 THEN RAISE EXCEPTION 'balance below zero; refused'; END IF;
      RETURN NEW;
    END;
    $$;
    CREATE TRIGGER account_balance BEFORE INSERT OR UPDATE ON account FOR EACH ROW EXECUTE FUNCTION refuse_negative();
  `;

  test("stock adapter-pg 7.10 splits on ';' and breaks a $$ body (remove the fix when this fails after an upgrade)", async () => {
    const url = await scratchDatabase();
    const adapter = await new PrismaPg(pgConfig(url)).connect();
    try {
      await expect(adapter.executeScript(functionScript)).rejects.toThrow();
    } finally {
      await adapter.dispose();
    }
  });

  test("$$ function bodies survive", async () => {
    const url = await scratchDatabase();
    const factory = await pgFactory(url);
    try {
      await (await factory.connect()).executeScript(functionScript);
    } finally {
      await factory.close();
    }
    await query(url, "INSERT INTO account VALUES (1, 5)");
    await expect(query(url, "UPDATE account SET balance = -1")).rejects.toThrow("balance below zero; refused");
  });

  test("a failing statement undoes the statements before it", async () => {
    const url = await scratchDatabase();
    const factory = await pgFactory(url);
    try {
      const adapter = await factory.connect();
      await expect(adapter.executeScript("CREATE TABLE first_step (id int); INSERT INTO first_step VALUES (1); SELECT 1/0;")).rejects.toMatchObject({ cause: { originalCode: "22012" } });
    } finally {
      await factory.close();
    }
    const { rows } = await query(url, "SELECT to_regclass('public.first_step') AS t");
    expect(rows[0].t).toBeNull();
  });
});

describe("PGlite: scripts are awaited (pglite-prisma-adapter 0.7.2 fires and forgets them)", () => {
  test("a failing script rejects and leaves nothing behind", async () => {
    const db = await PGlite.create();
    try {
      const factory = await pgliteFactory(db);
      const adapter = await factory.connect();
      await expect(adapter.executeScript("CREATE TABLE half (id int); SELECT 1/0;")).rejects.toThrow();
      expect((await db.query("SELECT to_regclass('public.half') AS t")).rows).toEqual([{ t: null }]);
      // (The stock adapter's executeScript resolves at once and its failure becomes an unhandled
      // rejection: that is how a broken migration got recorded as applied. Not shown here, for that reason.)
    } finally {
      await db.close();
    }
  });
});

describe("panics", () => {
  test("a Rust panic in the WASM engine surfaces as SchemaEnginePanic with its message", async () => {
    const factory = await pgliteFactory();
    const engine = (await openEngine(factory)) as unknown as { debugPanic(): void; free(): void };
    try {
      expect(() => engine.debugPanic()).toThrow(SchemaEnginePanic);
    } finally {
      await factory.close();
    }
  });

  test("the stock CLI reports a panic of the shim as a failure (an engine that died once read as 'no drift')", () => {
    const run = spawnSync("npx", ["prisma", "migrate", "diff", "--from-migrations", "prisma/migrations", "--to-schema", "prisma/schema", "--exit-code"], {
      encoding: "utf8",
      env: { ...process.env, FORCE_PANIC_SCHEMA_ENGINE: "1", DATABASE_URL: ADMIN_URL },
    });
    expect(run.status).toBe(1);
    expect(run.stderr + run.stdout).toContain("This is the debugPanic artificial panic");
  });
});

test("migrate deploy through the engine records _prisma_migrations like the CLI", async () => {
  const url = await scratchDatabase();
  const factory = await pgFactory(url);
  const engine = await openEngine(factory);
  try {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList: await listMigrations("prisma/migrations"), filters: { externalTables: [], externalEnums: [] } });
    expect(appliedMigrationNames.length).toBeGreaterThan(0);
  } finally {
    engine.free();
    await factory.close();
  }
  const { rows } = await query(url, "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name");
  expect(rows.map((r) => r.migration_name)).toEqual(
    (await import("node:fs"))
      .readdirSync("prisma/migrations")
      .filter((d) => /^\d/.test(d))
      .sort(),
  );
});

import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, test } from "vitest";
import { keepAsTemplate, MIGRATIONS_DIR, prepareDataDirInWorker, templateDir } from "./pglite-prepare.ts";

const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("the template is named after the migrations: an edited or an added migration is another template; off is none", () => {
  const cache = tmp("tpl-cache-");
  const migrations = tmp("tpl-migrations-");
  cpSync(MIGRATIONS_DIR, migrations, { recursive: true });
  const base = templateDir(cache, migrations)!;
  expect(path.dirname(base)).toBe(cache);
  expect(path.basename(base)).toMatch(/^pglite-[0-9a-f]{16}$/);
  expect(templateDir(cache, migrations)).toBe(base); // stable

  const first = readdirSync(migrations)
    .filter((f) => f !== "migration_lock.toml")
    .sort()[0]!;
  const sql = path.join(migrations, first, "migration.sql");
  writeFileSync(sql, `${readFileSync(sql, "utf8")}\n-- edited\n`);
  const edited = templateDir(cache, migrations)!;
  expect(edited).not.toBe(base);

  mkdirSync(path.join(migrations, "29991231000000_later"));
  writeFileSync(path.join(migrations, "29991231000000_later", "migration.sql"), "SELECT 1;");
  const added = templateDir(cache, migrations)!;
  expect(new Set([base, edited, added]).size).toBe(3);

  expect(templateDir("off", migrations)).toBeNull();
});

test("keeping a template appears whole or not at all, removes older templates and leaves the cluster as it was", () => {
  const cache = tmp("tpl-cache-");
  const cluster = tmp("tpl-cluster-");
  writeFileSync(path.join(cluster, "PG_VERSION"), "17\n");
  mkdirSync(path.join(cluster, "base"));
  writeFileSync(path.join(cluster, "base", "1"), "data");
  const old = path.join(cache, "pglite-0123456789abcdef");
  mkdirSync(old, { recursive: true });
  writeFileSync(path.join(old, "PG_VERSION"), "17\n");
  const unrelated = path.join(cache, "notes");
  writeFileSync(unrelated, "keep");

  const template = path.join(cache, "pglite-fedcba9876543210");
  keepAsTemplate(cluster, template);
  expect(existsSync(path.join(template, "base", "1"))).toBe(true);
  expect(existsSync(old)).toBe(false);
  expect(existsSync(unrelated)).toBe(true);
  expect(readdirSync(cache).sort()).toEqual(["notes", "pglite-fedcba9876543210"]);
  expect(existsSync(path.join(cluster, "base", "1"))).toBe(true);

  // A cache that cannot be written (a file where the directory would be): the start goes on, nothing half-made stays.
  const blocked = path.join(tmp("tpl-blocked-"), "file");
  writeFileSync(blocked, "");
  expect(() => keepAsTemplate(cluster, path.join(blocked, "pglite-fedcba9876543210"))).not.toThrow();
  expect(readdirSync(path.dirname(blocked))).toEqual(["file"]);
});

test("a template that cannot be copied is not used: the cluster is made, nothing half-copied stays, and a sound template replaces it", async () => {
  const cache = tmp("tpl-cache-");
  const template = templateDir(cache)!;
  mkdirSync(template, { recursive: true });
  writeFileSync(path.join(template, "PG_VERSION"), "17\n");
  writeFileSync(path.join(template, "damaged"), "");
  const dataDir = path.join(tmp("tpl-data-"), "pgdata");
  // The copy fails half-way (a damaged template, or another checkout sharing the cache pruning it).
  const failing = (from: string, to: string) => {
    mkdirSync(to, { recursive: true });
    writeFileSync(path.join(to, "PG_VERSION"), "17\n");
    throw new Error(`EIO: copying ${from}`);
  };
  const made = await prepareDataDirInWorker(dataDir, template, failing);
  expect(made.from).toBe("initdb");
  expect(made.applied.length).toBeGreaterThan(0);
  expect(existsSync(path.join(dataDir, "base"))).toBe(true);
  expect(existsSync(`${dataDir}.preparing`)).toBe(false);
  expect(existsSync(path.join(template, "damaged"))).toBe(false); // the damaged one is gone…
  expect(existsSync(path.join(template, "base"))).toBe(true); // …and this start's cluster took its place
  expect((await prepareDataDirInWorker(path.join(tmp("tpl-data-"), "pgdata"), template)).from).toBe("template");
}, 120_000);

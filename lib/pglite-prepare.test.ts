import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, test } from "vitest";
import { isUsableTemplate, keepAsTemplate, MIGRATIONS_DIR, prepareDataDirInWorker, templateDir } from "./pglite-prepare.ts";

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

test("a template is used only whole and checked: one without its manifest is replaced; a copy failing or coming out short makes the cluster instead, leaving the template", async () => {
  const cache = tmp("tpl-cache-");
  const template = templateDir(cache)!;
  // Half a template under the template's name (no manifest: not renamed in by keepAsTemplate).
  mkdirSync(template, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(template, "PG_VERSION"), "17\n");
  writeFileSync(path.join(template, "damaged"), "");
  const fresh = () => path.join(tmp("tpl-data-"), "pgdata");
  const first = fresh();
  const made = await prepareDataDirInWorker(first, template);
  expect(made.from).toBe("initdb");
  expect(made.applied.length).toBeGreaterThan(0);
  expect(existsSync(path.join(first, "base"))).toBe(true);
  expect(existsSync(path.join(template, "damaged"))).toBe(false); // the half one is gone…
  expect(existsSync(path.join(template, "coalition-hub-template.json"))).toBe(true); // …a whole one took its place

  // A copy that fails half-way, and one that "succeeds" with files missing (a concurrent prune).
  const failing = (_from: string, to: string) => {
    mkdirSync(to, { recursive: true });
    writeFileSync(path.join(to, "PG_VERSION"), "17\n");
    throw new Error("ENOSPC: no space left on device");
  };
  const short = (from: string, to: string) => {
    cpSync(from, to, { recursive: true });
    rmSync(path.join(to, "global"), { recursive: true });
  };
  for (const copy of [failing, short]) {
    const dataDir = fresh();
    const r = await prepareDataDirInWorker(dataDir, template, copy);
    expect(r.from).toBe("initdb");
    expect(existsSync(path.join(dataDir, "global"))).toBe(true);
    expect(existsSync(`${dataDir}.preparing`)).toBe(false);
  }
  const copiedDir = fresh();
  expect((await prepareDataDirInWorker(copiedDir, template)).from).toBe("template");
  expect(existsSync(path.join(copiedDir, "coalition-hub-template.json"))).toBe(false); // the manifest stays with the template
  expect(readdirSync(cache)).toEqual([path.basename(template)]); // nothing half-made beside it
}, 180_000);

test("a template writable by others is not used (a shared HUB_PGLITE_TEMPLATE directory)", () => {
  const cache = tmp("tpl-cache-");
  const cluster = tmp("tpl-cluster-");
  writeFileSync(path.join(cluster, "PG_VERSION"), "17\n");
  const template = path.join(cache, "pglite-fedcba9876543210");
  keepAsTemplate(cluster, template);
  expect(statSync(template).mode & 0o777).toBe(0o700);
  expect(isUsableTemplate(template)).toBe(true);
  chmodSync(template, 0o777);
  expect(isUsableTemplate(template)).toBe(false);
});

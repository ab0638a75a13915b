import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, test } from "vitest";
import { pendingSql } from "../../prisma/engine/migrate.mjs";

// The stock CLI replays the migrations on a throwaway shadow database of this server (PostgreSQL runs
// on every machine of this project's kind); the database named in the URL is only connected to.
const CLI_DATABASE_URL = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const scratch = mkdtempSync(path.join(tmpdir(), "hub-drift-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `prisma migrate diff --from-migrations ... --to-schema <schema> --exit-code`: 0 = same, 2 = drift. */
function cliDiff(schema: string) {
  return spawnSync("npx", ["prisma", "migrate", "diff", "--from-migrations", "prisma/migrations", "--to-schema", schema, "--exit-code"], {
    encoding: "utf8",
    env: { ...process.env, CI: "1", DATABASE_URL: CLI_DATABASE_URL },
  });
}

test("prisma/migrations matches prisma/schema/ (no drift)", async () => {
  // In-process: the WASM schema engine replays the migrations on an in-memory PGlite shadow.
  const sql = await pendingSql({ shadow: "pglite" });
  expect(sql, `prisma/schema/ has changes no migration captures; run ./scripts/regen-init-migration.sh (before the first release) or npx prisma migrate dev --name <what>:\n${sql}`).toBe("");
});

test("the stock Prisma CLI works offline through the schema-engine shim (migrate diff --exit-code → 0)", () => {
  const run = cliDiff("prisma/schema");
  expect(run.status, `prisma migrate diff exited ${run.status} (0 = no drift, 2 = drift, else the CLI failed):\n${run.stdout}\n${run.stderr}`).toBe(0);
  expect(run.stdout).toContain("No difference detected.");
});

test("…and it does report drift (exit code 2) when the schema has a change no migration captures", () => {
  // Guards against a false green: an engine that dies silently must not read as "no drift".
  // A copy of the schema folder with one more file (the CLI reads every .prisma file of the folder).
  const schema = path.join(scratch, "schema");
  cpSync("prisma/schema", schema, { recursive: true });
  writeFileSync(path.join(schema, "probe.prisma"), `model DriftProbe {\n  id Int @id\n\n  @@schema("member")\n}\n`);
  const run = cliDiff(schema);
  expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(2);
  expect(run.stdout).toContain("DriftProbe");
});

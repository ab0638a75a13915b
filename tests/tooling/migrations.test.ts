import { spawnSync } from "node:child_process";
import { expect, test } from "vitest";
import { pendingSql } from "../../prisma/engine/migrate.mjs";

test("prisma/migrations matches schema.prisma (no drift)", async () => {
  // In-process: replays the migrations on an in-memory PGlite shadow with the WASM schema engine.
  const prev = process.env.SHADOW;
  process.env.SHADOW = "pglite";
  try {
    const sql: string = await pendingSql();
    expect(sql, `schema.prisma has changes no migration captures; run ./scripts/regen-init-migration.sh or prisma migrate dev:\n${sql}`).toBe("");
  } finally {
    process.env.SHADOW = prev;
  }
});

test("the stock Prisma CLI works offline through the schema-engine shim (migrate diff --exit-code)", () => {
  // Exit code 0 = no difference, 2 = drift; anything else = the CLI could not run.
  const run = spawnSync("npx", ["prisma", "migrate", "diff", "--from-migrations", "prisma/migrations", "--to-schema", "prisma/schema.prisma", "--exit-code"], {
    encoding: "utf8",
    // The CLI replays the migrations on a shadow database of this server (PostgreSQL runs on every
    // machine of this project's kind; DATABASE_URL points elsewhere when set).
    env: { ...process.env, CI: "1", DATABASE_URL: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres" },
  });
  expect(run.status, `prisma migrate diff exited ${run.status}:\n${run.stdout}\n${run.stderr}`).toBe(0);
});

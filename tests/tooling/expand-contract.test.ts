import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { lastRelease } from "../support/previous-release.ts";

/**
 * Migrations are expand/contract (issue 18 §8, docs/ARCHITECTURE.md, rule "upgrades"): a migration runs
 * while the previous release serves traffic, so a migration added since the last release may only
 * expand (new tables, nullable columns or columns with a default, new indexes, triggers, functions).
 * Contracting (dropping or renaming a column or table, a new NOT NULL without a default on an
 * existing table, a column type change, SET NOT NULL) waits for the release AFTER the one whose code
 * stopped using it, and needs an entry in ALLOWED with the reason and the release that stopped.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const MIGRATIONS = path.join(ROOT, "prisma/migrations");

/** Contracting migrations allowed on purpose: "<migration folder>": "why it is safe now (which release stopped using the thing)". */
const ALLOWED: Record<string, string> = {};

const RULES: [RegExp, string][] = [
  [/\bDROP\s+COLUMN\b/i, "DROP COLUMN (the previous release still reads it)"],
  [/\bDROP\s+TABLE\b/i, "DROP TABLE (the previous release still uses it)"],
  [/\bRENAME\b/i, "RENAME (the previous release uses the old name)"],
  [/\bALTER\s+COLUMN\s+"?\w+"?\s+(SET\s+DATA\s+)?TYPE\b/i, "a column type change (rewrites the table under an exclusive lock; the previous release may not read the new type)"],
  [/\bALTER\s+COLUMN\s+"?\w+"?\s+SET\s+NOT\s+NULL\b/i, "SET NOT NULL (the previous release may still write NULL)"],
  [/\bADD\s+COLUMN\s+(?:(?!DEFAULT)[^,;])*\bNOT\s+NULL\b(?:(?!DEFAULT)[^,;])*(?:[,;]|$)/i, "ADD COLUMN ... NOT NULL without DEFAULT (the previous release's inserts fail)"],
];

/** The contracting statements of a migration's SQL (comments removed), each with the rule it breaks. */
function contractions(sql: string): string[] {
  const code = sql.replace(/--[^\n]*/g, "").replace(/\/\*[\s\S]*?\*\//g, "");
  const found: string[] = [];
  for (const statement of code.split(/;\s*(?:\n|$)/)) {
    // CREATE TABLE's own NOT NULL columns are not contracting: the table is new.
    if (/^\s*CREATE\s+(TABLE|(UNIQUE\s+)?INDEX|OR\s+REPLACE|FUNCTION|TRIGGER|SCHEMA|TYPE)\b/i.test(statement)) continue;
    for (const [re, why] of RULES) if (re.test(statement)) found.push(`${why}: ${statement.trim().replace(/\s+/g, " ").slice(0, 160)}`);
  }
  return found;
}

describe("expand/contract", () => {
  const release = lastRelease();
  const released = new Set(
    execFileSync("git", ["ls-tree", "--name-only", `${release.commit}:prisma/migrations`], { cwd: ROOT, encoding: "utf8" })
      .split("\n")
      .filter(Boolean),
  );
  const added = readdirSync(MIGRATIONS).filter((d) => /^\d{14}_/.test(d) && !released.has(d));

  test("the last release and the migrations added since are found", () => {
    expect(release.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(released.has("20261122000000_init")).toBe(true);
    expect(added).toContain("20261202009000_audit_trail");
  });

  test.each(added.length ? added : ["(none)"])("%s only expands (or is allowed with a reason)", (dir) => {
    if (dir === "(none)") return;
    const found = contractions(readFileSync(path.join(MIGRATIONS, dir, "migration.sql"), "utf8"));
    if (ALLOWED[dir]) expect(ALLOWED[dir]!.length, `${dir}: say why`).toBeGreaterThan(20);
    else
      expect(
        found,
        `${dir} contracts the schema while release ${release.version} may still be serving; split it (expand now, contract in the release after the code stopped using it) or allow it in tests/tooling/expand-contract.test.ts with the reason`,
      ).toEqual([]);
  });

  test("the scanner finds each contracting form and passes the expanding ones", () => {
    const bad = [
      'ALTER TABLE "points"."Lot" DROP COLUMN "remaining";',
      'DROP TABLE "partner"."Offer";',
      'ALTER TABLE "partner"."Offer" RENAME COLUMN "title" TO "name";',
      'ALTER TABLE "partner"."Offer" RENAME TO "Deal";',
      'ALTER TABLE "points"."Posting" ALTER COLUMN "amount" SET DATA TYPE BIGINT;',
      'ALTER TABLE "points"."Posting" ALTER COLUMN "amount" TYPE BIGINT;',
      'ALTER TABLE "partner"."Person" ALTER COLUMN "displayName" SET NOT NULL;',
      'ALTER TABLE "partner"."Person" ADD COLUMN "locale" TEXT NOT NULL;',
    ];
    for (const sql of bad) expect(contractions(sql), sql).toHaveLength(1);
    const good = [
      'ALTER TABLE "partner"."ApiClient" ADD COLUMN "allowedOrigins" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[];',
      'ALTER TABLE "partner"."Person" ADD COLUMN "locale" TEXT;',
      'CREATE TABLE "partner"."AuditEntry" ("id" UUID NOT NULL, "at" TIMESTAMPTZ(3) NOT NULL);',
      'CREATE INDEX "x" ON "partner"."AuditEntry"("at");',
      "-- DROP COLUMN in a comment\nSELECT 1;",
      "CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'x'; END; $$;",
    ];
    for (const sql of good) expect(contractions(sql), sql).toEqual([]);
  });
});

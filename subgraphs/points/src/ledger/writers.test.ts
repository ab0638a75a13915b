import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

// "One way into the ledger" (issue 15): transactions, postings, lots and account balances are
// written only by the ledger module (subgraphs/points/src/ledger/: post, the batch entry point,
// lots, holds). Everything else asks it. This scan fails when product code anywhere else writes one
// of those tables, in SQL or through the Prisma client, so a second write path cannot come back
// unnoticed (as earnChunk's own CTE beside `post` once did).

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
const LEDGER_DIR = "subgraphs/points/src/ledger/";
const TABLES = ["LedgerTransaction", "Posting", "Lot", "LotConsumption", "LedgerAccount"] as const;
/** Product code: what runs in the hub (tests and bench/ fixtures write rows on purpose and are not scanned). */
const SCANNED = ["lib", "gateway", "subgraphs", "scripts", "prisma/seed.ts"];

const sqlWrite = new RegExp(String.raw`\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|COPY|MERGE\s+INTO)\s+"points"\s*\.\s*"(${TABLES.join("|")})"`, "gi");
const delegate = (t: string) => t[0]!.toLowerCase() + t.slice(1);
const prismaWrite = new RegExp(String.raw`\.(${TABLES.map(delegate).join("|")})\s*\.\s*(?:create|createMany|createManyAndReturn|update|updateMany|updateManyAndReturn|upsert|delete|deleteMany)\s*\(`, "g");

/** The ledger tables a source text writes. */
function ledgerWrites(source: string): string[] {
  const found = new Set<string>();
  for (const m of source.matchAll(sqlWrite)) found.add(TABLES.find((t) => t.toLowerCase() === m[1]!.toLowerCase())!);
  for (const m of source.matchAll(prismaWrite)) found.add(TABLES.find((t) => delegate(t) === m[1])!);
  return [...found].sort();
}

function sourceFiles(rel: string): string[] {
  const abs = path.join(ROOT, rel);
  if (rel.endsWith(".ts")) return [rel];
  return readdirSync(abs, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mts|cts|js|mjs|cjs)$/.test(e.name) && !/\.(test|e2e)\.ts$/.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)))
    .filter((f) => !f.split(path.sep).includes("node_modules"));
}

describe("one way into the ledger", () => {
  const files = SCANNED.flatMap(sourceFiles).map((f) => f.split(path.sep).join("/"));
  const writers = files.map((f) => ({ file: f, tables: ledgerWrites(readFileSync(path.join(ROOT, f), "utf8")) })).filter((w) => w.tables.length);

  test("the scan recognises the ways a table is written", () => {
    expect(ledgerWrites('UPDATE "points"."LedgerAccount" SET held = held + 1')).toEqual(["LedgerAccount"]);
    expect(ledgerWrites('insert into "points"."Posting" ("transactionId") values ($1)')).toEqual(["Posting"]);
    expect(ledgerWrites('WITH l AS (INSERT INTO "points"."Lot" (points) VALUES (1)) DELETE FROM "points"."LotConsumption"')).toEqual(["Lot", "LotConsumption"]);
    expect(ledgerWrites("await tx.ledgerTransaction.create({ data })")).toEqual(["LedgerTransaction"]);
    expect(ledgerWrites("prisma().lot.updateMany({ where })")).toEqual(["Lot"]);
    // Reads are not writes.
    expect(ledgerWrites('SELECT balance FROM "points"."LedgerAccount" WHERE id = $1 FOR UPDATE')).toEqual([]);
    expect(ledgerWrites("tx.ledgerAccount.findMany({})")).toEqual([]);
  });

  test("only the ledger module writes transactions, postings, lots and account balances", () => {
    const outside = writers.filter((w) => !w.file.startsWith(LEDGER_DIR));
    expect(outside.map((w) => `${w.file}: ${w.tables.join(", ")}`)).toEqual([]);
  });

  test("the ledger module does write every one of them (the scan is not looking at nothing)", () => {
    const inside = new Set(writers.filter((w) => w.file.startsWith(LEDGER_DIR)).flatMap((w) => w.tables));
    expect([...inside].sort()).toEqual([...TABLES].sort());
  });
});

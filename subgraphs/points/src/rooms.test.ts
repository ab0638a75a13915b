import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

// The points subgraph's rooms (docs/ARCHITECTURE.md, "Layout of the points subgraph") and what each
// may import. The ledger is the core everything else builds on, so it imports no other room; the
// capabilities build on the ledger and not on each other (earning's tier upgrades excepted); no room
// depends on the GraphQL layer; test helpers never reach product code.

const SRC = path.dirname(fileURLToPath(import.meta.url));
const ROOMS = ["ledger", "program", "tiers", "perks", "earning", "redemption", "settlement", "schema", "testing"] as const;
/** The top-level modules a room may use besides its own files and the rooms below. */
const KERNEL = ["config.ts", "db.ts", "domain.ts"];

const MAY_IMPORT: Record<string, { rooms: readonly string[]; top: readonly string[] | "any" }> = {
  ledger: { rooms: [], top: ["config.ts", "db.ts"] },
  program: { rooms: ["ledger"], top: KERNEL },
  tiers: { rooms: ["ledger", "program"], top: KERNEL },
  // perks: standing tier benefits, the program's bonuses, retention (issue 16); earns pay bonuses through it.
  perks: { rooms: ["ledger", "program", "tiers"], top: KERNEL },
  earning: { rooms: ["ledger", "program", "tiers", "perks"], top: KERNEL },
  redemption: { rooms: ["ledger"], top: KERNEL },
  settlement: { rooms: ["ledger"], top: KERNEL },
  schema: { rooms: ["ledger", "program", "tiers", "perks", "earning", "redemption", "settlement"], top: "any" },
  testing: { rooms: ROOMS, top: "any" },
  "domain.ts": { rooms: ["ledger"], top: [] },
  top: { rooms: ["ledger", "program", "tiers", "perks", "earning", "redemption", "settlement", "schema"], top: "any" },
};

/** The room of a path relative to src/: its first directory, or the file itself ("domain.ts") / "top" at the top level. */
function roomOf(rel: string): string {
  const [first, ...rest] = rel.split("/");
  if (rest.length) return first!;
  return first === "domain.ts" ? "domain.ts" : "top";
}

/** Whether `from` (a file relative to src/) may import `to` (relative to src/, or outside it). */
function allowed(from: string, to: string): boolean {
  if (to.startsWith("../")) return true; // lib/, prisma/generated, tests/support: outside the rooms
  const a = roomOf(from);
  const b = roomOf(to);
  if (a === b && a !== "top") return true;
  const rule = MAY_IMPORT[a]!;
  if (b === "top" || b === "domain.ts") return rule.top === "any" || rule.top.includes(to);
  return rule.rooms.includes(b);
}

function importsOf(file: string): string[] {
  const text = readFileSync(path.join(SRC, file), "utf8");
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]!);
  return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));
}

describe("rooms of the points subgraph", () => {
  const files = readdirSync(SRC, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts"))
    .map((e) => path.relative(SRC, path.join(e.parentPath, e.name)).split(path.sep).join("/"));

  test("the rule reads as documented", () => {
    expect(allowed("earning/chunk.ts", "ledger/batch.ts")).toBe(true);
    expect(allowed("ledger/ledger.ts", "earning/award.ts")).toBe(false);
    expect(allowed("ledger/batch.ts", "domain.ts")).toBe(false);
    expect(allowed("settlement/runs.ts", "redemption/redeem.ts")).toBe(false);
    expect(allowed("redemption/redeem.ts", "schema/points.ts")).toBe(false);
    expect(allowed("events.ts", "testing/harness.ts")).toBe(false);
    expect(allowed("schema/member.ts", "reads.ts")).toBe(true);
    expect(allowed("earning/award.ts", "perks/bonuses.ts")).toBe(true);
    expect(allowed("perks/bonuses.ts", "earning/award.ts")).toBe(false);
    expect(allowed("perks/retention.ts", "settlement/runs.ts")).toBe(false);
  });

  test("every import of product code follows it", () => {
    expect(files.length).toBeGreaterThan(30);
    const broken = files.flatMap((f) =>
      importsOf(f)
        .filter((to) => !allowed(f, to))
        .map((to) => `${f} imports ${to}`),
    );
    expect(broken).toEqual([]);
  });
});

import type { PrismaClient } from "../../../../lib/db.ts";
import type { Tier } from "../../../../lib/vocabulary.ts";
import type { Tx } from "../ledger/ledger.ts";
import { currentTier, evaluateTiers } from "./evaluate.ts";
import type { Program } from "./model.ts";
import { versionAt } from "./versions.ts";

/** One from → to tier move of a preview (tier codes of the version in force and of the new program). */
export interface TierMove {
  fromCode: string;
  fromTier: Tier;
  toCode: string;
  toTier: Tier;
  members: number;
}

export interface ProgramChangePreview {
  at: Date;
  /** Members evaluated: every member with a wallet. */
  membersEvaluated: number;
  /** Members whose tier would change. */
  membersChanging: number;
  /** Moves with at least one member, by (from, to). */
  moves: TierMove[];
}

const PAGE = 1000;

/**
 * How many members would change tier if `program` were in force at `at`: each member's current
 * tier (stored, read under the version in force at `at`) against the tier `program` assigns from the
 * ledger. Read-only: pages of 1,000 members, one sums query per page.
 */
export async function evaluateTiersForPreview(db: Tx | PrismaClient, program: Program, at: Date): Promise<ProgramChangePreview> {
  const inForce = await versionAt(db, at);
  const moves = new Map<string, TierMove>();
  let evaluated = 0;
  let changing = 0;
  let cursor = "00000000-0000-0000-0000-000000000000";
  for (;;) {
    const rows = await db.$queryRaw<{ memberId: string; tier: Tier | null; tierCode: string | null }[]>`
      SELECT a."memberId"::text AS "memberId", s.tier::text AS tier, s."tierCode"
      FROM "points"."LedgerAccount" a LEFT JOIN "points"."TierState" s ON s."memberId" = a."memberId"
      WHERE a.kind = 'MEMBER_WALLET' AND a."memberId" > ${cursor}::uuid ORDER BY a."memberId" LIMIT ${PAGE}`;
    if (!rows.length) break;
    cursor = rows.at(-1)!.memberId;
    const next = await evaluateTiers(
      db,
      program,
      rows.map((r) => r.memberId),
      at,
    );
    for (const r of rows) {
      evaluated++;
      const from = currentTier(inForce.program, r.tierCode, r.tier);
      const to = next.get(r.memberId)!.tier;
      if (from.code === to.code && from.apiTier === to.apiTier) continue;
      changing++;
      const key = `${from.code}\u0000${to.code}`;
      const m = moves.get(key) ?? { fromCode: from.code, fromTier: from.apiTier, toCode: to.code, toTier: to.apiTier, members: 0 };
      m.members++;
      moves.set(key, m);
    }
    if (rows.length < PAGE) break;
  }
  return { at, membersEvaluated: evaluated, membersChanging: changing, moves: [...moves.values()].sort((a, b) => b.members - a.members || a.fromCode.localeCompare(b.fromCode) || a.toCode.localeCompare(b.toCode)) };
}

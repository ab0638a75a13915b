import type { Tx } from "./ledger.ts";
import { walletCode } from "./ledger.ts";

/**
 * A wallet's `held` points: reserved by pending holds (redemption/redeem.ts owns the Hold rows and
 * their lifecycle; the ledger owns the wallet's numbers). Available points are balance − held, so a
 * reservation is a guarded update like a debit: holds never promise more than the wallet has.
 */

/** Reserves `points` on the member's wallet; false (nothing changed) when its available points do not cover them. */
export async function reserveHeld(tx: Tx, memberId: string, points: number): Promise<boolean> {
  const rows = await tx.$queryRaw<{ id: bigint }[]>`
    UPDATE "points"."LedgerAccount" SET held = held + ${points}::bigint
    WHERE code = ${walletCode(memberId)} AND balance - held - ${points}::bigint >= 0 RETURNING id`;
  return rows.length > 0;
}

/**
 * Releases the reservations of resolved holds (captured, voided, expired), summed per member, in
 * one statement.
 */
export async function releaseHeld(tx: Tx, releases: readonly { memberId: string; points: number | bigint }[]): Promise<void> {
  const perMember = new Map<string, bigint>();
  for (const r of releases) perMember.set(r.memberId, (perMember.get(r.memberId) ?? 0n) + BigInt(r.points));
  if (!perMember.size) return;
  const codes = [...perMember.keys()].map(walletCode);
  await tx.$executeRaw`
    UPDATE "points"."LedgerAccount" a SET held = a.held - u.p
    FROM (SELECT c, p FROM unnest(${codes}::text[], ${[...perMember.values()]}::bigint[]) AS t(c, p)) u
    WHERE a.code = u.c`;
}

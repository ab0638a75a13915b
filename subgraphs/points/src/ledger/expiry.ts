import { createHash } from "node:crypto";
import { toBig, toSafeNumber } from "../../../../lib/amounts.ts";
import { prisma } from "../db.ts";
import { BREAKAGE, lockWallet, post, TX_OPTIONS, walletCode } from "./ledger.ts";

/**
 * Points expiry: lots past their expiresAt are debited to the coalition's breakage account in an
 * EXPIRY transaction per member and run, consuming exactly those lots. Idempotent by construction:
 * the wallet row lock serialises it with every other movement of the member's lots, and an expired
 * lot has nothing left, so a second run (or a concurrent one) expires nothing twice. Points
 * reserved by a pending hold are not expired while the hold lasts (at most the hold TTL); the next
 * run takes them.
 */
export async function expirePoints(now: Date, opts: { maxMembers?: number } = {}): Promise<{ members: number; points: number }> {
  const maxMembers = opts.maxMembers ?? 10_000;
  const seen = new Set<string>();
  let members = 0;
  let points = 0;
  while (seen.size < maxMembers) {
    const batch = await prisma().$queryRaw<{ memberId: string }[]>`
      SELECT DISTINCT "memberId"::text AS "memberId" FROM "points"."Lot"
      WHERE remaining > 0 AND "expiresAt" <= ${now} AND NOT ("memberId" = ANY(${[...seen]}::uuid[])) LIMIT 200`;
    if (!batch.length) break;
    for (const { memberId } of batch) {
      seen.add(memberId);
      const n = await prisma().$transaction(async (tx) => {
        const wallet = await lockWallet(tx, memberId);
        if (!wallet) return 0;
        const lots = await tx.$queryRaw<{ id: bigint; remaining: bigint }[]>`
          SELECT id, remaining FROM "points"."Lot" WHERE "memberId" = ${memberId}::uuid AND remaining > 0 AND "expiresAt" <= ${now}
          ORDER BY "expiresAt", id`;
        // Balances are int8 (bigint); one lot is one credit, far below 2^53 (checked).
        let room = wallet.balance - wallet.held;
        const takes: { id: bigint; take: number }[] = [];
        for (const l of lots) {
          if (room <= 0n) break;
          const left = toBig(l.remaining);
          const take = room < left ? room : left;
          takes.push({ id: BigInt(l.id), take: toSafeNumber(take, `expiry of lot ${l.id}`) });
          room -= take;
        }
        const total = takes.reduce((s, t) => s + t.take, 0);
        if (total <= 0) return 0;
        const key = `${memberId}:${now.toISOString()}:${createHash("sha256")
          .update(takes.map((t) => `${t.id}x${t.take}`).join(","))
          .digest("hex")
          .slice(0, 16)}`;
        await post(tx, {
          kind: "EXPIRY",
          memberId,
          postings: [
            { accountCode: walletCode(memberId), amount: -total },
            { accountCode: BREAKAGE, amount: total },
          ],
          idempotency: { scope: "system:expiry", key, requestHash: key },
          reason: "points expired",
          createdBy: "system:expiry",
          postedAt: now,
          lots: { mode: "expire", lots: takes },
        });
        return total;
      }, TX_OPTIONS);
      if (n > 0) {
        members++;
        points += n;
      }
    }
  }
  return { members, points };
}

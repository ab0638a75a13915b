import { toSafeNumber } from "../../../../lib/amounts.ts";
import { addMonths, type ExpiryPolicy, lotExpiry, settings } from "../config.ts";
import type { LotPlan, PostInput, Tx } from "./ledger.ts";

/**
 * Earn lots: what a wallet posting does to the member's lots (credit a new lot, consume soonest-
 * expiring first, expire exactly given lots, restore what a reversed transaction took), and the
 * inactivity policy's expiry push. Only the ledger moves lots, under the member's wallet row lock.
 */

export async function moveLots(tx: Tx, memberId: string, transactionId: string, amount: number, at: Date, input: PostInput): Promise<void> {
  const plan: LotPlan = input.lots ?? (amount > 0 ? { mode: "credit" } : { mode: "consume" });
  const policy = settings().expiryPolicy;
  if (amount > 0 && plan.mode === "credit") {
    const issuer = plan.issuerPartnerId === undefined ? (input.partnerId ?? null) : plan.issuerPartnerId;
    await tx.$executeRaw`
      INSERT INTO "points"."Lot" ("memberId", "issuerPartnerId", "sourceTransactionId", points, remaining, "earnedAt", "expiresAt", "offerId")
      VALUES (${memberId}::uuid, ${issuer}::uuid, ${transactionId}::uuid, ${amount}::bigint, ${amount}::bigint, ${at}, ${lotExpiry(at, policy)}, ${plan.offerId ?? null}::uuid)`;
  } else if (amount > 0 && plan.mode === "restore") {
    // Give back what the original transaction (net of earlier restorations) took, latest-expiring lots first.
    const taken = await tx.$queryRaw<{ lotId: bigint; net: bigint }[]>`
      SELECT c."lotId", sum(c.points)::bigint AS net
      FROM "points"."LotConsumption" c JOIN "points"."Lot" l ON l.id = c."lotId"
      WHERE c."transactionId" = ${plan.fromTransactionId}::uuid
         OR c."transactionId" IN (SELECT id FROM "points"."LedgerTransaction" WHERE "reversesId" = ${plan.fromTransactionId}::uuid)
      GROUP BY c."lotId", l."expiresAt" HAVING sum(c.points) > 0
      ORDER BY l."expiresAt" DESC NULLS FIRST, c."lotId" DESC`;
    let left = amount;
    const ids: bigint[] = [];
    const gives: number[] = [];
    for (const t of taken) {
      if (left <= 0) break;
      const give = Math.min(left, toSafeNumber(t.net, `lot ${t.lotId} taken`));
      ids.push(BigInt(t.lotId));
      gives.push(give);
      left -= give;
    }
    if (ids.length) {
      await tx.$executeRaw`
        UPDATE "points"."Lot" l SET remaining = l.remaining + t.g FROM unnest(${ids}::bigint[], ${gives}::bigint[]) AS t(id, g) WHERE l.id = t.id`;
      await tx.$executeRaw`
        INSERT INTO "points"."LotConsumption" ("lotId", "transactionId", points)
        SELECT id, ${transactionId}::uuid, -g FROM unnest(${ids}::bigint[], ${gives}::bigint[]) AS t(id, g)`;
    }
    if (left > 0) {
      // More than the original took from lots (should not happen): a fresh lot keeps balance = lots.
      await tx.$executeRaw`
        INSERT INTO "points"."Lot" ("memberId", "issuerPartnerId", "sourceTransactionId", points, remaining, "earnedAt", "expiresAt")
        VALUES (${memberId}::uuid, NULL, ${transactionId}::uuid, ${left}::bigint, ${left}::bigint, ${at}, ${lotExpiry(at, policy)})`;
    }
  } else if (amount < 0 && plan.mode === "expire") {
    const total = plan.lots.reduce((s, l) => s + l.take, 0);
    if (total !== -amount) throw new Error("ledger: expiry lots do not match the amount");
    await takeLots(tx, transactionId, plan.lots);
  } else if (amount < 0) {
    const need = -amount;
    const prefer = plan.mode === "consume" ? (plan.preferLotIds ?? []) : [];
    const rows = await tx.$queryRaw<{ id: bigint; remaining: bigint }[]>`
      SELECT id, remaining FROM (
        SELECT id, remaining, "expiresAt", "earnedAt", (id = ANY(${prefer}::bigint[])) AS pref,
               sum(remaining) OVER (ORDER BY (id = ANY(${prefer}::bigint[])) DESC, "expiresAt" ASC NULLS LAST, "earnedAt", id) - remaining AS before
        FROM "points"."Lot" WHERE "memberId" = ${memberId}::uuid AND remaining > 0
      ) t WHERE before < ${need}
      ORDER BY pref DESC, "expiresAt" ASC NULLS LAST, "earnedAt", id`;
    let left = need;
    const takes: { id: bigint; take: number }[] = [];
    for (const r of rows) {
      const take = Math.min(left, toSafeNumber(r.remaining, `remaining of lot ${r.id}`));
      takes.push({ id: BigInt(r.id), take });
      left -= take;
      if (left === 0) break;
    }
    if (left > 0) throw new Error(`ledger: lots of member ${memberId} do not cover ${need} points (wallet and lots disagree)`);
    await takeLots(tx, transactionId, takes);
  } else {
    throw new Error(`ledger: lot plan ${plan.mode} does not fit amount ${amount}`);
  }
  // Inactivity policy: any wallet movement by the member pushes every open lot's expiry forward.
  if (input.kind === "EARN" || input.kind === "REDEEM") await extendLotExpiry(tx, [memberId], at, policy);
}

async function takeLots(tx: Tx, transactionId: string, takes: { id: bigint; take: number }[]): Promise<void> {
  if (!takes.length) return;
  const ids = takes.map((t) => t.id);
  const n = takes.map((t) => t.take);
  await tx.$executeRaw`UPDATE "points"."Lot" l SET remaining = l.remaining - t.n FROM unnest(${ids}::bigint[], ${n}::bigint[]) AS t(id, n) WHERE l.id = t.id`;
  await tx.$executeRaw`
    INSERT INTO "points"."LotConsumption" ("lotId", "transactionId", points)
    SELECT id, ${transactionId}::uuid, n FROM unnest(${ids}::bigint[], ${n}::bigint[]) AS t(id, n)`;
}

/**
 * Inactivity policy (`inactivity_months`): a wallet movement of a member pushes the expiry of every
 * open lot of the member to `at` + the policy's months. The one place this rule is written: `post`
 * runs it for one member, the batch path (batch.ts) for the members of a batch. Other policies: nothing.
 */
export async function extendLotExpiry(tx: Tx, memberIds: readonly string[], at: Date, policy: ExpiryPolicy = settings().expiryPolicy): Promise<void> {
  if (policy.kind !== "inactivity_months" || !memberIds.length) return;
  const until = addMonths(at, policy.months);
  await tx.$executeRaw`
    UPDATE "points"."Lot" SET "expiresAt" = ${until}
    WHERE "memberId" = ANY(${[...memberIds]}::uuid[]) AND remaining > 0 AND ("expiresAt" IS NULL OR "expiresAt" < ${until})`;
}

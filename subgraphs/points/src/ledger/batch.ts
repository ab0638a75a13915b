import { randomUUID } from "node:crypto";
import { Decimal } from "decimal.js";
import { toBig } from "../../../../lib/amounts.ts";
import { lotExpiry } from "../config.ts";
import { type DeferredUpdate, ensureAccounts, issuanceCode, type LedgerTransactionRow, type Tx, walletCode } from "./ledger.ts";
import { extendLotExpiry } from "./lots.ts";

/**
 * The ledger's batch entry point: many EARN transactions of one partner in one statement, for the
 * bulk earn and the group-committed single earns (earning/chunk.ts). It keeps every rule `post`
 * keeps for an earn — balanced postings (wallet +n, the partner's issuance −n), a running
 * balanceAfter, the wallet's lifetimeEarned, one earn lot per transaction with the coalition's expiry,
 * the inactivity policy's expiry push, the lock order (wallets by id first, the hot issuance row
 * last) — but writes a batch's transactions, postings, lots and wallet credits in ONE statement: one
 * round trip whatever the batch size, which is what makes the bulk earn fast (bench/ledger.ts).
 */

/** One EARN: `points` from the partner's issuance account to the member's wallet, as a new lot of the partner. */
export interface EarnItem {
  memberId: string;
  points: number;
  reference: string | null;
  idempotencyKey: string;
  requestHash: string;
  /** The money spent when the points were computed from a purchase (exact decimal string, in the batch's spendCurrency). */
  spendAmount?: string | null;
}

export interface EarnBatch {
  partnerId: string;
  /** Idempotency scope of every item (the writer's); keys are distinct within a batch. */
  scope: string;
  createdBy: string;
  postedAt: Date;
  /** The loyalty program version every item was computed under. */
  programVersionId?: string | null;
  /** Currency of the items' spendAmount (HUB_CURRENCY). */
  spendCurrency?: string | null;
  items: readonly EarnItem[];
  /**
   * The partner's issuance balance update (the hot row) is queued here, as `post` does with
   * `deferred`: the caller runs `applyDeferred(tx, deferred)` as its last statement, so that row lock
   * is held only until commit.
   */
  deferred: DeferredUpdate[];
}

/** One credit of a batch: an EARN item, or a program bonus with its reason. */
export interface CreditItem extends EarnItem {
  reason?: string | null;
}

/**
 * Credits of one kind from one source account to members' wallets, each a new lot: EARNs from a
 * partner's issuance account (lots of that partner), or PROGRAM_BONUS from the coalition's
 * program-bonus account (lots without issuer, as `post` writes them).
 */
export interface CreditBatch extends Omit<EarnBatch, "items" | "partnerId"> {
  kind: "EARN" | "PROGRAM_BONUS";
  /** The transactions' partner (the earning partner; for a bonus, the partner of the earn that triggered it, or null). */
  partnerId: string | null;
  /** The account every credit comes from (issuance:<partner> or program-bonus). */
  sourceCode: string;
  /** The lots' issuer (the earning partner; null for program bonuses: the operator pays them). */
  issuerPartnerId: string | null;
  items: readonly CreditItem[];
}

/**
 * A concurrent writer committed some of the batch's idempotency keys between the caller's replay
 * check and the insert: nothing of the batch may stay, so the caller rolls its transaction back and
 * retries (the retry reads those keys as replays).
 */
export class BatchRace extends Error {}

/**
 * Posts the batch's EARN transactions in `tx` and returns them in item order. Throws BatchRace when a
 * key was taken meanwhile. The caller has checked the items (linked member, points within bounds) and
 * that no key is already used.
 */
export function postEarns(tx: Tx, batch: EarnBatch): Promise<LedgerTransactionRow[]> {
  return postCredits(tx, { ...batch, kind: "EARN", sourceCode: issuanceCode(batch.partnerId), issuerPartnerId: batch.partnerId });
}

/**
 * Posts a batch of credits (postEarns, or the program's bonuses: perks/bonuses.ts) in `tx` and
 * returns them in item order, with the rules `post` keeps for such a credit. Throws BatchRace when a
 * key was taken meanwhile.
 */
export async function postCredits(tx: Tx, batch: CreditBatch): Promise<LedgerTransactionRow[]> {
  const { partnerId, scope, createdBy, postedAt: at, kind } = batch;
  const items = batch.items.map((i) => ({ ...i, id: randomUUID() }));
  if (!items.length) return [];
  const memberIds = [...new Set(items.map((i) => i.memberId))];
  const accounts = await ensureAccounts(tx, [...memberIds.map(walletCode), batch.sourceCode]);
  const walletIds = memberIds.map((m) => accounts.get(walletCode(m))!.id).sort((a, b) => (a < b ? -1 : 1));
  // Lock the wallets in id order (the ledger's lock order), read their balances.
  const balances = new Map(
    (
      await tx.$queryRaw<{ code: string; balance: bigint }[]>`
        SELECT code, balance FROM "points"."LedgerAccount" WHERE id = ANY(${walletIds}::bigint[]) ORDER BY id FOR UPDATE`
    ).map((r) => [r.code.slice("wallet:".length), toBig(r.balance)]),
  );
  // Running balances in bigint: a wallet's balance is an int8 and may be beyond 2^53.
  const balanceAfter = items.map((i) => {
    const b = (balances.get(i.memberId) ?? 0n) + BigInt(i.points);
    balances.set(i.memberId, b);
    return b;
  });
  const issuanceId = accounts.get(batch.sourceCode)!.id;
  // A plain primary-key read of the hot issuance row (no lock) before the postings' foreign-key
  // checks. Measured: after ~10,000 earns the row has many dead versions; each posting's FK check
  // (FOR KEY SHARE) walked them, and a 500-item chunk's insert took ~750 ms instead of ~60 ms (bulk
  // 571–585 items/s); a plain index read marks the dead index entries (it can, the FK check's
  // locking read does not) and the same bulk ran at 4,841 items/s. Behaviour is unchanged.
  await tx.$queryRaw`SELECT id FROM "points"."LedgerAccount" WHERE id = ${issuanceId}`;
  const txIds = items.flatMap((i) => [i.id, i.id]);
  const acctIds = items.flatMap((i) => [accounts.get(walletCode(i.memberId))!.id, issuanceId]);
  const amounts = items.flatMap((i) => [i.points, -i.points]);
  const perWallet = new Map<bigint, number>();
  const spentPerWallet = new Map<bigint, Decimal>();
  for (const i of items) {
    const id = accounts.get(walletCode(i.memberId))!.id;
    perWallet.set(id, (perWallet.get(id) ?? 0) + i.points);
    if (kind === "EARN" && i.spendAmount) spentPerWallet.set(id, (spentPerWallet.get(id) ?? new Decimal(0)).plus(i.spendAmount));
  }
  const spendCurrency = batch.spendCurrency ?? null;
  // Only an EARN's purchase is spend; every credit here (EARN, PROGRAM_BONUS) adds to lifetimeEarned, as in `post`.
  const spends = items.map((i) => (kind === "EARN" ? (i.spendAmount ?? null) : null));
  // Transactions, their postings, their lots and the wallet credits in ONE statement (one round
  // trip whatever the group size). A key taken meanwhile by a concurrent writer inserts nothing for
  // that item; the count check below then rolls the whole batch back (BatchRace) and it is retried.
  const inserted = await tx.$queryRaw<{ id: string | null; code: string | null; lifetimeEarned: bigint | null; lifetimeSpend: string | null }[]>`
    WITH t AS (
      INSERT INTO "points"."LedgerTransaction" (id, kind, "memberId", "partnerId", "memberPoints", "balanceAfter", reference,
        "idempotencyScope", "idempotencyKey", "requestHash", "createdBy", "postedAt", "programVersionId", "spendAmount", "spendCurrency", reason)
      SELECT id, ${kind}::"points"."TransactionKind", m, ${partnerId}::uuid, p, b, r, ${scope}, k, h, ${createdBy}, ${at}, ${batch.programVersionId ?? null}::uuid, s,
             CASE WHEN s IS NULL THEN NULL ELSE ${spendCurrency}::text END, why
      FROM unnest(${items.map((i) => i.id)}::uuid[], ${items.map((i) => i.memberId)}::uuid[], ${items.map((i) => i.points)}::bigint[],
                  ${balanceAfter}::bigint[], ${items.map((i) => i.reference)}::text[], ${items.map((i) => i.idempotencyKey)}::text[],
                  ${items.map((i) => i.requestHash)}::text[], ${spends}::numeric[], ${items.map((i) => i.reason ?? null)}::text[]) AS t(id, m, p, b, r, k, h, s, why)
      ON CONFLICT ("idempotencyScope", "idempotencyKey") DO NOTHING
      RETURNING id, "memberId", "memberPoints"
    ), postings AS (
      INSERT INTO "points"."Posting" ("transactionId", "accountId", amount, "postedAt")
      SELECT u.t, u.a, u.n, ${at} FROM unnest(${txIds}::uuid[], ${acctIds}::bigint[], ${amounts}::bigint[]) AS u(t, a, n)
      WHERE u.t IN (SELECT id FROM t)
      RETURNING 1
    ), lots AS (
      INSERT INTO "points"."Lot" ("memberId", "issuerPartnerId", "sourceTransactionId", points, remaining, "earnedAt", "expiresAt")
      SELECT t."memberId", ${batch.issuerPartnerId}::uuid, t.id, t."memberPoints", t."memberPoints", ${at}, ${lotExpiry(at)} FROM t
      RETURNING 1
    ), wallets AS (
      UPDATE "points"."LedgerAccount" a SET balance = a.balance + u.d, "lifetimeEarned" = a."lifetimeEarned" + u.d, "lifetimeSpend" = a."lifetimeSpend" + u.s
      FROM unnest(${[...perWallet.keys()]}::bigint[], ${[...perWallet.values()]}::bigint[],
                  ${[...perWallet.keys()].map((id) => spentPerWallet.get(id)?.toFixed() ?? "0")}::numeric[]) AS u(id, d, s) WHERE a.id = u.id
      RETURNING a.code, a."lifetimeEarned", a."lifetimeSpend"
    )
    SELECT id::text AS id, NULL AS code, NULL::bigint AS "lifetimeEarned", NULL AS "lifetimeSpend" FROM t
    UNION ALL SELECT NULL, code, "lifetimeEarned", "lifetimeSpend"::text FROM wallets`;
  const lifetimes = new Map(inserted.filter((r) => r.code).map((r) => [r.code!.slice("wallet:".length), { lifetimeEarned: toBig(r.lifetimeEarned!), lifetimeSpend: r.lifetimeSpend! }]));
  if (inserted.length - lifetimes.size !== items.length) throw new BatchRace("concurrent duplicate keys in a batch");
  // An earn is activity (the inactivity policy's expiry push); a bonus's own lot gets the policy's expiry.
  if (kind === "EARN") await extendLotExpiry(tx, memberIds, at);
  // The hot issuance row: queued, applied by the caller last. A batch's total can pass 2^31 (500
  // items of up to 100,000,000 points): bigint end to end.
  batch.deferred.push({ accountId: issuanceId, amount: -items.reduce((s, i) => s + BigInt(i.points), 0n) });
  return items.map((i, k) => ({
    id: i.id,
    kind,
    memberId: i.memberId,
    partnerId,
    offerId: null,
    memberPoints: i.points,
    balanceAfter: balanceAfter[k]!,
    reference: i.reference,
    reversesId: null,
    holdId: null,
    idempotencyScope: scope,
    idempotencyKey: i.idempotencyKey,
    requestHash: i.requestHash,
    createdBy,
    reason: i.reason ?? null,
    postedAt: at,
    programVersionId: batch.programVersionId ?? null,
    spendAmount: spends[k] ?? null,
    spendCurrency: spends[k] ? spendCurrency : null,
    walletAfter: lifetimes.get(i.memberId),
  }));
}

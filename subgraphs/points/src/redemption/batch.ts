import { sqlState } from "../../../../lib/db.ts";
import { badInput, HubError } from "../../../../lib/errors.ts";
import { emitMany, event } from "../../../../lib/events/outbox.ts";
import { firstIssue } from "../../../../lib/input.ts";
import { prisma } from "../db.ts";
import { type Actor, requirePartner, scopeOf, type WriteOptions } from "../domain.ts";
import {
  type AccountRef,
  applyDeferred,
  type DeferredUpdate,
  ensureAccounts,
  type LedgerTransactionRow,
  lockWallets,
  post,
  redemptionCode as redemptionAccount,
  transactionsByKeys,
  TX_OPTIONS,
  type Tx,
  walletCode,
} from "../ledger/ledger.ts";
import { invalidCode, type Redeem, RedeemInput, redeemHash, verifyCode } from "./redeem.ts";

/**
 * Many redemptions of one partner in one database transaction: each item is what `redeemPoints`
 * would do with it, one by one in input order (the same request hash and idempotency scope, the
 * same code checks, the same `post` of each REDEEM with its lots, the same `points.activity`
 * event), but the replays, the codes and the wallets are read and locked once per batch, the events
 * written in one statement, and the partner's redemption account updated once, last. A rejected item
 * (bad input, conflict, invalid code, not enough points) changes nothing and never blocks the others.
 */

/** Items of one call (one transaction: "put a limit on everything"). */
export const REDEEM_BATCH_MAX_ITEMS = 500;

export interface RedeemRejection {
  index: number;
  code: string;
  message: string;
}

export interface RedeemBatchResult {
  accepted: number;
  replayed: number;
  rejected: RedeemRejection[];
  /** Accepted and replayed REDEEM transactions, in input order. */
  transactions: LedgerTransactionRow[];
}

export interface RedeemBatchOptions extends WriteOptions {
  /**
   * The demo seed's history only (never the API): item i is redeemed as if at `itemNow[i]` (its code
   * checked and marked used then, its transaction posted then), as `redeemPoints(…, { now })` would.
   */
  itemNow?: readonly Date[];
}

type Item = { index: number; input: Redeem & { redemptionCode: string }; hash: string; now: Date };
type Outcome = { tx: LedgerTransactionRow; replayed: boolean } | RedeemRejection;

/** Redeems `inputs` (each as `redeemPoints` takes it: a member's redemption code, points, idempotencyKey, reference) for the calling partner. */
export async function redeemPointsBatch(actor: Actor, inputs: readonly unknown[], opts: RedeemBatchOptions = {}): Promise<RedeemBatchResult> {
  const partnerId = requirePartner(actor);
  if (!Array.isArray(inputs)) throw badInput("inputs must be a list");
  if (inputs.length > REDEEM_BATCH_MAX_ITEMS) throw badInput(`At most ${REDEEM_BATCH_MAX_ITEMS} redemptions per batch`, "inputs");
  if (opts.itemNow && opts.itemNow.length !== inputs.length) throw new Error("redeemPointsBatch: itemNow must give one instant per item");
  const scope = scopeOf(actor);
  const batchNow = opts.now ?? new Date();
  const outcomes = new Map<number, Outcome>();
  const items: Item[] = [];
  inputs.forEach((raw, index) => {
    // Rejected before its key is looked at, as redeemPoints parses and checks the party first.
    const parsed = RedeemInput.safeParse(raw);
    if (!parsed.success) return void outcomes.set(index, { index, code: "BAD_USER_INPUT", message: firstIssue(parsed.error).message });
    const input = parsed.data;
    if (!input.redemptionCode) return void outcomes.set(index, rejection(index, new HubError("REDEMPTION_CODE_INVALID", "A partner redeems only with the member's redemption code")));
    items.push({ index, input: { ...input, redemptionCode: input.redemptionCode }, hash: redeemHash("redeemPoints", input), now: opts.itemNow?.[index] ?? batchNow });
  });
  if (items.length) {
    for (let attempt = 0; ; attempt++) {
      try {
        const done = await prisma().$transaction((tx) => redeemItems(tx, actor, partnerId, scope, items, opts), TX_OPTIONS);
        for (const [index, o] of done) outcomes.set(index, o);
        break;
      } catch (e) {
        // A concurrent writer took one of these keys (or codes) between our reads and our writes:
        // nothing of the batch stayed, and the retry reads those keys as replays.
        if (attempt < 3 && (sqlState(e) === "23505" || sqlState(e) === "40P01" || e instanceof CodeRace)) continue;
        throw e;
      }
    }
  }
  const ordered = [...outcomes].sort((a, b) => a[0] - b[0]).map(([, o]) => o);
  const posted = ordered.filter((o): o is Exclude<Outcome, RedeemRejection> => "tx" in o);
  return {
    accepted: posted.filter((o) => !o.replayed).length,
    replayed: posted.filter((o) => o.replayed).length,
    rejected: ordered.filter((o): o is RedeemRejection => !("tx" in o)),
    transactions: posted.map((o) => o.tx),
  };
}

/** A code the batch found usable was not marked used by its guarded update (a concurrent redemption): the batch is retried. */
class CodeRace extends Error {}

const rejection = (index: number, e: HubError): RedeemRejection => ({ index, code: String(e.extensions.code), message: e.message });

async function redeemItems(tx: Tx, actor: Actor, partnerId: string, scope: string, items: readonly Item[], opts: RedeemBatchOptions): Promise<Map<number, Outcome>> {
  const out = new Map<number, Outcome>();
  // 1. What the database already holds for these keys, and each code's signature and terms (a
  // verified code names its member).
  const existing = await transactionsByKeys(
    tx,
    scope,
    items.map((i) => i.input.idempotencyKey),
  );
  const verified = new Map<number, { jti: string; memberId: string } | HubError>();
  for (const i of items) {
    if (existing.has(i.input.idempotencyKey)) continue;
    try {
      const code = await verifyCode(i.input.redemptionCode, partnerId, i.input.points, i.now);
      verified.set(i.index, i.input.memberId && i.input.memberId !== code.memberId ? invalidCode() : code);
    } catch (e) {
      if (!(e instanceof HubError)) throw e;
      verified.set(i.index, e);
    }
  }
  const candidates = [...verified.values()].filter((v): v is { jti: string; memberId: string } => !(v instanceof HubError));
  // 2. The codes, then the wallets, locked (the order redeemPoints takes them in: code, then wallet).
  const codes = new Map(
    candidates.length
      ? (
          await tx.$queryRaw<{ jti: string; memberId: string; partnerId: string; points: number; expiresAt: Date; usedAt: Date | null }[]>`
            SELECT jti::text AS jti, "memberId"::text AS "memberId", "partnerId"::text AS "partnerId", points, "expiresAt", "usedAt"
            FROM "points"."RedemptionCode" WHERE jti = ANY(${candidates.map((c) => c.jti)}::uuid[]) ORDER BY jti FOR UPDATE`
        ).map((c) => [c.jti, c])
      : [],
  );
  const wallets = await lockWallets(
    tx,
    candidates.map((c) => c.memberId),
  );
  // 3. Each item in input order, against what the items before it left, as one by one: a key is
  // answered by its stored or earlier accepted transaction (or is a conflict), a code is used once,
  // a wallet's available points (balance − held) are spent once.
  const available = new Map([...wallets].map(([m, w]) => [m, w.balance - w.held]));
  const accepted: (Item & { jti: string; memberId: string })[] = [];
  const acceptedByKey = new Map<string, Item>();
  const replays: { index: number; of: number }[] = [];
  for (const i of items) {
    const stored = existing.get(i.input.idempotencyKey);
    const earlier = acceptedByKey.get(i.input.idempotencyKey);
    if (stored || earlier) {
      if ((stored?.requestHash ?? earlier!.hash) !== i.hash) out.set(i.index, { index: i.index, code: "IDEMPOTENCY_CONFLICT", message: "This idempotency key was already used with a different request" });
      else if (stored) out.set(i.index, { tx: stored, replayed: true });
      else replays.push({ index: i.index, of: earlier!.index });
      continue;
    }
    const code = verified.get(i.index)!;
    if (code instanceof HubError) {
      out.set(i.index, rejection(i.index, code));
      continue;
    }
    const c = codes.get(code.jti);
    if (!(c && c.usedAt === null && c.expiresAt > i.now && c.partnerId === partnerId && c.points === i.input.points && c.memberId === code.memberId)) {
      out.set(i.index, rejection(i.index, invalidCode()));
      continue;
    }
    const left = available.get(code.memberId) ?? 0n;
    if (left < BigInt(i.input.points)) {
      out.set(i.index, { index: i.index, code: "INSUFFICIENT_POINTS", message: "The wallet's available points do not cover this request" });
      continue;
    }
    c.usedAt = i.now;
    available.set(code.memberId, left - BigInt(i.input.points));
    accepted.push({ ...i, ...code });
    acceptedByKey.set(i.input.idempotencyKey, i);
  }
  if (!accepted.length) return out;
  // 4. Single use, as consumeCode's guarded update; the rows are locked, so every one is marked.
  const used = await tx.$executeRaw`
    UPDATE "points"."RedemptionCode" c SET "usedAt" = u.at
    FROM unnest(${accepted.map((i) => i.jti)}::uuid[], ${accepted.map((i) => i.now)}::timestamptz[], ${accepted.map((i) => i.memberId)}::uuid[], ${accepted.map((i) => i.input.points)}::int[]) AS u(jti, at, m, pts)
    WHERE c.jti = u.jti AND c."usedAt" IS NULL AND c."expiresAt" > u.at AND c."partnerId" = ${partnerId}::uuid AND c.points = u.pts AND c."memberId" = u.m`;
  if (used !== accepted.length) throw new CodeRace("a redemption code was used meanwhile");
  // 5. Each REDEEM through the ledger's `post` (guarded wallet update, postings, lots soonest-expiring
  // first), with the accounts found above; the partner's redemption account once, last (the hot row).
  const accounts = new Map<string, AccountRef>([...wallets.values()].map((w) => [w.code, w]));
  for (const [code, ref] of await ensureAccounts(tx, [redemptionAccount(partnerId)])) accounts.set(code, ref);
  const deferred: DeferredUpdate[] = [];
  for (const i of accepted) {
    const at = opts.postedAt ?? i.now;
    const t = await post(tx, {
      kind: "REDEEM",
      memberId: i.memberId,
      partnerId,
      postings: [
        { accountCode: walletCode(i.memberId), amount: -i.input.points },
        { accountCode: redemptionAccount(partnerId), amount: i.input.points },
      ],
      idempotency: { scope, key: i.input.idempotencyKey, requestHash: i.hash },
      reference: i.input.reference ?? null,
      reason: null,
      createdBy: actor.sub,
      postedAt: at,
      deferred,
      accounts,
    });
    out.set(i.index, { tx: t, replayed: false });
  }
  await emitMany(
    tx,
    "points",
    accepted.map((i) => {
      const t = out.get(i.index) as { tx: LedgerTransactionRow };
      return event("points.activity", { memberId: i.memberId, at: t.tx.postedAt.toISOString(), kind: "REDEEM", points: -i.input.points, partnerId });
    }),
  );
  await applyDeferred(tx, deferred);
  for (const r of replays) out.set(r.index, { tx: (out.get(r.of) as { tx: LedgerTransactionRow }).tx, replayed: true });
  return out;
}

import { createHash, randomUUID } from "node:crypto";
import { Prisma, sqlState } from "../../../../lib/db.ts";
import { toBig, toSafeNumber } from "../../../../lib/amounts.ts";
import { HubError } from "../../../../lib/errors.ts";
import { isUuid } from "../../../../lib/input.ts";
import type { AccountKind, TransactionKind } from "../../../../prisma/generated/client/client.ts";
import { prisma } from "../db.ts";
import { moveLots } from "./lots.ts";

/**
 * The double-entry ledger (DESIGN.md §4, after TigerBeetle and Formance).
 *
 * - A transaction is a set of postings that sum to 0 (integer points); append-only (triggers refuse
 *   UPDATE/DELETE; a deferred constraint trigger refuses an unbalanced transaction at commit).
 * - Balances live on LedgerAccount and change in the same database transaction as the postings, by
 *   guarded conditional updates: `balance + n - held >= 0` for wallets and offer budgets. Under
 *   READ COMMITTED a competing update waits for the row lock and re-evaluates the guard on the new
 *   row, so a wallet never goes below zero under any concurrency and no serializable retries happen.
 * - Lock order (no deadlocks): guarded accounts (wallets, budgets) by id, then the others by id,
 *   updated last so the hot partner rows are held for as short as possible.
 * - The wallet row lock is the member's mutex: lots of a member only change while it is held.
 * - Idempotency: (idempotencyScope, idempotencyKey) is unique; a replay with the same request hash
 *   returns the original transaction, a different body is IDEMPOTENCY_CONFLICT, and a concurrent
 *   duplicate (unique violation 23505, or a guard failing because the winner already spent the
 *   points) resolves to the winner's transaction.
 */

export type Tx = Prisma.TransactionClient;
export type { AccountKind, TransactionKind };

/** Interactive transactions: generous waits because PGlite runs them one at a time. */
export const TX_OPTIONS = { maxWait: 15_000, timeout: 30_000 } as const;

/** Largest points amount of one operation (sane bound; BAD_USER_INPUT above). */
export const MAX_POINTS = 100_000_000;

export interface LedgerTransactionRow {
  id: string;
  kind: TransactionKind;
  memberId: string | null;
  partnerId: string | null;
  offerId: string | null;
  /** One transaction's member-side points: far below 2^53 (toSafeNumber checks on every read). */
  memberPoints: number;
  /** A running balance: bigint (the database column is int8). */
  balanceAfter: bigint | null;
  reference: string | null;
  reversesId: string | null;
  holdId: string | null;
  idempotencyScope: string;
  idempotencyKey: string;
  requestHash: string;
  createdBy: string;
  reason: string | null;
  postedAt: Date;
  /** EARN: the loyalty program version it was computed under (absent on rows read before it existed). */
  programVersionId?: string | null;
  /** EARN with a purchase: the money spent, exact decimal string, in `spendCurrency`. */
  spendAmount?: string | null;
  spendCurrency?: string | null;
  /** Set by the writer of an EARN: the wallet's lifetime earned points and spend after it (tier upgrades read sums only when these could cross a threshold). */
  walletAfter?: { lifetimeEarned: bigint; lifetimeSpend: string };
}

export interface PostingInput {
  accountCode: string;
  amount: number;
}

/** How the wallet posting of a transaction moves earn lots. */
export type LotPlan =
  /** A credit: a new lot (issuer = the transaction's partner unless given; offer bonus lots carry offerId). */
  | { mode: "credit"; issuerPartnerId?: string | null; offerId?: string | null }
  /** A debit: consume lots soonest-expiring first, lots in `preferLotIds` before any other. */
  | { mode: "consume"; preferLotIds?: bigint[] }
  /** A debit of exactly these lots (expiry). */
  | { mode: "expire"; lots: { id: bigint; take: number }[] }
  /** A credit that gives back what `fromTransactionId` took from lots (a reversed redemption or expiry). */
  | { mode: "restore"; fromTransactionId: string };

export interface PostInput {
  kind: TransactionKind;
  memberId?: string | null;
  partnerId?: string | null;
  offerId?: string | null;
  postings: PostingInput[];
  idempotency: { scope: string; key: string; requestHash: string };
  reference?: string | null;
  reason?: string | null;
  createdBy: string;
  /** Back-dated history for the demo seed only; never from the API. */
  postedAt?: Date;
  reversesId?: string | null;
  holdId?: string | null;
  lots?: LotPlan;
  /** EARN: the loyalty program version the points were computed under. */
  programVersionId?: string | null;
  /** EARN with a purchase amount: the money spent (exact decimal string, > 0) and its currency; adds to the wallet's lifetimeSpend. */
  spend?: { amount: string; currency: string } | null;
  /**
   * When given, the balance updates of unguarded accounts (partner issuance/redemption, breakage,
   * adjustments: the hot rows) are queued here instead of applied; the caller runs
   * `applyDeferred(tx, deferred)` as its last statement so those row locks are held only until commit.
   */
  deferred?: DeferredUpdate[];
  /**
   * Accounts the caller already holds (a batch finds its wallets and its partner's account once):
   * when every posting's account is here, `post` does not look them up again.
   */
  accounts?: ReadonlyMap<string, AccountRef>;
}

export interface DeferredUpdate {
  accountId: bigint;
  /** bigint: a batch's total (postEarns) can pass 2^31. */
  amount: bigint;
}

/** Applies queued unguarded balance updates, merged per account, in id order (the ledger's lock order). */
export async function applyDeferred(tx: Tx, deferred: DeferredUpdate[]): Promise<void> {
  const merged = new Map<bigint, bigint>();
  for (const d of deferred) merged.set(d.accountId, (merged.get(d.accountId) ?? 0n) + d.amount);
  deferred.length = 0;
  const ids = [...merged.keys()].sort((a, b) => (a < b ? -1 : 1));
  if (!ids.length) return;
  if (ids.length === 1) {
    // The usual case (one partner's issuance row, the hot row): a plain primary-key update. The
    // unnest join below for one row measured slower on the group-commit path (bench/ledger.ts).
    await tx.$executeRaw`UPDATE "points"."LedgerAccount" SET balance = balance + ${merged.get(ids[0]!)!}::bigint WHERE id = ${ids[0]!}`;
    return;
  }
  await tx.$executeRaw`
    UPDATE "points"."LedgerAccount" a SET balance = a.balance + u.n
    FROM unnest(${ids}::bigint[], ${ids.map((i) => merged.get(i)!)}::bigint[]) AS u(id, n) WHERE a.id = u.id`;
}

export const walletCode = (memberId: string) => `wallet:${memberId}`;
export const issuanceCode = (partnerId: string) => `issuance:${partnerId}`;
export const redemptionCode = (partnerId: string) => `redemption:${partnerId}`;
export const budgetCode = (offerId: string) => `budget:${offerId}`;
export const BREAKAGE = "breakage";
export const ADJUSTMENTS = "adjustments";
/** The program's bonuses (welcome, birthday): coalition-wide, the operator pays (lots without issuer, like adjustments). */
export const PROGRAM_BONUS = "program-bonus";

interface AccountSpec {
  code: string;
  kind: AccountKind;
  memberId: string | null;
  partnerId: string | null;
  offerId: string | null;
}

/** The account a code names (codes are the accounts' natural keys). */
export function accountSpec(code: string): AccountSpec {
  const [prefix, id] = code.split(":", 2) as [string, string | undefined];
  const spec = (kind: AccountKind, field?: "memberId" | "partnerId" | "offerId"): AccountSpec => {
    if (field && !isUuid(id)) throw new Error(`ledger: bad account code ${code}`);
    return { code, kind, memberId: field === "memberId" ? id! : null, partnerId: field === "partnerId" ? id! : null, offerId: field === "offerId" ? id! : null };
  };
  switch (prefix) {
    case "wallet":
      return spec("MEMBER_WALLET", "memberId");
    case "issuance":
      return spec("PARTNER_ISSUANCE", "partnerId");
    case "redemption":
      return spec("PARTNER_REDEMPTION", "partnerId");
    case "budget":
      return spec("OFFER_BUDGET", "offerId");
    case "breakage":
      return spec("BREAKAGE");
    case "adjustments":
      return spec("ADJUSTMENTS");
    case "program-bonus":
      return spec("PROGRAM_BONUS");
    default:
      throw new Error(`ledger: unknown account code ${code}`);
  }
}

const GUARDED: ReadonlySet<AccountKind> = new Set(["MEMBER_WALLET", "OFFER_BUDGET"]);

export interface AccountRef {
  id: bigint;
  code: string;
  kind: AccountKind;
}

/** Finds accounts by code, creating missing ones (INSERT ... ON CONFLICT DO NOTHING). */
export async function ensureAccounts(tx: Tx, codes: readonly string[]): Promise<Map<string, AccountRef>> {
  const unique = [...new Set(codes)];
  const found = new Map<string, AccountRef>();
  const read = async (list: string[]) => {
    const rows = await tx.$queryRaw<{ id: bigint; code: string; kind: AccountKind }[]>`
      SELECT id, code, kind::text AS kind FROM "points"."LedgerAccount" WHERE code = ANY(${list}::text[])`;
    for (const r of rows) found.set(r.code, { id: BigInt(r.id), code: r.code, kind: r.kind });
  };
  await read(unique);
  // Sorted: concurrent transactions creating the same new accounts insert them in one order (the
  // unique index on code would otherwise let two of them wait on each other: a deadlock).
  const missing = unique.filter((c) => !found.has(c)).sort();
  if (missing.length) {
    const specs = missing.map(accountSpec);
    await tx.$executeRaw`
      INSERT INTO "points"."LedgerAccount" (kind, code, "memberId", "partnerId", "offerId")
      SELECT k::"points"."AccountKind", c, NULLIF(m, '')::uuid, NULLIF(p, '')::uuid, NULLIF(o, '')::uuid
      FROM unnest(${specs.map((s) => s.kind)}::text[], ${specs.map((s) => s.code)}::text[], ${specs.map((s) => s.memberId ?? "")}::text[],
                  ${specs.map((s) => s.partnerId ?? "")}::text[], ${specs.map((s) => s.offerId ?? "")}::text[]) AS t(k, c, m, p, o)
      ON CONFLICT (code) DO NOTHING`;
    await read(missing);
    const still = missing.filter((c) => !found.has(c));
    if (still.length) throw new Error(`ledger: could not create accounts ${still.join(", ")}`);
  }
  return found;
}

/** sha256 of a canonical JSON body (sorted keys): the request hash of an idempotent write. */
export function requestHash(body: unknown): string {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === "object" && !(v instanceof Date)) {
      return Object.fromEntries(
        Object.keys(v as object)
          .sort()
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
      );
    }
    return v instanceof Date ? v.toISOString() : v;
  };
  return createHash("sha256")
    .update(JSON.stringify(canon(body)))
    .digest("hex");
}

const TX_COLUMNS = Prisma.sql`id::text AS id, kind::text AS kind, "memberId"::text AS "memberId", "partnerId"::text AS "partnerId", "offerId"::text AS "offerId",
  "memberPoints", "balanceAfter", reference, "reversesId"::text AS "reversesId", "holdId"::text AS "holdId", "idempotencyScope", "idempotencyKey",
  "requestHash", "createdBy", reason, "postedAt", "programVersionId"::text AS "programVersionId", "spendAmount"::text AS "spendAmount", "spendCurrency"`;

export { TX_COLUMNS };

/** A LedgerTransaction row as read with TX_COLUMNS (int8 columns arrive as bigint): memberPoints checked into a number, balanceAfter a bigint. */
export type RawTransactionRow = Omit<LedgerTransactionRow, "memberPoints" | "balanceAfter"> & { memberPoints: bigint | number; balanceAfter: bigint | number | null };

export function txRow(r: RawTransactionRow): LedgerTransactionRow {
  return { ...r, memberPoints: toSafeNumber(r.memberPoints, `memberPoints of transaction ${r.id}`), balanceAfter: r.balanceAfter == null ? null : toBig(r.balanceAfter) };
}

export async function transactionByKey(db: Tx, scope: string, key: string): Promise<LedgerTransactionRow | null> {
  const rows = await db.$queryRaw<RawTransactionRow[]>`
    SELECT ${TX_COLUMNS} FROM "points"."LedgerTransaction" WHERE "idempotencyScope" = ${scope} AND "idempotencyKey" = ${key}`;
  return rows[0] ? txRow(rows[0]) : null;
}

/** The transactions of `keys` in `scope` that exist, by key (the replays of a batch). */
export async function transactionsByKeys(db: Tx, scope: string, keys: readonly string[]): Promise<Map<string, LedgerTransactionRow>> {
  if (!keys.length) return new Map();
  const rows = await db.$queryRaw<RawTransactionRow[]>`
    SELECT ${TX_COLUMNS} FROM "points"."LedgerTransaction" WHERE "idempotencyScope" = ${scope} AND "idempotencyKey" = ANY(${[...keys]}::text[])`;
  return new Map(rows.map((r) => [r.idempotencyKey, txRow(r)]));
}

export async function transactionsByIds(db: Tx, ids: readonly string[]): Promise<Map<string, LedgerTransactionRow>> {
  const valid = ids.filter(isUuid);
  if (!valid.length) return new Map();
  const rows = await db.$queryRaw<RawTransactionRow[]>`
    SELECT ${TX_COLUMNS} FROM "points"."LedgerTransaction" WHERE id = ANY(${valid}::uuid[])`;
  return new Map(rows.map((r) => [r.id, txRow(r)]));
}

const conflict = () => new HubError("IDEMPOTENCY_CONFLICT", "This idempotency key was already used with a different request");

/**
 * Runs an idempotent write. A replay (same scope+key) with the same request hash returns the
 * original result without writing; another hash is IDEMPOTENCY_CONFLICT. When the write fails
 * because a concurrent duplicate won (unique violation, or a guard the winner made fail), the
 * winner's result is returned.
 */
export async function idempotent<T>(idem: { scope: string; key: string; requestHash: string }, find: () => Promise<{ requestHash: string; result: () => Promise<T> | T } | null>, run: () => Promise<T>): Promise<T> {
  const replay = async () => {
    const existing = await find();
    if (!existing) return null;
    if (existing.requestHash !== idem.requestHash) throw conflict();
    return { value: await existing.result() };
  };
  const first = await replay();
  if (first) return first.value;
  try {
    return await run();
  } catch (e) {
    if (sqlState(e) === "23505" || e instanceof HubError || isUniqueViolation(e)) {
      const again = await replay();
      if (again) return again.value;
    }
    throw e;
  }
}

function isUniqueViolation(e: unknown): boolean {
  return e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002";
}

/** Idempotent ledger write by transaction key: `post` inside `build`, replays return the stored transaction. */
export function idempotentTransaction(idem: { scope: string; key: string; requestHash: string }, build: (tx: Tx) => Promise<LedgerTransactionRow>): Promise<LedgerTransactionRow> {
  return idempotent(
    idem,
    async () => {
      const t = await transactionByKey(prisma(), idem.scope, idem.key);
      return t ? { requestHash: t.requestHash, result: () => t } : null;
    },
    () => prisma().$transaction(build, TX_OPTIONS),
  );
}

/**
 * Posts one balanced transaction inside the caller's database transaction `tx`. Validates the
 * postings (integers, non-zero, sum 0), creates accounts on demand, applies guarded balance
 * updates, writes the transaction and its postings, and moves the wallet's earn lots.
 */
export async function post(tx: Tx, input: PostInput): Promise<LedgerTransactionRow> {
  // Merge postings per account and validate.
  const merged = new Map<string, number>();
  for (const p of input.postings) {
    if (!Number.isSafeInteger(p.amount)) throw new Error(`ledger: posting amount must be an integer (${p.amount})`);
    merged.set(p.accountCode, (merged.get(p.accountCode) ?? 0) + p.amount);
  }
  const postings = [...merged].filter(([, a]) => a !== 0).map(([accountCode, amount]) => ({ accountCode, amount }));
  const sum = postings.reduce((s, p) => s + p.amount, 0);
  if (sum !== 0) throw new Error(`ledger: postings must sum to 0 (got ${sum})`);
  if (postings.length < 2) throw new Error("ledger: a transaction needs at least two non-zero postings");
  const walletPostings = postings.filter((p) => p.accountCode.startsWith("wallet:"));
  if (walletPostings.length > 1) throw new Error("ledger: at most one wallet per transaction");
  const wallet = walletPostings[0];
  if (wallet && input.memberId && wallet.accountCode !== walletCode(input.memberId)) throw new Error("ledger: wallet posting of another member");

  const postedAt = input.postedAt ?? new Date();
  const known = input.accounts;
  const accounts =
    known && postings.every((p) => known.has(p.accountCode))
      ? known
      : await ensureAccounts(
          tx,
          postings.map((p) => p.accountCode),
        );
  const withAccount = postings.map((p) => ({ ...p, account: accounts.get(p.accountCode)! }));
  const guarded = withAccount.filter((p) => GUARDED.has(p.account.kind)).sort((a, b) => (a.account.id < b.account.id ? -1 : 1));
  const others = withAccount.filter((p) => !GUARDED.has(p.account.kind)).sort((a, b) => (a.account.id < b.account.id ? -1 : 1));

  const earnsLifetime = input.kind === "EARN" || input.kind === "OFFER_BONUS" || input.kind === "PROGRAM_BONUS";
  let balanceAfter: bigint | null = null;
  let walletAfter: { lifetimeEarned: bigint; lifetimeSpend: string } | undefined;
  for (const p of guarded) {
    const lifetime = p.account.kind === "MEMBER_WALLET" && earnsLifetime && p.amount > 0 ? p.amount : 0;
    const spent = p.account.kind === "MEMBER_WALLET" && input.kind === "EARN" && p.amount > 0 ? (input.spend?.amount ?? "0") : "0";
    const rows = await tx.$queryRaw<{ balance: bigint; lifetimeEarned: bigint; lifetimeSpend: string }[]>`
      UPDATE "points"."LedgerAccount" SET balance = balance + ${p.amount}::bigint, "lifetimeEarned" = "lifetimeEarned" + ${lifetime}::bigint,
        "lifetimeSpend" = "lifetimeSpend" + ${spent}::numeric
      WHERE id = ${p.account.id} AND balance + ${p.amount}::bigint - held >= 0
      RETURNING balance, "lifetimeEarned", "lifetimeSpend"::text AS "lifetimeSpend"`;
    if (!rows.length) {
      if (p.account.kind === "OFFER_BUDGET") throw new HubError("OFFER_BUDGET_EXHAUSTED", "The offer's remaining budget does not cover the bonus");
      throw new HubError("INSUFFICIENT_POINTS", "The wallet's available points do not cover this request", { points: -p.amount });
    }
    if (p.account.kind === "MEMBER_WALLET") {
      balanceAfter = toBig(rows[0]!.balance);
      walletAfter = { lifetimeEarned: toBig(rows[0]!.lifetimeEarned), lifetimeSpend: rows[0]!.lifetimeSpend };
    }
  }

  const id = randomUUID();
  const memberPoints = wallet?.amount ?? 0;
  await tx.$executeRaw`
    INSERT INTO "points"."LedgerTransaction" (id, kind, "memberId", "partnerId", "offerId", "memberPoints", "balanceAfter", reference, "reversesId",
      "holdId", "idempotencyScope", "idempotencyKey", "requestHash", "createdBy", reason, "postedAt", "programVersionId", "spendAmount", "spendCurrency")
    VALUES (${id}::uuid, ${input.kind}::"points"."TransactionKind", ${input.memberId ?? null}::uuid, ${input.partnerId ?? null}::uuid, ${input.offerId ?? null}::uuid,
      ${memberPoints}::bigint, ${balanceAfter}::bigint, ${input.reference ?? null}, ${input.reversesId ?? null}::uuid, ${input.holdId ?? null}::uuid,
      ${input.idempotency.scope}, ${input.idempotency.key}, ${input.idempotency.requestHash}, ${input.createdBy}, ${input.reason ?? null}, ${postedAt},
      ${input.programVersionId ?? null}::uuid, ${input.spend?.amount ?? null}::numeric, ${input.spend?.currency ?? null})`;
  await tx.$executeRaw`
    INSERT INTO "points"."Posting" ("transactionId", "accountId", amount, "postedAt")
    SELECT ${id}::uuid, a, n, ${postedAt} FROM unnest(${withAccount.map((p) => p.account.id)}::bigint[], ${withAccount.map((p) => p.amount)}::bigint[]) AS t(a, n)`;

  if (wallet && input.memberId) {
    await moveLots(tx, input.memberId, id, wallet.amount, postedAt, input);
  }

  if (input.deferred) input.deferred.push(...others.map((p) => ({ accountId: p.account.id, amount: BigInt(p.amount) })));
  else {
    for (const p of others) {
      await tx.$executeRaw`UPDATE "points"."LedgerAccount" SET balance = balance + ${p.amount}::bigint WHERE id = ${p.account.id}`;
    }
  }

  return {
    id,
    kind: input.kind,
    memberId: input.memberId ?? null,
    partnerId: input.partnerId ?? null,
    offerId: input.offerId ?? null,
    memberPoints,
    balanceAfter,
    reference: input.reference ?? null,
    reversesId: input.reversesId ?? null,
    holdId: input.holdId ?? null,
    idempotencyScope: input.idempotency.scope,
    idempotencyKey: input.idempotency.key,
    requestHash: input.idempotency.requestHash,
    createdBy: input.createdBy,
    reason: input.reason ?? null,
    postedAt,
    programVersionId: input.programVersionId ?? null,
    spendAmount: input.spend?.amount ?? null,
    spendCurrency: input.spend?.currency ?? null,
    ...(walletAfter ? { walletAfter } : {}),
  };
}

/** Locks a member's wallet row (the member's mutex) and returns it; null when the member has no wallet. */
export async function lockWallet(tx: Tx, memberId: string): Promise<{ id: bigint; balance: bigint; held: bigint } | null> {
  const rows = await tx.$queryRaw<{ id: bigint; balance: bigint; held: bigint }[]>`
    SELECT id, balance, held FROM "points"."LedgerAccount" WHERE code = ${walletCode(memberId)} FOR UPDATE`;
  const r = rows[0];
  return r ? { id: toBig(r.id), balance: toBig(r.balance), held: toBig(r.held) } : null;
}

/**
 * Locks the wallets of `memberIds` (each member's mutex) in id order, the ledger's lock order, and
 * returns them by member; a member without a wallet is absent (nothing is created).
 */
export async function lockWallets(tx: Tx, memberIds: readonly string[]): Promise<Map<string, AccountRef & { balance: bigint; held: bigint }>> {
  if (!memberIds.length) return new Map();
  const rows = await tx.$queryRaw<{ id: bigint; code: string; balance: bigint; held: bigint }[]>`
    SELECT id, code, balance, held FROM "points"."LedgerAccount"
    WHERE code = ANY(${[...new Set(memberIds)].map(walletCode)}::text[]) AND kind = 'MEMBER_WALLET' ORDER BY id FOR UPDATE`;
  return new Map(rows.map((r) => [r.code.slice("wallet:".length), { id: toBig(r.id), code: r.code, kind: "MEMBER_WALLET" as const, balance: toBig(r.balance), held: toBig(r.held) }]));
}

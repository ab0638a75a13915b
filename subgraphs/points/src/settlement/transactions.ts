import { toBig } from "../../../../lib/amounts.ts";
import { Prisma } from "../../../../lib/db.ts";
import { badInput, forbidden } from "../../../../lib/errors.ts";
import { isUuid } from "../../../../lib/input.ts";
import { type BiPage, decodeCursor, encodeCursor, keysetPage, keysetSql, type PageArgs } from "../../../../lib/paging.ts";
import type { Principal } from "../../../../lib/principal.ts";
import { prisma } from "../db.ts";
import { issuanceCode, type LedgerTransactionRow, type RawTransactionRow, redemptionCode, txRow } from "../ledger/ledger.ts";

/**
 * Reconciliation (issue 17 §5): a partner's own transactions (`LedgerTransaction.partnerId`: awarded,
 * redeemed or reversed there, the same rule as `transaction(id)`) by time range, kind and reversal
 * status, newest first with keyset cursors in both directions; the range's totals counted exactly as
 * a settlement statement counts them (postings on the partner's issuance and redemption accounts);
 * and the same list as a streamed CSV/JSON file of any size (keyset pages of EXPORT_PAGE rows written
 * with backpressure: memory stays one page whatever the range).
 */

export const TRANSACTION_KINDS = ["EARN", "REDEEM", "REVERSAL", "EXPIRY", "ADJUSTMENT", "OFFER_FUNDING", "OFFER_BONUS", "OFFER_RETURN"] as const;
export type TxKind = (typeof TRANSACTION_KINDS)[number];
export const TRANSACTION_STATUSES = ["POSTED", "PARTIALLY_REVERSED", "REVERSED"] as const;
export type TxStatus = (typeof TRANSACTION_STATUSES)[number];

/** A range is at most this long (days): a year and a day, as a settlement run. */
export const MAX_RANGE_DAYS = 366;
/** Rows per keyset page of an export. */
export const EXPORT_PAGE = 1000;

export interface TxFilter {
  partnerId: string;
  from: Date;
  to: Date;
  kinds: TxKind[] | null;
  statuses: TxStatus[] | null;
}

export interface PartnerTxRow extends LedgerTransactionRow {
  /** Points of the reversals of this transaction so far (positive). */
  reversedPoints: bigint;
  status: TxStatus;
  /** The partner's own reference for the member (its link's externalRef), when known. */
  memberRef: string | null;
}

export interface TxTotals {
  pointsIssued: bigint;
  pointsRedeemed: bigint;
  pointsReversed: bigint;
  pointsAdjusted: bigint;
  transactions: bigint;
}

/**
 * Whose transactions a caller may list: a partner (its API client, PARTNER_ADMIN or PARTNER_STAFF)
 * its own, with `partnerId` omitted or its own; an admin any partner's, `partnerId` required.
 */
export function partnerOf(actor: Principal, partnerId: string | null | undefined): string {
  if (actor.authority === "PARTNER_VIEW") throw forbidden("A token bound to one member cannot list the partner's transactions");
  if (actor.role === "ADMIN") {
    if (!partnerId) throw badInput("ADMIN: pass the partnerId whose transactions to list", "partnerId");
    if (!isUuid(partnerId)) throw badInput("partnerId must be a valid id", "partnerId");
    return partnerId;
  }
  if (actor.role === "PARTNER" && actor.partnerId) {
    if (partnerId && partnerId !== actor.partnerId) throw forbidden("A partner lists only its own transactions");
    return actor.partnerId;
  }
  throw forbidden("Only partners and admins list partner transactions");
}

/** Validates a filter: BAD_USER_INPUT naming the field, nothing read. */
export function txFilter(partnerId: string, raw: { from: unknown; to: unknown; kinds?: readonly unknown[] | null; statuses?: readonly unknown[] | null }): TxFilter {
  const from = raw.from instanceof Date ? raw.from : new Date(String(raw.from));
  const to = raw.to instanceof Date ? raw.to : new Date(String(raw.to));
  if (Number.isNaN(from.getTime())) throw badInput("from must be an ISO-8601 time with offset", "filter.from");
  if (Number.isNaN(to.getTime())) throw badInput("to must be an ISO-8601 time with offset", "filter.to");
  if (to <= from) throw badInput("to must be after from", "filter.to");
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * 86_400_000) throw badInput(`A range is at most ${MAX_RANGE_DAYS} days; page through longer periods range by range`, "filter.to");
  const list = <T extends string>(v: readonly unknown[] | null | undefined, allowed: readonly T[], field: string): T[] | null => {
    if (v == null) return null;
    if (v.length > allowed.length * 4) throw badInput(`${field} has too many values`, field);
    for (const x of v) if (!allowed.includes(x as T)) throw badInput(`${field} must be among ${allowed.join(", ")}`, field);
    return v.length ? [...new Set(v as T[])] : null;
  };
  return { partnerId, from, to, kinds: list(raw.kinds, TRANSACTION_KINDS, "filter.kinds"), statuses: list(raw.statuses, TRANSACTION_STATUSES, "filter.statuses") };
}

const STATUS_SQL = Prisma.sql`CASE WHEN rev."reversedPoints" > 0 AND rev."reversedPoints" >= abs(t."memberPoints") THEN 'REVERSED' WHEN rev."reversedPoints" > 0 THEN 'PARTIALLY_REVERSED' ELSE 'POSTED' END`;

/** The rows of a filter, as a FROM … WHERE clause (keyset condition and order added by the callers). */
function filtered(f: TxFilter, keyset: Prisma.Sql): Prisma.Sql {
  const kinds = f.kinds ? Prisma.sql`AND t.kind::text = ANY(${f.kinds}::text[])` : Prisma.empty;
  const statuses = f.statuses ? Prisma.sql`AND (${STATUS_SQL}) = ANY(${f.statuses}::text[])` : Prisma.empty;
  return Prisma.sql`
    FROM "points"."LedgerTransaction" t
    LEFT JOIN LATERAL (SELECT coalesce(sum(abs(r."memberPoints")), 0)::bigint AS "reversedPoints" FROM "points"."LedgerTransaction" r WHERE r."reversesId" = t.id) rev ON true
    LEFT JOIN "points"."MemberLink" ml ON ml."memberId" = t."memberId" AND ml."partnerId" = t."partnerId"
    WHERE t."partnerId" = ${f.partnerId}::uuid AND t."postedAt" >= ${f.from} AND t."postedAt" < ${f.to} ${kinds} ${statuses} ${keyset}`;
}

type Raw = RawTransactionRow & { reversedPoints: bigint | number; status: TxStatus; memberRef: string | null };

const SELECT = Prisma.sql`SELECT t.id::text AS id, t.kind::text AS kind, t."memberId"::text AS "memberId", t."partnerId"::text AS "partnerId", t."offerId"::text AS "offerId",
  t."memberPoints", t."balanceAfter", t.reference, t."reversesId"::text AS "reversesId", t."holdId"::text AS "holdId", t."idempotencyScope", t."idempotencyKey",
  t."requestHash", t."createdBy", t.reason, t."postedAt", rev."reversedPoints", ${STATUS_SQL} AS status, ml."externalRef" AS "memberRef"`;

const rowOf = (r: Raw): PartnerTxRow => ({ ...txRow(r), reversedPoints: toBig(r.reversedPoints), status: r.status, memberRef: r.memberRef });

/** A transaction's cursor: keyset on (postedAt, id). */
export const txCursor = (t: Pick<LedgerTransactionRow, "postedAt" | "id">) => encodeCursor(t.postedAt, t.id);

/** One page of the filter, newest first, in either direction (Relay's first/after or last/before). */
export async function partnerTransactionsPage(f: TxFilter, args: PageArgs): Promise<BiPage<PartnerTxRow>> {
  return keysetPage(args, isUuid, async (q) => {
    const k = keysetSql(q, 't."postedAt"', "t.id", "uuid");
    const rows = await prisma().$queryRaw<Raw[]>`${SELECT} ${filtered(f, k.where)} ORDER BY ${k.order} LIMIT ${q.limit}`;
    return rows.map(rowOf);
  });
}

/**
 * The range's totals, counted as a settlement statement counts them: postings in [from, to) on the
 * partner's issuance and redemption accounts, by transaction kind (issued = EARN on issuance,
 * redeemed = REDEEM on redemption, reversed = REVERSAL on either side as a positive count, adjusted =
 * ADJUSTMENT in the partner's favour). Offer funding and returns are a co-issuer's statement lines, not
 * transactions of the partner, and are not counted. Kinds and statuses of the filter do not apply.
 */
export async function partnerTotals(f: Pick<TxFilter, "partnerId" | "from" | "to">): Promise<TxTotals> {
  const [r] = await prisma().$queryRaw<{ issued: bigint | null; redeemed: bigint | null; reversed: bigint | null; adjusted: bigint | null }[]>`
    SELECT
      (-sum(p.amount) FILTER (WHERE a.kind = 'PARTNER_ISSUANCE' AND t.kind = 'EARN'))::bigint AS issued,
      (sum(p.amount) FILTER (WHERE a.kind = 'PARTNER_REDEMPTION' AND t.kind = 'REDEEM'))::bigint AS redeemed,
      (sum(CASE WHEN a.kind = 'PARTNER_ISSUANCE' THEN p.amount ELSE -p.amount END) FILTER (WHERE t.kind = 'REVERSAL'))::bigint AS reversed,
      (sum(p.amount) FILTER (WHERE t.kind = 'ADJUSTMENT'))::bigint AS adjusted
    FROM "points"."Posting" p
    JOIN "points"."LedgerAccount" a ON a.id = p."accountId" AND a.code = ANY(${[issuanceCode(f.partnerId), redemptionCode(f.partnerId)]}::text[])
    JOIN "points"."LedgerTransaction" t ON t.id = p."transactionId"
    WHERE p."postedAt" >= ${f.from} AND p."postedAt" < ${f.to}`;
  const [n] = await prisma().$queryRaw<{ n: bigint }[]>`
    SELECT count(*)::bigint AS n FROM "points"."LedgerTransaction" t WHERE t."partnerId" = ${f.partnerId}::uuid AND t."postedAt" >= ${f.from} AND t."postedAt" < ${f.to}`;
  return {
    pointsIssued: toBig(r?.issued ?? 0n),
    pointsRedeemed: toBig(r?.redeemed ?? 0n),
    pointsReversed: toBig(r?.reversed ?? 0n),
    pointsAdjusted: toBig(r?.adjusted ?? 0n),
    transactions: toBig(n?.n ?? 0n),
  };
}

/** Every row of the filter, newest first, one keyset page of EXPORT_PAGE rows at a time (memory: one page). */
export async function* partnerTransactionRows(f: TxFilter, pageRows = EXPORT_PAGE): AsyncGenerator<PartnerTxRow> {
  let after: { at: Date; id: string } | null = null;
  for (;;) {
    const keyset: Prisma.Sql = after ? Prisma.sql`AND (t."postedAt", t.id) < (${after.at}::timestamptz, ${after.id}::uuid)` : Prisma.empty;
    const rows = await prisma().$queryRaw<Raw[]>`${SELECT} ${filtered(f, keyset)} ORDER BY t."postedAt" DESC, t.id DESC LIMIT ${pageRows}`;
    for (const r of rows) yield rowOf(r);
    if (rows.length < pageRows) return;
    const last = rows[rows.length - 1]!;
    after = { at: new Date(last.postedAt), id: last.id };
  }
}

export type ExportFormat = "CSV" | "JSON";

export const EXPORT_COLUMNS = ["transaction_id", "posted_at", "kind", "status", "points", "reversed_points", "member_id", "member_ref", "reference", "reverses_id", "reason"] as const;

const exportValues = (r: PartnerTxRow) => [
  r.id,
  new Date(r.postedAt).toISOString(),
  r.kind,
  r.status,
  String(r.memberPoints),
  String(r.reversedPoints),
  r.memberId ?? "",
  r.memberRef ?? "",
  r.reference ?? "",
  r.reversesId ?? "",
  r.reason ?? "",
];

const exportObject = (r: PartnerTxRow) => ({
  id: r.id,
  postedAt: new Date(r.postedAt).toISOString(),
  kind: r.kind,
  status: r.status,
  points: String(r.memberPoints),
  reversedPoints: String(r.reversedPoints),
  memberId: r.memberId,
  memberRef: r.memberRef,
  reference: r.reference,
  reversesId: r.reversesId,
  reason: r.reason,
});

/** RFC 4180 cell; a leading = + - @ (not a number) is prefixed with ' so spreadsheets do not run it as a formula. */
export function csvCell(v: unknown): string {
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const totalsObject = (t: TxTotals) => ({
  pointsIssued: String(t.pointsIssued),
  pointsRedeemed: String(t.pointsRedeemed),
  pointsReversed: String(t.pointsReversed),
  pointsAdjusted: String(t.pointsAdjusted),
  transactions: String(t.transactions),
});

/** The totals as response headers (CSV carries them there; JSON also in its body). */
export const totalsHeaders = (t: TxTotals): Record<string, string> => ({
  "x-total-points-issued": String(t.pointsIssued),
  "x-total-points-redeemed": String(t.pointsRedeemed),
  "x-total-points-reversed": String(t.pointsReversed),
  "x-total-points-adjusted": String(t.pointsAdjusted),
  "x-total-transactions": String(t.transactions),
});

/**
 * The export as chunks of text: CSV (a header row, one row per transaction) or JSON
 * (`{ partnerId, from, to, totals, transactions: [...] }`), streamed row by row. The consumer
 * awaits each chunk's write (backpressure), so at most one keyset page is in memory.
 */
export async function* exportChunks(f: TxFilter, format: ExportFormat, totals: TxTotals, pageRows = EXPORT_PAGE): AsyncGenerator<string> {
  if (format === "CSV") {
    yield `${EXPORT_COLUMNS.join(",")}\n`;
    let buf = "";
    let n = 0;
    for await (const r of partnerTransactionRows(f, pageRows)) {
      buf += `${exportValues(r).map(csvCell).join(",")}\n`;
      if (++n % 200 === 0) {
        yield buf;
        buf = "";
      }
    }
    if (buf) yield buf;
    return;
  }
  yield `{"partnerId":${JSON.stringify(f.partnerId)},"from":${JSON.stringify(f.from.toISOString())},"to":${JSON.stringify(f.to.toISOString())},"totals":${JSON.stringify(totalsObject(totals))},"transactions":[`;
  let first = true;
  let buf = "";
  let n = 0;
  for await (const r of partnerTransactionRows(f, pageRows)) {
    buf += `${first ? "\n" : ",\n"}${JSON.stringify(exportObject(r))}`;
    first = false;
    if (++n % 200 === 0) {
      yield buf;
      buf = "";
    }
  }
  yield `${buf}\n]}\n`;
}

/** For tests: a cursor of ours, decoded (isId: uuid). */
export const decodeTxCursor = (c: string) => decodeCursor(c, isUuid);

import type { PrismaClient } from "../../../../lib/db.ts";
import { consumedBy, type SchemaName } from "../../../../lib/events/catalogue.ts";
import { eventSettings } from "../../../../lib/events/relay.ts";

/**
 * The ledger verifier (issue 14 §9): checks every invariant of the points ledger that code keeps
 * (and the ones the database keeps too, in case a trigger or constraint was dropped), over a ledger
 * of any size in bounded memory, and names the first violations with their ids.
 *
 * How it stays bounded: every check walks its table in keyset pages (`WHERE key > last ORDER BY key`,
 * PAGE rows at a time), and every sum is an aggregate computed by the database for the page's rows
 * through an index (postings by account and by transaction, lots by member, consumptions by lot).
 * Node holds one page of violations at most, and keeps only the first `maxViolations` of them (the
 * rest are counted). All pages read one REPEATABLE READ snapshot, so a verification running beside
 * live traffic compares balances and postings of the same instant (they change in one transaction).
 *
 * The points checks read only the `points` schema (the points subgraph's ADMIN query runs them).
 * The cross-subgraph event check (every delivered event recorded once in each consumer's inbox)
 * reads all three schemas' outboxes and inboxes: it runs only where the three share one database
 * (the CLI, the tests), never from the subgraph.
 */

export type VerifyCheck =
  | "TRANSACTION_UNBALANCED"
  | "TRANSACTION_MEMBER_POINTS"
  | "TRANSACTION_LOTS"
  | "ACCOUNT_BALANCE"
  | "ACCOUNT_NEGATIVE"
  | "ACCOUNT_HELD"
  | "WALLET_LOTS"
  | "WALLET_HOLDS"
  | "LOT_CONSUMPTION"
  | "HOLD_STATE"
  | "HOLD_POSTINGS"
  | "IDEMPOTENCY_DUPLICATE"
  | "SETTLEMENT_OVERLAP"
  | "SETTLEMENT_CHAIN"
  | "SETTLEMENT_UNBALANCED"
  | "EVENT_NOT_APPLIED"
  | "EVENT_APPLIED_TWICE"
  | "EVENT_UNKNOWN";

/** What each check means (the CLI and the GraphQL enum print these). */
export const VERIFY_CHECKS: Record<VerifyCheck, string> = {
  TRANSACTION_UNBALANCED: "A ledger transaction whose postings do not sum to 0, or that has fewer than two postings.",
  TRANSACTION_MEMBER_POINTS: "A transaction whose memberPoints differs from the sum of its postings on member wallets.",
  TRANSACTION_LOTS: "A transaction whose wallet posting differs from the lots it created minus the lot consumptions it recorded (a credit is a lot, a debit consumes lots).",
  ACCOUNT_BALANCE: "An account whose stored balance differs from the sum of its postings.",
  ACCOUNT_NEGATIVE: "A member wallet or offer budget below zero.",
  ACCOUNT_HELD: "Held points out of range: negative, above a wallet's balance, or on an account that is not a wallet.",
  WALLET_LOTS: "A member wallet whose balance differs from the sum of the remaining points of its earn lots (expired lots keep their points until the expiry job debits them).",
  WALLET_HOLDS: "A member wallet whose held points differ from the sum of its pending holds.",
  LOT_CONSUMPTION: "An earn lot consumed beyond its points (remaining outside [0, points], or points minus its recorded consumptions differs from remaining).",
  HOLD_STATE: "A hold whose status disagrees with its fields (captured points, capture transaction, resolution time).",
  HOLD_POSTINGS: "A hold resolved by more than one transaction, or a capture transaction that is not the hold's or does not debit exactly the captured points.",
  IDEMPOTENCY_DUPLICATE: "Two ledger transactions (or two holds) with the same idempotency scope and key.",
  SETTLEMENT_OVERLAP: "An approved settlement run starting before the previous approved run's end, or with a lower posting watermark (a posting counted twice or lost).",
  SETTLEMENT_CHAIN: "An approved run whose recorded previous period end / watermark is not the previous approved run's (its coverage does not nest).",
  SETTLEMENT_UNBALANCED: "A settlement run whose partners' net positions plus the operator margin do not sum to exactly 0.",
  EVENT_NOT_APPLIED: "A delivered domain event missing from the inbox of one of its consumers.",
  EVENT_APPLIED_TWICE: "An event id recorded more than once in one consumer's inbox.",
  EVENT_UNKNOWN: "An inbox entry for an event that no outbox or dead-letter table holds, processed within the outbox retention period.",
};

export interface Violation {
  check: VerifyCheck;
  /** The offending row's id (transaction, account, lot, hold, run or event id; `scope/key` for idempotency). */
  id: string;
  detail: string;
}

export interface CheckSummary {
  check: VerifyCheck;
  /** Rows examined (transactions, accounts, lots, holds, keys, runs or events). */
  examined: number;
  violations: number;
}

export interface VerifyReport {
  ok: boolean;
  checks: CheckSummary[];
  /** The first violations found (at most maxViolations), in check order. */
  violations: Violation[];
  /** Total violations found (may exceed violations.length). */
  violationCount: number;
  /** Whether the cross-subgraph event check ran. */
  eventsChecked: boolean;
  startedAt: Date;
  finishedAt: Date;
}

export interface VerifyOptions {
  /** Violations kept in the report (default 100); the rest are only counted. */
  maxViolations?: number;
  /** Rows per keyset page (default 5,000). */
  pageSize?: number;
  /** Run the cross-schema event check: "auto" (default) when all three schemas are in this database. */
  events?: boolean | "auto";
  /** Longest time the whole verification may take (default 30 minutes). */
  timeoutMs?: number;
}

type Db = Pick<PrismaClient, "$queryRawUnsafe" | "$executeRawUnsafe">;
type Row = Record<string, unknown>;

const P = `"points"`;

export async function verifyLedger(client: PrismaClient, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const maxViolations = opts.maxViolations ?? 100;
  const pageSize = opts.pageSize ?? 5_000;
  const startedAt = new Date();
  const violations: Violation[] = [];
  const summaries = new Map<VerifyCheck, CheckSummary>();
  let count = 0;
  const summary = (check: VerifyCheck) => {
    let s = summaries.get(check);
    if (!s) summaries.set(check, (s = { check, examined: 0, violations: 0 }));
    return s;
  };
  const examined = (checks: VerifyCheck[], n: number) => {
    for (const c of checks) summary(c).examined += n;
  };
  const report = (check: VerifyCheck, id: unknown, detail: string) => {
    summary(check).violations++;
    count++;
    if (violations.length < maxViolations) violations.push({ check, id: String(id), detail });
  };

  let eventsChecked = false;
  await client.$transaction(
    async (tx) => {
      // One snapshot for every page; read only; pages are small, but one account's sum may cover millions of postings.
      await tx.$executeRawUnsafe(`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
      await tx.$executeRawUnsafe(`SET LOCAL statement_timeout = '10min'`);
      const db = tx as unknown as Db;
      await checkTransactions(db, pageSize, examined, report);
      await checkAccounts(db, pageSize, examined, report);
      await checkLots(db, pageSize, examined, report);
      await checkHolds(db, pageSize, examined, report);
      await checkIdempotency(db, pageSize, examined, report);
      await checkSettlement(db, pageSize, examined, report);
      const wantEvents = opts.events ?? "auto";
      if (wantEvents === true || (wantEvents === "auto" && (await allSchemasHere(db)))) {
        await checkEvents(db, pageSize, examined, report);
        eventsChecked = true;
      }
    },
    { timeout: opts.timeoutMs ?? 30 * 60_000, maxWait: 60_000 },
  );
  return {
    ok: count === 0,
    checks: [...summaries.values()],
    violations,
    violationCount: count,
    eventsChecked,
    startedAt,
    finishedAt: new Date(),
  };
}

type Examined = (checks: VerifyCheck[], n: number) => void;
type Report = (check: VerifyCheck, id: unknown, detail: string) => void;

/**
 * Walks `table` in pages of `pageSize` keys: calls `page(after, upTo)` for each range
 * (after exclusive, upTo inclusive; null = open end). Only the boundary key is read to find a range.
 */
async function forEachPage(db: Db, table: string, key: string, cast: "bigint" | "uuid", pageSize: number, page: (range: string, params: unknown[]) => Promise<number>): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const bound: { k: string }[] = await db.$queryRawUnsafe(`SELECT ${key}::text AS k FROM ${table} WHERE ($1::text IS NULL OR ${key} > $1::${cast}) ORDER BY ${key} OFFSET ${pageSize - 1} LIMIT 1`, after);
    const upTo = bound[0]?.k ?? null;
    await page(`($1::text IS NULL OR ${key} > $1::${cast}) AND ($2::text IS NULL OR ${key} <= $2::${cast})`, [after, upTo]);
    if (upTo === null) return;
    after = upTo;
  }
}

async function countIn(db: Db, table: string, alias: string, range: string, params: unknown[]): Promise<number> {
  const [r] = await db.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table} ${alias} WHERE ${range}`, ...params);
  return r?.n ?? 0;
}

async function checkTransactions(db: Db, pageSize: number, examined: Examined, report: Report) {
  await forEachPage(db, `${P}."LedgerTransaction"`, "id", "uuid", pageSize, async (range, params) => {
    const r = range.replaceAll(" id ", " t.id ");
    examined(["TRANSACTION_UNBALANCED", "TRANSACTION_MEMBER_POINTS", "TRANSACTION_LOTS"], await countIn(db, `${P}."LedgerTransaction"`, "t", r, params));
    const rows = await db.$queryRawUnsafe<Row[]>(
      `SELECT t.id::text AS id, t."memberPoints"::text AS "memberPoints", p.n, p.s::text AS s, p.w::text AS w, p.hasw,
              coalesce(l.created, 0)::text AS created, coalesce(c.consumed, 0)::text AS consumed
       FROM ${P}."LedgerTransaction" t
       CROSS JOIN LATERAL (
         SELECT count(*)::int AS n, coalesce(sum(p.amount), 0)::bigint AS s,
                coalesce(sum(p.amount) FILTER (WHERE a.kind = 'MEMBER_WALLET'), 0)::bigint AS w, bool_or(a.kind = 'MEMBER_WALLET') AS hasw
         FROM ${P}."Posting" p JOIN ${P}."LedgerAccount" a ON a.id = p."accountId" WHERE p."transactionId" = t.id) p
       LEFT JOIN LATERAL (SELECT sum(points)::bigint AS created FROM ${P}."Lot" WHERE "sourceTransactionId" = t.id) l ON true
       LEFT JOIN LATERAL (SELECT sum(points)::bigint AS consumed FROM ${P}."LotConsumption" WHERE "transactionId" = t.id) c ON true
       WHERE ${r}
         AND (p.n < 2 OR p.s <> 0 OR t."memberPoints" <> p.w
              OR (p.hasw AND p.w <> coalesce(l.created, 0) - coalesce(c.consumed, 0))
              OR (NOT coalesce(p.hasw, false) AND (l.created IS NOT NULL OR c.consumed IS NOT NULL)))
       ORDER BY t.id`,
      ...params,
    );
    for (const x of rows) {
      if (Number(x.n) < 2 || x.s !== "0") report("TRANSACTION_UNBALANCED", x.id, `${x.n} posting(s) summing to ${x.s}`);
      if (x.memberPoints !== x.w) report("TRANSACTION_MEMBER_POINTS", x.id, `memberPoints ${x.memberPoints}, wallet postings ${x.w}`);
      if (BigInt(x.w as string) !== BigInt(x.created as string) - BigInt(x.consumed as string) || (!x.hasw && (x.created !== "0" || x.consumed !== "0"))) {
        report("TRANSACTION_LOTS", x.id, `wallet posting ${x.w}, lots created ${x.created}, lot consumptions ${x.consumed}`);
      }
    }
    return rows.length;
  });
}

async function checkAccounts(db: Db, pageSize: number, examined: Examined, report: Report) {
  await forEachPage(db, `${P}."LedgerAccount"`, "id", "bigint", pageSize, async (range, params) => {
    const r = range.replaceAll(" id ", " a.id ");
    examined(["ACCOUNT_BALANCE", "ACCOUNT_NEGATIVE", "ACCOUNT_HELD"], await countIn(db, `${P}."LedgerAccount"`, "a", r, params));
    const rows = await db.$queryRawUnsafe<Row[]>(
      `SELECT a.id::text AS id, a.code, a.kind::text AS kind, a.balance::text AS balance, a.held::text AS held, ps.s::text AS postings,
              lots.r::text AS lots, holds.h::text AS holds
       FROM ${P}."LedgerAccount" a
       CROSS JOIN LATERAL (SELECT coalesce(sum(amount), 0)::bigint AS s FROM ${P}."Posting" WHERE "accountId" = a.id) ps
       LEFT JOIN LATERAL (SELECT coalesce(sum(remaining), 0)::bigint AS r FROM ${P}."Lot" WHERE "memberId" = a."memberId") lots ON a.kind = 'MEMBER_WALLET'
       LEFT JOIN LATERAL (SELECT coalesce(sum(points), 0)::bigint AS h FROM ${P}."Hold" WHERE "memberId" = a."memberId" AND status = 'PENDING') holds ON a.kind = 'MEMBER_WALLET'
       WHERE ${r}
         AND (ps.s <> a.balance
              OR (a.kind IN ('MEMBER_WALLET', 'OFFER_BUDGET') AND a.balance < 0)
              OR a.held < 0 OR (a.kind = 'MEMBER_WALLET' AND a.held > a.balance) OR (a.kind <> 'MEMBER_WALLET' AND a.held <> 0)
              OR (a.kind = 'MEMBER_WALLET' AND (lots.r <> a.balance OR holds.h <> a.held)))
       ORDER BY a.id`,
      ...params,
    );
    let wallets = 0;
    for (const x of rows) {
      const balance = BigInt(x.balance as string);
      const held = BigInt(x.held as string);
      const wallet = x.kind === "MEMBER_WALLET";
      if (x.postings !== x.balance) report("ACCOUNT_BALANCE", x.id, `${x.code}: balance ${x.balance}, postings sum to ${x.postings}`);
      if ((wallet || x.kind === "OFFER_BUDGET") && balance < 0n) report("ACCOUNT_NEGATIVE", x.id, `${x.code}: balance ${x.balance}`);
      if (held < 0n || (wallet && held > balance) || (!wallet && held !== 0n)) report("ACCOUNT_HELD", x.id, `${x.code}: held ${x.held}, balance ${x.balance}`);
      if (wallet && x.lots !== x.balance) report("WALLET_LOTS", x.id, `${x.code}: balance ${x.balance}, lots hold ${x.lots}`);
      if (wallet && x.holds !== x.held) report("WALLET_HOLDS", x.id, `${x.code}: held ${x.held}, pending holds ${x.holds}`);
      if (wallet) wallets++;
    }
    const [w] = await db.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${P}."LedgerAccount" a WHERE ${r} AND a.kind = 'MEMBER_WALLET'`, ...params);
    examined(["WALLET_LOTS", "WALLET_HOLDS"], w?.n ?? wallets);
    return rows.length;
  });
}

async function checkLots(db: Db, pageSize: number, examined: Examined, report: Report) {
  await forEachPage(db, `${P}."Lot"`, "id", "bigint", pageSize, async (range, params) => {
    const r = range.replaceAll(" id ", " l.id ");
    examined(["LOT_CONSUMPTION"], await countIn(db, `${P}."Lot"`, "l", r, params));
    const rows = await db.$queryRawUnsafe<Row[]>(
      `SELECT l.id::text AS id, l.points::text AS points, l.remaining::text AS remaining, c.s::text AS consumed
       FROM ${P}."Lot" l CROSS JOIN LATERAL (SELECT coalesce(sum(points), 0)::bigint AS s FROM ${P}."LotConsumption" WHERE "lotId" = l.id) c
       WHERE ${r} AND (l.points <= 0 OR l.remaining < 0 OR l.remaining > l.points OR l.points - c.s <> l.remaining)
       ORDER BY l.id`,
      ...params,
    );
    for (const x of rows) report("LOT_CONSUMPTION", x.id, `points ${x.points}, remaining ${x.remaining}, consumptions ${x.consumed}`);
    return rows.length;
  });
}

async function checkHolds(db: Db, pageSize: number, examined: Examined, report: Report) {
  // Holds: status and fields agree; a capture points at a REDEEM transaction of this hold that debits the captured points.
  await forEachPage(db, `${P}."Hold"`, "id", "uuid", pageSize, async (range, params) => {
    const r = range.replaceAll(" id ", " h.id ");
    examined(["HOLD_STATE"], await countIn(db, `${P}."Hold"`, "h", r, params));
    const rows = await db.$queryRawUnsafe<Row[]>(
      `SELECT h.id::text AS id, h.status::text AS status, h.points::text AS points, h."capturedPoints"::text AS captured,
              h."captureTransactionId"::text AS "captureTx", (h."resolvedAt" IS NOT NULL) AS resolved,
              t.id::text AS "txId", t."holdId"::text AS "txHold", t.kind::text AS "txKind", t."memberPoints"::text AS "txPoints"
       FROM ${P}."Hold" h LEFT JOIN ${P}."LedgerTransaction" t ON t.id = h."captureTransactionId"
       WHERE ${r}
         AND (CASE h.status
                WHEN 'PENDING' THEN h."resolvedAt" IS NOT NULL OR h."captureTransactionId" IS NOT NULL OR h."capturedPoints" <> 0
                WHEN 'CAPTURED' THEN h."resolvedAt" IS NULL OR t.id IS NULL OR t."holdId" IS DISTINCT FROM h.id OR t.kind <> 'REDEEM'
                                     OR t."memberPoints" <> -h."capturedPoints" OR h."capturedPoints" <= 0 OR h."capturedPoints" > h.points
                ELSE h."resolvedAt" IS NULL OR h."captureTransactionId" IS NOT NULL OR h."capturedPoints" <> 0 END)
       ORDER BY h.id`,
      ...params,
    );
    for (const x of rows) {
      report(
        "HOLD_STATE",
        x.id,
        `status ${x.status}, points ${x.points}, captured ${x.captured}, resolved ${x.resolved}, capture transaction ${x.captureTx ?? "none"}` +
          (x.captureTx ? (x.txId ? ` (${x.txKind} of hold ${x.txHold ?? "none"}, memberPoints ${x.txPoints})` : " (missing)") : ""),
      );
    }
    return rows.length;
  });
  // Transactions naming a hold: only the hold's own capture may (a second one would resolve it twice).
  await forEachPage(db, `${P}."LedgerTransaction"`, "id", "uuid", pageSize, async (range, params) => {
    const r = range.replaceAll(" id ", " t.id ");
    const [n] = await db.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${P}."LedgerTransaction" t WHERE ${r} AND t."holdId" IS NOT NULL`, ...params);
    examined(["HOLD_POSTINGS"], n?.n ?? 0);
    const rows = await db.$queryRawUnsafe<Row[]>(
      `SELECT t.id::text AS id, t."holdId"::text AS hold, h.status::text AS status, h."captureTransactionId"::text AS "captureTx"
       FROM ${P}."LedgerTransaction" t LEFT JOIN ${P}."Hold" h ON h.id = t."holdId"
       WHERE ${r} AND t."holdId" IS NOT NULL AND (h.id IS NULL OR h."captureTransactionId" IS DISTINCT FROM t.id)
       ORDER BY t.id`,
      ...params,
    );
    for (const x of rows) {
      report("HOLD_POSTINGS", x.id, x.status ? `transaction of hold ${x.hold} (${x.status}), whose capture is ${x.captureTx ?? "none"}` : `transaction of a hold ${x.hold} that does not exist`);
    }
    return rows.length;
  });
}

async function checkIdempotency(db: Db, pageSize: number, examined: Examined, report: Report) {
  // Walks (scope, key) in index order, grouped: with the unique index this streams; without it, it still finds duplicates.
  for (const table of [`${P}."LedgerTransaction"`, `${P}."Hold"`]) {
    let after: [string, string] | null = null;
    for (;;) {
      const rows: { s: string; k: string; n: number; ids: string }[] = await db.$queryRawUnsafe(
        `SELECT "idempotencyScope" AS s, "idempotencyKey" AS k, count(*)::int AS n, string_agg(id::text, ',' ORDER BY id) AS ids
         FROM ${table} WHERE ($1::text IS NULL OR ("idempotencyScope", "idempotencyKey") > ($1::text, $2::text))
         GROUP BY 1, 2 ORDER BY 1, 2 LIMIT ${pageSize}`,
        after?.[0] ?? null,
        after?.[1] ?? null,
      );
      examined(["IDEMPOTENCY_DUPLICATE"], rows.length);
      for (const x of rows) if (x.n > 1) report("IDEMPOTENCY_DUPLICATE", `${x.s}/${x.k}`, `${x.n} rows in ${table}: ${x.ids}`);
      if (rows.length < pageSize) break;
      const last = rows[rows.length - 1]!;
      after = [last.s, last.k];
    }
  }
}

async function checkSettlement(db: Db, pageSize: number, examined: Examined, report: Report) {
  // Approved runs follow each other by periodEnd (one per period: few rows; the window reads them in order).
  type Prev = { end: Date; id: string; wm: string };
  let after: Prev | null = null;
  for (;;) {
    const rows: { id: string; start: Date; end: Date; wm: string; recEnd: Date | null; recWm: string | null }[] = await db.$queryRawUnsafe(
      `SELECT id::text AS id, "periodStart" AS start, "periodEnd" AS "end", "watermarkPostingId"::text AS wm,
              "prevPeriodEnd" AS "recEnd", "prevWatermarkPostingId"::text AS "recWm"
       FROM ${P}."SettlementRun" WHERE status = 'APPROVED' AND ($1::timestamptz IS NULL OR ("periodEnd", id) > ($1::timestamptz, $2::uuid))
       ORDER BY "periodEnd", id LIMIT ${pageSize}`,
      after?.end ?? null,
      after?.id ?? null,
    );
    examined(["SETTLEMENT_OVERLAP", "SETTLEMENT_CHAIN"], rows.length);
    let prev: Prev | null = after;
    for (const x of rows) {
      if (prev) {
        if (x.start < prev.end) report("SETTLEMENT_OVERLAP", x.id, `starts ${x.start.toISOString()} before the previous approved run ${prev.id} ends (${prev.end.toISOString()})`);
        if (BigInt(x.wm) < BigInt(prev.wm)) report("SETTLEMENT_OVERLAP", x.id, `watermark ${x.wm} below the previous approved run's ${prev.wm}`);
      }
      const expectEnd = prev?.end ?? null;
      const expectWm = prev?.wm ?? null;
      if ((x.recEnd?.getTime() ?? null) !== (expectEnd?.getTime() ?? null) || (x.recWm ?? null) !== expectWm) {
        report(
          "SETTLEMENT_CHAIN",
          x.id,
          `records previous run end ${x.recEnd?.toISOString() ?? "none"} / watermark ${x.recWm ?? "none"}, the previous approved run has ${expectEnd?.toISOString() ?? "none"} / ${expectWm ?? "none"}`,
        );
      }
      prev = { end: x.end, id: x.id, wm: x.wm };
    }
    if (rows.length < pageSize) break;
    after = prev;
  }
  await forEachPage(db, `${P}."SettlementRun"`, "id", "uuid", pageSize, async (range, params) => {
    const r = range.replaceAll(" id ", " r.id ");
    examined(["SETTLEMENT_UNBALANCED"], await countIn(db, `${P}."SettlementRun"`, "r", r, params));
    const rows = await db.$queryRawUnsafe<Row[]>(
      `SELECT r.id::text AS id, s.net::text AS net, r."operatorMargin"::text AS margin
       FROM ${P}."SettlementRun" r CROSS JOIN LATERAL (SELECT coalesce(sum("netPosition"), 0) AS net FROM ${P}."SettlementStatement" WHERE "runId" = r.id) s
       WHERE ${r} AND s.net + r."operatorMargin" <> 0 ORDER BY r.id`,
      ...params,
    );
    for (const x of rows) report("SETTLEMENT_UNBALANCED", x.id, `net positions sum to ${x.net}, operator margin ${x.margin}`);
    return rows.length;
  });
}

const SCHEMAS: SchemaName[] = ["member", "points", "partner"];

async function allSchemasHere(db: Db): Promise<boolean> {
  const rows = await db.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = ANY($1::text[]) AND table_name IN ('OutboxEvent', 'InboxEvent')`, SCHEMAS);
  return rows[0]?.n === SCHEMAS.length * 2;
}

async function checkEvents(db: Db, pageSize: number, examined: Examined, report: Report) {
  // Every delivered event is in the inbox of each of its consumers (the inbox row commits with the effect, once).
  for (const source of SCHEMAS) {
    const table = `"${source}"."OutboxEvent"`;
    await forEachPage(db, table, "id", "uuid", pageSize, async (range, params) => {
      const r = range.replaceAll(" id ", " o.id ");
      const [n] = await db.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table} o WHERE ${r} AND o."deliveredAt" IS NOT NULL`, ...params);
      examined(["EVENT_NOT_APPLIED"], n?.n ?? 0);
      let found = 0;
      for (const consumer of SCHEMAS) {
        const types = consumedBy(consumer);
        if (!types.length) continue;
        const rows = await db.$queryRawUnsafe<Row[]>(
          `SELECT o.id::text AS id, o.type FROM ${table} o
           WHERE ${r} AND o."deliveredAt" IS NOT NULL AND o.type = ANY($3::text[])
             AND NOT EXISTS (SELECT 1 FROM "${consumer}"."InboxEvent" i WHERE i."eventId" = o.id)
           ORDER BY o.id`,
          ...params,
          types,
        );
        for (const x of rows) report("EVENT_NOT_APPLIED", x.id, `${x.type} from ${source}, delivered, not in ${consumer}'s inbox`);
        found += rows.length;
      }
      return found;
    });
  }
  // Inbox rows: each event id once per consumer (the primary key holds it; checked in case it was dropped) and known to an outbox.
  for (const consumer of SCHEMAS) {
    const table = `"${consumer}"."InboxEvent"`;
    const { retentionHours } = eventSettings();
    let after: string | null = null;
    for (;;) {
      const rows: { id: string; n: number; known: boolean }[] = await db.$queryRawUnsafe(
        // Known: in an outbox, in a dead-letter table (some consumer kept failing), or processed before the
        // outbox retention period (its delivered outbox row may have been pruned: lib/events/relay.ts).
        `SELECT i."eventId"::text AS id, count(*)::int AS n,
                EXISTS (SELECT 1 FROM "member"."OutboxEvent" WHERE id = i."eventId")
                OR EXISTS (SELECT 1 FROM "points"."OutboxEvent" WHERE id = i."eventId")
                OR EXISTS (SELECT 1 FROM "partner"."OutboxEvent" WHERE id = i."eventId")
                OR EXISTS (SELECT 1 FROM "member"."DeadLetterEvent" WHERE id = i."eventId")
                OR EXISTS (SELECT 1 FROM "points"."DeadLetterEvent" WHERE id = i."eventId")
                OR EXISTS (SELECT 1 FROM "partner"."DeadLetterEvent" WHERE id = i."eventId")
                OR min(i."processedAt") < now() - ($2::int * interval '1 hour') AS known
         FROM ${table} i WHERE ($1::uuid IS NULL OR i."eventId" > $1::uuid)
         GROUP BY i."eventId" ORDER BY i."eventId" LIMIT ${pageSize}`,
        after,
        retentionHours,
      );
      examined(["EVENT_APPLIED_TWICE", "EVENT_UNKNOWN"], rows.length);
      for (const x of rows) {
        if (x.n > 1) report("EVENT_APPLIED_TWICE", x.id, `${x.n} rows in ${consumer}'s inbox`);
        if (!x.known) report("EVENT_UNKNOWN", x.id, `in ${consumer}'s inbox, in no outbox`);
      }
      if (rows.length < pageSize) break;
      after = rows[rows.length - 1]!.id;
    }
  }
}

/** A report as text: one line per violation (the CLI prints it; tests put it in their failure message). */
export function formatReport(r: VerifyReport): string {
  const head = r.ok
    ? `ledger verified: no violations (${r.checks.map((c) => `${c.check} ${c.examined}`).join(", ")}${r.eventsChecked ? "" : "; events not checked"})`
    : `ledger verification found ${r.violationCount} violation(s)${r.violationCount > r.violations.length ? ` (first ${r.violations.length} shown)` : ""}:`;
  return [head, ...r.violations.map((v) => `  ${v.check} ${v.id}: ${v.detail}`)].join("\n");
}

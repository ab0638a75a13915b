import { toSafeNumber } from "../../../../lib/amounts.ts";
import { randomUUID } from "node:crypto";
import { Decimal } from "decimal.js";
import { z } from "zod";
import { Prisma } from "../../../../lib/db.ts";
import { badInput, forbidden, HubError, notFound } from "../../../../lib/errors.ts";
import type { SettlementFlow, SettlementLine, SettlementRun, SettlementStatement, TransactionKind } from "../../../../prisma/generated/client/client.ts";
import { prisma } from "../db.ts";
import { type Actor, parseInput, Reason, Uuid } from "../domain.ts";
import { splitByShares } from "../events.ts";
import { ADJUSTMENTS, issuanceCode, MAX_POINTS, post, redemptionCode, type Tx } from "../ledger/ledger.ts";
import { currencySettings } from "../config.ts";

/**
 * Settlement between partners (DESIGN.md §7, issue 7).
 *
 * What a run covers. Postings carry a client-side posting time, so "postedAt < periodEnd" alone
 * cannot tell a late posting (a transaction that started before the period closed and committed
 * after the run was approved) from one the run saw. A run therefore records a watermark: the
 * highest posting id it covered. Approval takes it under a SHARE lock on Posting (in a short
 * transaction of its own, so postings wait only for that read), which waits for every transaction
 * that is inserting postings, so every posting with a smaller id has committed and every later
 * posting gets a larger id; it is never below the previous approved run's. A run covers
 *
 *     postedAt < periodEnd  AND  id <= watermark  AND NOT (postedAt < prev.periodEnd AND id <= prev.watermark)
 *
 * where `prev` is the latest approved run. Approved runs follow each other (a run may not start
 * before the last approved run's end), so their coverage rectangles nest and the latest one is the
 * union of all: every posting lands in exactly one approved run; a late posting, or one made before
 * the first run's start, is carried into the next run (counted as `carriedInPostings`).
 *
 * Money. Per partner, postings on its ISSUANCE account (earn, offer funding and returns,
 * reversals, adjustments) are priced at its issue price in force at each posting's time, and
 * postings on its REDEMPTION account (redeemed there, reversals, adjustments) at its redemption
 * rate. Corrections keep the price of what they correct: a reversal is priced at the reversed
 * transaction's time, an offer's returned budget at its funding time, a dispute's adjustment at
 * the disputed line's rate. One statement line per (side, kind, rate period); its amount is points × rate, rounded
 * half-even once, to the currency's minor unit, with decimal.js (never floats). amountDue = Σ
 * issuance lines, amountOwed = Σ redemption lines, netPosition = owed − due, and the operator's
 * margin = Σ due − Σ owed, so positions + margin = 0 exactly. A partner's first rates apply to its
 * postings from before they were recorded too (the demo's back-dated history).
 *
 * Scale. Everything is aggregated in PostgreSQL: the sums in the same scan as the bare aggregate
 * (rate periods as width_bucket buckets), the lot flows from the redemption and breakage accounts'
 * postings only; Node sees a handful of rows per partner, so a run over 10 million postings never
 * loads them.
 */

export type { SettlementFlow, SettlementLine, SettlementRun, SettlementStatement };

/** Long-running: a run over millions of postings aggregates for seconds; PGlite runs transactions one at a time. */
const RUN_TX = { maxWait: 60_000, timeout: 30 * 60_000 } as const;
const TX = { maxWait: 15_000, timeout: 30_000 } as const;

const SYSTEM = "system:settlement";
const MAX_PERIOD_DAYS = 366;

const isAdmin = (a: Actor) => a.role === "ADMIN";

const PeriodInput = z
  .object({ periodStart: z.date({ error: "periodStart must be a date-time" }), periodEnd: z.date({ error: "periodEnd must be a date-time" }) })
  .refine((p) => p.periodStart < p.periodEnd, { message: "periodStart must be before periodEnd", path: ["periodEnd"] })
  .refine((p) => p.periodEnd.getTime() - p.periodStart.getTime() <= MAX_PERIOD_DAYS * 86_400_000, {
    message: `a period is at most ${MAX_PERIOD_DAYS} days`,
    path: ["periodEnd"],
  });

export interface RunOptions {
  now?: Date;
}

// ---------------------------------------------------------------------------------------------
// Computing a run
// ---------------------------------------------------------------------------------------------

interface Coverage {
  periodStart: Date;
  periodEnd: Date;
  watermark: bigint;
  prevEnd: Date | null;
  prevWatermark: bigint | null;
}

/** The covered-postings predicate on alias `p` (see the module comment). */
function covers(c: Coverage): Prisma.Sql {
  const notPrev = c.prevEnd && c.prevWatermark !== null ? Prisma.sql`AND NOT (p."postedAt" < ${c.prevEnd} AND p.id <= ${c.prevWatermark})` : Prisma.empty;
  return Prisma.sql`p."postedAt" < ${c.periodEnd} AND p.id <= ${c.watermark} ${notPrev}`;
}

/** A row of settlementSumsSql: covered postings of one partner account side, kind and time bucket. */
interface SumRow {
  partnerId: string;
  side: "PARTNER_ISSUANCE" | "PARTNER_REDEMPTION";
  kind: TransactionKind;
  bucket: number;
  sum: bigint;
  postings: bigint;
  carriedIn: bigint;
}

/** A row of settlementFlowsSql: lot points taken at a partner (or expired: partnerId ''), by the lot's issuer or offer. */
interface FlowRow {
  partnerId: string;
  issuerPartnerId: string | null;
  offerId: string | null;
  points: bigint;
}

/**
 * The settlement sums: covered postings on partner accounts per partner, side, transaction kind and
 * time bucket. `width_bucket` over every rate change time (all partners') puts each posting in a
 * bucket that lies inside one rate period of every partner, so the buckets are priced after the
 * scan, in Node, over a handful of rows. The same scan and joins as the bare aggregate, plus the
 * bucket in the GROUP BY.
 */
export function settlementSumsSql(c: Coverage, bounds: Date[]): Prisma.Sql {
  // The time whose rate prices a posting: its own, except for corrections of earlier money, which
  // keep the price they correct (else a partner could profit from reversing after a rate change):
  // a REVERSAL at the reversed transaction's time, an OFFER_RETURN at the offer's funding
  // (activation) time, a dispute's ADJUSTMENT at the disputed line's rate. The subqueries run only
  // for those rare rows (CASE evaluates lazily).
  const pricedAt = Prisma.sql`CASE
        WHEN t."reversesId" IS NOT NULL THEN coalesce((SELECT o."postedAt" FROM "points"."LedgerTransaction" o WHERE o.id = t."reversesId"), p."postedAt")
        WHEN t.kind = 'OFFER_RETURN' THEN coalesce((SELECT f."activatedAt" FROM "points"."Offer" f WHERE f."offerId" = t."offerId"), p."postedAt")
        WHEN t.kind = 'ADJUSTMENT' AND t.reference LIKE 'dispute:%' THEN coalesce((SELECT l."rateEffectiveFrom" FROM "points"."SettlementLine" l WHERE l.id::text = substr(t.reference, 9)), p."postedAt")
        ELSE p."postedAt" END`;
  // Grouped on the same keys as the bare aggregate (account id, kind) plus the bucket; the account's
  // partner and side are joined to the few result rows afterwards.
  return Prisma.sql`
    SELECT a."partnerId"::text AS "partnerId", a.kind::text AS side, x.kind::text AS kind, x.bucket, x.sum, x.postings, x."carriedIn"
    FROM (
      SELECT p."accountId", t.kind, width_bucket(${pricedAt}, ${bounds}::timestamptz[]) AS bucket,
        sum(p.amount)::bigint AS sum, count(*)::bigint AS postings,
        count(*) FILTER (WHERE p."postedAt" < ${c.periodStart})::bigint AS "carriedIn"
      FROM "points"."Posting" p
      JOIN "points"."LedgerAccount" a ON a.id = p."accountId" AND a.kind IN ('PARTNER_ISSUANCE', 'PARTNER_REDEMPTION')
      JOIN "points"."LedgerTransaction" t ON t.id = p."transactionId"
      WHERE ${covers(c)}
      GROUP BY 1, 2, 3
    ) x JOIN "points"."LedgerAccount" a ON a.id = x."accountId"`;
}

/**
 * The lots behind covered postings on redemption accounts (redemptions, and reversed redemptions
 * giving points back) and on the breakage account (expiries), per issuer or offer: the flow matrix
 * and breakage. Only those accounts' postings are read (through the (accountId, id) index).
 */
export function settlementFlowsSql(c: Coverage): Prisma.Sql {
  return Prisma.sql`
    SELECT coalesce(a."partnerId"::text, '') AS "partnerId", x."issuerPartnerId", x."offerId", x.sum AS points
    FROM (
      SELECT p."accountId", l."issuerPartnerId", l."offerId", sum(lc.points)::bigint AS sum
      FROM "points"."Posting" p
      JOIN "points"."LedgerAccount" a ON a.id = p."accountId" AND a.kind IN ('PARTNER_REDEMPTION', 'BREAKAGE')
      JOIN "points"."LotConsumption" lc ON lc."transactionId" = p."transactionId"
      JOIN "points"."Lot" l ON l.id = lc."lotId"
      WHERE ${covers(c)}
      GROUP BY 1, 2, 3
    ) x JOIN "points"."LedgerAccount" a ON a.id = x."accountId"`;
}

/** The reference for bench/settlement.ts: the bare per-account, per-kind sums of the same postings. */
export function bareAggregateSql(c: Coverage): Prisma.Sql {
  return Prisma.sql`
    SELECT p."accountId", t.kind, sum(p.amount)::bigint AS sum, count(*)::bigint AS n
    FROM "points"."Posting" p
    JOIN "points"."LedgerAccount" a ON a.id = p."accountId" AND a.kind IN ('PARTNER_ISSUANCE', 'PARTNER_REDEMPTION')
    JOIN "points"."LedgerTransaction" t ON t.id = p."transactionId"
    WHERE ${covers(c)}
    GROUP BY 1, 2`;
}

interface RateRow {
  partnerId: string;
  issuePrice: Prisma.Decimal;
  redemptionRate: Prisma.Decimal;
  effectiveFrom: Date;
}

/** Each partner's rate history, oldest first; a partner's first rates also apply before they were recorded. */
async function rateHistory(tx: Tx): Promise<{ bounds: Date[]; byPartner: Map<string, RateRow[]> }> {
  const rows = await tx.$queryRaw<RateRow[]>`
    SELECT "partnerId", "issuePrice", "redemptionRate", "effectiveFrom" FROM "points"."PartnerRate" ORDER BY "effectiveFrom", id`;
  const byPartner = new Map<string, RateRow[]>();
  for (const r of rows) byPartner.set(r.partnerId, [...(byPartner.get(r.partnerId) ?? []), r]);
  const bounds = [...new Set(rows.map((r) => r.effectiveFrom.getTime()))].sort((a, b) => a - b).map((t) => new Date(t));
  return { bounds, byPartner };
}

/** The rate row in force for a partner throughout bucket `b` (width_bucket over `bounds`). */
function rateInBucket(history: RateRow[] | undefined, bounds: Date[], b: number): RateRow | null {
  if (!history?.length) return null;
  if (b === 0) return history[0]!;
  const start = bounds[b - 1]!.getTime();
  let rate = history[0]!;
  for (const r of history) if (r.effectiveFrom.getTime() <= start) rate = r; // equal times: the later row wins
  return rate;
}

/** Unredeemed, unexpired points per issuer (and per offer for bonus lots), now. */
const liabilitySql = (now: Date) => Prisma.sql`
  SELECT "issuerPartnerId", "offerId", sum(remaining)::bigint AS points
  FROM "points"."Lot"
  WHERE remaining > 0 AND ("expiresAt" IS NULL OR "expiresAt" > ${now}) AND ("issuerPartnerId" IS NOT NULL OR "offerId" IS NOT NULL)
  GROUP BY 1, 2`;

interface OfferShares {
  offerId: string;
  fundings: { partnerId: string; shareBps: number }[];
}

/**
 * Attributes lot points to partners: a partner's own lots to it; an offer bonus lot to the offer's
 * co-issuers in their funding shares (largest remainder: exact, no point created or lost). Lots of
 * neither (an admin's adjustment) belong to the operator and are left out.
 */
function attribute(rows: { issuerPartnerId: string | null; offerId: string | null; points: bigint }[], offers: Map<string, OfferShares>) {
  const out: { partnerId: string; points: bigint }[] = [];
  for (const r of rows) {
    if (r.issuerPartnerId) out.push({ partnerId: r.issuerPartnerId, points: r.points });
    else if (r.offerId && offers.has(r.offerId)) {
      // An offer's bonus lots: at most its budget (≤ 1,000,000,000 points), so splitByShares' number arithmetic is exact.
      const total = toSafeNumber(r.points, `lot points of offer ${r.offerId}`);
      const sign = total < 0 ? -1 : 1;
      for (const s of splitByShares(Math.abs(total), offers.get(r.offerId)!.fundings)) out.push({ partnerId: s.partnerId, points: BigInt(sign * s.points) });
    }
  }
  return out;
}

const add = (m: Map<string, bigint>, k: string, n: bigint) => m.set(k, (m.get(k) ?? 0n) + n);

export interface ComputedLine {
  partnerId: string;
  side: "ISSUANCE" | "REDEMPTION";
  kind: TransactionKind;
  points: bigint;
  postings: bigint;
  rate: Decimal;
  rateEffectiveFrom: Date | null;
  amount: Decimal;
}

/** Statement line amount: points × rate, rounded half-even once to the currency's minor unit. */
export function lineAmount(points: bigint, rate: Decimal.Value, minorUnits: number): Decimal {
  return new Decimal(points.toString()).times(rate).toDecimalPlaces(minorUnits, Decimal.ROUND_HALF_EVEN);
}

/**
 * Prices the pass's sums: buckets of one partner, side and kind that fall in the same rate period
 * are merged into one line (partner perspective: points issued / redeemed at it), then priced once.
 */
export function priceLines(rows: SumRow[], rates: { bounds: Date[]; byPartner: Map<string, RateRow[]> }, minorUnits: number): ComputedLine[] {
  const merged = new Map<string, { partnerId: string; side: "ISSUANCE" | "REDEMPTION"; kind: TransactionKind; rate: RateRow; sum: bigint; postings: bigint }>();
  for (const r of rows) {
    const rate = rateInBucket(rates.byPartner.get(r.partnerId), rates.bounds, r.bucket);
    if (!rate) throw new HubError("BAD_USER_INPUT", `No rates are known for partner ${r.partnerId} yet (its rate history has not reached the points subgraph); retry in a moment`);
    const side = r.side === "PARTNER_ISSUANCE" ? "ISSUANCE" : "REDEMPTION";
    const key = `${r.partnerId}|${side}|${r.kind}|${rate.effectiveFrom.getTime()}`;
    const m = merged.get(key) ?? { partnerId: r.partnerId, side, kind: r.kind, rate, sum: 0n, postings: 0n };
    m.sum += r.sum;
    m.postings += r.postings;
    merged.set(key, m);
  }
  const lines: ComputedLine[] = [];
  for (const m of merged.values()) {
    // Issuance accounts are debited when the partner issues: issued points = −Σ postings.
    const points = m.side === "ISSUANCE" ? -m.sum : m.sum;
    const rate = new Decimal((m.side === "ISSUANCE" ? m.rate.issuePrice : m.rate.redemptionRate).toString());
    lines.push({ partnerId: m.partnerId, side: m.side, kind: m.kind, points, postings: m.postings, rate, rateEffectiveFrom: m.rate.effectiveFrom, amount: lineAmount(points, rate, minorUnits) });
  }
  const order = (l: ComputedLine) => `${l.partnerId}|${l.side}|${l.kind}|${l.rateEffectiveFrom?.toISOString() ?? ""}`;
  return lines.sort((x, y) => (order(x) < order(y) ? -1 : order(x) > order(y) ? 1 : 0));
}

export interface ComputedStatement {
  partnerId: string;
  pointsIssued: bigint;
  pointsRedeemed: bigint;
  offerFundingPoints: bigint;
  offerReturnedPoints: bigint;
  pointsReversed: bigint;
  pointsAdjusted: bigint;
  amountDue: Decimal;
  amountOwed: Decimal;
  netPosition: Decimal;
  liabilityPoints: bigint;
  expiredPoints: bigint;
}

/** Statements from lines: sums only (the rounding happened once, per line). */
export function statementsOf(lines: ComputedLine[], partnerIds: Iterable<string>): { statements: ComputedStatement[]; operatorMargin: Decimal } {
  const by = new Map<string, ComputedStatement>();
  const get = (partnerId: string) => {
    let s = by.get(partnerId);
    if (!s) {
      s = {
        partnerId,
        pointsIssued: 0n,
        pointsRedeemed: 0n,
        offerFundingPoints: 0n,
        offerReturnedPoints: 0n,
        pointsReversed: 0n,
        pointsAdjusted: 0n,
        amountDue: new Decimal(0),
        amountOwed: new Decimal(0),
        netPosition: new Decimal(0),
        liabilityPoints: 0n,
        expiredPoints: 0n,
      };
      by.set(partnerId, s);
    }
    return s;
  };
  for (const id of partnerIds) get(id);
  for (const l of lines) {
    const s = get(l.partnerId);
    if (l.side === "ISSUANCE") s.amountDue = s.amountDue.plus(l.amount);
    else s.amountOwed = s.amountOwed.plus(l.amount);
    if (l.kind === "EARN" && l.side === "ISSUANCE") s.pointsIssued += l.points;
    else if (l.kind === "REDEEM" && l.side === "REDEMPTION") s.pointsRedeemed += l.points;
    else if (l.kind === "OFFER_FUNDING") s.offerFundingPoints += l.points;
    else if (l.kind === "OFFER_RETURN") s.offerReturnedPoints -= l.points;
    else if (l.kind === "REVERSAL") s.pointsReversed -= l.points;
    else if (l.kind === "ADJUSTMENT") s.pointsAdjusted += l.side === "ISSUANCE" ? -l.points : l.points; // in the partner's favour
  }
  let margin = new Decimal(0);
  for (const s of by.values()) {
    s.netPosition = s.amountOwed.minus(s.amountDue);
    margin = margin.minus(s.netPosition);
  }
  return { statements: [...by.values()].sort((a, b) => (a.partnerId < b.partnerId ? -1 : 1)), operatorMargin: margin };
}

async function offerShares(tx: Tx, offerIds: string[]): Promise<Map<string, OfferShares>> {
  if (!offerIds.length) return new Map();
  const rows = await tx.$queryRaw<{ offerId: string; fundings: unknown }[]>`
    SELECT "offerId", fundings FROM "points"."Offer" WHERE "offerId" = ANY(${offerIds}::uuid[])`;
  return new Map(rows.map((r) => [r.offerId, { offerId: r.offerId, fundings: (r.fundings as { partnerId: string; shareBps: number }[]) ?? [] }]));
}

async function latestApproved(tx: Tx, exceptId?: string) {
  const rows = await tx.$queryRaw<{ id: string; periodEnd: Date; watermarkPostingId: bigint }[]>`
    SELECT id, "periodEnd", "watermarkPostingId" FROM "points"."SettlementRun"
    WHERE status = 'APPROVED' AND id <> ${exceptId ?? randomUUID()}::uuid ORDER BY "periodEnd" DESC LIMIT 1`;
  return rows[0] ?? null;
}

/**
 * Computes (or recomputes) a run in `tx` and stores its statements, lines and flows. `watermark` is
 * the approval's (committedWatermark); a draft passes null and reads what it can see.
 */
async function compute(tx: Tx, run: { id: string; periodStart: Date; periodEnd: Date }, now: Date, watermark: bigint | null) {
  const prev = await latestApproved(tx, run.id);
  if (prev && run.periodStart < prev.periodEnd) {
    throw new HubError("PERIOD_CLOSED", `The period overlaps the approved run ${prev.id}, which ends at ${prev.periodEnd.toISOString()}; start at or after it`);
  }
  // A draft reads the highest id it can see; an approval brings one taken under the SHARE lock
  // (committedWatermark). Never below the previous approved run's: the coverage rectangles must nest.
  let max = watermark ?? (await tx.$queryRaw<{ max: bigint }[]>`SELECT coalesce(max(id), 0)::bigint AS max FROM "points"."Posting"`)[0]!.max;
  if (prev && prev.watermarkPostingId > max) max = prev.watermarkPostingId;
  const cov: Coverage = { periodStart: run.periodStart, periodEnd: run.periodEnd, watermark: max, prevEnd: prev?.periodEnd ?? null, prevWatermark: prev?.watermarkPostingId ?? null };

  const { minorUnits } = currencySettings();
  const rates = await rateHistory(tx);
  const rows = await tx.$queryRaw<SumRow[]>(settlementSumsSql(cov, rates.bounds));
  const lines = priceLines(rows, rates, minorUnits);
  const flowRows = await tx.$queryRaw<FlowRow[]>(settlementFlowsSql(cov));

  const liabilityRows = await tx.$queryRaw<{ issuerPartnerId: string | null; offerId: string | null; points: bigint }[]>(liabilitySql(now));
  const offers = await offerShares(tx, [...new Set([...flowRows, ...liabilityRows].map((r) => r.offerId).filter((o): o is string => !!o))]);

  // Flows issued-at → redeemed-at, and breakage per issuer.
  const flows = new Map<string, bigint>();
  const expired = new Map<string, bigint>();
  for (const r of flowRows) {
    for (const a of attribute([r], offers)) {
      if (r.partnerId === "") add(expired, a.partnerId, a.points);
      else add(flows, `${a.partnerId}|${r.partnerId}`, a.points);
    }
  }
  const liability = new Map<string, bigint>();
  for (const a of attribute(liabilityRows, offers)) add(liability, a.partnerId, a.points);

  const partners = new Set<string>([...lines.map((l) => l.partnerId), ...liability.keys(), ...expired.keys()]);
  const { statements, operatorMargin } = statementsOf(lines, partners);
  for (const s of statements) {
    s.liabilityPoints = liability.get(s.partnerId) ?? 0n;
    s.expiredPoints = expired.get(s.partnerId) ?? 0n;
  }

  await tx.$executeRaw`DELETE FROM "points"."SettlementLine" WHERE "runId" = ${run.id}::uuid`;
  await tx.$executeRaw`DELETE FROM "points"."SettlementStatement" WHERE "runId" = ${run.id}::uuid`;
  await tx.$executeRaw`DELETE FROM "points"."SettlementFlow" WHERE "runId" = ${run.id}::uuid`;
  if (statements.length) {
    await tx.settlementStatement.createMany({
      data: statements.map((s) => ({
        runId: run.id,
        ...s,
        amountDue: s.amountDue.toFixed(),
        amountOwed: s.amountOwed.toFixed(),
        netPosition: s.netPosition.toFixed(),
      })),
    });
  }
  if (lines.length) {
    await tx.settlementLine.createMany({
      data: lines.map((l) => ({ runId: run.id, partnerId: l.partnerId, side: l.side, kind: l.kind, points: l.points, postings: l.postings, rate: l.rate.toFixed(), rateEffectiveFrom: l.rateEffectiveFrom, amount: l.amount.toFixed() })),
    });
  }
  const flowData = [...flows].filter(([, n]) => n !== 0n).map(([k, points]) => {
    const [fromPartnerId, toPartnerId] = k.split("|");
    return { runId: run.id, fromPartnerId: fromPartnerId!, toPartnerId: toPartnerId!, points };
  });
  if (flowData.length) await tx.settlementFlow.createMany({ data: flowData });

  return tx.settlementRun.update({
    where: { id: run.id },
    data: {
      watermarkPostingId: max,
      prevPeriodEnd: cov.prevEnd,
      prevWatermarkPostingId: cov.prevWatermark,
      postingsCovered: rows.reduce((n, r) => n + r.postings, 0n),
      carriedInPostings: rows.reduce((n, r) => n + r.carriedIn, 0n),
      operatorMargin: operatorMargin.toFixed(),
      computedAt: now,
    },
  });
}

/** Serialises run changes (create, recompute, approve): a self-conflicting table lock. */
const lockRuns = (tx: Tx) => tx.$executeRawUnsafe(`LOCK TABLE "points"."SettlementRun" IN SHARE ROW EXCLUSIVE MODE`);

/** ADMIN creates a DRAFT run over [periodStart, periodEnd) and computes it. */
export async function createSettlementRun(actor: Actor, raw: unknown, opts: RunOptions = {}): Promise<SettlementRun> {
  if (!isAdmin(actor)) throw forbidden("Only an admin runs settlement");
  const input = parseInput(PeriodInput, raw);
  const now = opts.now ?? new Date();
  if (input.periodEnd > now) throw badInput("periodEnd must not be in the future: a run settles a closed period", "periodEnd");
  return prisma().$transaction(async (tx) => {
    await lockRuns(tx);
    const run = await tx.settlementRun.create({
      data: { periodStart: input.periodStart, periodEnd: input.periodEnd, currency: currencySettings().code, watermarkPostingId: 0n, createdBy: actor.sub, computedAt: now },
    });
    return compute(tx, run, now, null);
  }, RUN_TX);
}

async function draftForUpdate(tx: Tx, id: string) {
  if (!Uuid.safeParse(id).success) throw notFound("SettlementRun", id);
  const rows = await tx.$queryRaw<SettlementRun[]>`SELECT * FROM "points"."SettlementRun" WHERE id = ${id}::uuid FOR UPDATE`;
  const run = rows[0];
  if (!run) throw notFound("SettlementRun", id);
  if (run.status !== "DRAFT") throw new HubError("PERIOD_CLOSED", `Settlement run ${id} is approved: it is immutable`);
  return run;
}

/** ADMIN recomputes a DRAFT run (postings that arrived since are included). An approved run is PERIOD_CLOSED. */
export async function recomputeSettlementRun(actor: Actor, id: string, opts: RunOptions = {}): Promise<SettlementRun> {
  if (!isAdmin(actor)) throw forbidden("Only an admin runs settlement");
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    await lockRuns(tx);
    const run = await draftForUpdate(tx, id);
    return compute(tx, run, now, null);
  }, RUN_TX);
}

/**
 * The highest posting id such that every posting with an id up to it has committed: read under a
 * SHARE lock on Posting, which waits for every transaction inserting postings; postings inserted
 * later get larger ids. Its own short transaction, so postings wait only for this read, not for
 * the approval's recompute (35 s on 10 M postings).
 */
async function committedWatermark(): Promise<bigint> {
  return prisma().$transaction(async (tx) => {
    await tx.$executeRawUnsafe(`LOCK TABLE "points"."Posting" IN SHARE MODE`);
    const [{ max }] = await tx.$queryRaw<{ max: bigint }[]>`SELECT coalesce(max(id), 0)::bigint AS max FROM "points"."Posting"`;
    return max;
  }, TX);
}

/**
 * ADMIN approves a DRAFT run: it is recomputed with a committed watermark (so the stored figures are
 * exactly what it covers) and becomes immutable. Approving twice is PERIOD_CLOSED.
 */
export async function approveSettlementRun(actor: Actor, id: string, opts: RunOptions = {}): Promise<SettlementRun> {
  if (!isAdmin(actor)) throw forbidden("Only an admin approves settlement");
  const now = opts.now ?? new Date();
  const watermark = await committedWatermark();
  return prisma().$transaction(async (tx) => {
    await lockRuns(tx);
    const run = await draftForUpdate(tx, id);
    await compute(tx, run, now, watermark);
    return tx.settlementRun.update({ where: { id }, data: { status: "APPROVED", approvedAt: now, approvedBy: actor.sub } });
  }, RUN_TX);
}

// ---------------------------------------------------------------------------------------------
// Disputes
// ---------------------------------------------------------------------------------------------

const DisputeInput = z.object({ lineId: Uuid, reason: Reason });

async function lineForUpdate(tx: Tx, lineId: string) {
  if (!Uuid.safeParse(lineId).success) throw notFound("StatementLine", lineId);
  const rows = await tx.$queryRaw<(SettlementLine & { status: string })[]>`
    SELECT l.*, r.status::text AS status FROM "points"."SettlementLine" l JOIN "points"."SettlementRun" r ON r.id = l."runId"
    WHERE l.id = ${lineId}::uuid FOR UPDATE OF l`;
  return rows[0] ?? null;
}

/** A PARTNER disputes one of its own lines of an approved run, with a reason (once per line). */
export async function disputeStatementLine(actor: Actor, raw: unknown, opts: RunOptions = {}): Promise<SettlementLine> {
  if (actor.role !== "PARTNER" || !actor.partnerId) throw forbidden("Only the partner whose statement it is can dispute a line");
  const input = parseInput(DisputeInput, raw);
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    const line = await lineForUpdate(tx, input.lineId);
    if (!line || line.partnerId !== actor.partnerId || line.status !== "APPROVED") throw notFound("StatementLine", input.lineId);
    if (line.disputedAt) {
      // A retry of the same dispute by its partner (a lost response, any of its API clients) gets the line back; another one is refused.
      if (!line.resolvedAt && line.disputeReason === input.reason) return tx.settlementLine.findUniqueOrThrow({ where: { id: line.id } });
      throw badInput(line.resolvedAt ? "This line's dispute was already resolved" : "This line is already disputed", "lineId");
    }
    return tx.settlementLine.update({ where: { id: line.id }, data: { disputeReason: input.reason, disputedAt: now, disputedBy: actor.sub } });
  }, TX);
}

const ResolveInput = z.object({
  lineId: Uuid,
  adjustmentPoints: z
    .number({ error: "adjustmentPoints must be a number" })
    .int("adjustmentPoints must be a whole number")
    .min(-MAX_POINTS, `adjustmentPoints must be at least -${MAX_POINTS}`)
    .max(MAX_POINTS, `adjustmentPoints must be at most ${MAX_POINTS}`),
  note: Reason,
});

/**
 * ADMIN resolves a disputed line. `adjustmentPoints` (signed, in the partner's favour; 0 rejects
 * the dispute) is posted now as an ADJUSTMENT between the partner's account on the line's side and
 * the coalition's adjustments account, so it lands in a later run, priced at the disputed line's
 * rate (its reference names the line), and is linked to the line. Exactly once per line.
 */
export async function resolveStatementDispute(actor: Actor, raw: unknown, opts: RunOptions = {}): Promise<SettlementLine> {
  if (!isAdmin(actor)) throw forbidden("Only an admin resolves disputes");
  const input = parseInput(ResolveInput, raw);
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    const line = await lineForUpdate(tx, input.lineId);
    if (!line) throw notFound("StatementLine", input.lineId);
    if (!line.disputedAt) throw badInput("This line is not disputed", "lineId");
    if (line.resolvedAt) {
      // A retry of the same resolution (a lost response) gets the resolved line back, with nothing
      // posted twice; a different resolution is refused.
      const adjustment = line.adjustmentTransactionId ? await tx.ledgerTransaction.findUnique({ where: { id: line.adjustmentTransactionId }, select: { requestHash: true } }) : null;
      const same =
        line.resolutionNote === input.note && (input.adjustmentPoints === 0 ? !adjustment : adjustment?.requestHash === `dispute:${line.id}:${input.adjustmentPoints}`);
      if (same) return tx.settlementLine.findUniqueOrThrow({ where: { id: line.id } });
      throw badInput("This line's dispute was already resolved differently", "lineId");
    }
    let adjustmentTransactionId: string | null = null;
    if (input.adjustmentPoints !== 0) {
      const account = line.side === "ISSUANCE" ? issuanceCode(line.partnerId) : redemptionCode(line.partnerId);
      const t = await post(tx, {
        kind: "ADJUSTMENT",
        partnerId: line.partnerId,
        postings: [
          { accountCode: account, amount: input.adjustmentPoints },
          { accountCode: ADJUSTMENTS, amount: -input.adjustmentPoints },
        ],
        idempotency: { scope: SYSTEM, key: `dispute:${line.id}`, requestHash: `dispute:${line.id}:${input.adjustmentPoints}` },
        reference: `dispute:${line.id}`,
        reason: input.note,
        createdBy: actor.sub,
      });
      adjustmentTransactionId = t.id;
    }
    return tx.settlementLine.update({
      where: { id: line.id },
      data: { resolvedAt: now, resolvedBy: actor.sub, resolutionNote: input.note, adjustmentTransactionId },
    });
  }, TX);
}

// ---------------------------------------------------------------------------------------------
// Reads (who sees what) and export
// ---------------------------------------------------------------------------------------------

/** ADMIN sees every run; a PARTNER sees approved runs (and in them only its own statement); members none. */
function runsVisibleTo(actor: Actor): Prisma.SettlementRunWhereInput | null {
  if (isAdmin(actor)) return {};
  if (actor.role === "PARTNER" && actor.partnerId) return { status: "APPROVED" };
  return null;
}

export async function runsByIds(actor: Actor, ids: readonly string[]): Promise<Map<string, SettlementRun>> {
  const where = runsVisibleTo(actor);
  const valid = ids.filter((id) => Uuid.safeParse(id).success);
  if (!where || !valid.length) return new Map();
  const rows = await prisma().settlementRun.findMany({ where: { ...where, id: { in: valid } } });
  return new Map(rows.map((r) => [r.id, r]));
}

export interface RunPage {
  runs: SettlementRun[];
  hasNextPage: boolean;
}

export const encodeRunCursor = (r: Pick<SettlementRun, "createdAt" | "id">) => Buffer.from(`${r.createdAt.toISOString()}|${r.id}`).toString("base64url");

function decodeRunCursor(after: string): { at: Date; id: string } {
  const [at, id] = Buffer.from(after, "base64url").toString().split("|");
  const d = new Date(at ?? "");
  if (!id || Number.isNaN(d.getTime()) || !Uuid.safeParse(id).success) throw badInput("after is not a cursor from this list", "after");
  return { at: d, id };
}

/** Runs newest first (keyset on createdAt, id). */
export async function listRuns(actor: Actor, first = 20, after?: string | null): Promise<RunPage> {
  if (!Number.isInteger(first) || first < 1 || first > 100) throw badInput("first must be between 1 and 100", "first");
  const where = runsVisibleTo(actor);
  if (!where) throw forbidden("Settlement runs are for admins and partners");
  const cursor = after ? decodeRunCursor(after) : null;
  const rows = await prisma().settlementRun.findMany({
    where: cursor ? { AND: [where, { OR: [{ createdAt: { lt: cursor.at } }, { createdAt: cursor.at, id: { lt: cursor.id } }] }] } : where,
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: first + 1,
  });
  return { runs: rows.slice(0, first), hasNextPage: rows.length > first };
}

/** Statements of runs the actor may see, filtered to its own partner for a PARTNER. */
export async function statementsOfRuns(actor: Actor, runIds: readonly string[]): Promise<Map<string, SettlementStatement[]>> {
  const own = isAdmin(actor) ? {} : { partnerId: actor.partnerId ?? "00000000-0000-0000-0000-000000000000" };
  const rows = runIds.length ? await prisma().settlementStatement.findMany({ where: { runId: { in: [...runIds] }, ...own }, orderBy: { partnerId: "asc" } }) : [];
  const out = new Map<string, SettlementStatement[]>(runIds.map((id) => [id, []]));
  for (const r of rows) out.get(r.runId)!.push(r);
  return out;
}

export async function linesOfStatements(keys: readonly { runId: string; partnerId: string }[]): Promise<Map<string, SettlementLine[]>> {
  const rows = keys.length
    ? await prisma().settlementLine.findMany({
        where: { OR: keys.map((k) => ({ runId: k.runId, partnerId: k.partnerId })) },
        orderBy: [{ side: "asc" }, { kind: "asc" }, { rateEffectiveFrom: "asc" }, { id: "asc" }],
      })
    : [];
  const out = new Map<string, SettlementLine[]>(keys.map((k) => [`${k.runId}|${k.partnerId}`, []]));
  for (const r of rows) out.get(`${r.runId}|${r.partnerId}`)?.push(r);
  return out;
}

export async function flowsOfRuns(actor: Actor, runIds: readonly string[]) {
  const own = isAdmin(actor) ? {} : { OR: [{ fromPartnerId: actor.partnerId ?? "" }, { toPartnerId: actor.partnerId ?? "" }] };
  const rows = runIds.length ? await prisma().settlementFlow.findMany({ where: { runId: { in: [...runIds] }, ...own }, orderBy: [{ fromPartnerId: "asc" }, { toPartnerId: "asc" }] }) : [];
  const out = new Map<string, typeof rows>(runIds.map((id) => [id, []]));
  for (const r of rows) out.get(r.runId)!.push(r);
  return out;
}

export type ExportFormat = "CSV" | "JSON";

const money = (d: Prisma.Decimal | Decimal | string, minorUnits: number) => new Decimal(d.toString()).toFixed(minorUnits);

/**
 * A run's statements as CSV (one row per line, with the statement totals repeated) or JSON
 * (statements with their lines), for the actor: an admin gets every statement (or one partner's with
 * `partnerId`), a partner only its own.
 */
export async function exportRun(actor: Actor, runId: string, format: ExportFormat, partnerId?: string | null): Promise<string> {
  const run = (await runsByIds(actor, [runId])).get(runId);
  if (!run) throw notFound("SettlementRun", runId);
  let statements = (await statementsOfRuns(actor, [runId])).get(runId)!;
  if (partnerId) statements = statements.filter((s) => s.partnerId === partnerId);
  const lines = await linesOfStatements(statements.map((s) => ({ runId, partnerId: s.partnerId })));
  const names = new Map(
    (await prisma().pointsPartner.findMany({ where: { partnerId: { in: statements.map((s) => s.partnerId) } }, select: { partnerId: true, name: true } })).map((p) => [p.partnerId, p.name]),
  );
  const { minorUnits } = currencySettings();
  const cur = run.currency;
  const stmt = (s: SettlementStatement) => ({
    partnerId: s.partnerId,
    partnerName: names.get(s.partnerId) ?? null,
    pointsIssued: toSafeNumber(s.pointsIssued, "pointsIssued"),
    pointsRedeemed: toSafeNumber(s.pointsRedeemed, "pointsRedeemed"),
    offerFundingPoints: toSafeNumber(s.offerFundingPoints, "offerFundingPoints"),
    offerReturnedPoints: toSafeNumber(s.offerReturnedPoints, "offerReturnedPoints"),
    pointsReversed: toSafeNumber(s.pointsReversed, "pointsReversed"),
    pointsAdjusted: toSafeNumber(s.pointsAdjusted, "pointsAdjusted"),
    amountDue: money(s.amountDue, minorUnits),
    amountOwed: money(s.amountOwed, minorUnits),
    netPosition: money(s.netPosition, minorUnits),
    liabilityPoints: toSafeNumber(s.liabilityPoints, "liabilityPoints"),
    expiredPoints: toSafeNumber(s.expiredPoints, "expiredPoints"),
    lines: (lines.get(`${runId}|${s.partnerId}`) ?? []).map((l) => ({
      id: l.id,
      side: l.side,
      kind: l.kind,
      points: toSafeNumber(l.points, "points"),
      postings: toSafeNumber(l.postings, "postings"),
      rate: new Decimal(l.rate.toString()).toFixed(),
      rateEffectiveFrom: l.rateEffectiveFrom?.toISOString() ?? null,
      amount: money(l.amount, minorUnits),
      disputed: !!l.disputedAt,
    })),
  });
  if (format === "JSON") {
    return JSON.stringify(
      {
        run: {
          id: run.id,
          periodStart: run.periodStart.toISOString(),
          periodEnd: run.periodEnd.toISOString(),
          status: run.status,
          currency: cur,
          approvedAt: run.approvedAt?.toISOString() ?? null,
          ...(isAdmin(actor) ? { operatorMargin: money(run.operatorMargin, minorUnits) } : {}),
        },
        statements: statements.map(stmt),
      },
      null,
      2,
    );
  }
  const header = ["run_id", "period_start", "period_end", "status", "currency", "partner_id", "partner_name", "line_id", "side", "kind", "points", "postings", "rate", "rate_effective_from", "amount", "disputed", "statement_amount_due", "statement_amount_owed", "statement_net_position"];
  const rows = [header.join(",")];
  for (const s of statements.map(stmt)) {
    for (const l of s.lines) {
      rows.push(
        [run.id, run.periodStart.toISOString(), run.periodEnd.toISOString(), run.status, cur, s.partnerId, s.partnerName ?? "", l.id, l.side, l.kind, l.points, l.postings, l.rate, l.rateEffectiveFrom ?? "", l.amount, l.disputed, s.amountDue, s.amountOwed, s.netPosition]
          .map(csvCell)
          .join(","),
      );
    }
  }
  return `${rows.join("\n")}\n`;
}

/** RFC 4180 cell; a leading = + - @ is prefixed with ' so spreadsheets do not run it as a formula. */
function csvCell(v: unknown): string {
  let s = String(v);
  if (/^[=+\-@]/.test(s) && !/^-?\d/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

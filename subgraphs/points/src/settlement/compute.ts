import { randomUUID } from "node:crypto";
import { toSafeNumber } from "../../../../lib/amounts.ts";
import { Prisma } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { currencySettings } from "../config.ts";
import type { Tx } from "../ledger/ledger.ts";
import { splitByShares } from "../ledger/shares.ts";
import { priceLines, type RateRow, statementsOf, type SumRow } from "./pricing.ts";

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

export interface Coverage {
  periodStart: Date;
  periodEnd: Date;
  watermark: bigint;
  prevEnd: Date | null;
  prevWatermark: bigint | null;
}

/** The covered-postings predicate on alias `p` (see the module comment). */
export function covers(c: Coverage): Prisma.Sql {
  const notPrev = c.prevEnd && c.prevWatermark !== null ? Prisma.sql`AND NOT (p."postedAt" < ${c.prevEnd} AND p.id <= ${c.prevWatermark})` : Prisma.empty;
  return Prisma.sql`p."postedAt" < ${c.periodEnd} AND p.id <= ${c.watermark} ${notPrev}`;
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

/** Each partner's rate history, oldest first; a partner's first rates also apply before they were recorded. */
async function rateHistory(tx: Tx): Promise<{ bounds: Date[]; byPartner: Map<string, RateRow[]> }> {
  const rows = await tx.$queryRaw<RateRow[]>`
    SELECT "partnerId", "issuePrice", "redemptionRate", "effectiveFrom" FROM "points"."PartnerRate" ORDER BY "effectiveFrom", id`;
  const byPartner = new Map<string, RateRow[]>();
  for (const r of rows) byPartner.set(r.partnerId, [...(byPartner.get(r.partnerId) ?? []), r]);
  const bounds = [...new Set(rows.map((r) => r.effectiveFrom.getTime()))].sort((a, b) => a - b).map((t) => new Date(t));
  return { bounds, byPartner };
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
export async function compute(tx: Tx, run: { id: string; periodStart: Date; periodEnd: Date }, now: Date, watermark: bigint | null) {
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
      data: lines.map((l) => ({
        runId: run.id,
        partnerId: l.partnerId,
        side: l.side,
        kind: l.kind,
        points: l.points,
        postings: l.postings,
        rate: l.rate.toFixed(),
        rateEffectiveFrom: l.rateEffectiveFrom,
        amount: l.amount.toFixed(),
      })),
    });
  }
  const flowData = [...flows]
    .filter(([, n]) => n !== 0n)
    .map(([k, points]) => {
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

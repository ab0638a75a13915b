import { Decimal } from "decimal.js";
import type { Prisma } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import type { TransactionKind } from "../../../../prisma/generated/client/client.ts";

/**
 * Settlement pricing, pure functions (no database): the rate in force per time bucket, statement
 * line amounts (points × rate, rounded half-even once), merging buckets into lines, and statements
 * summed from lines with the operator's margin (compute.ts runs them over a run's sums).
 */

/** A row of settlementSumsSql: covered postings of one partner account side, kind and time bucket. */
export interface SumRow {
  partnerId: string;
  side: "PARTNER_ISSUANCE" | "PARTNER_REDEMPTION";
  kind: TransactionKind;
  bucket: number;
  sum: bigint;
  postings: bigint;
  carriedIn: bigint;
}

export interface RateRow {
  partnerId: string;
  issuePrice: Prisma.Decimal;
  redemptionRate: Prisma.Decimal;
  effectiveFrom: Date;
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

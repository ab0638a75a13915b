import { Decimal } from "decimal.js";
import { describe, expect, test } from "vitest";
import { HubError } from "../../../../lib/errors.ts";
import { type ComputedLine, lineAmount, priceLines, statementsOf } from "./pricing.ts";

// Settlement pricing as pure functions (no database): which rate prices a bucket, how buckets merge
// into lines, the sign of each side, rounding, and the statement sums. Written for the mutants that
// survived the database tests (bench/MUTATION.md); the end-to-end figures stay in settlement.test.ts.

type Rows = Parameters<typeof priceLines>[0];
type Rates = Parameters<typeof priceLines>[1];
type RateRow = Rates["byPartner"] extends Map<string, (infer R)[]> ? R : never;

const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";
const d = (day: number) => new Date(Date.UTC(2026, 0, 1 + day));
const rate = (partnerId: string, issue: string, redeem: string, day: number) => ({ partnerId, issuePrice: new Decimal(issue), redemptionRate: new Decimal(redeem), effectiveFrom: d(day) }) as unknown as RateRow;
const row = (partnerId: string, side: "PARTNER_ISSUANCE" | "PARTNER_REDEMPTION", kind: string, bucket: number, sum: bigint, postings = 1n) =>
  ({ partnerId, side, kind, bucket, sum, postings, carriedIn: 0n }) as Rows[number];
const brief = (l: ComputedLine) => [l.partnerId === A ? "A" : "B", l.side, l.kind, l.points, l.postings, l.rate.toFixed(), l.rateEffectiveFrom?.toISOString().slice(0, 10), l.amount.toFixed()];

describe("lineAmount", () => {
  test("points × rate, rounded half-even once to the minor unit", () => {
    expect(lineAmount(1n, "0.005", 2).toFixed()).toBe("0");
    expect(lineAmount(3n, "0.005", 2).toFixed()).toBe("0.02");
    expect(lineAmount(7n, "0.005", 2).toFixed()).toBe("0.04");
    expect(lineAmount(-3n, "0.005", 2).toFixed()).toBe("-0.02");
    expect(lineAmount(12_345n, "0.0101", 0).toFixed()).toBe("125");
    expect(lineAmount(12_345n, "0.0101", 3).toFixed()).toBe("124.684"); // 124.6845: half-even, not half-up
  });
});

describe("priceLines: which rate prices a bucket", () => {
  // Rate changes (all partners') at days 0, 10, 20: bucket 0 is before day 0, bucket k after the k-th change.
  const bounds = [d(0), d(10), d(20)];
  const byPartner = new Map([
    [A, [rate(A, "0.010", "0.008", 0), rate(A, "0.020", "0.009", 10)]],
    // B's first rate is recorded at day 10 (it also applies before); two rows at day 20: the later wins.
    [B, [rate(B, "0.100", "0.050", 10), rate(B, "0.300", "0.070", 20), rate(B, "0.400", "0.080", 20)]],
  ]);
  const rates: Rates = { bounds, byPartner };

  test("each bucket gets the rate in force at its start; before a partner's first rate, its first rate", () => {
    const lines = priceLines(
      [
        row(A, "PARTNER_ISSUANCE", "EARN", 0, -100n), // before every bound: A's first rate
        row(A, "PARTNER_ISSUANCE", "EARN", 1, -200n), // days 0–10: 0.010
        row(A, "PARTNER_ISSUANCE", "EARN", 2, -300n), // days 10–20: 0.020
        row(A, "PARTNER_ISSUANCE", "EARN", 3, -400n), // after day 20: still A's day-10 rate
        row(B, "PARTNER_ISSUANCE", "EARN", 1, -1000n), // before B's first rate: its first rate
        row(B, "PARTNER_ISSUANCE", "EARN", 2, -10n), // B's day-10 rate
        row(B, "PARTNER_ISSUANCE", "EARN", 3, -10n), // day 20: the later of the two rows
      ],
      rates,
      2,
    );
    expect(lines.map(brief)).toEqual([
      ["A", "ISSUANCE", "EARN", 300n, 2n, "0.01", "2026-01-01", "3"],
      ["A", "ISSUANCE", "EARN", 700n, 2n, "0.02", "2026-01-11", "14"],
      ["B", "ISSUANCE", "EARN", 1010n, 2n, "0.1", "2026-01-11", "101"],
      ["B", "ISSUANCE", "EARN", 10n, 1n, "0.4", "2026-01-21", "4"],
    ]);
  });

  test("issuance points are the negated sum priced at the issue price; redemption points the sum at the redemption rate; lines sorted", () => {
    const lines = priceLines(
      [
        row(B, "PARTNER_REDEMPTION", "REDEEM", 2, 500n, 3n),
        row(A, "PARTNER_REDEMPTION", "REVERSAL", 2, -20n),
        row(A, "PARTNER_ISSUANCE", "REVERSAL", 2, 50n),
        row(A, "PARTNER_REDEMPTION", "REDEEM", 2, 1000n, 4n),
        row(A, "PARTNER_ISSUANCE", "EARN", 2, -333n, 5n),
      ],
      rates,
      2,
    );
    expect(lines.map(brief)).toEqual([
      ["A", "ISSUANCE", "EARN", 333n, 5n, "0.02", "2026-01-11", "6.66"],
      ["A", "ISSUANCE", "REVERSAL", -50n, 1n, "0.02", "2026-01-11", "-1"],
      ["A", "REDEMPTION", "REDEEM", 1000n, 4n, "0.009", "2026-01-11", "9"],
      ["A", "REDEMPTION", "REVERSAL", -20n, 1n, "0.009", "2026-01-11", "-0.18"],
      ["B", "REDEMPTION", "REDEEM", 500n, 3n, "0.05", "2026-01-11", "25"],
    ]);
  });

  test("lines come out sorted by partner, side, kind, rate period whatever order the sums arrive in", () => {
    // Later periods first: the rate period is part of the order, not the arrival order.
    const reversed = priceLines([row(A, "PARTNER_ISSUANCE", "EARN", 3, -1n), row(A, "PARTNER_ISSUANCE", "EARN", 1, -1n)], rates, 2);
    expect(reversed.map((l) => l.rateEffectiveFrom!.toISOString().slice(0, 10))).toEqual(["2026-01-01", "2026-01-11"]);
    // Many partners in a scrambled order (a fixed permutation), more lines than one insertion-sorted run.
    const ids = Array.from({ length: 150 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
    const many = new Map(ids.map((id) => [id, [rate(id, "0.01", "0.01", 0)]]));
    const scrambled = ids.map((_, i) => ids[(i * 71) % ids.length]!);
    const lines = priceLines(
      scrambled.flatMap((id) => [row(id, "PARTNER_REDEMPTION", "REDEEM", 1, 1n), row(id, "PARTNER_ISSUANCE", "EARN", 1, -1n)]),
      { bounds, byPartner: many },
      2,
    );
    expect(lines.map((l) => `${l.partnerId}|${l.side}`)).toEqual(ids.flatMap((id) => [`${id}|ISSUANCE`, `${id}|REDEMPTION`]));
  });

  test("a partner with no rates yet is refused with a clear error, not priced at zero", () => {
    const unknown = "00000000-0000-4000-8000-0000000000cc";
    expect(() => priceLines([row(unknown, "PARTNER_ISSUANCE", "EARN", 1, -1n)], rates, 2)).toThrow(HubError);
    expect(() => priceLines([row(A, "PARTNER_ISSUANCE", "EARN", 1, -1n)], { bounds, byPartner: new Map([[A, []]]) }, 2)).toThrow(/No rates/);
  });
});

describe("statementsOf", () => {
  const line = (partnerId: string, side: "ISSUANCE" | "REDEMPTION", kind: string, points: bigint, amount: string): ComputedLine =>
    ({ partnerId, side, kind, points, postings: 1n, rate: new Decimal(1), rateEffectiveFrom: null, amount: new Decimal(amount) }) as ComputedLine;

  test("sums per kind and side, amounts due and owed, net positions and the operator margin", () => {
    const { statements, operatorMargin } = statementsOf(
      [
        line(A, "ISSUANCE", "EARN", 1000n, "10.00"),
        line(A, "ISSUANCE", "EARN", 500n, "6.00"),
        line(A, "ISSUANCE", "REVERSAL", -100n, "-1.00"),
        line(A, "ISSUANCE", "OFFER_FUNDING", 300n, "3.00"),
        line(A, "ISSUANCE", "OFFER_RETURN", -40n, "-0.40"),
        line(A, "ISSUANCE", "ADJUSTMENT", -25n, "-0.25"), // issuance adjusted down: in A's favour (+25)
        line(A, "REDEMPTION", "REDEEM", 200n, "1.60"),
        line(A, "REDEMPTION", "ADJUSTMENT", 7n, "0.05"), // redemption adjusted up: in A's favour (+7)
        line(A, "REDEMPTION", "REVERSAL", -30n, "-0.24"),
        line(B, "REDEMPTION", "REDEEM", 900n, "8.55"),
        line(B, "ISSUANCE", "REDEEM", 5n, "0.01"), // an odd pair: counted in money, in no points column
        line(B, "REDEMPTION", "EARN", 6n, "0.02"),
      ],
      [B, A, "00000000-0000-4000-8000-0000000000dd"],
    );
    expect(statements.map((s) => s.partnerId)).toEqual([A, B, "00000000-0000-4000-8000-0000000000dd"]);
    const [a, b, idle] = statements;
    expect(a).toMatchObject({
      pointsIssued: 1500n,
      pointsRedeemed: 200n,
      offerFundingPoints: 300n,
      offerReturnedPoints: 40n,
      pointsReversed: 130n,
      pointsAdjusted: 32n,
      liabilityPoints: 0n,
      expiredPoints: 0n,
    });
    expect([a!.amountDue.toFixed(), a!.amountOwed.toFixed(), a!.netPosition.toFixed()]).toEqual(["17.35", "1.41", "-15.94"]);
    expect(b).toMatchObject({ pointsIssued: 0n, pointsRedeemed: 900n, offerFundingPoints: 0n, offerReturnedPoints: 0n, pointsReversed: 0n, pointsAdjusted: 0n });
    expect([b!.amountDue.toFixed(), b!.amountOwed.toFixed(), b!.netPosition.toFixed()]).toEqual(["0.01", "8.57", "8.56"]);
    expect(idle).toMatchObject({ pointsIssued: 0n, pointsRedeemed: 0n });
    expect([idle!.amountDue.toFixed(), idle!.amountOwed.toFixed(), idle!.netPosition.toFixed()]).toEqual(["0", "0", "0"]);
    // Positions + margin = 0 exactly.
    expect(operatorMargin.toFixed()).toBe("7.38");
    expect(statements.reduce((s, x) => s.plus(x.netPosition), operatorMargin).toFixed()).toBe("0");
  });

  test("a partner that only appears in lines still gets a statement", () => {
    const { statements, operatorMargin } = statementsOf([line(B, "ISSUANCE", "EARN", 10n, "0.10")], []);
    expect(statements.map((s) => [s.partnerId, s.pointsIssued, s.amountDue.toFixed(), s.netPosition.toFixed()])).toEqual([[B, 10n, "0.1", "-0.1"]]);
    expect(operatorMargin.toFixed()).toBe("0.1");
  });
});

import { randomUUID } from "node:crypto";
import { Decimal } from "decimal.js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled, linked, registered } from "../testing/harness.ts";
import { earn, rates, redeem } from "../testing/ledger-ops.ts";
import { awardPoints } from "../earning/award.ts";
import { reverseTransaction } from "../redemption/redeem.ts";
import { disputeStatementLine, resolveStatementDispute } from "./disputes.ts";
import { exportRun } from "./export.ts";
import { lineAmount } from "./pricing.ts";
import { approveSettlementRun, createSettlementRun, recomputeSettlementRun } from "./runs.ts";

// Settlement on the real ledger (PostgreSQL with DATABASE_URL, else PGlite): exact statements,
// coverage (every posting in exactly one approved run, late postings carried forward), approval,
// disputes. Times are explicit (opts.now / opts.postedAt) so periods are closed.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const admin = adminPrincipal();
const DAY = 86_400_000;
const at = (base: number, days: number) => new Date(base + days * DAY);

async function statements(runId: string) {
  const rows = await prisma().settlementStatement.findMany({ where: { runId } });
  return new Map(rows.map((s) => [s.partnerId, s]));
}

const code = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e: unknown) => (e instanceof HubError ? e.extensions.code : String(e)),
  );

describe("settlement", () => {
  test("statements, rate history, flows, liability; approve, late posting, overlap, dispute", async () => {
    const base = Date.now() - 60 * DAY;
    const [A, B] = [randomUUID(), randomUUID()];
    const [m1, m2] = [randomUUID(), randomUUID()];
    await applyEvents(registered(A), registered(B), rates(A, "0.010", "0.008", at(base, 0)), rates(B, "0.012", "0.0095", at(base, 0)));
    await applyEvents(enrolled(m1, A), linked(m1, B), enrolled(m2, A), linked(m2, B));
    // A's issue price changes on day 10: earns before and after are priced differently.
    await applyEvents(rates(A, "0.011", "0.008", at(base, 10)));

    await earn(A, m1, 1_000, at(base, 1)); // 1000 × 0.010 = 10.00
    await earn(A, m2, 333, at(base, 11)); // 333 × 0.011 = 3.663 → 3.66
    await earn(B, m1, 500, at(base, 2)); // 500 × 0.012 = 6.00
    const r1 = await redeem(B, m1, 700, at(base, 12)); // m1's lots: A 1000 (earned first) then B 500 → 700 from A; 700 × 0.0095 = 6.65
    await reverseTransaction(partnerPrincipal(B), { transactionId: r1.id, points: 100, idempotencyKey: randomUUID(), reason: "returned item" }, { now: at(base, 13) });
    // 100 back to the wallet: redeemed at B net 600 (all from A's lot).

    const run = await createSettlementRun(admin, { periodStart: at(base, 0), periodEnd: at(base, 20) }, { now: at(base, 21) });
    expect(run.status).toBe("DRAFT");
    const s = await statements(run.id);
    const a = s.get(A)!;
    const b = s.get(B)!;
    expect(Number(a.pointsIssued)).toBe(1_333);
    expect(a.amountDue.toString()).toBe("13.66");
    expect(Number(b.pointsIssued)).toBe(500);
    expect(Number(b.pointsRedeemed)).toBe(700);
    expect(Number(b.pointsReversed)).toBe(100);
    expect(b.amountDue.toString()).toBe("6");
    // Owed to B: 700 × 0.0095 = 6.65, reversal −100 × 0.0095 = −0.95 → 5.70.
    expect(new Decimal(b.amountOwed.toString()).toFixed(2)).toBe("5.70");
    expect(new Decimal(b.netPosition.toString()).toFixed(2)).toBe("-0.30");
    const margin = new Decimal((await prisma().settlementRun.findUniqueOrThrow({ where: { id: run.id } })).operatorMargin.toString());
    expect(margin.plus(a.netPosition.toString()).plus(b.netPosition.toString()).isZero()).toBe(true);
    expect(margin.toFixed(2)).toBe("13.96");

    // Lines: A has two EARN lines (one per rate period).
    const aLines = await prisma().settlementLine.findMany({ where: { runId: run.id, partnerId: A }, orderBy: { rateEffectiveFrom: "asc" } });
    expect(aLines.map((l) => [l.side, l.kind, Number(l.points), l.rate.toString(), l.amount.toString()])).toEqual([
      ["ISSUANCE", "EARN", 1000, "0.01", "10"],
      ["ISSUANCE", "EARN", 333, "0.011", "3.66"],
    ]);
    // Flows: 600 issued at A redeemed at B (700 − 100 given back).
    const flows = await prisma().settlementFlow.findMany({ where: { runId: run.id } });
    expect(flows.map((f) => [f.fromPartnerId, f.toPartnerId, Number(f.points)])).toEqual([[A, B, 600]]);
    // Liability: A issued 1,333, 600 redeemed → 733 outstanding; B's 500 untouched.
    expect(Number(a.liabilityPoints)).toBe(733);
    expect(Number(b.liabilityPoints)).toBe(500);

    // A posting made now, still in the draft's period, is included by a recompute.
    await earn(A, m2, 10, at(base, 19));
    const again = await recomputeSettlementRun(admin, run.id, { now: at(base, 22) });
    expect(Number((await statements(again.id)).get(A)!.pointsIssued)).toBe(1_343);

    const approved = await approveSettlementRun(admin, run.id, { now: at(base, 22) });
    expect(approved.status).toBe("APPROVED");
    expect(await code(approveSettlementRun(admin, run.id))).toBe("PERIOD_CLOSED");
    expect(await code(recomputeSettlementRun(admin, run.id))).toBe("PERIOD_CLOSED");
    // Overlapping the approved period is refused.
    expect(await code(createSettlementRun(admin, { periodStart: at(base, 19), periodEnd: at(base, 30) }, { now: at(base, 31) }))).toBe("PERIOD_CLOSED");
    // Bad input.
    expect(await code(createSettlementRun(admin, { periodStart: at(base, 30), periodEnd: at(base, 20) }))).toBe("BAD_USER_INPUT");
    expect(await code(createSettlementRun(admin, { periodStart: at(base, 20), periodEnd: new Date(Date.now() + DAY) }))).toBe("BAD_USER_INPUT");
    expect(await code(createSettlementRun(partnerPrincipal(A), { periodStart: at(base, 20), periodEnd: at(base, 30) }))).toBe("FORBIDDEN");

    // A late posting: dated inside the approved period, committed after approval → next run.
    await earn(B, m2, 40, at(base, 5));
    await earn(B, m2, 60, at(base, 25));
    const next = await createSettlementRun(admin, { periodStart: at(base, 20), periodEnd: at(base, 30) }, { now: at(base, 31) });
    expect(Number(next.carriedInPostings)).toBe(1);
    expect(Number((await statements(next.id)).get(B)!.pointsIssued)).toBe(100);
    // The approved run did not change.
    expect(Number((await statements(run.id)).get(B)!.pointsIssued)).toBe(500);

    // Dispute: B disputes its redemption line; A cannot see it; admin credits 50 points → next run.
    const bRedeem = await prisma().settlementLine.findFirstOrThrow({ where: { runId: run.id, partnerId: B, side: "REDEMPTION", kind: "REDEEM" } });
    expect(await code(disputeStatementLine(partnerPrincipal(A), { lineId: bRedeem.id, reason: "not mine" }))).toBe("NOT_FOUND");
    expect(await code(disputeStatementLine(partnerPrincipal(B), { lineId: bRedeem.id, reason: "" }))).toBe("BAD_USER_INPUT");
    const disputed = await disputeStatementLine(partnerPrincipal(B), { lineId: bRedeem.id, reason: "50 points of order 7 missing" });
    expect(disputed.disputeReason).toBe("50 points of order 7 missing");
    expect(await code(disputeStatementLine(partnerPrincipal(B), { lineId: bRedeem.id, reason: "again" }))).toBe("BAD_USER_INPUT");
    // The same dispute again (a retry after a lost response): the line, unchanged.
    expect(await disputeStatementLine(partnerPrincipal(B), { lineId: bRedeem.id, reason: "50 points of order 7 missing" })).toMatchObject({ id: bRedeem.id, disputedAt: disputed.disputedAt });
    const resolved = await resolveStatementDispute(admin, { lineId: bRedeem.id, adjustmentPoints: 50, note: "confirmed" });
    expect(resolved.adjustmentTransactionId).toBeTruthy();
    expect(await code(resolveStatementDispute(admin, { lineId: bRedeem.id, adjustmentPoints: 50, note: "twice" }))).toBe("BAD_USER_INPUT");
    expect(await code(resolveStatementDispute(admin, { lineId: bRedeem.id, adjustmentPoints: 49, note: "confirmed" }))).toBe("BAD_USER_INPUT");
    // The same resolution again (a retry): the same line and adjustment, nothing posted twice.
    expect(await resolveStatementDispute(admin, { lineId: bRedeem.id, adjustmentPoints: 50, note: "confirmed" })).toMatchObject({ adjustmentTransactionId: resolved.adjustmentTransactionId });
    expect(await prisma().ledgerTransaction.count({ where: { reference: `dispute:${bRedeem.id}` } })).toBe(1);
    const next2 = await recomputeSettlementRun(admin, next.id);
    // The adjustment is posted now (after periodEnd of `next`), so it is not in `next`...
    expect(Number((await statements(next2.id)).get(B)!.pointsAdjusted)).toBe(0);
    await approveSettlementRun(admin, next.id);
    // ...but in the first run after it: 50 × B's redemption rate 0.0095 = 0.475 → 0.48 (half-even).
    const later = await createSettlementRun(admin, { periodStart: at(base, 30), periodEnd: new Date() });
    const bl = (await statements(later.id)).get(B)!;
    expect(Number(bl.pointsAdjusted)).toBe(50);
    expect(new Decimal(bl.amountOwed.toString()).toFixed(2)).toBe("0.48");

    // Export: a partner gets only its own statement.
    const csv = await exportRun(partnerPrincipal(B), run.id, "CSV");
    expect(csv.split("\n")[0]).toMatch(/^run_id,period_start/);
    expect(csv).toContain(B);
    expect(csv).not.toContain(A);
    const json = JSON.parse(await exportRun(admin, run.id, "JSON")) as { statements: { partnerId: string; amountDue: string }[] };
    expect(json.statements.find((x) => x.partnerId === A)!.amountDue).toBe("13.77");
  });

  test("offers: funding and returns by share on the co-issuers' statements; bonus points redeemed flow from the co-issuers by share", async () => {
    // After the first test's approved runs (they end 30 days ago).
    const [shop, fmcg] = [randomUUID(), randomUUID()];
    const m = randomUUID();
    const since = new Date(Date.now() - 20 * DAY);
    await applyEvents(registered(shop), registered(fmcg), rates(shop, "0.015", "0.01", since), rates(fmcg, "0.02", "0.0125", since), enrolled(m, shop), linked(m, fmcg));
    const offerId = randomUUID();
    await applyEvents({
      type: "partner.offer_activated",
      payload: {
        offerId,
        kind: "BONUS_POINTS",
        bonusPoints: 101,
        multiplier: null,
        budgetPoints: 1_001,
        perMemberLimit: 1,
        startsAt: since.toISOString(),
        endsAt: new Date(Date.now() + 30 * DAY).toISOString(),
        minTier: null,
        segments: [],
        redeemableAtPartnerIds: [shop],
        fundings: [
          { partnerId: shop, shareBps: 6_000 },
          { partnerId: fmcg, shareBps: 4_000 },
        ],
      },
    });
    await applyEvents({ type: "partner.offer_claimed", payload: { offerId, memberId: m, claimedAt: new Date().toISOString() } });
    await awardPoints(partnerPrincipal(shop), { memberId: m, points: 10, offerId, idempotencyKey: randomUUID() }); // 10 + 101 bonus
    // FreshCo redeems all 111: the shop's own lot (10) and the bonus lot (101), funded 60/40.
    await redeem(fmcg, m, 111, new Date());
    await applyEvents({ type: "partner.offer_ended", payload: { offerId, endedAt: new Date().toISOString() } });

    const run = await createSettlementRun(admin, { periodStart: new Date(Date.now() - 25 * DAY), periodEnd: new Date() });
    const s = await statements(run.id);
    // Funding 1,001 split 60/40 by largest remainder: 601 / 400 (or 600 / 401); returns 900 the same way.
    const funded = Number(s.get(shop)!.offerFundingPoints) + Number(s.get(fmcg)!.offerFundingPoints);
    const returned = Number(s.get(shop)!.offerReturnedPoints) + Number(s.get(fmcg)!.offerReturnedPoints);
    expect(funded).toBe(1_001);
    expect(returned).toBe(900);
    expect(Number(s.get(shop)!.offerFundingPoints) - Number(s.get(shop)!.offerReturnedPoints)).toBeGreaterThanOrEqual(60);
    // The shop pays for its 10 points and its net share of the offer at its issue price.
    const shopNet = Number(s.get(shop)!.offerFundingPoints) - Number(s.get(shop)!.offerReturnedPoints);
    expect(new Decimal(s.get(shop)!.amountDue.toString()).toFixed(2)).toBe(
      lineAmount(10n, "0.015", 2)
        .plus(lineAmount(s.get(shop)!.offerFundingPoints, "0.015", 2))
        .minus(lineAmount(s.get(shop)!.offerReturnedPoints, "0.015", 2))
        .toFixed(2),
    );
    // Flows into FreshCo: 10 from ShopMall's own lot, the 101 bonus split 60/40 → ShopMall 10 + 61, FreshCo 40 (to itself).
    const flows = await prisma().settlementFlow.findMany({ where: { runId: run.id } });
    const flow = (from: string) => Number(flows.find((f) => f.fromPartnerId === from && f.toPartnerId === fmcg)?.points ?? 0);
    expect(flow(shop) + flow(fmcg)).toBe(111);
    expect(flow(shop)).toBe(10 + 61);
    expect(shopNet).toBeGreaterThan(0);
    // Positions + margin = 0.
    const margin = new Decimal((await prisma().settlementRun.findUniqueOrThrow({ where: { id: run.id } })).operatorMargin.toString());
    expect([...s.values()].reduce((d, x) => d.plus(x.netPosition.toString()), margin).isZero()).toBe(true);
  });

  test("corrections keep the price they correct: a reversal at the reversed earn's rate, a returned offer budget at the funding rate", async () => {
    const T = Date.now();
    const P = randomUUID();
    const m = randomUUID();
    await applyEvents(registered(P), rates(P, "0.01", "0.01", new Date(T - 20 * DAY)), enrolled(m, P));
    const earned = await earn(P, m, 1_000, new Date(T - 5 * DAY));
    const offerId = randomUUID();
    await applyEvents({
      type: "partner.offer_activated",
      payload: {
        offerId,
        kind: "BONUS_POINTS",
        bonusPoints: 10,
        multiplier: null,
        budgetPoints: 1_000,
        perMemberLimit: 1,
        startsAt: new Date(T - DAY).toISOString(),
        endsAt: new Date(T + 30 * DAY).toISOString(),
        minTier: null,
        segments: [],
        redeemableAtPartnerIds: [P],
        fundings: [{ partnerId: P, shareBps: 10_000 }],
      },
    });
    // The issue price doubles; then the earn is reversed and the offer ends unused.
    await applyEvents(rates(P, "0.02", "0.01", new Date(T + 3_600_000)));
    await reverseTransaction(partnerPrincipal(P), { transactionId: earned.id, idempotencyKey: randomUUID(), reason: "order cancelled" }, { now: new Date(T + 2 * 3_600_000) });
    await applyEvents({ type: "partner.offer_ended", payload: { offerId, endedAt: new Date(T + 3 * 3_600_000).toISOString() } });

    const run = await createSettlementRun(admin, { periodStart: new Date(T - 10 * DAY), periodEnd: new Date(T + 4 * 3_600_000) }, { now: new Date(T + 5 * 3_600_000) });
    const lines = await prisma().settlementLine.findMany({ where: { runId: run.id, partnerId: P } });
    const byKind = Object.fromEntries(lines.map((l) => [l.kind, [Number(l.points), l.rate.toString(), l.amount.toString()]]));
    expect(byKind).toEqual({
      EARN: [1000, "0.01", "10"],
      REVERSAL: [-1000, "0.01", "-10"],
      OFFER_FUNDING: [1000, "0.01", "10"],
      OFFER_RETURN: [-1000, "0.01", "-10"],
    });
    expect((await statements(run.id)).get(P)!.amountDue.toString()).toBe("0");
  });

  test("rounding is half-even, once per line", () => {
    expect(lineAmount(1n, "0.005", 2).toFixed(2)).toBe("0.00");
    expect(lineAmount(3n, "0.005", 2).toFixed(2)).toBe("0.02");
    expect(lineAmount(5n, "0.005", 2).toFixed(2)).toBe("0.02");
    expect(lineAmount(-5n, "0.005", 2).toFixed(2)).toBe("-0.02");
    expect(lineAmount(10_000_001n, "0.123457", 2).toFixed(2)).toBe("1234570.12");
  });
});

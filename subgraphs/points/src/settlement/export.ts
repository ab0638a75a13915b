import { Decimal } from "decimal.js";
import { toSafeNumber } from "../../../../lib/amounts.ts";
import type { Prisma } from "../../../../lib/db.ts";
import { notFound } from "../../../../lib/errors.ts";
import type { SettlementStatement } from "../../../../prisma/generated/client/client.ts";
import { currencySettings } from "../config.ts";
import { prisma } from "../db.ts";
import { type Actor, isAdmin } from "../domain.ts";
import { linesOfStatements, runsByIds, statementsOfRuns } from "./reads.ts";

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
  const names = new Map((await prisma().pointsPartner.findMany({ where: { partnerId: { in: statements.map((s) => s.partnerId) } }, select: { partnerId: true, name: true } })).map((p) => [p.partnerId, p.name]));
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
  const header = [
    "run_id",
    "period_start",
    "period_end",
    "status",
    "currency",
    "partner_id",
    "partner_name",
    "line_id",
    "side",
    "kind",
    "points",
    "postings",
    "rate",
    "rate_effective_from",
    "amount",
    "disputed",
    "statement_amount_due",
    "statement_amount_owed",
    "statement_net_position",
  ];
  const rows = [header.join(",")];
  for (const s of statements.map(stmt)) {
    for (const l of s.lines) {
      rows.push(
        [
          run.id,
          run.periodStart.toISOString(),
          run.periodEnd.toISOString(),
          run.status,
          cur,
          s.partnerId,
          s.partnerName ?? "",
          l.id,
          l.side,
          l.kind,
          l.points,
          l.postings,
          l.rate,
          l.rateEffectiveFrom ?? "",
          l.amount,
          l.disputed,
          s.amountDue,
          s.amountOwed,
          s.netPosition,
        ]
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

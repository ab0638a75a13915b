import { emit } from "../../../../lib/events/outbox.ts";
import { z } from "zod";
import { badInput, forbidden, notFound } from "../../../../lib/errors.ts";
import type { SettlementLine } from "../../../../prisma/generated/client/client.ts";
import { prisma } from "../db.ts";
import { parseInput } from "../../../../lib/input.ts";
import { type Actor, isAdmin, Reason, Uuid } from "../domain.ts";
import { ADJUSTMENTS, issuanceCode, MAX_POINTS, post, redemptionCode, type Tx } from "../ledger/ledger.ts";
import { type RunOptions, TX } from "./runs.ts";

/**
 * Disputes of approved statement lines: a PARTNER disputes one of its own lines with a reason, an
 * ADMIN resolves it, posting an adjustment (if any) that lands in a later run.
 */

const SYSTEM = "system:settlement";

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
      const same = line.resolutionNote === input.note && (input.adjustmentPoints === 0 ? !adjustment : adjustment?.requestHash === `dispute:${line.id}:${input.adjustmentPoints}`);
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
    const resolved = await tx.settlementLine.update({
      where: { id: line.id },
      data: { resolvedAt: now, resolvedBy: actor.sub, resolutionNote: input.note, adjustmentTransactionId },
    });
    // Announced in the resolving transaction (the partner's webhooks: dispute.resolved).
    await emit(tx, "points.dispute_resolved", {
      lineId: line.id,
      runId: line.runId,
      partnerId: line.partnerId,
      adjustmentPoints: input.adjustmentPoints,
      note: input.note,
      resolvedAt: now.toISOString(),
    });
    return resolved;
  }, TX);
}

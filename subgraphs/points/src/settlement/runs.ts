import { z } from "zod";
import { badInput, forbidden, HubError, notFound } from "../../../../lib/errors.ts";
import type { SettlementRun } from "../../../../prisma/generated/client/client.ts";
import { currencySettings } from "../config.ts";
import { prisma } from "../db.ts";
import { parseInput } from "../../../../lib/input.ts";
import { type Actor, isAdmin, Uuid } from "../domain.ts";
import type { Tx } from "../ledger/ledger.ts";
import { compute } from "./compute.ts";
import { emit } from "../../../../lib/events/outbox.ts";

/**
 * Settlement runs: an ADMIN creates a DRAFT run over a closed period, recomputes it while it is a
 * draft, and approves it (recomputed with a committed watermark, then immutable). Run changes are
 * serialised by a table lock; what a run covers is explained in compute.ts.
 */

/** Long-running: a run over millions of postings aggregates for seconds; PGlite runs transactions one at a time. */
const RUN_TX = { maxWait: 60_000, timeout: 30 * 60_000 } as const;
export const TX = { maxWait: 15_000, timeout: 30_000 } as const;

const MAX_PERIOD_DAYS = 366;

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
    const approved = await tx.settlementRun.update({ where: { id }, data: { status: "APPROVED", approvedAt: now, approvedBy: actor.sub } });
    // Each partner's statement, announced in the approving transaction (partners' webhooks: settlement.run_approved).
    const statements = await tx.settlementStatement.findMany({ where: { runId: id }, orderBy: { partnerId: "asc" } });
    await emit(tx, "points.settlement_approved", {
      runId: id,
      periodStart: approved.periodStart.toISOString(),
      periodEnd: approved.periodEnd.toISOString(),
      approvedAt: now.toISOString(),
      currency: currencySettings().code,
      statements: statements.map((s) => ({
        partnerId: s.partnerId,
        pointsIssued: s.pointsIssued.toString(),
        pointsRedeemed: s.pointsRedeemed.toString(),
        offerFundingPoints: s.offerFundingPoints.toString(),
        offerReturnedPoints: s.offerReturnedPoints.toString(),
        pointsReversed: s.pointsReversed.toString(),
        pointsAdjusted: s.pointsAdjusted.toString(),
        amountDue: s.amountDue.toFixed(6),
        amountOwed: s.amountOwed.toFixed(6),
        netPosition: s.netPosition.toFixed(6),
      })),
    });
    return approved;
  }, RUN_TX);
}

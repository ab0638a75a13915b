import { now as clockNow } from "../../../../lib/clock.ts";
import { forbidden } from "../../../../lib/errors.ts";
import { prisma } from "../db.ts";
import { type Actor, isAdmin } from "../domain.ts";
import { TX_OPTIONS } from "../ledger/ledger.ts";
import { evaluateTiersForPreview } from "./preview.ts";
import { programError, type Program, type ProgramVersion } from "./model.ts";
import { appendVersion, listVersions, validateProgram, versionAt } from "./versions.ts";
import { recordAudit } from "../../../../lib/audit.ts";

/**
 * Changing the program (ADMIN): validated as a whole against this hub (its currency and partners),
 * stored as a new version (append-only) effective now or at a later instant, and written to the
 * admin audit trail in the same transaction. Nothing is stored when any rule is broken.
 */

function requireAdmin(actor: Actor): void {
  if (!isAdmin(actor)) throw forbidden("Only an admin may change the loyalty program");
}

/** setProgram: a new version in force from now. */
export async function setProgram(actor: Actor, raw: unknown, opts: { now?: Date } = {}): Promise<ProgramVersion> {
  requireAdmin(actor);
  const at = opts.now ?? clockNow();
  return store(actor, raw, at, at, "program.set");
}

/** scheduleProgram: a new version in force from `effectiveFrom` (now or later; the past is EFFECTIVE_FROM_IN_PAST). */
export async function scheduleProgram(actor: Actor, raw: unknown, effectiveFrom: Date, opts: { now?: Date } = {}): Promise<ProgramVersion> {
  requireAdmin(actor);
  const at = opts.now ?? clockNow();
  if (!(effectiveFrom instanceof Date) || Number.isNaN(effectiveFrom.getTime())) throw programError({ rule: "EFFECTIVE_FROM_IN_PAST", path: "effectiveFrom", message: "effectiveFrom must be a valid instant" });
  if (effectiveFrom.getTime() < at.getTime())
    throw programError({
      rule: "EFFECTIVE_FROM_IN_PAST",
      path: "effectiveFrom",
      message: `effectiveFrom ${effectiveFrom.toISOString()} is in the past (now is ${at.toISOString()}): a change never rewrites history`,
    });
  return store(actor, raw, effectiveFrom, at, "program.scheduled");
}

async function store(actor: Actor, raw: unknown, effectiveFrom: Date, at: Date, action: string): Promise<ProgramVersion> {
  return prisma().$transaction(async (tx) => {
    const program = await validateProgram(tx, raw);
    const before = await versionAt(tx, effectiveFrom);
    const v = await appendVersion(tx, program, effectiveFrom, actor.sub, at);
    await recordAudit(tx, actor, {
      action: "program.changed",
      targetType: "ProgramVersion",
      targetId: v.id,
      before: { version: before.version, effectiveFrom: before.effectiveFrom, program: before.program },
      after: { version: v.version, effectiveFrom: v.effectiveFrom, scheduled: action === "program.scheduled", program: v.program },
    });
    return v;
  }, TX_OPTIONS);
}

/** The version in force now (anyone signed in: what a member can expect). */
export function currentProgram(at: Date = clockNow()) {
  return versionAt(prisma(), at);
}

/** Every version, newest first (ADMIN). */
export async function programVersions(actor: Actor, first = 20): Promise<ProgramVersion[]> {
  requireAdmin(actor);
  return (await listVersions(prisma())).slice(0, first);
}

/** previewProgramChange (ADMIN): how many members would change tier under `raw` at `at`, from the ledger, writing nothing. */
export async function previewProgramChange(actor: Actor, raw: unknown, at: Date = clockNow()) {
  requireAdmin(actor);
  const program: Program = await validateProgram(prisma(), raw);
  return evaluateTiersForPreview(prisma(), program, at);
}

import { type BiPage, encodeCursor, keysetOrderBy, keysetPage, keysetWhere, type PageArgs } from "../../../../lib/paging.ts";
import { forbidden } from "../../../../lib/errors.ts";
import type { Prisma } from "../../../../lib/db.ts";
import type { SettlementFlow, SettlementLine, SettlementRun, SettlementStatement } from "../../../../prisma/generated/client/client.ts";
import { prisma } from "../db.ts";
import { type Actor, isAdmin, Uuid } from "../domain.ts";

const isUuidId = (id: string) => Uuid.safeParse(id).success;

/** Settlement reads: who sees which runs, statements, lines and flows (the loaders batch these). */

export type { SettlementFlow, SettlementLine, SettlementRun, SettlementStatement };

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

export type RunPage = BiPage<SettlementRun>;

/** A run's cursor in the runs list: keyset on (createdAt, id). */
export const encodeRunCursor = (r: Pick<SettlementRun, "createdAt" | "id">) => encodeCursor(r.createdAt, r.id);

/** Runs newest first (keyset on createdAt, id), either direction. */
export async function listRuns(actor: Actor, args: PageArgs): Promise<RunPage> {
  const where = runsVisibleTo(actor);
  if (!where) throw forbidden("Settlement runs are for admins and partners");
  return keysetPage(args, isUuidId, (q) => {
    const k = keysetWhere(q, "createdAt", "id");
    return prisma().settlementRun.findMany({ where: k ? { AND: [where, k] } : where, orderBy: keysetOrderBy(q, "createdAt", "id"), take: q.limit });
  });
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

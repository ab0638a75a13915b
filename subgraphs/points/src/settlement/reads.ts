import { badInput, forbidden } from "../../../../lib/errors.ts";
import type { Prisma } from "../../../../lib/db.ts";
import type { SettlementFlow, SettlementLine, SettlementRun, SettlementStatement } from "../../../../prisma/generated/client/client.ts";
import { prisma } from "../db.ts";
import { type Actor, isAdmin, Uuid } from "../domain.ts";

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

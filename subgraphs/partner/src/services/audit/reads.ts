import { z } from "zod";
import { isAuditAction } from "../../../../../lib/audit.ts";
import type { Prisma } from "../../../../../lib/db.ts";
import { forbidden } from "../../../../../lib/errors.ts";
import { isUuid, parseInput } from "../../../../../lib/input.ts";
import { type BiPage, encodeCursor as encodeTimeCursor, keysetOrderBy, keysetPage, keysetWhere, type PageArgs } from "../../../../../lib/paging.ts";
import type { AuditEntry } from "../../../../../prisma/generated/client/client.ts";
import { prisma } from "../../db.ts";
import type { Actor } from "../domain.ts";

/**
 * Reading the audit trail (ADMIN only): filtered, newest first, keyset-paged on (at, id); and the
 * export, the same filter in CSV or JSON, page by page (`first` up to 1,000 entries per page, the
 * next page by `after`), so no request holds the whole trail in memory.
 */

export type { AuditEntry };

const Filter = z
  .object({
    actorId: z.string().min(1).max(200).nullish(),
    action: z.string().refine(isAuditAction, "action is not an audited action (see auditActions)").nullish(),
    targetType: z.string().min(1).max(64).nullish(),
    targetId: z.string().min(1).max(200).nullish(),
    partnerId: z.string().refine(isUuid, "partnerId is not a partner id").nullish(),
    from: z.date().nullish(),
    to: z.date().nullish(),
  })
  .refine((f) => !(f.from && f.to) || f.from < f.to, { message: "from must be before to", path: ["to"] });
export type AuditFilter = z.input<typeof Filter>;

export const encodeCursor = (e: Pick<AuditEntry, "at" | "id">) => encodeTimeCursor(e.at, e.id);

/** Most entries one export page holds. */
export const MAX_EXPORT_PAGE = 1000;

function whereOf(raw: unknown): Prisma.AuditEntryWhereInput[] {
  const f = parseInput(z.object({ filter: Filter }), { filter: raw ?? {} }).filter;
  const and: Prisma.AuditEntryWhereInput[] = [];
  if (f.actorId) and.push({ actorSub: f.actorId });
  if (f.action) and.push({ action: f.action });
  if (f.targetType) and.push({ targetType: f.targetType });
  if (f.targetId) and.push({ targetId: f.targetId });
  if (f.partnerId) and.push({ partnerId: f.partnerId });
  if (f.from) and.push({ at: { gte: f.from } });
  if (f.to) and.push({ at: { lt: f.to } });
  return and;
}

function adminOnly(actor: Actor): void {
  if (actor.role !== "ADMIN") throw forbidden("Only an admin reads the audit trail");
}

/** The trail, newest first, either direction: ADMIN only (FORBIDDEN otherwise). first/last: 1–`max`, default 20. */
export async function listAuditTrail(actor: Actor, args: PageArgs & { filter?: unknown }, max = 100): Promise<BiPage<AuditEntry>> {
  adminOnly(actor);
  const and = whereOf(args.filter);
  return keysetPage(
    args,
    isUuid,
    (q) => {
      const k = keysetWhere(q, "at", "id");
      return prisma().auditEntry.findMany({ where: { AND: k ? [...and, k] : and }, orderBy: keysetOrderBy(q, "at", "id"), take: q.limit });
    },
    max,
  );
}

export type ExportFormat = "CSV" | "JSON";

/** One entry as exported (and as the JSON export's array elements). */
export function exportRow(e: AuditEntry) {
  return {
    id: e.id,
    at: e.at.toISOString(),
    action: e.action,
    source: e.source,
    targetType: e.targetType,
    targetId: e.targetId,
    partnerId: e.partnerId,
    actorId: e.actorSub,
    actorRole: e.actorRole,
    actorAuthority: e.actorAuthority,
    actorPersonRole: e.actorPersonRole,
    actorClientId: e.actorClientId,
    actorPartnerId: e.actorPartnerId,
    requestId: e.requestId,
    before: e.before ?? null,
    after: e.after ?? null,
  };
}

const CSV_COLUMNS = [
  "id",
  "at",
  "action",
  "source",
  "target_type",
  "target_id",
  "partner_id",
  "actor_id",
  "actor_role",
  "actor_authority",
  "actor_person_role",
  "actor_client_id",
  "actor_partner_id",
  "request_id",
  "before",
  "after",
];

/** RFC 4180 cell; a leading =, +, -, @ is prefixed with ' so a spreadsheet never runs it as a formula. */
export function csvCell(v: unknown): string {
  let s = v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * One page of the export: CSV (a header line on the first page only, one line per entry, before and
 * after as JSON text) or JSON (an array of entries). `endCursor` continues it; null at the end.
 */
export async function exportAuditTrail(
  actor: Actor,
  args: { filter?: unknown; format: ExportFormat; first?: number | null; after?: string | null },
): Promise<{ format: ExportFormat; content: string; entries: number; endCursor: string | null }> {
  const page = await listAuditTrail(actor, { ...args, first: args.first ?? MAX_EXPORT_PAGE }, MAX_EXPORT_PAGE);
  const rows = page.rows.map(exportRow);
  const last = page.rows.at(-1);
  const endCursor = page.hasNextPage && last ? encodeCursor(last) : null;
  if (args.format === "JSON") return { format: "JSON", content: JSON.stringify(rows), entries: rows.length, endCursor };
  const lines = args.after ? [] : [CSV_COLUMNS.join(",")];
  for (const r of rows) lines.push(Object.values(r).map(csvCell).join(","));
  return { format: "CSV", content: lines.map((l) => `${l}\r\n`).join(""), entries: rows.length, endCursor };
}

import type { PrismaClient } from "../../../../lib/db.ts";
import { currencySettings } from "../config.ts";
import type { Tx } from "../ledger/ledger.ts";
import { type Program, type ProgramVersion, parseProgram, programAt, programOfRow } from "./model.ts";

/**
 * Program versions: reading the one in force (cached: versions are immutable, so a parsed document
 * never goes stale; only which version is in force at an instant is read from the database, and
 * that read rides along in the earn's facts query) and storing new ones (append-only, numbered).
 */

export interface ProgramVersionRef {
  id: string;
  version: number;
  effectiveFrom: Date;
  program: Program;
}

const byId = new Map<string, ProgramVersionRef>();

/** A version by id, parsed once per process. */
export async function versionById(db: Tx | PrismaClient, id: string): Promise<ProgramVersionRef> {
  const hit = byId.get(id);
  if (hit) return hit;
  const rows = await db.$queryRaw<{ id: string; version: number; effectiveFrom: Date; document: unknown }[]>`
    SELECT id::text AS id, version, "effectiveFrom", document FROM "points"."ProgramVersion" WHERE id = ${id}::uuid`;
  const r = rows[0];
  if (!r) throw new Error(`program version ${id} does not exist`);
  const ref = { id: r.id, version: Number(r.version), effectiveFrom: new Date(r.effectiveFrom), program: programOfRow(r.id, r.document) };
  byId.set(id, ref);
  return ref;
}

/** The version in force at `at`. */
export async function versionAt(db: Tx | PrismaClient, at: Date): Promise<ProgramVersionRef> {
  const v = await programAt(db, at);
  const ref = { id: v.id, version: v.version, effectiveFrom: v.effectiveFrom, program: v.program };
  byId.set(v.id, ref);
  return ref;
}

export async function listVersions(db: Tx | PrismaClient): Promise<ProgramVersion[]> {
  const rows = await db.$queryRaw<{ id: string; version: number; effectiveFrom: Date; document: unknown; createdBy: string; createdAt: Date }[]>`
    SELECT id::text AS id, version, "effectiveFrom", document, "createdBy", "createdAt" FROM "points"."ProgramVersion" ORDER BY version DESC`;
  return rows.map((r) => ({ id: r.id, version: Number(r.version), effectiveFrom: new Date(r.effectiveFrom), program: programOfRow(r.id, r.document), createdBy: r.createdBy, createdAt: new Date(r.createdAt) }));
}

/** The partners the hub knows (the points subgraph's copy from partner.registered), lower-case ids. */
export async function knownPartnerIds(db: Tx | PrismaClient): Promise<Set<string>> {
  const rows = await db.$queryRaw<{ id: string }[]>`SELECT "partnerId"::text AS id FROM "points"."Partner"`;
  return new Set(rows.map((r) => r.id.toLowerCase()));
}

/** Parses and validates a program against this hub (its currency and partners); BAD_USER_INPUT naming the rule. */
export async function validateProgram(db: Tx | PrismaClient, raw: unknown): Promise<Program> {
  return parseProgram(raw, { knownPartnerIds: await knownPartnerIds(db), currency: currencySettings().code });
}

/**
 * Appends a version in `tx` (numbered after the highest, under a transaction-scoped advisory lock
 * so two admins never take the same number). The caller validated the program.
 */
export async function appendVersion(tx: Tx, program: Program, effectiveFrom: Date, createdBy: string, createdAt: Date): Promise<ProgramVersion> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('points.ProgramVersion'))`;
  const rows = await tx.$queryRaw<{ id: string; version: number }[]>`
    INSERT INTO "points"."ProgramVersion" (id, version, "effectiveFrom", document, "createdBy", "createdAt")
    SELECT gen_random_uuid(), coalesce(max(version), 0) + 1, ${effectiveFrom}, ${JSON.stringify(program)}::jsonb, ${createdBy}, ${createdAt}
    FROM "points"."ProgramVersion"
    RETURNING id::text AS id, version`;
  const r = rows[0]!;
  return { id: r.id, version: Number(r.version), effectiveFrom, program, createdBy, createdAt };
}

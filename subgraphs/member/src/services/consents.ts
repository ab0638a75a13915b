import { randomUUID } from "node:crypto";
import type { Prisma } from "../../../../lib/db.ts";
import { z } from "zod";
import { badInput, forbidden, notFound } from "../../../../lib/errors.ts";
import { emit, emitMany, event, type NewEvent } from "../../../../lib/events/outbox.ts";
import type { Consent } from "../../../../prisma/generated/client/client.ts";
import { DATA_CATEGORIES, type DataCategory, inCategoryOrder, PURPOSES, type Purpose } from "../../../../lib/vocabulary.ts";
import { prisma } from "../db.ts";
import { type Actor, DAY_MS, TX_OPTIONS, type WriteOptions } from "./domain.ts";
import { firstIssue, isUuid, parseInput } from "../../../../lib/input.ts";

/**
 * Consent receipts (DESIGN.md §5, Kantara consent receipt fields). A receipt is immutable once
 * granted except for its revocation time; the status is derived from the clock, so an expired
 * consent stops counting by itself with no job. Several active receipts for one (member, partner,
 * purpose) add up: each can be revoked on its own, and what a partner may read is the union.
 */

export type ConsentStatus = "ACTIVE" | "REVOKED" | "EXPIRED";
export type CollectionMethod = "MEMBER_APP" | "PARTNER_APP" | "IMPORT";

/** The longest a consent may be granted for; after that the member is asked again. */
export const MAX_CONSENT_DAYS = 5 * 366;

export function consentStatus(c: Pick<Consent, "revokedAt" | "expiresAt">, now: Date): ConsentStatus {
  if (c.revokedAt) return "REVOKED";
  if (c.expiresAt && c.expiresAt.getTime() <= now.getTime()) return "EXPIRED";
  return "ACTIVE";
}

/** Prisma filter for consents active at `now`. */
export const activeAt = (now: Date): Prisma.ConsentWhereInput => ({ revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] });

const GrantInput = z.object({
  partnerId: z.string().refine(isUuid, "partnerId is not a partner id"),
  categories: z
    .array(z.enum(DATA_CATEGORIES))
    .min(1, "categories must name at least one data category")
    .max(DATA_CATEGORIES.length)
    .transform((cs) => inCategoryOrder(cs)),
  purpose: z.enum(PURPOSES),
  expiresAt: z.date().nullish(),
  noticeVersion: z.string().trim().min(1, "noticeVersion must not be empty").max(64, "noticeVersion is at most 64 characters"),
  jurisdiction: z
    .string()
    .trim()
    .toUpperCase()
    .regex(/^[A-Z]{2}$/, "jurisdiction must be an ISO 3166-1 alpha-2 country code, e.g. CN")
    .nullish(),
  policyUrl: z
    .string()
    .trim()
    .max(2048)
    .pipe(z.url({ protocol: /^https?$/, message: "policyUrl must be an http(s) URL" }))
    .nullish(),
});
export type GrantConsentInput = z.input<typeof GrantInput>;

export interface GrantOptions extends WriteOptions {
  /** Overrides how the consent was collected (IMPORT for the demo seed and migrations). */
  collectionMethod?: CollectionMethod;
}

/**
 * A member grants a partner access to data categories for one purpose. The member must be linked
 * to the partner: consent to a partner that has no relationship with the member would be
 * meaningless (the partner cannot see the member at all) and would let a typo go unnoticed.
 * Emits `member.consent_granted` in the same transaction.
 */
export async function grantConsent(actor: Actor, rawInput: unknown, opts: GrantOptions = {}): Promise<Consent> {
  if (actor.role !== "MEMBER" || !actor.memberId) throw forbidden("Only the member grants consent");
  const memberId = actor.memberId;
  const input = parseInput(GrantInput, rawInput);
  const now = opts.now ?? new Date();
  if (input.expiresAt) {
    if (input.expiresAt.getTime() <= now.getTime()) throw badInput("expiresAt must be in the future", "expiresAt");
    if (input.expiresAt.getTime() > now.getTime() + MAX_CONSENT_DAYS * DAY_MS) throw badInput(`expiresAt is at most ${MAX_CONSENT_DAYS} days ahead`, "expiresAt");
  }
  const link = await prisma().linkedAccount.findUnique({ where: { memberId_partnerId: { memberId, partnerId: input.partnerId } }, select: { confirmedAt: true } });
  if (!link?.confirmedAt) throw badInput("You are not linked to this partner", "partnerId");
  // The receipt and its event commit together (the partner and points subgraphs keep a copy for offers).
  return prisma().$transaction(async (tx) => {
    const consent = await tx.consent.create({
      data: {
        memberId,
        partnerId: input.partnerId,
        categories: input.categories,
        purpose: input.purpose,
        grantedAt: now,
        expiresAt: input.expiresAt ?? null,
        noticeVersion: input.noticeVersion,
        jurisdiction: input.jurisdiction ?? null,
        policyUrl: input.policyUrl ?? null,
        collectionMethod: opts.collectionMethod ?? (actor.partnerId ? "PARTNER_APP" : "MEMBER_APP"),
        grantedBy: actor.sub,
      },
    });
    const member = await tx.member.findUnique({ where: { id: memberId }, select: { birthday: true } });
    await emitMany(tx, "member", [consentGranted(consent, member?.birthday)]);
    return consent;
  }, TX_OPTIONS);
}

/**
 * `member.consent_granted {consentId, memberId, partnerId, purpose, categories, grantedAt, expiresAt}`:
 * the partner and points subgraphs copy (consentId, memberId, partnerId, purpose, expiresAt) to
 * enforce offers' requiredPurpose. With `member.consent_revoked` (same consentId) it describes a
 * receipt completely: a receipt is immutable except for its one-time revocation.
 */
function consentGranted(c: Consent, birthday: string | null | undefined): NewEvent<"member.consent_granted"> {
  return event("member.consent_granted", {
    consentId: c.id,
    memberId: c.memberId,
    partnerId: c.partnerId,
    purpose: c.purpose,
    categories: c.categories,
    grantedAt: c.grantedAt.toISOString(),
    expiresAt: c.expiresAt?.toISOString() ?? null,
    birthMonth: birthMonthUnder(c, birthday),
  });
}

/**
 * The birth month a grant carries to the points subgraph (its birthday bonus, issue 16): only when
 * the receipt covers PROFILE_BASIC (the birthday's category) and a birthday (YYYY-MM-DD) is on file;
 * the month alone, nothing more of the date. Without that consent the points subgraph never learns it.
 */
function birthMonthUnder(c: Pick<Consent, "categories">, birthday: string | null | undefined): number | null {
  if (!c.categories.includes("PROFILE_BASIC") || !birthday || !/^\d{4}-\d{2}-\d{2}$/.test(birthday)) return null;
  return Number(birthday.slice(5, 7));
}

/** One consent record to import: a grant the member made elsewhere (legacy system, demo data). */
export type ImportConsentRow = GrantConsentInput & { memberId: string; grantedAt?: Date };
export type ImportConsentResult = { index: number; consent: Consent } | { index: number; error: { code: "BAD_USER_INPUT"; message: string; field?: string } };

/**
 * Imports consent receipts the members granted elsewhere (migration from a partner's consent
 * store, the demo seed), recorded with collectionMethod IMPORT and the importing admin as
 * grantedBy, under the same validation and link rule as `grantConsent`. Not exposed over GraphQL:
 * on the API only the member grants. One query for the links, one INSERT per call and the
 * `member.consent_granted` events (one statement) in the same transaction.
 */
export async function importConsents(actor: Actor, rows: readonly unknown[], opts: WriteOptions = {}): Promise<ImportConsentResult[]> {
  if (actor.role !== "ADMIN") throw forbidden("Only an admin imports consent records");
  if (rows.length > 10_000) throw badInput("At most 10000 consent records per call");
  const now = opts.now ?? new Date();
  const results: ImportConsentResult[] = [];
  const valid: { index: number; memberId: string; grantedAt: Date; input: z.output<typeof GrantInput> }[] = [];
  rows.forEach((raw, index) => {
    const r = (raw ?? {}) as { memberId?: unknown; grantedAt?: unknown };
    const grantedAt = r.grantedAt instanceof Date ? r.grantedAt : now;
    const parsed = GrantInput.safeParse(raw);
    const fail = (message: string, field?: string) => results.push({ index, error: { code: "BAD_USER_INPUT", message, field } });
    if (typeof r.memberId !== "string" || !isUuid(r.memberId)) return fail("memberId is not a member id", "memberId");
    if (!parsed.success) {
      const issue = firstIssue(parsed.error);
      return fail(issue.message, issue.field);
    }
    if (grantedAt.getTime() > now.getTime()) return fail("grantedAt must not be in the future", "grantedAt");
    if (parsed.data.expiresAt && parsed.data.expiresAt.getTime() <= grantedAt.getTime()) return fail("expiresAt must be after grantedAt", "expiresAt");
    valid.push({ index, memberId: r.memberId, grantedAt, input: parsed.data });
  });
  if (!valid.length) return results.sort((a, b) => a.index - b.index);
  const links = await prisma().linkedAccount.findMany({
    where: { confirmedAt: { not: null }, OR: valid.map((v) => ({ memberId: v.memberId, partnerId: v.input.partnerId })) },
    select: { memberId: true, partnerId: true },
  });
  const linked = new Set(links.map((l) => `${l.memberId}|${l.partnerId}`));
  const data: Consent[] = [];
  for (const v of valid) {
    if (!linked.has(`${v.memberId}|${v.input.partnerId}`)) {
      results.push({ index: v.index, error: { code: "BAD_USER_INPUT", message: "The member is not linked to this partner", field: "partnerId" } });
      continue;
    }
    const consent: Consent = {
      id: randomUUID(),
      memberId: v.memberId,
      partnerId: v.input.partnerId,
      categories: v.input.categories,
      purpose: v.input.purpose,
      grantedAt: v.grantedAt,
      expiresAt: v.input.expiresAt ?? null,
      revokedAt: null,
      noticeVersion: v.input.noticeVersion,
      collectionMethod: "IMPORT",
      jurisdiction: v.input.jurisdiction ?? null,
      policyUrl: v.input.policyUrl ?? null,
      grantedBy: actor.sub,
    };
    data.push(consent);
    results.push({ index: v.index, consent });
  }
  if (data.length) {
    await prisma().$transaction(async (tx) => {
      await tx.consent.createMany({ data });
      const members = await tx.member.findMany({ where: { id: { in: [...new Set(data.map((c) => c.memberId))] } }, select: { id: true, birthday: true } });
      const birthdays = new Map(members.map((m) => [m.id, m.birthday]));
      await emitMany(
        tx,
        "member",
        data.map((c) => consentGranted(c, birthdays.get(c.memberId))),
      );
    }, TX_OPTIONS);
  }
  return results.sort((a, b) => a.index - b.index);
}

/**
 * A member withdraws a consent: one call with the receipt id, as easy as granting (GDPR Art. 7(3)).
 * Effective on the very next request (nothing caches consents across requests). Idempotent:
 * revoking again returns the receipt unchanged and emits nothing. Someone else's receipt is NOT_FOUND.
 */
export async function revokeConsent(actor: Actor, consentId: string, opts: WriteOptions = {}): Promise<Consent> {
  if (actor.role !== "MEMBER" || !actor.memberId) throw forbidden("Only the member revokes consent");
  const memberId = actor.memberId;
  if (!isUuid(consentId)) throw notFound("Consent", consentId);
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    // A conditional update: of two concurrent revocations exactly one changes the row and emits.
    const { count } = await tx.consent.updateMany({ where: { id: consentId, memberId, revokedAt: null }, data: { revokedAt: now } });
    const consent = await tx.consent.findFirst({ where: { id: consentId, memberId } });
    if (!consent) throw notFound("Consent", consentId);
    if (count === 1) {
      await emit(tx, "member.consent_revoked", {
        consentId,
        memberId,
        partnerId: consent.partnerId,
        purpose: consent.purpose,
        categories: consent.categories,
        revokedAt: now.toISOString(),
      });
    }
    return consent;
  }, TX_OPTIONS);
}

/**
 * The categories each member currently shares with `partnerId` for `purpose` (one query for all
 * members of a request). Computed per request from the clock: never cached across requests.
 */
export async function activeScopes(partnerId: string, purpose: Purpose, memberIds: readonly string[], now: Date): Promise<Map<string, Set<DataCategory>>> {
  const out = new Map<string, Set<DataCategory>>(memberIds.map((id) => [id, new Set()]));
  const ids = memberIds.filter(isUuid);
  if (!ids.length || !isUuid(partnerId)) return out;
  const rows = await prisma().consent.findMany({
    where: { memberId: { in: ids }, partnerId, purpose, ...activeAt(now) },
    select: { memberId: true, categories: true },
  });
  for (const r of rows) for (const c of r.categories) out.get(r.memberId)?.add(c);
  return out;
}

/**
 * Consent receipts of members as the actor may list them: the member and admins see all; a partner
 * sees only the receipts granted to it (a receipt is, by definition, shared by both parties, and a
 * partner needs it to know what it may ask for).
 */
export async function consentsOf(actor: Actor, memberIds: readonly string[]): Promise<Map<string, Consent[]>> {
  const out = new Map<string, Consent[]>(memberIds.map((id) => [id, []]));
  if (actor.role === "PARTNER" && !actor.partnerId) return out;
  const rows = await prisma().consent.findMany({
    where: { memberId: { in: memberIds.filter(isUuid) }, ...(actor.role === "PARTNER" ? { partnerId: actor.partnerId! } : {}) },
    orderBy: [{ grantedAt: "desc" }, { id: "asc" }],
  });
  for (const r of rows) out.get(r.memberId)?.push(r);
  return out;
}

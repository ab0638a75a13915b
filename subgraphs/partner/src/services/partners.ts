import { z } from "zod";
import { recordAudit } from "../../../../lib/audit.ts";
import { Prisma } from "../../../../lib/db.ts";
import { badInput, forbidden, notFound } from "../../../../lib/errors.ts";
import { emit } from "../../../../lib/events/outbox.ts";
import type { Partner, PartnerRate } from "../../../../prisma/generated/client/client.ts";
import { prisma } from "../db.ts";
import { isUuid, parseInput } from "../../../../lib/input.ts";
import { type Actor, canonicalDecimal, DECIMAL_RATE, isAdmin, isPartnerSelf, TX_OPTIONS } from "./domain.ts";

/**
 * Partners and their rates (DESIGN.md §7). Rates are a history: a change is a new row effective
 * from its time, so a settlement run over a past period always sees the rates that applied then.
 * Every change is announced in the same transaction (partner.registered, partner.rates_changed) so
 * the points subgraph keeps its own copy for settlement without reading this schema.
 */

export type { Partner, PartnerRate };

const rate = (field: string) =>
  z
    .string()
    .trim()
    .regex(DECIMAL_RATE, `${field} must be a non-negative decimal string with at most 6 fraction digits, e.g. "0.015"`)
    .transform(canonicalDecimal)
    .refine((v) => v !== "0" || field === "redemptionRate", `${field} must be greater than 0`);

/** Lower-case ASCII letters, digits and single dashes; 2–48 characters. */
export const SLUG = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){1,47}$/;

/** A slug from a display name: "Fresh Mart 鲜" → "fresh-mart". */
export function slugify(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 48)
    .replace(/-+$/g, "");
}

/** Points per unit of purchase amount before the tier multiplier: > 0, at most 4 decimals. */
const EarnRate = z
  .string()
  .trim()
  .regex(/^\d{1,8}(\.\d{1,4})?$/, 'earnRate must be a decimal string with at most 4 fraction digits, e.g. "1"')
  .transform(canonicalDecimal)
  .refine((v) => v !== "0", "earnRate must be greater than 0");

const RegisterInput = z.object({
  name: z.string().trim().min(1, "name must not be empty").max(100, "name is at most 100 characters"),
  category: z
    .string()
    .trim()
    .toUpperCase()
    .regex(/^[A-Z][A-Z0-9_]{1,39}$/, "category is 2–40 letters, digits or underscores, e.g. ECOMMERCE"),
  issuePrice: rate("issuePrice"),
  redemptionRate: rate("redemptionRate"),
  earnRate: EarnRate.nullish(),
  slug: z.string().trim().regex(SLUG, "slug is 2–48 lower-case letters, digits and single dashes").nullish(),
  effectiveFrom: z.date().nullish(),
});
export type RegisterPartnerInput = z.input<typeof RegisterInput>;

export interface WriteOptions {
  now?: Date;
}

/** ADMIN registers a partner with its initial rates (the first rows of its rate history). */
export async function registerPartner(actor: Actor, raw: unknown, opts: WriteOptions = {}): Promise<Partner> {
  if (!isAdmin(actor)) throw forbidden("Only an admin registers partners");
  const input = parseInput(RegisterInput, raw);
  const slug = input.slug ?? slugify(input.name);
  if (!SLUG.test(slug)) throw badInput("Cannot derive a slug from this name; pass slug (lower-case letters, digits, dashes)", "slug");
  const now = opts.now ?? new Date();
  const effectiveFrom = input.effectiveFrom ?? now;
  const earnRate = input.earnRate ?? "1";
  try {
    return await prisma().$transaction(async (tx) => {
      const partner = await tx.partner.create({ data: { slug, name: input.name, category: input.category, earnRate, createdAt: now } });
      await tx.partnerRate.create({
        data: { partnerId: partner.id, issuePrice: input.issuePrice, redemptionRate: input.redemptionRate, effectiveFrom, createdBy: actor.sub, createdAt: now },
      });
      await emit(tx, "partner.registered", {
        partnerId: partner.id,
        name: partner.name,
        slug,
        category: partner.category,
        earnRate,
        issuePrice: input.issuePrice,
        redemptionRate: input.redemptionRate,
        effectiveFrom: effectiveFrom.toISOString(),
      });
      await emit(tx, "partner.rates_changed", { partnerId: partner.id, issuePrice: input.issuePrice, redemptionRate: input.redemptionRate, effectiveFrom: effectiveFrom.toISOString() });
      await recordAudit(tx, actor, {
        action: "partner.created",
        targetType: "Partner",
        targetId: partner.id,
        partnerId: partner.id,
        before: null,
        after: { ...auditView(partner), issuePrice: input.issuePrice, redemptionRate: input.redemptionRate, effectiveFrom },
      });
      return partner;
    }, TX_OPTIONS);
  } catch (e) {
    if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002") throw badInput(`A partner with slug "${slug}" already exists`, "slug");
    throw e;
  }
}

const RatesInput = z.object({
  partnerId: z.string().refine(isUuid, "partnerId is not a partner id"),
  issuePrice: rate("issuePrice"),
  redemptionRate: rate("redemptionRate"),
  effectiveFrom: z.date().nullish(),
});

/** The furthest back a rate change may take effect: a little slack for clock skew, never into a settled past. */
export const RATE_BACKDATE_MS = 60_000;

/**
 * ADMIN appends a rate change. It takes effect now or later, never earlier (a change must not
 * rewrite periods that may already be settled); a past row is never updated.
 */
export async function setPartnerRates(actor: Actor, raw: unknown, opts: WriteOptions = {}): Promise<Partner> {
  if (!isAdmin(actor)) throw forbidden("Only an admin sets partner rates");
  const input = parseInput(RatesInput, raw);
  const now = opts.now ?? new Date();
  const effectiveFrom = input.effectiveFrom ?? now;
  if (effectiveFrom.getTime() < now.getTime() - RATE_BACKDATE_MS) throw badInput("effectiveFrom must not be in the past", "effectiveFrom");
  return prisma().$transaction(async (tx) => {
    const partner = await tx.partner.findUnique({ where: { id: input.partnerId } });
    if (!partner) throw notFound("Partner", input.partnerId);
    const previous = await tx.partnerRate.findFirst({ where: { partnerId: partner.id }, orderBy: [{ effectiveFrom: "desc" }, { createdAt: "desc" }] });
    await tx.partnerRate.create({
      data: { partnerId: partner.id, issuePrice: input.issuePrice, redemptionRate: input.redemptionRate, effectiveFrom, createdBy: actor.sub, createdAt: now },
    });
    await emit(tx, "partner.rates_changed", { partnerId: partner.id, issuePrice: input.issuePrice, redemptionRate: input.redemptionRate, effectiveFrom: effectiveFrom.toISOString() });
    await recordAudit(tx, actor, {
      action: "partner.rates_changed",
      targetType: "Partner",
      targetId: partner.id,
      partnerId: partner.id,
      before: previous ? { issuePrice: previous.issuePrice, redemptionRate: previous.redemptionRate, effectiveFrom: previous.effectiveFrom } : null,
      after: { issuePrice: input.issuePrice, redemptionRate: input.redemptionRate, effectiveFrom },
    });
    return partner;
  }, TX_OPTIONS);
}

const EarnRateInput = z.object({ partnerId: z.string().refine(isUuid, "partnerId is not a partner id"), earnRate: EarnRate });

/**
 * ADMIN changes a partner's earn rate (points per unit of purchase amount, before the tier
 * multiplier). The points subgraph applies it to purchase-based earns from the moment the
 * `partner.earn_rule_changed` event reaches it (seconds); earns already posted keep their points.
 */
export async function setPartnerEarnRate(actor: Actor, raw: unknown): Promise<Partner> {
  if (!isAdmin(actor)) throw forbidden("Only an admin sets a partner's earn rate");
  const input = parseInput(EarnRateInput, raw);
  return prisma().$transaction(async (tx) => {
    const before = await tx.partner.findUnique({ where: { id: input.partnerId }, select: { earnRate: true } });
    const changed = await tx.partner.updateMany({ where: { id: input.partnerId }, data: { earnRate: input.earnRate } });
    if (!changed.count || !before) throw notFound("Partner", input.partnerId);
    await emit(tx, "partner.earn_rule_changed", { partnerId: input.partnerId, earnRate: input.earnRate });
    await recordAudit(tx, actor, { action: "partner.earn_rate_changed", targetType: "Partner", targetId: input.partnerId, partnerId: input.partnerId, before, after: { earnRate: input.earnRate } });
    return tx.partner.findUniqueOrThrow({ where: { id: input.partnerId } });
  }, TX_OPTIONS);
}

/** ADMIN activates or deactivates a partner. Clients of an inactive partner cannot get tokens. */
export async function setPartnerActive(actor: Actor, partnerId: string, active: boolean): Promise<Partner> {
  if (!isAdmin(actor)) throw forbidden("Only an admin activates or deactivates partners");
  if (!isUuid(partnerId)) throw notFound("Partner", partnerId);
  return prisma().$transaction(async (tx) => {
    const before = await tx.partner.findUnique({ where: { id: partnerId }, select: { active: true } });
    const { count } = await tx.partner.updateMany({ where: { id: partnerId }, data: { active } });
    if (!count || !before) throw notFound("Partner", partnerId);
    await recordAudit(tx, actor, { action: active ? "partner.activated" : "partner.deactivated", targetType: "Partner", targetId: partnerId, partnerId, before, after: { active } });
    // The points subgraph refuses earns from an inactive partner.
    await emit(tx, "partner.status_changed", { partnerId, active });
    return tx.partner.findUniqueOrThrow({ where: { id: partnerId } });
  }, TX_OPTIONS);
}

/** The fields of a partner the audit trail records. */
function auditView(p: Partner) {
  return { name: p.name, slug: p.slug, category: p.category, earnRate: p.earnRate, active: p.active };
}

/** Partners by id (every role may read the public directory: name, category, active). */
export async function partnersByIds(ids: readonly string[]): Promise<Map<string, Partner>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length ? await prisma().partner.findMany({ where: { id: { in: valid } } }) : [];
  return new Map(rows.map((p) => [p.id, p]));
}

export async function listPartners(): Promise<Partner[]> {
  return prisma().partner.findMany({ orderBy: [{ name: "asc" }, { id: "asc" }], take: 1000 });
}

/** The rate in force at `at` for each partner (the newest row with effectiveFrom ≤ at). */
export async function ratesAtMany(partnerIds: readonly string[], at: Date): Promise<Map<string, PartnerRate>> {
  const valid = partnerIds.filter(isUuid);
  if (!valid.length) return new Map();
  const rows = await prisma().$queryRaw<PartnerRate[]>`
    SELECT DISTINCT ON ("partnerId") *
    FROM "partner"."PartnerRate"
    WHERE "partnerId" = ANY(${valid}::uuid[]) AND "effectiveFrom" <= ${at}
    ORDER BY "partnerId", "effectiveFrom" DESC, "createdAt" DESC, id DESC`;
  return new Map(rows.map((r) => [r.partnerId, { ...r, issuePrice: new Prisma.Decimal(r.issuePrice), redemptionRate: new Prisma.Decimal(r.redemptionRate) }]));
}

/** The rate in force for one partner at `at`, or null before its first rate. */
export async function ratesAt(partnerId: string, at: Date): Promise<PartnerRate | null> {
  return (await ratesAtMany([partnerId], at)).get(partnerId) ?? null;
}

/** Who may read a partner's rates and API clients: admins and the partner itself. */
/** Rates and API clients: admins and the partner's own API clients, never a partner-view token (token exchange: one member's view, nothing partner-level). */
export const seesPrivate = (actor: Actor, partnerId: string) => isAdmin(actor) || (isPartnerSelf(actor, partnerId) && actor.authority !== "PARTNER_VIEW");

/** Full rate histories (newest first), for the callers allowed to see them. */
export async function rateHistories(partnerIds: readonly string[]): Promise<Map<string, PartnerRate[]>> {
  const valid = partnerIds.filter(isUuid);
  const rows = valid.length ? await prisma().partnerRate.findMany({ where: { partnerId: { in: valid } }, orderBy: [{ effectiveFrom: "desc" }, { createdAt: "desc" }] }) : [];
  const out = new Map<string, PartnerRate[]>();
  for (const r of rows) out.set(r.partnerId, [...(out.get(r.partnerId) ?? []), r]);
  return out;
}

import { recordAudit } from "../../../../../lib/audit.ts";
import { z } from "zod";
import type { Prisma } from "../../../../../lib/db.ts";
import { badInput, HubError } from "../../../../../lib/errors.ts";
import { LIFECYCLES, PURPOSES, type Purpose, TIERS } from "../../../../../lib/vocabulary.ts";
import type { Offer, OfferKind } from "../../../../../prisma/generated/client/client.ts";
import { prisma } from "../../db.ts";
import { isUuid, parseInput } from "../../../../../lib/input.ts";
import { type Actor, TX_OPTIONS, type WriteOptions } from "../domain.ts";
import { lockForIssuer, requirePartner } from "./visibility.ts";

/**
 * An offer's terms (DESIGN.md §6): what it gives, who co-issues it in which shares, where it can be
 * used, who may claim it (minTier, segments, requiredPurpose), its window, budget and per-member
 * limit. Validated here; a partner creates a DRAFT, a co-issuer edits it (every edit needs every
 * co-issuer's approval again, lifecycle.ts).
 */

export const MAX_CO_ISSUERS = 10;
export const MAX_REDEEMABLE = 50;
export const MAX_BUDGET_POINTS = 1_000_000_000;
export const MAX_WINDOW_DAYS = 366 * 2;
const TOTAL_BPS = 10_000;

const Funding = z.object({
  partnerId: z.string().refine(isUuid, "partnerId is not a partner id"),
  shareBps: z.number().int("shareBps is a whole number of basis points").min(1, "shareBps is at least 1").max(TOTAL_BPS, "shareBps is at most 10000"),
});

const TermsBase = z.object({
  title: z.string().trim().min(1, "title must not be empty").max(120, "title is at most 120 characters"),
  description: z.string().trim().max(2000, "description is at most 2,000 characters").nullish(),
  kind: z.enum(["BONUS_POINTS", "POINTS_MULTIPLIER", "DISCOUNT"]),
  bonusPoints: z.number().int().min(1, "bonusPoints is at least 1").max(1_000_000, "bonusPoints is at most 1,000,000").nullish(),
  multiplier: z
    .string()
    .trim()
    .regex(/^\d{1,3}(\.\d{1,4})?$/, 'multiplier is a decimal string with at most 4 fraction digits, e.g. "2"')
    .nullish(),
  discountPercent: z.number().int().min(1, "discountPercent is 1–100").max(100, "discountPercent is 1–100").nullish(),
  coIssuers: z.array(Funding).min(1, "an offer has at least one co-issuer").max(MAX_CO_ISSUERS, `an offer has at most ${MAX_CO_ISSUERS} co-issuers`),
  redeemableAtPartnerIds: z
    .array(z.string().refine(isUuid, "redeemableAtPartnerIds holds partner ids"))
    .min(1, "name at least one partner where the offer can be used")
    .max(MAX_REDEEMABLE, `at most ${MAX_REDEEMABLE} redemption partners`),
  minTier: z.enum(TIERS).nullish(),
  segments: z.array(z.enum(LIFECYCLES)).max(LIFECYCLES.length).nullish(),
  requiredPurpose: z.enum(PURPOSES).nullish(),
  startsAt: z.date(),
  endsAt: z.date(),
  budgetPoints: z.number().int("budgetPoints is a whole number of points").min(1, "budgetPoints must be greater than 0").max(MAX_BUDGET_POINTS),
  perMemberLimit: z.number().int().min(1, "perMemberLimit is at least 1").max(1000, "perMemberLimit is at most 1,000"),
});
const Terms = TermsBase.superRefine((v, ctx) => {
  const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
  if (v.kind === "BONUS_POINTS" && !v.bonusPoints) issue("bonusPoints", "BONUS_POINTS offers need bonusPoints");
  if (v.kind !== "BONUS_POINTS" && v.bonusPoints != null) issue("bonusPoints", "bonusPoints is only for BONUS_POINTS offers");
  if (v.kind === "POINTS_MULTIPLIER") {
    if (!v.multiplier) issue("multiplier", "POINTS_MULTIPLIER offers need multiplier");
    else if (Number(v.multiplier) <= 1 || Number(v.multiplier) > 10) issue("multiplier", "multiplier must be greater than 1 and at most 10");
  } else if (v.multiplier != null) issue("multiplier", "multiplier is only for POINTS_MULTIPLIER offers");
  if (v.kind === "DISCOUNT" && !v.discountPercent) issue("discountPercent", "DISCOUNT offers need discountPercent");
  if (v.kind !== "DISCOUNT" && v.discountPercent != null) issue("discountPercent", "discountPercent is only for DISCOUNT offers");
  const ids = v.coIssuers.map((c) => c.partnerId);
  if (new Set(ids).size !== ids.length) issue("coIssuers", "a partner appears twice among coIssuers");
  const total = v.coIssuers.reduce((s, c) => s + c.shareBps, 0);
  if (total !== TOTAL_BPS) issue("coIssuers", `shareBps must sum to 10000 (got ${total})`);
  if (new Set(v.redeemableAtPartnerIds).size !== v.redeemableAtPartnerIds.length) issue("redeemableAtPartnerIds", "a partner appears twice");
  if (v.endsAt.getTime() <= v.startsAt.getTime()) issue("endsAt", "endsAt must be after startsAt");
  if (v.endsAt.getTime() - v.startsAt.getTime() > MAX_WINDOW_DAYS * 86_400_000) issue("endsAt", `the window is at most ${MAX_WINDOW_DAYS} days`);
});
export type OfferTermsInput = z.input<typeof Terms>;
type Terms = z.output<typeof Terms>;

function termsData(t: Terms) {
  return {
    title: t.title,
    description: t.description ?? null,
    kind: t.kind as OfferKind,
    bonusPoints: t.bonusPoints ?? null,
    multiplier: t.multiplier ?? null,
    discountPercent: t.discountPercent ?? null,
    minTier: t.minTier ?? null,
    segments: t.segments ? LIFECYCLES.filter((s) => t.segments!.includes(s)) : [],
    requiredPurpose: t.requiredPurpose ?? null,
    startsAt: t.startsAt,
    endsAt: t.endsAt,
    budgetPoints: t.budgetPoints,
    perMemberLimit: t.perMemberLimit,
  };
}

async function requireActivePartners(tx: Prisma.TransactionClient, ids: string[], field: string) {
  const found = await tx.partner.findMany({ where: { id: { in: ids }, active: true }, select: { id: true } });
  if (found.length !== new Set(ids).size) throw badInput("Every partner must exist and be active", field);
}

/**
 * A partner creates a DRAFT offer. The caller must be among the co-issuers (if it is left out,
 * it cannot fund nothing: BAD_USER_INPUT, because adding it would change the shares silently).
 */
export async function createOffer(actor: Actor, raw: unknown, opts: WriteOptions = {}): Promise<Offer> {
  const me = requirePartner(actor);
  const t = parseInput(Terms, raw);
  if (!t.coIssuers.some((c) => c.partnerId === me)) throw badInput("The creating partner must be one of the coIssuers", "coIssuers");
  const now = opts.now ?? new Date();
  if (t.endsAt.getTime() <= now.getTime()) throw badInput("endsAt must be in the future", "endsAt");
  return prisma().$transaction(async (tx) => {
    await requireActivePartners(
      tx,
      t.coIssuers.map((c) => c.partnerId),
      "coIssuers",
    );
    await requireActivePartners(tx, t.redeemableAtPartnerIds, "redeemableAtPartnerIds");
    const offer = await tx.offer.create({
      data: {
        ...termsData(t),
        createdByPartnerId: me,
        createdAt: now,
        fundings: { create: t.coIssuers.map((c) => ({ partnerId: c.partnerId, shareBps: c.shareBps })) },
        redeemable: { create: t.redeemableAtPartnerIds.map((partnerId) => ({ partnerId })) },
      },
    });
    await recordAudit(tx, actor, { action: "offer.created", targetType: "Offer", targetId: offer.id, partnerId: me, before: null, after: { status: offer.status, version: offer.version, ...t } });
    return offer;
  }, TX_OPTIONS);
}

const UpdateTerms = TermsBase.partial();

/**
 * A co-issuer edits an offer. Every edit clears all approvals and bumps the version: a DRAFT stays
 * a DRAFT; PENDING_APPROVAL, ACTIVE and PAUSED go (back) to PENDING_APPROVAL and are not claimable
 * until every co-issuer approves again. Once activated (funded), budget and shares are frozen.
 */
export async function updateOffer(actor: Actor, offerId: string, raw: unknown, opts: WriteOptions = {}): Promise<Offer> {
  const patch = parseInput(UpdateTerms, raw ?? {});
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    const { offer, fundings } = await lockForIssuer(tx, actor, offerId);
    if (offer.status === "ENDED") throw new HubError("OFFER_NOT_ACTIVE", "An ended offer cannot be edited");
    const redeemable = await tx.offerRedeemablePartner.findMany({ where: { offerId } });
    const current: z.input<typeof Terms> = {
      title: offer.title,
      description: offer.description,
      kind: offer.kind,
      bonusPoints: offer.bonusPoints,
      multiplier: offer.multiplier?.toString() ?? null,
      discountPercent: offer.discountPercent,
      coIssuers: fundings.map((f) => ({ partnerId: f.partnerId, shareBps: f.shareBps })),
      redeemableAtPartnerIds: redeemable.map((r) => r.partnerId),
      minTier: offer.minTier,
      segments: offer.segments,
      requiredPurpose: offer.requiredPurpose as Purpose | null,
      startsAt: offer.startsAt,
      endsAt: offer.endsAt,
      budgetPoints: offer.budgetPoints,
      perMemberLimit: offer.perMemberLimit,
    };
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    const t = parseInput(Terms, { ...current, ...defined });
    if (t.endsAt.getTime() <= now.getTime()) throw badInput("endsAt must be in the future", "endsAt");
    if (offer.activatedAt) {
      if (t.budgetPoints !== offer.budgetPoints) throw badInput("budgetPoints cannot change once the offer has been funded", "budgetPoints");
      if (t.kind !== offer.kind) throw badInput("kind cannot change once the offer has been funded", "kind");
      const before = new Map(fundings.map((f) => [f.partnerId, f.shareBps]));
      if (t.coIssuers.length !== before.size || t.coIssuers.some((c) => before.get(c.partnerId) !== c.shareBps)) {
        throw badInput("coIssuers and shares cannot change once the offer has been funded", "coIssuers");
      }
    }
    if (defined.coIssuers) {
      if (!t.coIssuers.some((c) => c.partnerId === actor.partnerId)) throw badInput("The editing partner must stay among the coIssuers", "coIssuers");
      await requireActivePartners(
        tx,
        t.coIssuers.map((c) => c.partnerId),
        "coIssuers",
      );
      await tx.offerFunding.deleteMany({ where: { offerId } });
      await tx.offerFunding.createMany({ data: t.coIssuers.map((c) => ({ offerId, partnerId: c.partnerId, shareBps: c.shareBps })) });
    } else {
      await tx.offerFunding.updateMany({ where: { offerId }, data: { approvedAt: null } });
    }
    if (defined.redeemableAtPartnerIds) {
      await requireActivePartners(tx, t.redeemableAtPartnerIds, "redeemableAtPartnerIds");
      await tx.offerRedeemablePartner.deleteMany({ where: { offerId } });
      await tx.offerRedeemablePartner.createMany({ data: t.redeemableAtPartnerIds.map((partnerId) => ({ offerId, partnerId })) });
    }
    const updated = await tx.offer.update({
      where: { id: offerId },
      data: { ...termsData(t), version: { increment: 1 }, status: offer.status === "DRAFT" ? "DRAFT" : "PENDING_APPROVAL" },
    });
    await recordAudit(tx, actor, {
      action: "offer.updated",
      targetType: "Offer",
      targetId: offerId,
      partnerId: actor.partnerId ?? null,
      before: { status: offer.status, version: offer.version, ...current },
      after: { status: updated.status, version: updated.version, ...t },
    });
    return updated;
  }, TX_OPTIONS);
}

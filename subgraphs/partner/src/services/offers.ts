import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Prisma } from "../../../../lib/db.ts";
import { badInput, forbidden, HubError, notFound } from "../../../../lib/errors.ts";
import { emit } from "../../../../lib/events/outbox.ts";
import type { Offer, OfferClaim, OfferFunding, OfferKind, OfferSegment, OfferStatus, OfferTier, Partner } from "../../../../prisma/generated/client/client.ts";
import { type ConsentCopy, consentIneligibility, offerIneligibility } from "../../../../lib/lifecycle.ts";
import { prisma } from "../db.ts";
import { consentsOfMembers } from "./member-consents.ts";
import { memberStanding } from "./member-facts.ts";
import { type Actor, isAdmin, isUuid, parseInput, TX_OPTIONS } from "./domain.ts";

/**
 * Co-issued offers (DESIGN.md §6, issue 6), partner side: terms, co-issuers and their funding
 * shares, approvals, lifecycle, member claims and discount codes. The budget itself is a ledger
 * account in the points subgraph, funded on `partner.offer_activated` and returned on
 * `partner.offer_ended`.
 *
 * Concurrency: every state change locks the offer row first (SELECT … FOR UPDATE), so two
 * co-issuers approving at once cannot both miss the other's approval, and an activation is
 * emitted exactly once. Claims rely on the (offerId, memberId) unique index; uses of a claim on a
 * conditional UPDATE (usedCount < perMemberLimit). All of this holds on PostgreSQL under READ
 * COMMITTED and trivially on PGlite (one connection).
 *
 * Eligibility by tier, segment and consent (minTier, segments, requiredPurpose) is enforced in four
 * places, all with the same rules (`offerIneligibility`, `lifecycleOf` and `consentIneligibility` in
 * lib/lifecycle.ts — the member subgraph's own segment rule, moved there so every subgraph computes
 * the same answer):
 * - `Member.eligibleOffers` filters with the `tierLevel`/`segment` the query planner supplies
 *   (@requires) and this subgraph's consent copy (below);
 * - `claimOffer` has no Member parent, so it cannot get them through @requires; it reads this
 *   subgraph's copy of the member's facts (partner.MemberFacts: joinedAt from `member.enrolled`,
 *   last EARN/REDEEM time from `points.activity`, tier from `points.tier_changed`; see
 *   member-facts.ts) and computes the segment at `now`. An ineligible member gets OFFER_NOT_ELIGIBLE
 *   and no claim (also when re-claiming an offer it claimed while it was eligible). Until a member's
 *   member.enrolled has arrived its segment is unknown here and segment-limited offers are refused.
 * - `redeemDiscountCode` (DISCOUNT offers at a partner's checkout) re-checks all three the same way
 *   before it counts a use: OFFER_NOT_ELIGIBLE, nothing written.
 * - the points subgraph re-checks all three when it applies a bonus (tier from its TierState,
 *   joinedAt from `member.enrolled`, last activity from its own ledger, its own consent copy), as of
 *   just before the earn the bonus rides on: a DORMANT member's win-back purchase still gets the
 *   DORMANT bonus.
 * Consent (`requiredPurpose`): the member must hold a receipt for that purpose with at least one of
 * the offer's co-issuers, not revoked and not expired at `now`. Only the member subgraph reads
 * consents; this subgraph keeps a per-receipt copy (partner.MemberConsent, member-consents.ts) fed
 * by `member.consent_granted` / `member.consent_revoked`, so a revocation or an expiry makes the
 * offer disappear from eligibleOffers and refuses claims and code uses from then on.
 * The copies lag the owners by the relay's delivery time (milliseconds): right after an upgrade or
 * a grant the claim may still see the previous state; a retry a moment later sees the new one.
 */

export type { Offer, OfferClaim, OfferFunding };

export const TIERS: readonly OfferTier[] = ["BASE", "SILVER", "GOLD", "DIAMOND"];
export const SEGMENTS: readonly OfferSegment[] = ["NEW", "ACTIVE", "DORMANT", "CHURNED"];
export const tierLevel = (t: OfferTier) => TIERS.indexOf(t);

export const MAX_CO_ISSUERS = 10;
export const MAX_REDEEMABLE = 50;
export const MAX_BUDGET_POINTS = 1_000_000_000;
export const MAX_WINDOW_DAYS = 366 * 2;
const TOTAL_BPS = 10_000;

// ---------------------------------------------------------------------------------------------
// Visibility
// ---------------------------------------------------------------------------------------------

/**
 * Which offers a caller sees. ADMIN: all. PARTNER: those it co-issues (any status) and those
 * usable at it once they have been activated. MEMBER: ACTIVE ones, and any it has claimed.
 * Anything else is NOT_FOUND to the caller (drafts never leak to non-co-issuers).
 */
export function visibleWhere(actor: Actor): Prisma.OfferWhereInput {
  if (isAdmin(actor)) return {};
  if (actor.role === "PARTNER" && isUuid(actor.partnerId)) {
    return {
      OR: [{ fundings: { some: { partnerId: actor.partnerId } } }, { activatedAt: { not: null }, redeemable: { some: { partnerId: actor.partnerId } } }],
    };
  }
  if (actor.role === "MEMBER" && isUuid(actor.memberId)) return { OR: [{ status: "ACTIVE" }, { claims: { some: { memberId: actor.memberId } } }] };
  return { id: { in: [] } };
}

export async function visibleOffers(actor: Actor, ids: readonly string[]): Promise<Map<string, Offer>> {
  const valid = ids.filter(isUuid);
  const rows = valid.length ? await prisma().offer.findMany({ where: { AND: [{ id: { in: valid } }, visibleWhere(actor)] } }) : [];
  return new Map(rows.map((o) => [o.id, o]));
}

export async function fundingsOf(offerIds: readonly string[]): Promise<Map<string, OfferFunding[]>> {
  const rows = await prisma().offerFunding.findMany({ where: { offerId: { in: offerIds.filter(isUuid) } }, orderBy: [{ shareBps: "desc" }, { partnerId: "asc" }] });
  return groupBy(rows, (r) => r.offerId);
}

export async function redeemableAtOf(offerIds: readonly string[]): Promise<Map<string, string[]>> {
  const rows = await prisma().offerRedeemablePartner.findMany({ where: { offerId: { in: offerIds.filter(isUuid) } }, orderBy: { partnerId: "asc" } });
  const m = groupBy(rows, (r) => r.offerId);
  return new Map([...m].map(([k, v]) => [k, v.map((r) => r.partnerId)]));
}

export async function claimsOfMembers(memberIds: readonly string[]): Promise<Map<string, (OfferClaim & { offer: Offer })[]>> {
  const rows = await prisma().offerClaim.findMany({
    where: { memberId: { in: memberIds.filter(isUuid) } },
    include: { offer: true },
    orderBy: [{ claimedAt: "desc" }, { id: "asc" }],
  });
  return groupBy(rows, (r) => r.memberId);
}

/** What eligibility needs of a member besides the offers: its claim use counts and its unrevoked consent receipts. */
export interface EligibilityInputs {
  uses: Pick<OfferClaim, "offerId" | "usedCount">[];
  /** As `consentsOfMembers`: active (not revoked) receipts; expiry is checked by the caller. */
  consents: ConsentCopy[];
  /**
   * The offer catalog's version read by the same statement (offer-catalog.ts): the live-offer cache
   * is checked against it, so a wallet request needs no statement of its own for that. Undefined
   * when no statement ran (no valid member id); null when the counter row is missing (no caching).
   */
  catalogVersion?: bigint | null;
}

/**
 * Eligibility inputs of many members in ONE SQL statement (claim use counts + unrevoked consent
 * receipts; the same rows `claimsOfMembers`/`consentsOfMembers` would give, two statements apart),
 * and the offer catalog's version.
 */
export async function eligibilityInputsOf(memberIds: readonly string[]): Promise<Map<string, EligibilityInputs>> {
  const ids = [...new Set(memberIds.filter(isUuid))];
  const out = new Map<string, EligibilityInputs>();
  if (!ids.length) return out;
  const rows = await prisma().$queryRaw<
    { memberId: string; uses: { offerId: string; usedCount: number }[]; consents: { partnerId: string; purpose: string; expiresAt: string | null; active: boolean }[]; catalogVersion: bigint | null }[]
  >`
    SELECT m::text AS "memberId",
      (SELECT v.version FROM "partner"."OfferCatalogVersion" v WHERE v.id = 1) AS "catalogVersion",
      (SELECT coalesce(json_agg(json_build_object('offerId', c."offerId", 'usedCount', c."usedCount")), '[]'::json)
         FROM "partner"."OfferClaim" c WHERE c."memberId" = m) AS uses,
      (SELECT coalesce(json_agg(json_build_object('partnerId', k."partnerId", 'purpose', k.purpose, 'expiresAt', k."expiresAt", 'active', k.active)), '[]'::json)
         FROM "partner"."MemberConsent" k WHERE k."memberId" = m AND k.active) AS consents
    FROM unnest(${ids}::uuid[]) AS m`;
  for (const r of rows) {
    out.set(r.memberId, {
      uses: r.uses,
      consents: r.consents.map((c) => ({ partnerId: c.partnerId, purpose: c.purpose, expiresAt: c.expiresAt === null ? null : new Date(c.expiresAt), active: c.active })),
      catalogVersion: r.catalogVersion === null ? null : BigInt(r.catalogVersion),
    });
  }
  return out;
}

function groupBy<T>(rows: T[], key: (r: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = m.get(k);
    if (list) list.push(r);
    else m.set(k, [r]);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Listing (Relay connection)
// ---------------------------------------------------------------------------------------------

export interface OfferPage {
  rows: Offer[];
  hasNextPage: boolean;
}

export const encodeCursor = (o: Pick<Offer, "createdAt" | "id">) => Buffer.from(`${o.createdAt.toISOString()}|${o.id}`).toString("base64url");
function decodeCursor(c: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(c, "base64url").toString("utf8").split("|");
  const createdAt = new Date(at ?? "");
  if (!id || !isUuid(id) || Number.isNaN(createdAt.getTime())) throw badInput("after is not a cursor from this list", "after");
  return { createdAt, id };
}

/** Offers the caller sees, newest first. first: 1–100, default 20. */
export async function listOffers(actor: Actor, args: { status?: OfferStatus | null; first?: number | null; after?: string | null }): Promise<OfferPage> {
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 1 || first > 100) throw badInput("first must be between 1 and 100", "first");
  const and: Prisma.OfferWhereInput[] = [visibleWhere(actor)];
  if (args.status) and.push({ status: args.status });
  if (args.after) {
    const c = decodeCursor(args.after);
    and.push({ OR: [{ createdAt: { lt: c.createdAt } }, { createdAt: c.createdAt, id: { lt: c.id } }] });
  }
  const rows = await prisma().offer.findMany({ where: { AND: and }, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: first + 1 });
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

// ---------------------------------------------------------------------------------------------
// Terms
// ---------------------------------------------------------------------------------------------

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
    minTier: z.enum(TIERS as [OfferTier, ...OfferTier[]]).nullish(),
    segments: z.array(z.enum(SEGMENTS as [OfferSegment, ...OfferSegment[]])).max(SEGMENTS.length).nullish(),
    requiredPurpose: z.enum(["ACCOUNT_SERVICING", "OFFER_TARGETING", "ANALYTICS"]).nullish(),
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
    segments: t.segments ? SEGMENTS.filter((s) => t.segments!.includes(s)) : [],
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

function requirePartner(actor: Actor): string {
  if (actor.role !== "PARTNER" || !isUuid(actor.partnerId)) throw forbidden("Only a partner manages offers");
  return actor.partnerId;
}

export interface WriteOptions {
  now?: Date;
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
    await requireActivePartners(tx, t.coIssuers.map((c) => c.partnerId), "coIssuers");
    await requireActivePartners(tx, t.redeemableAtPartnerIds, "redeemableAtPartnerIds");
    return tx.offer.create({
      data: {
        ...termsData(t),
        createdByPartnerId: me,
        createdAt: now,
        fundings: { create: t.coIssuers.map((c) => ({ partnerId: c.partnerId, shareBps: c.shareBps })) },
        redeemable: { create: t.redeemableAtPartnerIds.map((partnerId) => ({ partnerId })) },
      },
    });
  }, TX_OPTIONS);
}

type Tx = Prisma.TransactionClient;

/**
 * Locks the offer and checks that the caller may act on it: NOT_FOUND when the caller cannot see
 * it, FORBIDDEN when it can see it but is not a co-issuer.
 */
async function lockForIssuer(tx: Tx, actor: Actor, offerId: string): Promise<{ offer: Offer; fundings: OfferFunding[]; me: string }> {
  const me = requirePartner(actor);
  if (!isUuid(offerId)) throw notFound("Offer", offerId);
  await tx.$queryRaw`SELECT id FROM "partner"."Offer" WHERE id = ${offerId}::uuid FOR UPDATE`;
  const offer = await tx.offer.findFirst({ where: { AND: [{ id: offerId }, visibleWhere(actor)] }, include: { fundings: true } });
  if (!offer) throw notFound("Offer", offerId);
  const { fundings, ...rest } = offer;
  if (!fundings.some((f) => f.partnerId === me)) throw forbidden("Only a co-issuer of this offer may do this");
  return { offer: rest, fundings, me };
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
      requiredPurpose: offer.requiredPurpose as "ANALYTICS" | null,
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
      await requireActivePartners(tx, t.coIssuers.map((c) => c.partnerId), "coIssuers");
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
    return tx.offer.update({
      where: { id: offerId },
      data: { ...termsData(t), version: { increment: 1 }, status: offer.status === "DRAFT" ? "DRAFT" : "PENDING_APPROVAL" },
    });
  }, TX_OPTIONS);
}

/** A co-issuer submits a DRAFT for approval (→ PENDING_APPROVAL). Submitting again is a no-op. */
export async function submitOffer(actor: Actor, offerId: string, opts: WriteOptions = {}): Promise<Offer> {
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    const { offer } = await lockForIssuer(tx, actor, offerId);
    if (offer.status === "PENDING_APPROVAL") return offer;
    if (offer.status !== "DRAFT") throw new HubError("OFFER_NOT_ACTIVE", `Only a DRAFT can be submitted (this one is ${offer.status})`);
    if (offer.endsAt.getTime() <= now.getTime()) throw badInput("The offer's window is over; edit endsAt first", "endsAt");
    return tx.offer.update({ where: { id: offerId }, data: { status: "PENDING_APPROVAL", submittedAt: now } });
  }, TX_OPTIONS);
}

/** A type, not an interface: it must fit the catalogue's loose payload object (lib/events/catalogue.ts). */
export type OfferActivatedPayload = {
  offerId: string;
  version: number;
  kind: OfferKind;
  bonusPoints: number | null;
  multiplier: string | null;
  discountPercent: number | null;
  budgetPoints: number;
  perMemberLimit: number;
  startsAt: string;
  endsAt: string;
  minTier: OfferTier | null;
  segments: OfferSegment[];
  /** Consent purpose the member must have granted one of the co-issuers (`fundings`), or null. */
  requiredPurpose: string | null;
  redeemableAtPartnerIds: string[];
  fundings: { partnerId: string; shareBps: number }[];
  /** True when this offer was activated before (re-approved after an edit): fund only once per offerId. */
  reactivation: boolean;
};

/**
 * A co-issuer approves the current version. When every co-issuer has approved, the offer becomes
 * ACTIVE and `partner.offer_activated` is emitted in the same transaction (points funds the budget).
 * Approving twice is a no-op.
 */
export async function approveOffer(actor: Actor, offerId: string, opts: WriteOptions = {}): Promise<Offer> {
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    const { offer, fundings, me } = await lockForIssuer(tx, actor, offerId);
    if (offer.status !== "PENDING_APPROVAL") {
      if (offer.status === "ACTIVE") return offer;
      throw new HubError("OFFER_NOT_ACTIVE", `Only an offer pending approval can be approved (this one is ${offer.status})`);
    }
    if (offer.endsAt.getTime() <= now.getTime()) throw new HubError("OFFER_NOT_ACTIVE", "The offer's window is over");
    await tx.offerFunding.updateMany({ where: { offerId, partnerId: me, approvedAt: null }, data: { approvedAt: now } });
    const pending = fundings.filter((f) => f.partnerId !== me && !f.approvedAt);
    if (pending.length) return offer;
    const activated = await tx.offer.update({ where: { id: offerId }, data: { status: "ACTIVE", activatedAt: offer.activatedAt ?? now } });
    const redeemable = await tx.offerRedeemablePartner.findMany({ where: { offerId }, orderBy: { partnerId: "asc" } });
    const payload: OfferActivatedPayload = {
      offerId,
      version: activated.version,
      kind: activated.kind,
      bonusPoints: activated.bonusPoints,
      multiplier: activated.multiplier?.toString() ?? null,
      discountPercent: activated.discountPercent,
      budgetPoints: activated.budgetPoints,
      perMemberLimit: activated.perMemberLimit,
      startsAt: activated.startsAt.toISOString(),
      endsAt: activated.endsAt.toISOString(),
      minTier: activated.minTier,
      segments: activated.segments,
      requiredPurpose: activated.requiredPurpose,
      redeemableAtPartnerIds: redeemable.map((r) => r.partnerId),
      fundings: [...fundings].sort((a, b) => b.shareBps - a.shareBps || a.partnerId.localeCompare(b.partnerId)).map((f) => ({ partnerId: f.partnerId, shareBps: f.shareBps })),
      reactivation: Boolean(offer.activatedAt),
    };
    await emit(tx, "partner.offer_activated", payload);
    return activated;
  }, TX_OPTIONS);
}

/** A co-issuer pauses an ACTIVE offer: no claims or uses until resumed. Pausing again is a no-op. */
export async function pauseOffer(actor: Actor, offerId: string): Promise<Offer> {
  return prisma().$transaction(async (tx) => {
    const { offer } = await lockForIssuer(tx, actor, offerId);
    if (offer.status === "PAUSED") return offer;
    if (offer.status !== "ACTIVE") throw new HubError("OFFER_NOT_ACTIVE", `Only an ACTIVE offer can be paused (this one is ${offer.status})`);
    // The points subgraph pays no bonus while the offer is paused.
    await emit(tx, "partner.offer_paused", { offerId });
    return tx.offer.update({ where: { id: offerId }, data: { status: "PAUSED" } });
  }, TX_OPTIONS);
}

/** A co-issuer resumes a PAUSED offer (approvals still stand: the terms did not change). */
export async function resumeOffer(actor: Actor, offerId: string, opts: WriteOptions = {}): Promise<Offer> {
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    const { offer } = await lockForIssuer(tx, actor, offerId);
    if (offer.status === "ACTIVE") return offer;
    if (offer.status !== "PAUSED") throw new HubError("OFFER_NOT_ACTIVE", `Only a PAUSED offer can be resumed (this one is ${offer.status})`);
    if (offer.endsAt.getTime() <= now.getTime()) throw new HubError("OFFER_NOT_ACTIVE", "The offer's window is over");
    await emit(tx, "partner.offer_resumed", { offerId });
    return tx.offer.update({ where: { id: offerId }, data: { status: "ACTIVE" } });
  }, TX_OPTIONS);
}

async function endLocked(tx: Tx, offer: Offer, reason: "ENDED_BY_ISSUER" | "WINDOW_OVER", now: Date): Promise<Offer> {
  const ended = await tx.offer.update({ where: { id: offer.id }, data: { status: "ENDED", endedAt: now } });
  // Only a funded offer has a budget to return; a draft that never activated ends silently.
  if (offer.activatedAt) {
    await emit(tx, "partner.offer_ended", { offerId: offer.id, reason, endedAt: now.toISOString() });
  }
  return ended;
}

/** A co-issuer ends an offer for good (any status but ENDED). Ending again is a no-op. */
export async function endOffer(actor: Actor, offerId: string, opts: WriteOptions = {}): Promise<Offer> {
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    const { offer } = await lockForIssuer(tx, actor, offerId);
    if (offer.status === "ENDED") return offer;
    return endLocked(tx, offer, "ENDED_BY_ISSUER", now);
  }, TX_OPTIONS);
}

/**
 * Ends every activated offer whose window is over (a periodic job; also safe to run from several
 * processes: each offer is locked and re-checked). Returns the ids it ended.
 */
export async function endExpiredOffers(now = new Date(), limit = 100): Promise<string[]> {
  const due = await prisma().offer.findMany({ where: { status: { in: ["ACTIVE", "PAUSED", "PENDING_APPROVAL"] }, endsAt: { lte: now } }, select: { id: true }, take: limit });
  const ended: string[] = [];
  for (const { id } of due) {
    await prisma().$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM "partner"."Offer" WHERE id = ${id}::uuid FOR UPDATE`;
      const offer = await tx.offer.findUnique({ where: { id } });
      if (!offer || offer.status === "ENDED" || offer.status === "DRAFT" || offer.endsAt.getTime() > now.getTime()) return;
      await endLocked(tx, offer, "WINDOW_OVER", now);
      ended.push(id);
    }, TX_OPTIONS);
  }
  return ended;
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

/** Is the offer claimable / usable at `now`: ACTIVE and inside its window? */
export const isLive = (o: Pick<Offer, "status" | "startsAt" | "endsAt">, now: Date) =>
  o.status === "ACTIVE" && o.startsAt.getTime() <= now.getTime() && now.getTime() < o.endsAt.getTime();

/** Eight characters from an alphabet without look-alikes (0/O, 1/I/L): about 40 bits. */
const CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
export function newDiscountCode(): string {
  const bytes = randomBytes(16);
  let s = "";
  for (const b of bytes) {
    if (b >= 248) continue; // 248 = 8 × 31: keeps the draw uniform
    s += CODE_ALPHABET[b % 31];
    if (s.length === 10) break;
  }
  return s.length === 10 ? s : newDiscountCode();
}

/**
 * A member claims an offer: it must be live and the member eligible now (tier, segment and consent,
 * see the module comment; OFFER_NOT_ELIGIBLE otherwise).
 * Claiming again returns the same claim; parallel claims converge on one row through the unique
 * index. A claim whose uses reached the per-member limit is OFFER_LIMIT_REACHED.
 */
export async function claimOffer(actor: Actor, offerId: string, opts: WriteOptions = {}): Promise<OfferClaim> {
  if (actor.role !== "MEMBER" || !isUuid(actor.memberId)) throw forbidden("Only a member claims offers");
  const memberId = actor.memberId;
  const now = opts.now ?? new Date();
  const offer = isUuid(offerId) ? await prisma().offer.findFirst({ where: { AND: [{ id: offerId }, visibleWhere(actor)] } }) : null;
  if (!offer) throw notFound("Offer", offerId);
  const existing = await prisma().offerClaim.findUnique({ where: { offerId_memberId: { offerId, memberId } } });
  if (existing) {
    if (existing.usedCount >= offer.perMemberLimit) throw new HubError("OFFER_LIMIT_REACHED", "You have used this offer as often as it allows");
    await requireEligible(offer, memberId, now);
    return existing;
  }
  if (!isLive(offer, now)) throw new HubError("OFFER_NOT_ACTIVE", "The offer is not active now");
  await requireEligible(offer, memberId, now);
  // The claim and its event commit together: the points subgraph pays a bonus only on a claim.
  await prisma().$transaction(async (tx) => {
    const { count } = await tx.offerClaim.createMany({
      data: [{ offerId, memberId, claimedAt: now, discountCode: offer.kind === "DISCOUNT" ? newDiscountCode() : null }],
      skipDuplicates: true,
    });
    if (count) await emit(tx, "partner.offer_claimed", { offerId, memberId, claimedAt: now.toISOString() });
  });
  return prisma().offerClaim.findUniqueOrThrow({ where: { offerId_memberId: { offerId, memberId } } });
}

/**
 * OFFER_NOT_ELIGIBLE unless the member's tier, segment and consents now (this subgraph's copies of
 * the facts) meet the offer's minTier, segments and requiredPurpose.
 */
async function requireEligible(offer: Pick<Offer, "id" | "minTier" | "segments" | "requiredPurpose">, memberId: string, now: Date): Promise<void> {
  if (offer.minTier || offer.segments.length) {
    const why = offerIneligibility(offer, await memberStanding(prisma(), memberId, now));
    if (why) throw new HubError("OFFER_NOT_ELIGIBLE", why);
  }
  if (offer.requiredPurpose) {
    const [fundings, consents] = await Promise.all([
      prisma().offerFunding.findMany({ where: { offerId: offer.id }, select: { partnerId: true } }),
      consentsOfMembers(prisma(), [memberId]),
    ]);
    const why = consentIneligibility({ requiredPurpose: offer.requiredPurpose, coIssuerIds: fundings.map((f) => f.partnerId) }, consents.get(memberId) ?? [], now);
    if (why) throw new HubError("OFFER_NOT_ELIGIBLE", why);
  }
}

/**
 * A redemption partner validates a member's DISCOUNT code at checkout and marks one use. The
 * member must still be eligible (tier, segment, consent: the same check as claimOffer), else
 * OFFER_NOT_ELIGIBLE and no use is counted. The per-member limit holds under concurrency: the
 * increment is conditional (usedCount < limit). Unknown codes and codes of offers not usable at the
 * caller are NOT_FOUND.
 */
export async function redeemDiscountCode(actor: Actor, code: string, opts: WriteOptions = {}): Promise<OfferClaim & { offer: Offer }> {
  const me = requirePartner(actor);
  const now = opts.now ?? new Date();
  const normalized = code.trim().toUpperCase();
  const claim = /^[A-Z0-9]{4,32}$/.test(normalized)
    ? await prisma().offerClaim.findUnique({ where: { discountCode: normalized }, include: { offer: { include: { redeemable: { where: { partnerId: me } } } } } })
    : null;
  if (!claim?.offer.redeemable.length) throw notFound("Discount code");
  if (!isLive(claim.offer, now)) throw new HubError("OFFER_NOT_ACTIVE", "The offer is not active now");
  await requireEligible(claim.offer, claim.memberId, now);
  const n = await prisma().$executeRaw`
    UPDATE "partner"."OfferClaim" SET "usedCount" = "usedCount" + 1, "lastUsedAt" = ${now}
    WHERE id = ${claim.id}::uuid AND "usedCount" < ${claim.offer.perMemberLimit}`;
  if (n === 0) throw new HubError("OFFER_LIMIT_REACHED", "This code has been used as often as the offer allows");
  const updated = await prisma().offerClaim.findUniqueOrThrow({ where: { id: claim.id }, include: { offer: true } });
  return updated;
}

// ---------------------------------------------------------------------------------------------
// Eligibility
// ---------------------------------------------------------------------------------------------

/** A live offer with its co-issuers (largest share first, as `fundingsOf`) and their partner rows. */
export type LiveOffer = Offer & { fundings: (OfferFunding & { partner: Partner })[] };

/**
 * The live offers (ACTIVE, inside their window at `now`; newest first, at most 500) with their
 * co-issuers and the co-issuing partners in one Prisma operation: the eligibility check
 * (requiredPurpose needs the co-issuers) and `coIssuers { partner }` of the wallet query need
 * nothing more (the loaders are primed from it). Requests read them through the cross-request
 * cache in offer-catalog.ts, not from here.
 */
export async function liveOffers(now: Date, db: Prisma.TransactionClient = prisma()): Promise<LiveOffer[]> {
  return db.offer.findMany({
    where: { status: "ACTIVE", startsAt: { lte: now }, endsAt: { gt: now } },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: 500,
    include: { fundings: { orderBy: [{ shareBps: "desc" }, { partnerId: "asc" }], include: { partner: true } } },
  });
}

/**
 * The offers a member may claim (or still use) now: live, tier ≥ minTier, segment among the
 * offer's segments (or none set), a consent for requiredPurpose (if set) with one of its co-issuers
 * (`coIssuersOf`) active at `now`, and its claim (if any) not used up.
 */
export function eligibleAmong<O extends Offer>(
  offers: readonly O[],
  member: { tierLevel: OfferTier | null | undefined; segment: OfferSegment | null | undefined; consents: readonly ConsentCopy[] },
  claims: Pick<OfferClaim, "offerId" | "usedCount">[],
  coIssuersOf: ReadonlyMap<string, readonly string[]>,
  now: Date,
): O[] {
  const used = new Map(claims.map((c) => [c.offerId, c.usedCount]));
  const tier = member.tierLevel ? tierLevel(member.tierLevel) : -1;
  return offers.filter((o) => {
    if (o.minTier && tier < tierLevel(o.minTier)) return false;
    if (o.segments.length && (!member.segment || !o.segments.includes(member.segment))) return false;
    if (o.requiredPurpose && consentIneligibility({ requiredPurpose: o.requiredPurpose, coIssuerIds: coIssuersOf.get(o.id) ?? [] }, member.consents, now)) return false;
    return (used.get(o.id) ?? 0) < o.perMemberLimit;
  });
}

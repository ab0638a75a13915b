import { badInput, HubError } from "../../../../../lib/errors.ts";
import { emit } from "../../../../../lib/events/outbox.ts";
import type { Offer, OfferKind, OfferSegment, OfferTier } from "../../../../../prisma/generated/client/client.ts";
import { prisma } from "../../db.ts";
import { type Actor, TX_OPTIONS, type WriteOptions } from "../domain.ts";
import { lockForIssuer, type Tx } from "./visibility.ts";
import { ownEventIngest } from "../../webhooks/ingest.ts";

/**
 * Co-issued offers (DESIGN.md §6, issue 6), partner side: an offer goes DRAFT → PENDING_APPROVAL →
 * ACTIVE (every co-issuer approved the current version) ⇄ PAUSED → ENDED. The budget itself is a
 * ledger account in the points subgraph, funded on `partner.offer_activated` and returned on
 * `partner.offer_ended`. Terms: terms.ts; claims: claims.ts; discount codes: discount-codes.ts;
 * who may claim: eligibility.ts.
 *
 * Concurrency: every state change locks the offer row first (SELECT … FOR UPDATE), so two
 * co-issuers approving at once cannot both miss the other's approval, and an activation is
 * emitted exactly once. Claims rely on the (offerId, memberId) unique index; uses of a claim on a
 * conditional UPDATE (usedCount < perMemberLimit). All of this holds on PostgreSQL under READ
 * COMMITTED and trivially on PGlite (one connection).
 */

/** A co-issuer submits a DRAFT for approval (→ PENDING_APPROVAL). Submitting again is a no-op. */
export async function submitOffer(actor: Actor, offerId: string, opts: WriteOptions = {}): Promise<Offer> {
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    const { offer, fundings, me } = await lockForIssuer(tx, actor, offerId);
    if (offer.status === "PENDING_APPROVAL") return offer;
    if (offer.status !== "DRAFT") throw new HubError("OFFER_NOT_ACTIVE", `Only a DRAFT can be submitted (this one is ${offer.status})`);
    if (offer.endsAt.getTime() <= now.getTime()) throw badInput("The offer's window is over; edit endsAt first", "endsAt");
    const submitted = await tx.offer.update({ where: { id: offerId }, data: { status: "PENDING_APPROVAL", submittedAt: now } });
    // The co-issuers' webhooks (offer.approval_requested), in the submitting transaction.
    const event = {
      offerId,
      version: submitted.version,
      title: submitted.title,
      submittedByPartnerId: me,
      coIssuerPartnerIds: fundings.map((f) => f.partnerId).sort(),
      submittedAt: now.toISOString(),
    };
    await ownEventIngest["partner.offer_submitted"](tx, { id: await emit(tx, "partner.offer_submitted", event), payload: event });
    return submitted;
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
    const { count: approvedNow } = await tx.offerFunding.updateMany({ where: { offerId, partnerId: me, approvedAt: null }, data: { approvedAt: now } });
    const pending = fundings.filter((f) => f.partnerId !== me && !f.approvedAt);
    // The co-issuers' webhooks (offer.approved), in the approving transaction; a repeated approval emits nothing.
    if (approvedNow) {
      const event = {
        offerId,
        version: offer.version,
        approvedByPartnerId: me,
        coIssuerPartnerIds: fundings.map((f) => f.partnerId).sort(),
        active: pending.length === 0,
        approvedAt: now.toISOString(),
      };
      await ownEventIngest["partner.offer_approved"](tx, { id: await emit(tx, "partner.offer_approved", event), payload: event });
    }
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

import { now as clockNow } from "../../../lib/clock.ts";
import { toSafeNumber } from "../../../lib/amounts.ts";
import { consentCopyHandlers } from "../../../lib/consent-copy.ts";
import type { ParsedPayloadOf } from "../../../lib/events/catalogue.ts";
import { type AnyTypedEvent, type DomainEvent, defineConsumer, type EventHandler } from "../../../lib/events/inbox.ts";
import { isTier, LIFECYCLES } from "../../../lib/vocabulary.ts";
import { log } from "../../../lib/logger.ts";
import { isUuid } from "../../../lib/input.ts";
import { budgetCode, ensureAccounts, issuanceCode, post, type Tx, walletCode } from "./ledger/ledger.ts";
import { splitByShares } from "./ledger/shares.ts";
import { payEnrolmentBonus, payEnrolmentBonuses } from "./perks/bonuses.ts";

/**
 * Domain events the points subgraph consumes (lib/events/catalogue.ts routes them here; payloads
 * parsed by its schemas). Each handler runs in the inbox transaction, so a redelivered event changes nothing.
 *
 * - member.enrolled {memberId, email, joinedAt, partnerId?}: opens the wallet, BASE tier state,
 *   the link to the enrolling partner, and remembers joinedAt (MemberJoin: offer segments).
 * - member.linked {memberId, partnerId, externalRef, linkedAt}: the partner may now award to the member
 *   (by id, or by its reference: the externalRef is kept on the link).
 * - partner.registered {partnerId, name, earnRate, ...}: the partner's earn rate (points per currency unit).
 * - partner.rates_changed {partnerId, issuePrice, redemptionRate, effectiveFrom}: rate history for settlement.
 * - member.consent_granted {consentId, memberId, partnerId, purpose, expiresAt} / member.consent_revoked
 *   {consentId, memberId, partnerId, purpose}: the consent copy (MemberConsent, one row per receipt,
 *   active → revoked only) for offers' requiredPurpose.
 * - partner.offer_activated {offerId, kind, bonusPoints, multiplier, budgetPoints, perMemberLimit,
 *   startsAt, endsAt, minTier, segments, requiredPurpose, redeemableAtPartnerIds, fundings:[{partnerId, shareBps}],
 *   reactivation}: remembers the terms and funds the OFFER_BUDGET from each co-issuer's issuance account (once per offer).
 * - partner.offer_claimed {offerId, memberId, claimedAt}: the member may now receive the offer's bonus.
 * - partner.offer_paused {offerId} / partner.offer_resumed {offerId}: no bonus while paused.
 * - partner.offer_ended {offerId}: returns the unused budget to the co-issuers in their shares.
 * - partner.status_changed {partnerId, active}: an inactive partner cannot award points.
 * - partner.earn_rule_changed {partnerId, earnRate}: points per currency unit for purchase-based earns.
 *
 * Why events and not reads: the points subgraph never reads the member or partner schemas. What it
 * needs to decide an earn on its own — which members a partner is linked to, the partner's earn rate
 * and status, an offer's terms, who claimed it — is copied into points-owned tables (MemberLink,
 * Partner, Offer, OfferClaim, MemberConsent) from the owners' events, and per-member offer uses are counted here
 * (OfferUse, guarded increment). The copies lag the owner by the relay's delivery time (milliseconds;
 * the relay is woken at commit): an earn for a member enrolled a moment ago may be NOT_FOUND once,
 * and the partner's retry with the same idempotency key is safe.
 */

/**
 * Opens a member's wallet (and BASE tier state); idempotent. Called by the member.enrolled and
 * member.linked consumers; a wallet is also opened on demand by the first posting to it, so nothing
 * depends on event timing.
 */
export async function openWallet(tx: Tx, memberId: string, at: Date = new Date()): Promise<void> {
  await ensureAccounts(tx, [walletCode(memberId)]);
  await tx.$executeRaw`
    INSERT INTO "points"."TierState" ("memberId", tier, "tierSince") VALUES (${memberId}::uuid, 'BASE', ${at}) ON CONFLICT ("memberId") DO NOTHING`;
}

async function link(tx: Tx, memberId: string, partnerId: string, at: Date): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO "points"."MemberLink" ("memberId", "partnerId", "linkedAt") VALUES (${memberId}::uuid, ${partnerId}::uuid, ${at})
    ON CONFLICT ("memberId", "partnerId") DO NOTHING`;
}

const dateOr = (s: unknown, d: Date) => {
  const x = typeof s === "string" ? new Date(s) : null;
  return x && !Number.isNaN(x.getTime()) ? x : d;
};

function bad(event: DomainEvent, why: string): void {
  log.warn("points: event with a bad payload ignored", { eventId: event.id, type: event.type, why });
}

type OfferActivated = ParsedPayloadOf<"partner.offer_activated">;

export async function onOfferActivated(tx: Tx, p: OfferActivated, at: Date): Promise<void> {
  const minTier = isTier(p.minTier) ? p.minTier : null;
  const redeemable = (p.redeemableAtPartnerIds ?? []).filter(isUuid);
  const segments = LIFECYCLES.filter((x) => Array.isArray(p.segments) && p.segments.includes(x));
  // Kept as given when it is a string: an unknown purpose matches no consent (refused), never "none needed".
  const requiredPurpose = typeof p.requiredPurpose === "string" && p.requiredPurpose ? p.requiredPurpose.slice(0, 64) : null;
  const existed = await tx.$queryRaw<{ offerId: string }[]>`SELECT "offerId"::text AS "offerId" FROM "points"."Offer" WHERE "offerId" = ${p.offerId}::uuid`;
  if (existed.length) {
    // Re-activation after a pause or an edit: terms other than the (frozen) budget and shares may change; funded once.
    await tx.$executeRaw`
      UPDATE "points"."Offer" SET status = 'ACTIVE', kind = ${p.kind}, "bonusPoints" = ${p.bonusPoints ?? null}::int, multiplier = ${p.multiplier ?? null}::numeric,
        "startsAt" = ${new Date(p.startsAt)}, "endsAt" = ${new Date(p.endsAt)}, "perMemberLimit" = ${p.perMemberLimit}::int,
        "redeemablePartnerIds" = ${redeemable}::uuid[], "minTier" = ${minTier}::"points"."Tier", segments = ${segments}::text[],
        "requiredPurpose" = ${requiredPurpose}
      WHERE "offerId" = ${p.offerId}::uuid AND status <> 'ENDED'`;
    return;
  }
  await tx.$executeRaw`
    INSERT INTO "points"."Offer" ("offerId", kind, "bonusPoints", multiplier, "startsAt", "endsAt", "perMemberLimit", "budgetPoints", fundings,
      "redeemablePartnerIds", "minTier", segments, "requiredPurpose", status, "activatedAt")
    VALUES (${p.offerId}::uuid, ${p.kind}, ${p.bonusPoints ?? null}::int, ${p.multiplier ?? null}::numeric, ${new Date(p.startsAt)}, ${new Date(p.endsAt)},
      ${p.perMemberLimit}::int, ${p.budgetPoints}::int, ${JSON.stringify(p.fundings)}::jsonb, ${redeemable}::uuid[], ${minTier}::"points"."Tier", ${segments}::text[], ${requiredPurpose}, 'ACTIVE', ${at})`;
  if (p.budgetPoints > 0) {
    const parts = splitByShares(p.budgetPoints, p.fundings).filter((x) => x.points > 0);
    await post(tx, {
      kind: "OFFER_FUNDING",
      offerId: p.offerId,
      postings: [{ accountCode: budgetCode(p.offerId), amount: p.budgetPoints }, ...parts.map((x) => ({ accountCode: issuanceCode(x.partnerId), amount: -x.points }))],
      idempotency: { scope: "system:offers", key: `funding:${p.offerId}`, requestHash: `funding:${p.offerId}` },
      reason: "offer budget funded by its co-issuers",
      createdBy: "system:offers",
      postedAt: at,
    });
  }
}

export async function onOfferEnded(tx: Tx, offerId: string, at: Date): Promise<void> {
  const [offer] = await tx.$queryRaw<{ fundings: { partnerId: string; shareBps: number }[]; status: string }[]>`
    SELECT fundings, status FROM "points"."Offer" WHERE "offerId" = ${offerId}::uuid FOR UPDATE`;
  if (!offer || offer.status === "ENDED") return;
  await tx.$executeRaw`UPDATE "points"."Offer" SET status = 'ENDED', "endedAt" = ${at} WHERE "offerId" = ${offerId}::uuid`;
  const [budget] = await tx.$queryRaw<{ balance: bigint }[]>`
    SELECT balance FROM "points"."LedgerAccount" WHERE code = ${budgetCode(offerId)} FOR UPDATE`;
  // At most the offer's budgetPoints (≤ 1,000,000,000).
  const left = budget ? toSafeNumber(budget.balance, `budget of offer ${offerId}`) : 0;
  if (left <= 0) return;
  const parts = splitByShares(left, offer.fundings).filter((x) => x.points > 0);
  await post(tx, {
    kind: "OFFER_RETURN",
    offerId,
    postings: [{ accountCode: budgetCode(offerId), amount: -left }, ...parts.map((x) => ({ accountCode: issuanceCode(x.partnerId), amount: x.points }))],
    idempotency: { scope: "system:offers", key: `return:${offerId}`, requestHash: `return:${offerId}` },
    reason: "unused offer budget returned to its co-issuers",
    createdBy: "system:offers",
    postedAt: at,
  });
}

/** member.enrolled one at a time (a single delivery, the fallback): the reference for memberLinks. */
const enrolledOne: EventHandler<"member.enrolled"> = async (tx, e) => {
  const p = e.payload;
  if (!isUuid(p.memberId)) return bad(e, "memberId");
  const at = dateOr(p.joinedAt, new Date(e.createdAt));
  await openWallet(tx, p.memberId, at);
  // joinedAt, for the lifecycle segment of offer eligibility (earn.ts applyOfferBonus).
  await tx.$executeRaw`
    INSERT INTO "points"."MemberJoin" ("memberId", "joinedAt") VALUES (${p.memberId}::uuid, ${at})
    ON CONFLICT ("memberId") DO UPDATE SET "joinedAt" = EXCLUDED."joinedAt"`;
  if (isUuid(p.partnerId)) await link(tx, p.memberId, p.partnerId, at);
  // A welcome bonus on enrolment, where the program's trigger is ENROLMENT (once per member ever).
  await payEnrolmentBonus(tx, { memberId: p.memberId, partnerId: isUuid(p.partnerId) ? p.partnerId : null, joinedAt: at, now: clockNow() });
};

/** member.linked one at a time (a single delivery, the fallback): the reference for memberLinks. */
const linkedOne: EventHandler<"member.linked"> = async (tx, e) => {
  const p = e.payload;
  if (!isUuid(p.memberId) || !isUuid(p.partnerId)) return bad(e, "ids");
  const at = dateOr(p.linkedAt, new Date(e.createdAt));
  await openWallet(tx, p.memberId, at);
  await link(tx, p.memberId, p.partnerId, at);
  // The partner's reference (awardPoints by reference): a reference names one member of a
  // partner, so a re-keyed one first leaves whoever held it here.
  if (typeof p.externalRef === "string" && p.externalRef) {
    await tx.$executeRaw`
      UPDATE "points"."MemberLink" SET "externalRef" = NULL WHERE "partnerId" = ${p.partnerId}::uuid AND "externalRef" = ${p.externalRef} AND "memberId" <> ${p.memberId}::uuid`;
    await tx.$executeRaw`
      UPDATE "points"."MemberLink" SET "externalRef" = ${p.externalRef} WHERE "memberId" = ${p.memberId}::uuid AND "partnerId" = ${p.partnerId}::uuid`;
  }
};

/**
 * member.enrolled and member.linked, any number in delivery order, in a constant number of
 * statements (the demo seed enrols 500 members: one statement per event was seconds of its first
 * start). The state is the one the events leave applied one by one:
 * - enrolled {memberId, joinedAt, partnerId?}: the wallet and BASE tier state (tierSince: the first
 *   event's time), joinedAt (MemberJoin, the last enrolment's: offer segments), the link to the
 *   enrolling partner, and a welcome bonus where the program's trigger is ENROLMENT (once per member ever);
 * - linked {memberId, partnerId, externalRef?, linkedAt}: the wallet and tier state, the link (linkedAt:
 *   the first event's), and the partner's reference (awardPoints by reference): a reference names one
 *   member of a partner, so a re-keyed one first leaves whoever held it (referencesInOrder).
 */
async function memberLinks(tx: Tx, events: AnyTypedEvent<"member.enrolled" | "member.linked">[]): Promise<void> {
  const opened = new Map<string, Date>(); // member → its first event's time (TierState: first wins)
  const joined = new Map<string, Date>(); // member → its last enrolment's joinedAt
  const links = new Map<string, { memberId: string; partnerId: string; at: Date }>(); // first wins
  const refs: { memberId: string; partnerId: string; ref: string }[] = [];
  const bonuses: { memberId: string; partnerId: string | null; joinedAt: Date }[] = [];
  const linkTo = (memberId: string, partnerId: string, at: Date) => {
    const key = `${memberId}/${partnerId}`;
    if (!links.has(key)) links.set(key, { memberId, partnerId, at });
  };
  for (const e of events) {
    const p = e.payload;
    if (e.type === "member.enrolled") {
      if (!isUuid(p.memberId)) {
        bad(e, "memberId");
        continue;
      }
      const at = dateOr(e.payload.joinedAt, new Date(e.createdAt));
      if (!opened.has(p.memberId)) opened.set(p.memberId, at);
      joined.set(p.memberId, at);
      const partnerId = isUuid(e.payload.partnerId) ? e.payload.partnerId : null;
      if (partnerId) linkTo(p.memberId, partnerId, at);
      bonuses.push({ memberId: p.memberId, partnerId, joinedAt: at });
    } else {
      const { partnerId, externalRef } = e.payload;
      if (!isUuid(p.memberId) || !isUuid(partnerId)) {
        bad(e, "ids");
        continue;
      }
      const at = dateOr(e.payload.linkedAt, new Date(e.createdAt));
      if (!opened.has(p.memberId)) opened.set(p.memberId, at);
      linkTo(p.memberId, partnerId, at);
      if (typeof externalRef === "string" && externalRef) refs.push({ memberId: p.memberId, partnerId, ref: externalRef });
    }
  }
  if (!opened.size) return;
  await ensureAccounts(tx, [...opened.keys()].map(walletCode));
  await tx.$executeRaw`
    INSERT INTO "points"."TierState" ("memberId", tier, "tierSince")
    SELECT m, 'BASE', t FROM unnest(${[...opened.keys()]}::uuid[], ${[...opened.values()]}::timestamptz[]) AS u(m, t)
    ON CONFLICT ("memberId") DO NOTHING`;
  // joinedAt, for the lifecycle segment of offer eligibility (earn.ts applyOfferBonus).
  if (joined.size)
    await tx.$executeRaw`
      INSERT INTO "points"."MemberJoin" ("memberId", "joinedAt")
      SELECT m, t FROM unnest(${[...joined.keys()]}::uuid[], ${[...joined.values()]}::timestamptz[]) AS u(m, t)
      ON CONFLICT ("memberId") DO UPDATE SET "joinedAt" = EXCLUDED."joinedAt"`;
  if (links.size) {
    const l = [...links.values()];
    await tx.$executeRaw`
      INSERT INTO "points"."MemberLink" ("memberId", "partnerId", "linkedAt")
      SELECT m, p, t FROM unnest(${l.map((x) => x.memberId)}::uuid[], ${l.map((x) => x.partnerId)}::uuid[], ${l.map((x) => x.at)}::timestamptz[]) AS u(m, p, t)
      ON CONFLICT ("memberId", "partnerId") DO NOTHING`;
  }
  if (refs.length) await referencesInOrder(tx, refs);
  await payEnrolmentBonuses(tx, bonuses, clockNow());
}

/**
 * The partners' references of a batch's member.linked events, as applying them in turn leaves them:
 * each sets its link's reference and clears it from any other member of that partner holding it.
 * Read the links concerned (those of the events and those holding their references), replay the
 * events on that copy, then write what changed: first the cleared references, then the new ones.
 */
async function referencesInOrder(tx: Tx, refs: { memberId: string; partnerId: string; ref: string }[]): Promise<void> {
  const rows = await tx.$queryRaw<{ memberId: string; partnerId: string; externalRef: string | null }[]>`
    SELECT l."memberId"::text AS "memberId", l."partnerId"::text AS "partnerId", l."externalRef"
    FROM "points"."MemberLink" l
    JOIN unnest(${refs.map((r) => r.memberId)}::uuid[], ${refs.map((r) => r.partnerId)}::uuid[], ${refs.map((r) => r.ref)}::text[]) AS u(m, p, r)
      ON l."partnerId" = u.p AND (l."memberId" = u.m OR l."externalRef" = u.r)`;
  const key = (memberId: string, partnerId: string) => `${memberId}/${partnerId}`;
  const pairs = new Map([...rows, ...refs].map((r) => [key(r.memberId, r.partnerId), { memberId: r.memberId, partnerId: r.partnerId }]));
  const before = new Map(rows.map((r) => [key(r.memberId, r.partnerId), r.externalRef]));
  const now = new Map(before);
  const holders = new Map<string, Set<string>>(); // partner/reference → the members holding it now
  const held = (partnerId: string, ref: string) => {
    const k = `${partnerId}\u0000${ref}`;
    let set = holders.get(k);
    if (!set) holders.set(k, (set = new Set()));
    return set;
  };
  for (const r of rows) if (r.externalRef !== null) held(r.partnerId, r.externalRef).add(r.memberId);
  for (const { memberId, partnerId, ref } of refs) {
    const holding = held(partnerId, ref);
    for (const other of holding) if (other !== memberId) now.set(key(other, partnerId), null);
    const previous = now.get(key(memberId, partnerId));
    if (previous != null) held(partnerId, previous).delete(memberId);
    holding.clear();
    holding.add(memberId);
    now.set(key(memberId, partnerId), ref);
  }
  const changed = [...now].filter(([k, v]) => before.get(k) !== v).map(([k, ref]) => ({ ...pairs.get(k)!, ref, had: before.get(k) ?? null }));
  const cleared = changed.filter((c) => c.had !== null);
  if (cleared.length)
    await tx.$executeRaw`
      UPDATE "points"."MemberLink" l SET "externalRef" = NULL FROM unnest(${cleared.map((c) => c.memberId)}::uuid[], ${cleared.map((c) => c.partnerId)}::uuid[]) AS u(m, p)
      WHERE l."memberId" = u.m AND l."partnerId" = u.p`;
  const set = changed.filter((c) => c.ref !== null);
  if (set.length)
    await tx.$executeRaw`
      UPDATE "points"."MemberLink" l SET "externalRef" = u.r
      FROM unnest(${set.map((c) => c.memberId)}::uuid[], ${set.map((c) => c.partnerId)}::uuid[], ${set.map((c) => c.ref)}::text[]) AS u(m, p, r)
      WHERE l."memberId" = u.m AND l."partnerId" = u.p`;
}

export const eventConsumer = defineConsumer("points", {
  // member.enrolled and member.linked of a delivered batch, set-based and in order (memberLinks).
  "member.enrolled": { one: enrolledOne, batch: memberLinks, group: "member links" },
  // Consent copies for offers' requiredPurpose (lib/consent-copy.ts: a receipt only goes from active to revoked).
  ...consentCopyHandlers("points"),
  "member.linked": { one: linkedOne, batch: memberLinks, group: "member links" },
  "partner.registered": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.partnerId)) return bad(e, "partnerId");
    const rate = typeof p.earnRate === "string" && /^\d{1,8}(\.\d{1,4})?$/.test(p.earnRate) ? p.earnRate : "1";
    await tx.$executeRaw`
      INSERT INTO "points"."Partner" ("partnerId", name, "earnRate", active, "updatedAt")
      VALUES (${p.partnerId}::uuid, ${String(p.name ?? "").slice(0, 200)}, ${rate}::numeric, ${p.active ?? true}, ${new Date(e.createdAt)})
      ON CONFLICT ("partnerId") DO UPDATE SET name = EXCLUDED.name, "earnRate" = EXCLUDED."earnRate", active = EXCLUDED.active, "updatedAt" = EXCLUDED."updatedAt"`;
    await ensureAccounts(tx, [issuanceCode(p.partnerId), `redemption:${p.partnerId}`]);
  },
  "partner.rates_changed": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.partnerId) || typeof p.issuePrice !== "string" || typeof p.redemptionRate !== "string") return bad(e, "payload");
    await tx.$executeRaw`
      INSERT INTO "points"."PartnerRate" ("partnerId", "issuePrice", "redemptionRate", "effectiveFrom")
      VALUES (${p.partnerId}::uuid, ${p.issuePrice}::numeric, ${p.redemptionRate}::numeric, ${dateOr(p.effectiveFrom, new Date(e.createdAt))})`;
  },
  "partner.offer_activated": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.offerId) || !Number.isInteger(p.budgetPoints) || p.budgetPoints < 0 || !Array.isArray(p.fundings) || !p.fundings.length) return bad(e, "payload");
    if (p.fundings.some((f) => !isUuid(f.partnerId) || !Number.isInteger(f.shareBps) || f.shareBps < 0)) return bad(e, "fundings");
    await onOfferActivated(tx, p, new Date(e.createdAt));
  },
  "partner.offer_claimed": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.offerId) || !isUuid(p.memberId)) return bad(e, "ids");
    await tx.$executeRaw`
      INSERT INTO "points"."OfferClaim" ("offerId", "memberId", "claimedAt")
      VALUES (${p.offerId}::uuid, ${p.memberId}::uuid, ${dateOr(p.claimedAt, new Date(e.createdAt))})
      ON CONFLICT DO NOTHING`;
  },
  "partner.offer_paused": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.offerId)) return bad(e, "offerId");
    await tx.$executeRaw`UPDATE "points"."Offer" SET status = 'PAUSED' WHERE "offerId" = ${p.offerId}::uuid AND status = 'ACTIVE'`;
  },
  "partner.offer_resumed": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.offerId)) return bad(e, "offerId");
    await tx.$executeRaw`UPDATE "points"."Offer" SET status = 'ACTIVE' WHERE "offerId" = ${p.offerId}::uuid AND status = 'PAUSED'`;
  },
  "partner.status_changed": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.partnerId) || typeof p.active !== "boolean") return bad(e, "payload");
    await tx.$executeRaw`
      INSERT INTO "points"."Partner" ("partnerId", name, "earnRate", active, "updatedAt") VALUES (${p.partnerId}::uuid, '', 1, ${p.active}, ${new Date(e.createdAt)})
      ON CONFLICT ("partnerId") DO UPDATE SET active = EXCLUDED.active, "updatedAt" = EXCLUDED."updatedAt"`;
  },
  "partner.earn_rule_changed": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.partnerId) || typeof p.earnRate !== "string" || !/^\d{1,8}(\.\d{1,4})?$/.test(p.earnRate) || Number(p.earnRate) <= 0) return bad(e, "payload");
    await tx.$executeRaw`
      INSERT INTO "points"."Partner" ("partnerId", name, "earnRate", active, "updatedAt") VALUES (${p.partnerId}::uuid, '', ${p.earnRate}::numeric, true, ${new Date(e.createdAt)})
      ON CONFLICT ("partnerId") DO UPDATE SET "earnRate" = EXCLUDED."earnRate", "updatedAt" = EXCLUDED."updatedAt"`;
  },
  "partner.offer_ended": async (tx, e) => {
    const p = e.payload;
    if (!isUuid(p.offerId)) return bad(e, "offerId");
    await onOfferEnded(tx, p.offerId, dateOr(p.endedAt, new Date(e.createdAt)));
  },
});

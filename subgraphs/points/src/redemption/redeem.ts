import { toBig, toSafeNumber } from "../../../../lib/amounts.ts";
import { randomUUID } from "node:crypto";
import { recordAudit } from "../../../../lib/audit.ts";
import { jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import { badInput, forbidden, HubError, notFound } from "../../../../lib/errors.ts";
import { Prisma } from "../../../../lib/db.ts";
import { emit } from "../../../../lib/events/outbox.ts";
import { prisma } from "../db.ts";
import { hasMemberAuthority, type Principal } from "../../../../lib/principal.ts";
import { redemptionKey, settings, startOfDayIn } from "../config.ts";
import { isUuid, parseInput } from "../../../../lib/input.ts";
import { releaseHeld, reserveHeld } from "../ledger/holds.ts";
import { type Actor, IdempotencyKey, Points, Reason, Reference, scopeOf, Uuid, type WriteOptions } from "../domain.ts";
import {
  ADJUSTMENTS,
  idempotent,
  idempotentTransaction,
  type LedgerTransactionRow,
  post,
  redemptionCode as redemptionAccount,
  requestHash,
  type RawTransactionRow,
  TX_COLUMNS,
  txRow,
  TX_OPTIONS,
  type Tx,
  walletCode,
} from "../ledger/ledger.ts";

/**
 * Spending points: redemption codes (the member's authority), redemptions, holds (authorize →
 * capture / void / expire), reversals and admin adjustments.
 */

const CODE_AUDIENCE = "coalition-hub/redemption";
const CODE_TYP = "coalition-redemption+jwt";
export const invalidCode = () => new HubError("REDEMPTION_CODE_INVALID", "The redemption code is unknown, expired, already used, or for another partner or amount");

export interface RedemptionCodeResult {
  code: string;
  memberId: string;
  partnerId: string;
  points: number;
  expiresAt: Date;
}

/** Who creates a redemption code: the member's own session, or a partner app under the member's grant. */
export type CodeCreator = Actor & Partial<Pick<Principal, "authority" | "clientId" | "grantId" | "redeemDailyLimit">>;

/**
 * The member creates a single-use code (a compact JWS, HS256, signed by the hub) bound to itself,
 * one partner and an exact number of points, valid for a few minutes (HUB_REDEMPTION_CODE_TTL_SECONDS,
 * default 600). The app shows it as a QR code; the partner redeems with it.
 *
 * A partner app acting for the member (DELEGATED, scope member:redeem, checked by the schema) may
 * create codes only for its own partner, and only up to the daily limit the member set for it
 * (`redeemDailyLimit`, points per day in the coalition's time zone). The day's count is the points
 * of the codes that app created for the member since local midnight, except those that expired
 * unused (they can no longer spend anything): so at any moment the points the app has spent today
 * plus those it can still spend are at most the limit. The member's own session has no cap.
 */
export async function createRedemptionCode(actor: CodeCreator, raw: { partnerId: unknown; points: unknown }, opts: WriteOptions = {}): Promise<RedemptionCodeResult> {
  if (actor.role !== "MEMBER" || !actor.memberId) throw forbidden("Only a member creates redemption codes");
  const memberId = actor.memberId;
  const input = parseInput(z.object({ partnerId: Uuid, points: Points }), raw);
  const now = opts.now ?? new Date();
  const app = actor.authority === "DELEGATED" ? delegatedCodeTerms(actor, input.partnerId) : null;
  // The partner's state and the wallet's available points in one read (a statement per code, not two).
  // Available points: tell the member now rather than at the till, where a code for more than them
  // would only fail. (The redemption itself re-checks under the wallet's guard.)
  const [facts] = await prisma().$queryRaw<{ active: boolean | null; available: bigint | null }[]>`
    SELECT (SELECT active FROM "points"."Partner" WHERE "partnerId" = ${input.partnerId}::uuid) AS active,
           (SELECT balance - held FROM "points"."LedgerAccount" WHERE code = ${walletCode(memberId)}) AS available`;
  if (facts?.active === false) throw badInput("This partner is inactive", "partnerId");
  const available = facts?.available == null ? 0n : toBig(facts.available);
  if (available < BigInt(input.points)) {
    // Below input.points (≤ 100,000,000) here, so a plain number in the error's extensions. The
    // balance goes only to a caller that may read it: an app without member:wallet learns "not enough".
    const mayReadBalance = hasMemberAuthority(actor as Principal, "member:wallet");
    throw new HubError("INSUFFICIENT_POINTS", "The wallet's available points do not cover this redemption code", { points: input.points, ...(mayReadBalance ? { available: Number(available) } : {}) });
  }
  const jti = randomUUID();
  const expiresAt = new Date(now.getTime() + settings().redemptionCodeTtlSeconds * 1000);
  const code = await new SignJWT({ pid: input.partnerId, pts: input.points })
    .setProtectedHeader({ alg: "HS256", typ: CODE_TYP })
    .setSubject(memberId)
    .setAudience(CODE_AUDIENCE)
    .setJti(jti)
    .setIssuedAt(Math.floor(now.getTime() / 1000))
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign(redemptionKey());
  const row = { jti, memberId, partnerId: input.partnerId, points: input.points, expiresAt, createdAt: now, clientId: app?.clientId ?? null, grantId: actor.grantId ?? null };
  if (!app) await prisma().pointsRedemptionCode.create({ data: row });
  else {
    await prisma().$transaction(async (tx) => {
      // One creator at a time per (member, app): two concurrent codes cannot both fit the same remainder.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`redemption-limit|${memberId}|${app.clientId}`}, 0))`;
      const dayStart = startOfDayIn(settings().timeZone, now);
      const [used] = await tx.$queryRaw<{ points: number }[]>`
        SELECT COALESCE(SUM(points), 0)::int AS points FROM "points"."RedemptionCode"
        WHERE "memberId" = ${memberId}::uuid AND "clientId" = ${app.clientId} AND "createdAt" >= ${dayStart}
          AND ("usedAt" IS NOT NULL OR "expiresAt" > ${now})`;
      const remaining = Math.max(0, app.limit - (used?.points ?? 0));
      if (input.points > remaining) {
        throw new HubError("FORBIDDEN", `The member allowed this app redemption codes for at most ${app.limit} points a day; ${remaining} remain today (${settings().timeZone})`, {
          scope: "member:redeem",
          dailyLimitPoints: app.limit,
          remainingPoints: remaining,
        });
      }
      await tx.pointsRedemptionCode.create({ data: row });
    }, TX_OPTIONS);
  }
  return { code, memberId, partnerId: input.partnerId, points: input.points, expiresAt };
}

/** A DELEGATED creator's terms: only its own partner, and a daily limit it must carry (fail closed without one). */
function delegatedCodeTerms(actor: CodeCreator, partnerId: string): { clientId: string; limit: number } {
  if (!actor.partnerId || partnerId !== actor.partnerId) {
    throw new HubError("FORBIDDEN", "A partner app creates redemption codes only for its own partner", { scope: "member:redeem" });
  }
  const clientId = actor.clientId;
  const limit = actor.redeemDailyLimit;
  if (!clientId || typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 0) {
    throw new HubError("FORBIDDEN", "This app's grant sets no daily redemption limit, so it cannot create redemption codes", { scope: "member:redeem" });
  }
  return { clientId, limit };
}

/**
 * Checks a code's signature, expiry and terms against (partner, points) at `now`: its jti and member,
 * or REDEMPTION_CODE_INVALID. Whether it is still unused is the database's to say (consumeCode and
 * the batch's guarded update).
 */
export async function verifyCode(code: string, partnerId: string, points: number, now: Date): Promise<{ jti: string; memberId: string }> {
  let payload: { sub?: string; jti?: string; pid?: unknown; pts?: unknown };
  try {
    ({ payload } = await jwtVerify(code, redemptionKey(), { algorithms: ["HS256"], audience: CODE_AUDIENCE, typ: CODE_TYP, currentDate: now, requiredClaims: ["sub", "jti", "exp"] }));
  } catch {
    throw invalidCode();
  }
  if (payload.pid !== partnerId || payload.pts !== points || !isUuid(payload.jti) || !isUuid(payload.sub)) throw invalidCode();
  return { jti: payload.jti, memberId: payload.sub };
}

/** Verifies a code for (partner, points) and marks it used in `tx` (guarded UPDATE: single use). Returns the member. */
async function consumeCode(tx: Tx, code: string, partnerId: string, points: number, now: Date): Promise<string> {
  const payload = await verifyCode(code, partnerId, points, now);
  const used = await tx.$queryRaw<{ memberId: string }[]>`
    UPDATE "points"."RedemptionCode" SET "usedAt" = ${now}
    WHERE jti = ${payload.jti}::uuid AND "usedAt" IS NULL AND "expiresAt" > ${now} AND "partnerId" = ${partnerId}::uuid AND points = ${points}
      AND "memberId" = ${payload.memberId}::uuid
    RETURNING "memberId"::text AS "memberId"`;
  if (!used.length) throw invalidCode();
  return used[0]!.memberId;
}

export const RedeemInput = z.object({
  redemptionCode: z.string().min(1).max(2048, "redemptionCode is too long").nullish(),
  memberId: Uuid.nullish(),
  points: Points,
  idempotencyKey: IdempotencyKey,
  reference: Reference.nullish(),
});
export type Redeem = z.output<typeof RedeemInput>;

/**
 * Who redeems what where: a PARTNER needs a redemption code for itself and exactly these points
 * (being linked to a member never lets a partner spend its points); an ADMIN may redeem with a code,
 * or with memberId alone (a manual redemption recorded with the admin's sub, posted to the
 * coalition's adjustments account).
 */
function redemptionParty(actor: Actor, input: Redeem): { partnerId: string | null; manual: boolean } {
  if (actor.role === "PARTNER" && actor.partnerId) {
    if (!input.redemptionCode) throw new HubError("REDEMPTION_CODE_INVALID", "A partner redeems only with the member's redemption code");
    return { partnerId: actor.partnerId, manual: false };
  }
  if (actor.role === "ADMIN") {
    if (input.redemptionCode) {
      // The code names its partner; an admin can redeem it at that partner.
      const pid = decodeCodePartner(input.redemptionCode);
      if (!pid) throw invalidCode();
      return { partnerId: pid, manual: false };
    }
    if (!input.memberId) throw badInput("Pass memberId (manual redemption) or a redemption code", "memberId");
    return { partnerId: null, manual: true };
  }
  throw forbidden("Only partners (with a redemption code) and admins redeem points");
}

function decodeCodePartner(code: string): string | null {
  try {
    const body = JSON.parse(Buffer.from(code.split(".")[1] ?? "", "base64url").toString("utf8")) as { pid?: unknown };
    return isUuid(body.pid) ? body.pid : null;
  } catch {
    return null;
  }
}

async function resolveMember(tx: Tx, input: Redeem, party: { partnerId: string | null; manual: boolean }, now: Date): Promise<string> {
  if (party.manual) return input.memberId!;
  const memberId = await consumeCode(tx, input.redemptionCode!, party.partnerId!, input.points, now);
  if (input.memberId && input.memberId !== memberId) throw invalidCode();
  return memberId;
}

export const redeemHash = (op: string, i: Redeem) => requestHash({ op, code: i.redemptionCode ?? null, memberId: i.memberId ?? null, points: i.points, reference: i.reference ?? null });

/** Redeems points at once (REDEEM: wallet → the partner's redemption account). */
export async function redeemPoints(actor: Actor, raw: unknown, opts: WriteOptions = {}): Promise<LedgerTransactionRow> {
  const input = parseInput(RedeemInput, raw);
  const party = redemptionParty(actor, input);
  const idem = { scope: scopeOf(actor), key: input.idempotencyKey, requestHash: redeemHash("redeemPoints", input) };
  const now = opts.now ?? new Date();
  const at = opts.postedAt ?? now;
  return idempotentTransaction(idem, async (tx) => {
    const memberId = await resolveMember(tx, input, party, now);
    if (party.manual) await requireWallet(tx, memberId);
    const t = await post(tx, {
      kind: "REDEEM",
      memberId,
      partnerId: party.partnerId,
      postings: [
        { accountCode: walletCode(memberId), amount: -input.points },
        { accountCode: party.partnerId ? redemptionAccount(party.partnerId) : ADJUSTMENTS, amount: input.points },
      ],
      idempotency: idem,
      reference: input.reference ?? null,
      reason: party.manual ? "manual redemption by an admin" : null,
      createdBy: actor.sub,
      postedAt: at,
    });
    await emit(tx, "points.activity", { memberId, at: at.toISOString(), kind: "REDEEM", points: -input.points, partnerId: party.partnerId });
    if (party.manual) await recordAudit(tx, actor, { action: "points.redeemed_manually", targetType: "Member", targetId: memberId, ...walletChange(t) });
    return t;
  });
}

/** A ledger action's before/after in the audit trail: the member's wallet balance around the transaction, and the transaction. */
function walletChange(t: LedgerTransactionRow) {
  const after = t.balanceAfter;
  return {
    before: { balance: after === null ? null : after - BigInt(t.memberPoints) },
    after: { balance: after, transactionId: t.id, kind: t.kind, points: t.memberPoints, reason: t.reason, reference: t.reference, reversesId: t.reversesId },
  };
}

async function requireWallet(tx: Tx, memberId: string): Promise<void> {
  const rows = await tx.$queryRaw<{ id: bigint }[]>`SELECT id FROM "points"."LedgerAccount" WHERE code = ${walletCode(memberId)}`;
  if (!rows.length) throw notFound("Member", memberId);
}

// ---------------------------------------------------------------------------------------------
// Holds
// ---------------------------------------------------------------------------------------------

export interface HoldRow {
  id: string;
  memberId: string;
  partnerId: string;
  points: number;
  capturedPoints: number;
  status: "PENDING" | "CAPTURED" | "VOIDED" | "EXPIRED";
  expiresAt: Date;
  createdAt: Date;
  resolvedAt: Date | null;
  captureTransactionId: string | null;
  reference: string | null;
  requestHash: string;
}

const HOLD_COLUMNS = `id::text AS id, "memberId"::text AS "memberId", "partnerId"::text AS "partnerId", points, "capturedPoints", status::text AS status,
  "expiresAt", "createdAt", "resolvedAt", "captureTransactionId"::text AS "captureTransactionId", reference, "requestHash"`;

export async function holdsByIds(db: Tx, ids: readonly string[]): Promise<Map<string, HoldRow>> {
  const valid = ids.filter(isUuid);
  if (!valid.length) return new Map();
  const rows = await db.$queryRawUnsafe<HoldRow[]>(`SELECT ${HOLD_COLUMNS} FROM "points"."Hold" WHERE id = ANY($1::uuid[])`, valid);
  return new Map(rows.map((h) => [h.id, h]));
}

/**
 * Reserves points at a partner (the code's partner): the wallet's `held` grows by a guarded update
 * (`balance - held - points >= 0`), so holds never promise more than the wallet has. The hold
 * expires after HUB_HOLD_TTL_MINUTES unless captured or voided.
 */
export async function authorizeRedemption(actor: Actor, raw: unknown, opts: WriteOptions = {}): Promise<HoldRow> {
  const input = parseInput(RedeemInput, raw);
  const party = redemptionParty(actor, input);
  if (!party.partnerId) throw badInput("A hold is at a partner: pass the member's redemption code", "redemptionCode");
  const scope = scopeOf(actor);
  const hash = redeemHash("authorizeRedemption", input);
  const now = opts.now ?? new Date();
  return idempotent(
    { scope, key: input.idempotencyKey, requestHash: hash },
    async () => {
      const rows = await prisma().$queryRawUnsafe<HoldRow[]>(`SELECT ${HOLD_COLUMNS} FROM "points"."Hold" WHERE "idempotencyScope" = $1 AND "idempotencyKey" = $2`, scope, input.idempotencyKey);
      return rows[0] ? { requestHash: rows[0].requestHash, result: () => rows[0]! } : null;
    },
    () =>
      prisma().$transaction(async (tx) => {
        const memberId = await resolveMember(tx, input, party, now);
        if (!(await reserveHeld(tx, memberId, input.points))) throw new HubError("INSUFFICIENT_POINTS", "The wallet's available points do not cover this hold", { points: input.points });
        const id = randomUUID();
        const expiresAt = new Date(now.getTime() + settings().holdTtlMinutes * 60_000);
        const [hold] = await tx.$queryRaw<HoldRow[]>`
          INSERT INTO "points"."Hold" (id, "memberId", "partnerId", points, status, "expiresAt", "createdAt", reference, "createdBy", "idempotencyScope", "idempotencyKey", "requestHash")
          VALUES (${id}::uuid, ${memberId}::uuid, ${party.partnerId}::uuid, ${input.points}::int, 'PENDING', ${expiresAt}, ${now}, ${input.reference ?? null},
                  ${actor.sub}, ${scope}, ${input.idempotencyKey}, ${hash})
          RETURNING ${Prisma.raw(HOLD_COLUMNS)}`;
        return hold!;
      }, TX_OPTIONS),
  );
}

async function holdFor(actor: Actor, holdId: string, db: Tx = prisma()): Promise<HoldRow> {
  const hold = isUuid(holdId) ? (await holdsByIds(db, [holdId])).get(holdId) : undefined;
  if (!hold) throw notFound("Hold", holdId);
  if (actor.role === "PARTNER" && hold.partnerId === actor.partnerId) return hold;
  if (actor.role === "ADMIN") return hold;
  if (actor.role === "PARTNER") throw notFound("Hold", holdId);
  throw forbidden("Only the partner of a hold (or an admin) resolves it");
}

const alreadyResolved = (h: { status: string }) => new HubError("HOLD_ALREADY_RESOLVED", `The hold was already resolved (${h.status})`, { status: h.status });

/** Resolves a PENDING hold exactly once (guarded UPDATE) and releases its reservation. */
async function resolveHold(tx: Tx, hold: HoldRow, status: "CAPTURED" | "VOIDED" | "EXPIRED", captured: number, now: Date): Promise<void> {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    UPDATE "points"."Hold" SET status = ${status}::"points"."HoldStatus", "capturedPoints" = ${captured}::int, "resolvedAt" = ${now}
    WHERE id = ${hold.id}::uuid AND status = 'PENDING' AND (${status} = 'EXPIRED' OR "expiresAt" > ${now})
    RETURNING id::text AS id`;
  if (!rows.length) {
    const [cur] = await tx.$queryRaw<{ status: string; expiresAt: Date }[]>`SELECT status::text AS status, "expiresAt" FROM "points"."Hold" WHERE id = ${hold.id}::uuid`;
    throw alreadyResolved(cur?.status === "PENDING" ? { status: "EXPIRED" } : (cur ?? hold));
  }
  await releaseHeld(tx, [hold]);
}

/** Captures a hold, whole (points omitted) or in part; the remainder is released. Idempotent by key. */
export async function captureHold(actor: Actor, holdId: string, points: number | null | undefined, idempotencyKey: string, opts: WriteOptions = {}): Promise<LedgerTransactionRow> {
  const key = parseInput(IdempotencyKey, idempotencyKey);
  if (points != null) parseInput(Points, points);
  const scope = scopeOf(actor);
  const idem = { scope, key, requestHash: requestHash({ op: "captureHold", holdId, points: points ?? null }) };
  const now = opts.now ?? new Date();
  const at = opts.postedAt ?? now;
  return idempotentTransaction(idem, async (tx) => {
    const hold = await holdFor(actor, holdId, tx);
    const capture = points ?? hold.points;
    if (capture > hold.points) throw badInput(`At most ${hold.points} points of this hold can be captured`, "points");
    await resolveHold(tx, hold, "CAPTURED", capture, now);
    const t = await post(tx, {
      kind: "REDEEM",
      memberId: hold.memberId,
      partnerId: hold.partnerId,
      holdId: hold.id,
      postings: [
        { accountCode: walletCode(hold.memberId), amount: -capture },
        { accountCode: redemptionAccount(hold.partnerId), amount: capture },
      ],
      idempotency: idem,
      reference: hold.reference,
      createdBy: actor.sub,
      postedAt: at,
    });
    await tx.$executeRaw`UPDATE "points"."Hold" SET "captureTransactionId" = ${t.id}::uuid WHERE id = ${hold.id}::uuid`;
    await emit(tx, "points.activity", { memberId: hold.memberId, at: at.toISOString(), kind: "REDEEM", points: -capture, partnerId: hold.partnerId });
    if (actor.role === "ADMIN") await auditAdminHold(tx, actor, hold, { status: "CAPTURED", capturedPoints: capture, transactionId: t.id });
    return t;
  });
}

/** An admin resolving a partner's hold is an intervention in that partner's checkout: audited (the partner's own is its business). */
const auditAdminHold = (tx: Tx, actor: Actor, hold: HoldRow, after: { status: "CAPTURED" | "VOIDED"; capturedPoints: number; transactionId?: string }) =>
  recordAudit(tx, actor, {
    action: "points.hold_resolved_by_admin",
    targetType: "Hold",
    targetId: hold.id,
    partnerId: hold.partnerId,
    before: { status: hold.status, points: hold.points, memberId: hold.memberId },
    after: { ...after, points: hold.points, memberId: hold.memberId },
  });

/** Voids a pending hold (its points become available again). A resolved hold is HOLD_ALREADY_RESOLVED. */
export async function voidHold(actor: Actor, holdId: string, opts: WriteOptions = {}): Promise<HoldRow> {
  const hold = await holdFor(actor, holdId);
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    await resolveHold(tx, hold, "VOIDED", 0, now);
    if (actor.role === "ADMIN") await auditAdminHold(tx, actor, hold, { status: "VOIDED", capturedPoints: 0 });
    return (await holdsByIds(tx, [hold.id])).get(hold.id)!;
  }, TX_OPTIONS);
}

/** Expires every PENDING hold past its expiry (one statement per call of up to `limit` holds). Returns how many. */
export async function expireHolds(now: Date, limit = 1000): Promise<number> {
  // The holds and their wallets' reservations change in one transaction (the ledger releases them).
  return prisma().$transaction(async (tx) => {
    const expired = await tx.$queryRaw<{ memberId: string; points: number }[]>`
      UPDATE "points"."Hold" SET status = 'EXPIRED', "resolvedAt" = ${now}
      WHERE id IN (SELECT id FROM "points"."Hold" WHERE status = 'PENDING' AND "expiresAt" <= ${now} ORDER BY "expiresAt", id LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING "memberId"::text AS "memberId", points`;
    await releaseHeld(tx, expired);
    return expired.length;
  }, TX_OPTIONS);
}

// ---------------------------------------------------------------------------------------------
// Reversals and adjustments
// ---------------------------------------------------------------------------------------------

const PARTNER_REVERSIBLE = new Set(["EARN", "REDEEM"]);
const ADMIN_REVERSIBLE = new Set(["EARN", "REDEEM", "ADJUSTMENT", "OFFER_BONUS", "PROGRAM_BONUS", "EXPIRY"]);

/**
 * Reverses a member transaction, whole (points omitted) or in part, never more than what remains
 * unreversed (the original row is locked while the remainder is computed, so concurrent partial
 * reversals cannot over-reverse). A PARTNER reverses its own EARN and REDEEM transactions (others
 * are NOT_FOUND); an ADMIN also adjustments, offer and program bonuses and expiries. Reversing a debit gives
 * the points back to the lots it took them from.
 */
export async function reverseTransaction(actor: Actor, raw: { transactionId: string; points?: number | null; idempotencyKey: string; reason: string }, opts: WriteOptions = {}): Promise<LedgerTransactionRow> {
  if (actor.role !== "PARTNER" && actor.role !== "ADMIN") throw forbidden("Only partners and admins reverse transactions");
  const input = parseInput(z.object({ transactionId: z.string(), points: Points.nullish(), idempotencyKey: IdempotencyKey, reason: Reason }), raw);
  const idem = { scope: scopeOf(actor), key: input.idempotencyKey, requestHash: requestHash({ op: "reverseTransaction", ...input, points: input.points ?? null }) };
  const at = opts.postedAt ?? opts.now ?? new Date();
  return idempotentTransaction(idem, async (tx) => {
    if (!isUuid(input.transactionId)) throw notFound("Transaction", input.transactionId);
    const [origRow] = await tx.$queryRaw<RawTransactionRow[]>`
      SELECT ${TX_COLUMNS} FROM "points"."LedgerTransaction" WHERE id = ${input.transactionId}::uuid FOR UPDATE`;
    const orig = origRow ? txRow(origRow) : undefined;
    if (!orig || (actor.role === "PARTNER" && orig.partnerId !== actor.partnerId)) throw notFound("Transaction", input.transactionId);
    const allowed = actor.role === "PARTNER" ? PARTNER_REVERSIBLE : ADMIN_REVERSIBLE;
    if (!allowed.has(orig.kind) || !orig.memberId || orig.memberPoints === 0) throw badInput(`A ${orig.kind} transaction cannot be reversed by you`, "transactionId");
    const [{ reversed }] = await tx.$queryRaw<{ reversed: bigint }[]>`
      SELECT coalesce(sum(abs("memberPoints")), 0)::bigint AS reversed FROM "points"."LedgerTransaction" WHERE "reversesId" = ${orig.id}::uuid`;
    const remaining = Math.abs(orig.memberPoints) - toSafeNumber(reversed, `points reversed of ${orig.id}`);
    const points = input.points ?? remaining;
    if (remaining <= 0) throw badInput("This transaction is already fully reversed", "transactionId");
    if (points > remaining) throw badInput(`At most ${remaining} points of this transaction remain unreversed`, "points");
    const postings = await tx.$queryRaw<{ code: string; amount: bigint }[]>`
      SELECT a.code, p.amount FROM "points"."Posting" p JOIN "points"."LedgerAccount" a ON a.id = p."accountId" WHERE p."transactionId" = ${orig.id}::uuid`;
    if (postings.length !== 2) throw badInput("Only two-sided member transactions can be reversed", "transactionId");
    const sign = Math.sign(orig.memberPoints);
    const credit = sign < 0; // the reversal credits the wallet
    let lots: Parameters<typeof post>[1]["lots"];
    if (credit) lots = { mode: "restore", fromTransactionId: orig.id };
    else {
      const own = await tx.$queryRaw<{ id: bigint }[]>`SELECT id FROM "points"."Lot" WHERE "sourceTransactionId" = ${orig.id}::uuid`;
      lots = { mode: "consume", preferLotIds: own.map((l) => BigInt(l.id)) };
    }
    const t = await post(tx, {
      kind: "REVERSAL",
      memberId: orig.memberId,
      partnerId: orig.partnerId,
      offerId: orig.offerId,
      reversesId: orig.id,
      postings: postings.map((p) => ({ accountCode: p.code, amount: toBig(p.amount) < 0n ? points : -points })),
      idempotency: idem,
      reference: orig.reference,
      reason: input.reason,
      createdBy: actor.sub,
      postedAt: at,
      lots,
    });
    if (orig.kind === "EARN" || orig.kind === "OFFER_BONUS" || orig.kind === "PROGRAM_BONUS") {
      await emit(tx, "points.activity", { memberId: orig.memberId, at: at.toISOString(), kind: "REVERSAL", points: t.memberPoints, partnerId: orig.partnerId });
    }
    await recordAudit(tx, actor, { action: "points.reversed", targetType: "PointsTransaction", targetId: orig.id, partnerId: orig.partnerId, ...walletChange(t) });
    return t;
  });
}

/** ADMIN credits (points > 0) or debits (points < 0) a member's wallet against the adjustments account, with a reason. */
export async function adjustPoints(actor: Actor, raw: { memberId: string; points: number; reason: string; idempotencyKey: string }, opts: WriteOptions = {}): Promise<LedgerTransactionRow> {
  if (actor.role !== "ADMIN") throw forbidden("Only an admin adjusts points");
  const input = parseInput(
    z.object({
      memberId: Uuid,
      points: z
        .number()
        .int("points must be a whole number")
        .refine((n) => n !== 0, "points must not be 0")
        .refine((n) => Math.abs(n) <= 100_000_000, "points is out of range"),
      reason: Reason,
      idempotencyKey: IdempotencyKey,
    }),
    raw,
  );
  const idem = { scope: scopeOf(actor), key: input.idempotencyKey, requestHash: requestHash({ op: "adjustPoints", ...input }) };
  const at = opts.postedAt ?? opts.now ?? new Date();
  return idempotentTransaction(idem, async (tx) => {
    await requireWallet(tx, input.memberId);
    const t = await post(tx, {
      kind: "ADJUSTMENT",
      memberId: input.memberId,
      postings: [
        { accountCode: walletCode(input.memberId), amount: input.points },
        { accountCode: ADJUSTMENTS, amount: -input.points },
      ],
      idempotency: idem,
      reason: input.reason,
      createdBy: actor.sub,
      postedAt: at,
      lots: input.points > 0 ? { mode: "credit", issuerPartnerId: null } : { mode: "consume" },
    });
    await recordAudit(tx, actor, { action: "points.adjusted", targetType: "Member", targetId: input.memberId, ...walletChange(t) });
    return t;
  });
}

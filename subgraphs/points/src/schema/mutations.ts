import type { ErrorCode } from "../../../../lib/errors.ts";
import { defineErrorCodeEnum } from "../../../../lib/pothos.ts";
import { builder } from "../builder.ts";
import { awardPoints } from "../earning/award.ts";
import { awardPointsBatch } from "../earning/bulk.ts";
import type { HoldRow } from "../redemption/redeem.ts";
import { adjustPoints, authorizeRedemption, captureHold, createRedemptionCode, redeemPoints, reverseTransaction, voidHold } from "../redemption/redeem.ts";
import { HoldStatusEnum } from "./enums.ts";
import { MemberRef } from "./member.ts";
import { PartnerRef } from "./refs.ts";
import { TransactionRef } from "./transaction.ts";

const HoldRef = builder.objectRef<HoldRow>("Hold").implement({
  description: "A reservation of a member's points at a partner (authorizeRedemption), captured whole or in part, voided, or expired — exactly once.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The hold's id." }),
    member: t.field({ type: MemberRef, description: "The member whose points are held.", resolve: (h) => ({ id: h.memberId }) }),
    partner: t.field({ type: PartnerRef, description: "The partner holding them.", resolve: (h) => ({ id: h.partnerId }) }),
    points: t.exposeInt("points", { description: "Points reserved." }),
    capturedPoints: t.exposeInt("capturedPoints", { description: "Points captured (redeemed); 0 unless CAPTURED." }),
    status: t.field({ type: HoldStatusEnum, description: "PENDING until captured, voided or expired.", resolve: (h) => h.status }),
    expiresAt: t.field({ type: "DateTime", description: "When an uncaptured hold expires by itself (UTC).", resolve: (h) => new Date(h.expiresAt) }),
  }),
});

const RedemptionCodeRef = builder.objectRef<Awaited<ReturnType<typeof createRedemptionCode>>>("RedemptionCode").implement({
  description: "A single-use redemption code: the member's authority for one partner to redeem exactly these points before it expires (show it as a QR code).",
  fields: (t) => ({
    code: t.exposeString("code", { description: "The signed code (compact JWS). Give it to the partner; it works once." }),
    points: t.exposeInt("points", { description: "Points it allows the partner to redeem, exactly." }),
    partner: t.field({ type: PartnerRef, description: "The only partner that may redeem it.", resolve: (c) => ({ id: c.partnerId }) }),
    expiresAt: t.field({ type: "DateTime", description: "When it stops working (UTC; 10 minutes after creation by default).", resolve: (c) => c.expiresAt }),
  }),
});

const AwardPointsInput = builder.inputType("AwardPointsInput", {
  description: "One award. Name the member by memberId or externalRef (exactly one); pass either points or purchaseAmount. Validated: nothing is written when a field is invalid.",
  fields: (t) => ({
    memberId: t.id({ required: false, description: "The member's hub id (must be linked to your partner; anyone else is NOT_FOUND). Exactly one of memberId and externalRef." }),
    externalRef: t.string({
      required: false,
      description:
        "Instead of memberId: your own reference for the member (the externalRef you enrolled or linked it with, as in memberByPartnerRef; 1–128 characters). An unknown reference is NOT_FOUND; both or neither is BAD_USER_INPUT. The award's idempotency is the same whichever way you name the member.",
    }),
    idempotencyKey: t.string({ description: "Your unique key for this award (1–128 printable ASCII). Retrying with the same key and body returns the original transaction." }),
    points: t.int({ required: false, description: "Points to award, 1–100,000,000." }),
    purchaseAmount: t.field({
      type: "Decimal",
      required: false,
      description:
        "Purchase amount in the coalition currency (recorded as the member's spend); points = amount × the earn rate of the member's tier in the loyalty program in force (`program`; × your own earn rate unless the program has a table for your partner), rounded down.",
    }),
    offerId: t.id({ required: false, description: "An active offer redeemable at your partner: its bonus is paid from the offer budget." }),
    reference: t.string({ required: false, description: "Your order or receipt id (at most 128 characters)." }),
  }),
});

const ErrorCodeEnum = defineErrorCodeEnum(builder);

const BatchRejectionRef = builder.objectRef<{ index: number; code: string; message: string }>("BatchRejection").implement({
  description: "An item of a batch that was not applied.",
  fields: (t) => ({
    index: t.exposeInt("index", { description: "Position of the item in the input list (0-based)." }),
    code: t.field({
      type: ErrorCodeEnum,
      description: "Why the item was not applied, e.g. BAD_USER_INPUT, NOT_FOUND (an unlinked member or an unknown externalRef), IDEMPOTENCY_CONFLICT, OFFER_NOT_ACTIVE.",
      resolve: (r) => r.code as ErrorCode,
    }),
    message: t.exposeString("message", { description: "What was wrong." }),
  }),
});

const BatchResultRef = builder.objectRef<Awaited<ReturnType<typeof awardPointsBatch>>>("AwardPointsBatchResult").implement({
  description: "The outcome of a bulk award: each item applied, replayed or rejected on its own.",
  fields: (t) => ({
    accepted: t.exposeInt("accepted", { description: "Items applied now." }),
    replayed: t.exposeInt("replayed", { description: "Items whose idempotency key had already been applied with the same body (nothing new written)." }),
    rejected: t.field({ type: [BatchRejectionRef], description: "Items not applied, by index.", resolve: (r) => r.rejected }),
    transactions: t.field({ type: [TransactionRef], description: "EARN transactions of applied and replayed items, in input order.", resolve: (r) => r.transactions }),
  }),
});

const RedeemPointsInput = builder.inputType("RedeemPointsInput", {
  description: "A redemption. A partner needs the member's redemption code (for it and exactly these points); an admin may pass memberId instead (manual redemption).",
  fields: (t) => ({
    redemptionCode: t.string({ required: false, description: "The code the member's app shows (createRedemptionCode)." }),
    memberId: t.id({ required: false, description: "ADMIN only, without a code: the member to redeem for (recorded with the admin's identity)." }),
    points: t.int({ description: "Points to redeem or hold, 1–100,000,000; must equal the code's points." }),
    idempotencyKey: t.string({ description: "Your unique key for this request (1–128 printable ASCII)." }),
    reference: t.string({ required: false, description: "Your order or receipt id (at most 128 characters)." }),
  }),
});

builder.mutationFields((t) => ({
  awardPoints: t.field({
    type: TransactionRef,
    authScopes: { partner: true },
    description: "Awards points to a member linked to your partner (EARN), plus an offer's bonus when offerId is given. Idempotent by idempotencyKey.",
    args: { input: t.arg({ type: AwardPointsInput, description: "The award." }) },
    resolve: (_r, { input }, ctx) => awardPoints(ctx.principal, input),
  }),
  awardPointsBatch: t.field({
    type: BatchResultRef,
    authScopes: { partner: true },
    description:
      "Awards up to 5,000 items in one call (end-of-day files), committed in batches; each item validated and idempotent on its own; rejections by index. An idempotencyKey repeated within one call stands for its first item: the same award again is reported as a replay of it (or gets its rejection), another award is IDEMPOTENCY_CONFLICT, even when the first was rejected (send it again in a later call).",
    args: { inputs: t.arg({ type: [AwardPointsInput], description: "The awards, at most 5,000." }) },
    resolve: (_r, { inputs }, ctx) => awardPointsBatch(ctx.principal, inputs),
  }),
  createRedemptionCode: t.field({
    type: RedemptionCodeRef,
    authScopes: { memberAuthority: "member:redeem" },
    description:
      "The member creates a single-use code letting one partner redeem exactly `points` of its points within 10 minutes. Needs the member's own authority: its own session, or an app it granted member:redeem, which may create codes only for its own partner and for at most the member's daily limit for that app (points per day, days in the coalition's time zone, HUB_TIME_ZONE; codes that expired unused do not count). Otherwise FORBIDDEN (extensions.scope); a partner token never suffices.",
    args: {
      partnerId: t.arg.id({ description: "The partner that may redeem." }),
      points: t.arg.int({ description: "Points, 1–100,000,000." }),
    },
    resolve: (_r, args, ctx) => createRedemptionCode(ctx.principal, args, { now: ctx.now }),
  }),
  redeemPoints: t.field({
    type: TransactionRef,
    authScopes: { business: true },
    description: "Redeems points now (REDEEM). INSUFFICIENT_POINTS when the wallet's available points do not cover it; REDEMPTION_CODE_INVALID for a bad, used, expired or other-partner code.",
    args: { input: t.arg({ type: RedeemPointsInput, description: "The redemption." }) },
    resolve: (_r, { input }, ctx) => redeemPoints(ctx.principal, input),
  }),
  authorizeRedemption: t.field({
    type: HoldRef,
    authScopes: { business: true },
    description: "Reserves points (a hold) for a later capture; the hold expires by itself after its TTL (30 minutes by default).",
    args: { input: t.arg({ type: RedeemPointsInput, description: "The hold." }) },
    resolve: (_r, { input }, ctx) => authorizeRedemption(ctx.principal, input),
  }),
  captureHold: t.field({
    type: TransactionRef,
    authScopes: { business: true },
    description: "Captures your pending hold, whole (points omitted) or in part (the rest is released). HOLD_ALREADY_RESOLVED when it was captured, voided or expired.",
    args: {
      holdId: t.arg.id({ description: "The hold." }),
      points: t.arg.int({ required: false, description: "Points to capture, 1 to the held points; omitted = all." }),
      idempotencyKey: t.arg.string({ description: "Your unique key for this capture." }),
    },
    resolve: (_r, { holdId, points, idempotencyKey }, ctx) => captureHold(ctx.principal, String(holdId), points, idempotencyKey),
  }),
  voidHold: t.field({
    type: HoldRef,
    authScopes: { business: true },
    description: "Releases your pending hold. HOLD_ALREADY_RESOLVED when it was already captured, voided or expired.",
    args: { holdId: t.arg.id({ description: "The hold." }) },
    resolve: (_r, { holdId }, ctx) => voidHold(ctx.principal, String(holdId)),
  }),
  reverseTransaction: t.field({
    type: TransactionRef,
    authScopes: { business: true },
    description: "Reverses a transaction whole (points omitted) or in part, never more than what remains unreversed. PARTNER: its own EARN/REDEEM; ADMIN: any member transaction.",
    args: {
      transactionId: t.arg.id({ description: "The transaction to reverse." }),
      points: t.arg.int({ required: false, description: "Points to reverse; omitted = all that remain." }),
      idempotencyKey: t.arg.string({ description: "Your unique key for this reversal." }),
      reason: t.arg.string({ description: "Why (1–500 characters)." }),
    },
    resolve: (_r, args, ctx) => reverseTransaction(ctx.principal, { ...args, transactionId: String(args.transactionId) }),
  }),
  adjustPoints: t.field({
    type: TransactionRef,
    authScopes: { admin: true },
    description: "ADMIN credits (points > 0) or debits (points < 0) a member's wallet with a reason (ADJUSTMENT).",
    args: {
      memberId: t.arg.id({ description: "The member." }),
      points: t.arg.int({ description: "Signed points, not 0." }),
      reason: t.arg.string({ description: "Why (1–500 characters)." }),
      idempotencyKey: t.arg.string({ description: "Your unique key for this adjustment." }),
    },
    resolve: (_r, args, ctx) => adjustPoints(ctx.principal, { ...args, memberId: String(args.memberId) }),
  }),
}));

import { z } from "zod";
import { forbidden } from "../../../lib/errors.ts";
import type { Principal } from "../../../lib/principal.ts";
import { MAX_POINTS } from "./ledger/ledger.ts";

/**
 * Who performs a points operation. The API passes the request's verified principal; the demo seed
 * and jobs pass a principal of the same shape, so both go through the same rules.
 */
export type Actor = Pick<Principal, "sub" | "role" | "partnerId" | "memberId">;

export const isAdmin = (a: Actor) => a.role === "ADMIN";

/** Options of writes: the clock (tests move time), back-dated history (demo seed only, never the API). */
export interface WriteOptions {
  now?: Date;
  /** Back-dated postedAt for the demo seed's history. */
  postedAt?: Date;
}

/*
 * Tier thresholds and earn rates are data: the loyalty program version in force (program/model.ts,
 * points.ProgramVersion), not constants.
 */

/** The idempotency scope of an actor: keys are unique per partner (and per admin / member / job). */
export function scopeOf(actor: Actor): string {
  switch (actor.role) {
    case "PARTNER":
      return `partner:${actor.partnerId}`;
    case "ADMIN":
      return `admin:${actor.sub}`;
    case "MEMBER":
      return `member:${actor.memberId}`;
  }
}

export function requirePartner(actor: Actor): string {
  if (actor.role !== "PARTNER" || !actor.partnerId) throw forbidden("Only a partner may do this");
  return actor.partnerId;
}

export const Uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "must be a valid id");
export const IdempotencyKey = z
  .string()
  .min(1, "idempotencyKey must not be empty")
  .max(128, "idempotencyKey is at most 128 characters")
  .regex(/^[\x21-\x7e]+$/, "idempotencyKey must be printable ASCII without spaces");
export const Points = z
  .number({ error: "points must be a number" })
  .int("points must be a whole number")
  .min(1, "points must be at least 1")
  .max(MAX_POINTS, `points must be at most ${MAX_POINTS.toLocaleString("en")}`);
export const Reference = z.string().trim().min(1, "reference must not be empty").max(128, "reference is at most 128 characters");
export const Reason = z.string().trim().min(1, "reason must not be empty").max(500, "reason is at most 500 characters");
export const Money = z
  .string()
  .regex(/^\d{1,12}(\.\d{1,6})?$/, 'purchaseAmount must be a positive decimal string like "129.90" (at most 12 integer and 6 fraction digits)')
  .refine((s) => Number(s) > 0, "purchaseAmount must be above 0");

/** Largest single award (sane bound against typos and abuse), in points. */
export const MAX_POINTS_PER_EARN = MAX_POINTS;

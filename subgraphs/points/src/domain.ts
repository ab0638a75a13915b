import { z } from "zod";
import { badInput, forbidden } from "../../../lib/errors.ts";
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

export const TIERS = ["BASE", "SILVER", "GOLD", "DIAMOND"] as const;
export type Tier = (typeof TIERS)[number];
/** Points earned in the rolling 12 months needed for each tier (DESIGN.md §4 defaults). */
export const TIER_THRESHOLDS: Record<Tier, number> = { BASE: 0, SILVER: 1_000, GOLD: 5_000, DIAMOND: 20_000 };
/** Earn multipliers per tier, exact decimals. */
export const TIER_MULTIPLIERS: Record<Tier, string> = { BASE: "1", SILVER: "1.25", GOLD: "1.5", DIAMOND: "2" };

export function tierFor(qualifyingPoints: number): Tier {
  let t: Tier = "BASE";
  for (const tier of TIERS) if (qualifyingPoints >= TIER_THRESHOLDS[tier]) t = tier;
  return t;
}

export const nextTier = (t: Tier): Tier | null => TIERS[TIERS.indexOf(t) + 1] ?? null;

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

/** zod → BAD_USER_INPUT (first issue, field in extensions.field); nothing is written. */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw badInput(issue?.message ?? "Invalid input", issue?.path.length ? issue.path.join(".") : undefined);
}

export function firstIssue(e: z.ZodError): { message: string; field?: string } {
  const issue = e.issues[0];
  return { message: issue?.message ?? "Invalid input", field: issue?.path.length ? issue.path.join(".") : undefined };
}

/** Largest single award (sane bound against typos and abuse), in points. */
export const MAX_POINTS_PER_EARN = MAX_POINTS;

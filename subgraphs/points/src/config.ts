import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";

/**
 * Settings of the points subgraph (coalition configuration, DESIGN.md §4), from the environment:
 * - HUB_EXPIRY_POLICY: `months_after_earning:<N>` (default 36), `inactivity_months:<N>`, or `never`.
 * - HUB_HOLD_TTL_MINUTES: how long an uncaptured hold reserves points (default 30).
 * - HUB_REDEMPTION_CODE_TTL_SECONDS: lifetime of a redemption code (default 600).
 * - Tier thresholds/multipliers are the DESIGN.md defaults (1,000 / 5,000 / 20,000; 1, 1.25, 1.5, 2).
 * - HUB_TIME_ZONE: the coalition's time zone (IANA name, default UTC): where a "day" of a member's
 *   daily redemption limit for a partner app starts and ends.
 * - HUB_CURRENCY: the coalition's settlement currency, ISO 4217 (default EUR); HUB_CURRENCY_MINOR_UNITS:
 *   its decimals, to which each statement line is rounded half-even (default 2).
 */
export type ExpiryPolicy = { kind: "months_after_earning"; months: number } | { kind: "inactivity_months"; months: number } | { kind: "never" };

export interface PointsSettings {
  expiryPolicy: ExpiryPolicy;
  holdTtlMinutes: number;
  redemptionCodeTtlSeconds: number;
  /** Months without qualifying activity before a one-tier downgrade. */
  tierDowngradeMonths: number;
  /** The coalition's time zone (IANA), for per-day limits. */
  timeZone: string;
}

export function parseExpiryPolicy(raw: string | undefined): ExpiryPolicy {
  const s = (raw ?? "months_after_earning:36").trim();
  if (s === "never") return { kind: "never" };
  const m = /^(months_after_earning|inactivity_months):(\d{1,3})$/.exec(s);
  if (!m || Number(m[2]) < 1) throw new Error(`Invalid HUB_EXPIRY_POLICY "${s}": use months_after_earning:<N>, inactivity_months:<N> or never`);
  return { kind: m[1] as "months_after_earning" | "inactivity_months", months: Number(m[2]) };
}

const Env = z.object({
  HUB_HOLD_TTL_MINUTES: z.coerce.number().int().min(1).max(60 * 24 * 30).default(30),
  HUB_REDEMPTION_CODE_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(600),
  HUB_TIME_ZONE: z
    .string()
    .default("UTC")
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat("en-US", { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, "HUB_TIME_ZONE must be an IANA time zone name, e.g. Asia/Shanghai"),
});

const CurrencyEnv = z.object({
  HUB_CURRENCY: z.string().regex(/^[A-Z]{3}$/, "HUB_CURRENCY must be an ISO 4217 code like EUR").default("EUR"),
  HUB_CURRENCY_MINOR_UNITS: z.coerce.number().int().min(0).max(4).default(2),
});

let currency: { code: string; minorUnits: number } | undefined;

/** The coalition's settlement currency and its minor units (statement lines are rounded to them). */
export function currencySettings(): { code: string; minorUnits: number } {
  if (!currency) {
    const e = CurrencyEnv.parse(process.env);
    currency = { code: e.HUB_CURRENCY, minorUnits: e.HUB_CURRENCY_MINOR_UNITS };
  }
  return currency;
}

let current: PointsSettings | undefined;
let codeKey: Uint8Array | undefined;

export function loadPointsSettings(env: NodeJS.ProcessEnv = process.env): PointsSettings {
  const e = Env.parse(env);
  return {
    expiryPolicy: parseExpiryPolicy(env.HUB_EXPIRY_POLICY),
    holdTtlMinutes: e.HUB_HOLD_TTL_MINUTES,
    redemptionCodeTtlSeconds: e.HUB_REDEMPTION_CODE_TTL_SECONDS,
    tierDowngradeMonths: 6,
    timeZone: e.HUB_TIME_ZONE,
  };
}

export function settings(): PointsSettings {
  return (current ??= loadPointsSettings());
}

/** Tests and embedding override settings (validated like the environment). */
export function useSettings(overrides: Partial<PointsSettings>): void {
  current = { ...loadPointsSettings(), ...overrides };
}

/**
 * The HS256 key that signs redemption codes: derived from the internal secret (so every points
 * process of one deployment agrees), else HUB_INTERNAL_SECRET, else a random per-process key.
 */
export function useRedemptionKeyFrom(secret: Uint8Array | string): void {
  codeKey = createHash("sha256").update("coalition-hub/redemption-code/v1\0").update(secret).digest();
}

export function redemptionKey(): Uint8Array {
  if (!codeKey) {
    if (process.env.HUB_INTERNAL_SECRET) useRedemptionKeyFrom(process.env.HUB_INTERNAL_SECRET);
    else codeKey = randomBytes(32);
  }
  return codeKey!;
}

export const addMonths = (d: Date, months: number) => {
  const r = new Date(d.getTime());
  r.setUTCMonth(r.getUTCMonth() + months);
  return r;
};

/** Expiry of a lot earned at `earnedAt` under the policy (inactivity: pushed forward at every activity). */
export function lotExpiry(earnedAt: Date, policy: ExpiryPolicy = settings().expiryPolicy): Date | null {
  return policy.kind === "never" ? null : addMonths(earnedAt, policy.months);
}

/**
 * The instant the day containing `at` began in time zone `timeZone` (local midnight; on a day that
 * starts with a DST jump, the first instant of that day).
 */
export function startOfDayIn(timeZone: string, at: Date): Date {
  const fmt = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const wall = (d: Date) => {
    const p = Object.fromEntries(fmt.formatToParts(d).map((x) => [x.type, Number(x.value)]));
    return { y: p.year!, m: p.month!, d: p.day!, ms: Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) };
  };
  const local = wall(at);
  const midnightAsUtc = Date.UTC(local.y, local.m - 1, local.d);
  // offset = wall clock − instant, taken at the guess (not at `at`) so a DST change earlier today counts.
  const atSec = Math.floor(at.getTime() / 1000) * 1000;
  let guess = midnightAsUtc - (local.ms - atSec);
  guess = midnightAsUtc - (wall(new Date(guess)).ms - guess);
  return new Date(guess);
}

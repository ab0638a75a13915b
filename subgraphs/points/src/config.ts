import { createHash, randomBytes } from "node:crypto";
import { type ExpiryPolicy, loadEnv, readSetting } from "../../../lib/config.ts";

/**
 * The points subgraph's view of the one configuration (lib/config.ts holds the variables, their
 * defaults, bounds and meanings; DESIGN.md §4): the expiry policy (HUB_EXPIRY_POLICY), holds
 * (HUB_HOLD_TTL_MINUTES), redemption codes (HUB_REDEMPTION_CODE_TTL_SECONDS), the coalition's time
 * zone for per-day limits (HUB_TIME_ZONE) and its settlement currency (HUB_CURRENCY,
 * HUB_CURRENCY_MINOR_UNITS). Tiers, earn rates, retention and bonuses are not settings: they are the
 * loyalty program's versioned data (program/model.ts; the classic program is version 1).
 */
export type { ExpiryPolicy };

export interface PointsSettings {
  expiryPolicy: ExpiryPolicy;
  holdTtlMinutes: number;
  redemptionCodeTtlSeconds: number;
  /** The coalition's time zone (IANA), for per-day limits. */
  timeZone: string;
}

let currency: { code: string; minorUnits: number } | undefined;

/** The coalition's settlement currency and its minor units (statement lines are rounded to them). */
export function currencySettings(): { code: string; minorUnits: number } {
  if (!currency) {
    const e = loadEnv();
    currency = { code: e.HUB_CURRENCY, minorUnits: e.HUB_CURRENCY_MINOR_UNITS };
  }
  return currency;
}

let current: PointsSettings | undefined;
let codeKey: Uint8Array | undefined;

export function loadPointsSettings(env: NodeJS.ProcessEnv = process.env): PointsSettings {
  const e = loadEnv(env);
  return {
    expiryPolicy: e.HUB_EXPIRY_POLICY,
    holdTtlMinutes: e.HUB_HOLD_TTL_MINUTES,
    redemptionCodeTtlSeconds: e.HUB_REDEMPTION_CODE_TTL_SECONDS,
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
    const secret = readSetting("HUB_INTERNAL_SECRET");
    if (secret) useRedemptionKeyFrom(secret);
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

const wallFormats = new Map<string, Intl.DateTimeFormat>();
/**
 * The instant the day containing `at` began in time zone `timeZone` (local midnight; on a day that
 * starts with a DST jump, the first instant of that day; on a day whose clocks went back over
 * midnight, as Havana's do, the first of its two midnights).
 */
export function startOfDayIn(timeZone: string, at: Date): Date {
  let fmt = wallFormats.get(timeZone);
  if (!fmt) {
    // Made once per time zone (constructing one costs tens of microseconds).
    fmt = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    wallFormats.set(timeZone, fmt);
  }
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
  const dayOf = (ms: number) => {
    const w = wall(new Date(ms));
    return Date.UTC(w.y, w.m - 1, w.d);
  };
  // Usually right. When it is not the day's first second (a day that began twice), bisect: the
  // local date only moves forward with time, and the day began within two days before `at`.
  if (guess <= atSec && dayOf(guess) === midnightAsUtc && dayOf(guess - 1000) < midnightAsUtc) return new Date(guess);
  let before = midnightAsUtc - 2 * 86_400_000;
  let onOrAfter = atSec;
  while (onOrAfter - before > 1000) {
    const mid = before + Math.floor((onOrAfter - before) / 2000) * 1000;
    if (dayOf(mid) >= midnightAsUtc) onOrAfter = mid;
    else before = mid;
  }
  return new Date(onOrAfter);
}

import type { Principal } from "../../../../lib/principal.ts";

/**
 * Who performs a domain operation. The API passes the request's verified principal; the demo seed
 * passes a principal of the same shape, so both go through the same rules.
 */
export type Actor = Pick<Principal, "sub" | "role" | "partnerId" | "memberId" | "authority">;

/** Options every write accepts: the clock (seeds write history; tests move time). */
export interface WriteOptions {
  now?: Date;
}

/** Interactive transactions: generous waits because PGlite runs them one at a time. */
export const TX_OPTIONS = { maxWait: 10_000, timeout: 20_000 } as const;

export const isAdmin = (a: Actor) => a.role === "ADMIN";
/** Is the caller this partner itself (a PARTNER principal of that partner)? */
export const isPartnerSelf = (a: Actor, partnerId: string) => a.role === "PARTNER" && a.partnerId === partnerId;

/** Exact decimals for money and rates: at most 12 integer and 6 fraction digits (the column is DECIMAL(18,6)). */
export const DECIMAL_RATE = /^\d{1,12}(\.\d{1,6})?$/;

/** Canonical text of a non-negative decimal string: no leading zeros, no trailing fraction zeros ("0.0150" → "0.015"). */
export function canonicalDecimal(v: string): string {
  const [i = "0", f = ""] = v.split(".");
  const int = i.replace(/^0+(?=\d)/, "");
  const frac = f.replace(/0+$/, "");
  return frac ? `${int}.${frac}` : int;
}

import { HubError } from "./errors.ts";

/**
 * 64-bit amounts (issue 14 §2). The database keeps balances, running totals and sums as bigint;
 * JavaScript numbers are exact only up to 2^53, so values cross into `number` only through these
 * checked conversions, never silently through a float.
 */

export const INT32_MAX = 2_147_483_647;
export const INT32_MIN = -2_147_483_648;
export const INT64_MAX = 9_223_372_036_854_775_807n;
export const INT64_MIN = -9_223_372_036_854_775_808n;

/** A database integer as a bigint, whatever the driver returned (int8 as bigint; int4 as number; numeric as string). */
export function toBig(v: bigint | number | string): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new Error(`amounts: ${v} is not an exact integer`);
    return BigInt(v);
  }
  if (!/^-?\d+$/.test(v)) throw new Error(`amounts: ${JSON.stringify(v)} is not an integer`);
  return BigInt(v);
}

/**
 * A database integer as a JavaScript number for arithmetic that stays far below 2^53 (one
 * transaction's points, a lot). Beyond 2^53 it throws a plain Error: an internal error, masked for
 * the client and logged with the request id, instead of a silently rounded amount.
 */
export function toSafeNumber(v: bigint | number | string, what: string): number {
  const b = toBig(v);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new Error(`amounts: ${what} = ${b} is beyond 2^53 and cannot be a JavaScript number`);
  }
  return Number(b);
}

/**
 * The value of a deprecated 32-bit `Int` field whose amount moved to a 64-bit field: the number when
 * it fits, else AMOUNT_EXCEEDS_INT naming the field to read instead (never a wrapped or rounded value).
 */
export function int32Compat(v: bigint | number | string, field: string, replacement: string): number {
  const b = toBig(v);
  if (b > BigInt(INT32_MAX) || b < BigInt(INT32_MIN)) {
    throw new HubError("AMOUNT_EXCEEDS_INT", `${field} is ${b}, beyond the 32-bit Int range of this deprecated field: read ${replacement} (BigInt) instead`, {
      field,
      replacement,
    });
  }
  return Number(b);
}

const BIGINT_TEXT = /^(0|-?[1-9]\d{0,18})$/;

/** Serializes a 64-bit integer as a decimal string (JSON numbers lose precision in JavaScript beyond 2^53). */
export function serializeBigInt(v: unknown): string {
  let b: bigint;
  if (typeof v === "bigint") b = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
  else if (typeof v === "string" && BIGINT_TEXT.test(v)) b = BigInt(v);
  else throw new Error(`BigInt cannot serialize ${typeof v === "number" ? v : typeof v}`);
  if (b > INT64_MAX || b < INT64_MIN) throw new Error(`BigInt cannot serialize ${b}: beyond 64 bits`);
  return b.toString();
}

/**
 * Parses a BigInt input strictly: a decimal string ("-12", "9223372036854775807": no "+" or "-0", no
 * leading zeros, spaces, exponent or fraction) within the signed 64-bit range, or a JSON integer that
 * JavaScript holds exactly (|n| ≤ 2^53 − 1). A larger JSON number was already rounded by JSON.parse,
 * so it is refused rather than taken as some other amount.
 */
export function parseBigInt(v: unknown): bigint {
  let b: bigint | null = null;
  if (typeof v === "string" && BIGINT_TEXT.test(v)) b = BigInt(v);
  else if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
  else if (typeof v === "number" && Number.isInteger(v)) {
    throw new HubError("BAD_USER_INPUT", `BigInt: the JSON number ${v} is beyond 2^53 and was rounded by the JSON parser; send it as a decimal string`);
  }
  if (b === null) throw new HubError("BAD_USER_INPUT", 'BigInt must be a whole number as a decimal string, e.g. "4294967296"');
  if (b > INT64_MAX || b < INT64_MIN) throw new HubError("BAD_USER_INPUT", `BigInt ${b} is outside the signed 64-bit range`);
  return b;
}

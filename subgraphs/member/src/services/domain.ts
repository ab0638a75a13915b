import type { Consent, Member } from "../../../../prisma/generated/client/client.ts";
import type { Principal } from "../../../../lib/principal.ts";
import type { DataCategory } from "../../../../lib/vocabulary.ts";

export type { Consent, Member };

/** Member-owned fields gated by consent, and their category (DESIGN.md §5). */
export const FIELD_CATEGORY = {
  displayName: "PROFILE_BASIC",
  birthday: "PROFILE_BASIC",
  email: "PROFILE_CONTACT",
  phone: "PROFILE_CONTACT",
  lifecycle: "SEGMENTS",
} as const satisfies Record<string, DataCategory>;

/** Categories whose reads by an ADMIN are personal data and therefore logged. */
export const PII_CATEGORIES: ReadonlySet<DataCategory> = new Set(["PROFILE_BASIC", "PROFILE_CONTACT"]);

/**
 * Who performs a domain operation. The API passes the request's verified principal; the demo seed
 * and imports pass a principal of the same shape, so both go through the same rules.
 */
export type Actor = Pick<Principal, "sub" | "role" | "partnerId" | "memberId" | "purpose" | "authority" | "boundMemberId" | "clientId">;

/** Options every write accepts: the clock (seeds write history; tests move time). */
export interface WriteOptions {
  now?: Date;
}

/** Interactive transactions: generous waits because PGlite runs them one at a time. */
export const TX_OPTIONS = { maxWait: 10_000, timeout: 20_000 } as const;

export const DAY_MS = 86_400_000;

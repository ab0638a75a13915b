/**
 * What an event is about, for keeping its order (lib/events/relay.ts and the consumers' one-by-one
 * fallback, lib/events/inbox.ts): its member, else its offer, else its partner (lower-cased), or
 * null for an event about none of them. The relay's claim computes the same in SQL (SUBJECT).
 */
export function subjectKey(payload: unknown): string | null {
  if (payload === null || typeof payload !== "object") return null;
  const p = payload as { memberId?: unknown; offerId?: unknown; partnerId?: unknown };
  for (const v of [p.memberId, p.offerId, p.partnerId]) if (typeof v === "string") return v.toLowerCase();
  return null;
}

/** How a consumer's result for an event it did not try begins: an earlier event about its subject failed in the same delivery. */
export const HELD = "held:";

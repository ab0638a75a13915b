import { badInput, HubError, notFound } from "../../../../lib/errors.ts";
import { prisma } from "../db.ts";

/**
 * Awards by the partner's own reference for a member (issue 17 §6): an award names the member by
 * exactly one of `memberId` (the hub's id) or `externalRef` (the reference the partner enrolled or
 * linked it with; the points subgraph keeps it on its MemberLink copy from member.linked). The
 * reference is resolved to the member's id before anything else, so the award's request hash (and
 * its idempotency) is the same whichever way the member was named.
 */

/** At most this many characters, as the member subgraph's externalRef. */
const MAX_REF = 128;

type Raw = Record<string, unknown>;

/** Exactly one of memberId / externalRef, checked: BAD_USER_INPUT naming the field. */
function refOf(raw: unknown): string | null {
  if (!raw || typeof raw !== "object") return null;
  const r = raw as Raw;
  const hasId = r.memberId != null;
  const hasRef = r.externalRef != null;
  if (hasId && hasRef) throw badInput("Pass either memberId or externalRef (exactly one)", "externalRef");
  if (!hasId && !hasRef) throw badInput("Pass memberId or externalRef (the member's reference at your partner)", "memberId");
  if (!hasRef) return null;
  if (typeof r.externalRef !== "string" || !r.externalRef.trim() || r.externalRef.length > MAX_REF) throw badInput(`externalRef must be 1–${MAX_REF} characters`, "externalRef");
  return r.externalRef;
}

/** The member ids of the partner's references that it knows (one query). */
async function membersByRef(partnerId: string, refs: readonly string[]): Promise<Map<string, string>> {
  if (!refs.length) return new Map();
  const rows = await prisma().$queryRaw<{ memberId: string; externalRef: string }[]>`
    SELECT "memberId"::text AS "memberId", "externalRef" FROM "points"."MemberLink"
    WHERE "partnerId" = ${partnerId}::uuid AND "externalRef" = ANY(${[...new Set(refs)]}::text[])`;
  return new Map(rows.map((r) => [r.externalRef, r.memberId]));
}

/** The award input with its member named by id; an unknown reference is NOT_FOUND (as an unlinked member). */
export async function withMemberId(partnerId: string, raw: unknown, waitMs = 0): Promise<unknown> {
  const ref = refOf(raw);
  if (ref === null) return raw;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const id = (await membersByRef(partnerId, [ref])).get(ref);
    if (id) {
      const { externalRef: _r, ...rest } = raw as Raw;
      return { ...rest, memberId: id };
    }
    // The link of a member enrolled a moment ago may still be on its way (member.linked).
    if (Date.now() >= deadline) throw notFound("Member with externalRef", ref.slice(0, MAX_REF));
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A batch's items with their members named by id, or the error of an item (by index). */
export async function batchWithMemberIds(partnerId: string, inputs: readonly unknown[]): Promise<{ items: unknown[]; errors: Map<number, HubError> }> {
  const errors = new Map<number, HubError>();
  const refs = new Map<number, string>();
  inputs.forEach((raw, i) => {
    try {
      const ref = refOf(raw);
      if (ref !== null) refs.set(i, ref);
    } catch (e) {
      if (e instanceof HubError) errors.set(i, e);
      else throw e;
    }
  });
  const ids = await membersByRef(partnerId, [...refs.values()]);
  const items = inputs.map((raw, i) => {
    const ref = refs.get(i);
    if (ref === undefined) return raw;
    const id = ids.get(ref);
    if (!id) {
      errors.set(i, notFound("Member with externalRef", ref));
      return raw;
    }
    const { externalRef: _r, ...rest } = raw as Raw;
    return { ...rest, memberId: id };
  });
  return { items, errors };
}

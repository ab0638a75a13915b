import { Prisma } from "../../../../lib/db.ts";
import { badInput, forbidden } from "../../../../lib/errors.ts";
import type { MemberSettings } from "../config.ts";
import { prisma } from "../db.ts";
import type { Actor } from "./domain.ts";
import { isUuid } from "./members.ts";

export interface AudienceOverlapResult {
  partnerId: string;
  withPartnerId: string;
  /** Null when suppressed. */
  members: number | null;
  suppressed: boolean;
  minimumCohort: number;
  granularity: number;
}

/**
 * How many members are linked to both the caller and `withPartnerId` and have an active ANALYTICS
 * consent (any categories) with each of the two. Partner insights are aggregates over members who
 * consented to ANALYTICS, and below the minimum cohort they are suppressed.
 *
 * Defence against differencing (learning about one member by comparing answers):
 * 1. One query shape only. The caller chooses nothing but the other partner: no filters, segments,
 *    date ranges or member lists. Two answers therefore never cover populations that differ by a
 *    set the caller controls, which is what differencing attacks need (A∩B vs A∩B minus one
 *    member is not expressible).
 * 2. Counts are published rounded down to a multiple of `insightGranularity` (default 10) and never
 *    below the minimum cohort, while suppression is decided on the exact count. What remains is
 *    differencing over time (asking again after members come and go): a single member joining or
 *    revoking moves the published number only when it crosses a bucket edge, and the caller cannot
 *    tell whose change did it. Rounding beats random noise here: noise averages out over repeated
 *    queries unless a privacy budget is tracked, while a rounded answer stays the same however
 *    often it is asked.
 * 3. Suppressed answers carry no number at all (members: null), so the threshold cannot be probed.
 */
export async function audienceOverlap(actor: Actor, withPartnerId: string, settings: MemberSettings, now = new Date()): Promise<AudienceOverlapResult> {
  if (actor.role !== "PARTNER" || !actor.partnerId) throw forbidden("Audience overlap is a partner insight");
  const partnerId = actor.partnerId;
  if (withPartnerId === partnerId) throw badInput("withPartnerId must be another partner", "withPartnerId");
  if (!isUuid(withPartnerId)) throw badInput("withPartnerId is not a partner id", "withPartnerId");
  const base = { partnerId, withPartnerId, minimumCohort: settings.minCohort, granularity: settings.insightGranularity };
  // A partner with no members gets the same suppressed answer as a small overlap.
  const exact = await overlapCount(partnerId, withPartnerId, now);
  if (exact < settings.minCohort) return { ...base, members: null, suppressed: true };
  const g = settings.insightGranularity;
  return { ...base, members: Math.max(settings.minCohort, Math.floor(exact / g) * g), suppressed: false };
}

/** The exact overlap; never leaves this module except through `audienceOverlap`. */
async function overlapCount(a: string, b: string, now: Date): Promise<number> {
  const consented = (partner: string) => Prisma.sql`EXISTS (
    SELECT 1 FROM "member"."Consent" c
    WHERE c."memberId" = la."memberId" AND c."partnerId" = ${partner}::uuid AND c."purpose" = 'ANALYTICS'::"member"."Purpose"
      AND c."revokedAt" IS NULL AND (c."expiresAt" IS NULL OR c."expiresAt" > ${now}::timestamptz))`;
  const [row] = await prisma().$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n
    FROM "member"."LinkedAccount" la
    JOIN "member"."LinkedAccount" lb ON lb."memberId" = la."memberId" AND lb."partnerId" = ${b}::uuid
    WHERE la."partnerId" = ${a}::uuid AND ${consented(a)} AND ${consented(b)}`;
  return row?.n ?? 0;
}

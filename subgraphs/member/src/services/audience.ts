import { Prisma } from "../../../../lib/db.ts";
import { badInput, forbidden } from "../../../../lib/errors.ts";
import { isUuid } from "../../../../lib/input.ts";
import type { MemberSettings } from "../config.ts";
import { prisma } from "../db.ts";
import type { Actor } from "./domain.ts";

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
 *    set the caller picks in the query, which is what differencing attacks need (A∩B vs A∩B minus
 *    one member is not expressible).
 * 2. Counts are published rounded down to a multiple of `insightGranularity` (default 10) and never
 *    below the minimum cohort, while suppression is decided on the exact count. What remains is
 *    differencing over time (asking again after members come and go): a single member joining or
 *    revoking moves the published number only when it crosses a bucket edge, and the caller cannot
 *    tell whose change did it. Rounding beats random noise here: noise averages out over repeated
 *    queries unless a privacy budget is tracked, while a rounded answer stays the same however
 *    often it is asked.
 * 3. Only links and consents at least `insightStabilityHours` old (default 24) count. The caller
 *    does control its own side of the population (it links members, and its app can act for them
 *    with member tokens), so it could add or remove one member of its own and compare; the delay
 *    makes each such probe cost a day, and with rounding it first has to find a bucket edge.
 * 4. Suppressed answers carry no number at all (members: null), so the threshold cannot be probed.
 * Residual risk, accepted and documented: a patient partner that controls many of its own members
 * can still, over days, learn about individual members near a bucket edge. k-thresholds are not
 * differential privacy; if that matters, the next step is a per-pair daily snapshot with a noise
 * budget.
 */
export async function audienceOverlap(actor: Actor, withPartnerId: string, settings: MemberSettings, now = new Date()): Promise<AudienceOverlapResult> {
  if (actor.role !== "PARTNER" || !actor.partnerId) throw forbidden("Audience overlap is a partner insight");
  const partnerId = actor.partnerId;
  if (withPartnerId === partnerId) throw badInput("withPartnerId must be another partner", "withPartnerId");
  if (!isUuid(withPartnerId)) throw badInput("withPartnerId is not a partner id", "withPartnerId");
  const base = { partnerId, withPartnerId, minimumCohort: settings.minCohort, granularity: settings.insightGranularity };
  // A partner with no members gets the same suppressed answer as a small overlap.
  const exact = await overlapCount(partnerId, withPartnerId, now, new Date(now.getTime() - settings.insightStabilityHours * 3_600_000));
  if (exact < settings.minCohort) return { ...base, members: null, suppressed: true };
  const g = settings.insightGranularity;
  return { ...base, members: Math.max(settings.minCohort, Math.floor(exact / g) * g), suppressed: false };
}

/** The exact overlap; never leaves this module except through `audienceOverlap`. */
async function overlapCount(a: string, b: string, now: Date, settledBefore: Date): Promise<number> {
  const consented = (partner: string) => Prisma.sql`EXISTS (
    SELECT 1 FROM "member"."Consent" c
    WHERE c."memberId" = la."memberId" AND c."partnerId" = ${partner}::uuid AND c."purpose" = 'ANALYTICS'::"member"."Purpose"
      AND c."grantedAt" <= ${settledBefore}::timestamptz
      AND c."revokedAt" IS NULL AND (c."expiresAt" IS NULL OR c."expiresAt" > ${now}::timestamptz))`;
  const [row] = await prisma().$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n
    FROM "member"."LinkedAccount" la
    JOIN "member"."LinkedAccount" lb ON lb."memberId" = la."memberId" AND lb."partnerId" = ${b}::uuid
      AND lb."confirmedAt" <= ${settledBefore}::timestamptz
    WHERE la."partnerId" = ${a}::uuid AND la."confirmedAt" <= ${settledBefore}::timestamptz AND ${consented(a)} AND ${consented(b)}`;
  return row?.n ?? 0;
}

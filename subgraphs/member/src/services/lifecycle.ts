import type { Prisma } from "../../../../lib/db.ts";
import type { ParsedPayloadOf } from "../../../../lib/events/catalogue.ts";
import { log } from "../../../../lib/logger.ts";
import type { Member } from "../../../../prisma/generated/client/client.ts";
import type { MemberSettings } from "../config.ts";
import { prisma } from "../db.ts";
import { DAY_MS } from "./domain.ts";
import { ACTIVITY_KINDS, lifecycleOf as sharedLifecycleOf } from "../../../../lib/lifecycle.ts";
import type { Lifecycle } from "../../../../lib/vocabulary.ts";
import { isUuid } from "../../../../lib/input.ts";

/**
 * Lifecycle segments and RFM scores, from what the member subgraph learns through
 * `points.activity` events (it never reads the ledger): the last activity time on the member, and
 * per-month activity counts and earned points in MemberActivityMonth.
 */

/**
 * The rule itself lives in lib/lifecycle.ts, so that the partner and points subgraphs enforce offer
 * segments with exactly the same answer (from their copies of joinedAt and the last activity).
 */
export const lifecycleOf: (m: Pick<Member, "joinedAt" | "lastActivityAt">, now: Date, s: MemberSettings) => Lifecycle = sharedLifecycleOf;

export interface Rfm {
  /** 1–5: 5 = activity within 30 days … 1 = none for 180+ days (or never). */
  recency: number;
  /** 1–5 by activities in the rolling 12 months: 24+, 12+, 6+, 2+, else 1. */
  frequency: number;
  /** 1–5 by points earned in the rolling 12 months: 20,000+, 5,000+, 1,000+, 200+, else 1 (the tier thresholds). */
  monetary: number;
  activities12m: number;
  /** A 12-month sum of points: bigint (the column is int8). */
  earnedPoints12m: bigint;
}

/** 5 for the first threshold reached, 4 for the second, …; 1 when none is. */
function score(v: number, thresholdsDesc: readonly number[]): number {
  const i = thresholdsDesc.findIndex((t) => v >= t);
  return i === -1 ? 1 : 5 - i;
}
const RECENCY_DAYS = [30, 60, 90, 180] as const;
const FREQUENCY = [24, 12, 6, 2] as const;
const MONETARY = [20_000, 5_000, 1_000, 200] as const;

export function rfmOf(lastActivityAt: Date | null, totals: { activities: number; earnedPoints: bigint }, now: Date): Rfm {
  let recency = 1;
  if (lastActivityAt) {
    const days = (now.getTime() - lastActivityAt.getTime()) / DAY_MS;
    const i = RECENCY_DAYS.findIndex((d) => days < d);
    recency = i === -1 ? 1 : 5 - i;
  }
  return {
    recency,
    frequency: score(totals.activities, FREQUENCY),
    // The thresholds are small: anything at or above the highest scores the same, so the number is exact where it matters.
    monetary: score(totals.earnedPoints >= BigInt(MONETARY[0]) ? MONETARY[0] : Number(totals.earnedPoints), MONETARY),
    activities12m: totals.activities,
    earnedPoints12m: totals.earnedPoints,
  };
}

/** First day (UTC) of the month `monthsBack` months before `now`'s month. */
export function monthStart(now: Date, monthsBack = 0): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - monthsBack, 1));
}

/** Activities and earned points in the rolling 12 months (this month and the 11 before), for many members in one query. */
export async function activityTotals(memberIds: readonly string[], now: Date): Promise<Map<string, { activities: number; earnedPoints: bigint }>> {
  const out = new Map(memberIds.map((id) => [id, { activities: 0, earnedPoints: 0n }]));
  const ids = memberIds.filter(isUuid);
  if (!ids.length) return out;
  const rows = await prisma().memberActivityMonth.groupBy({
    by: ["memberId"],
    where: { memberId: { in: ids }, month: { gte: monthStart(now, 11) } },
    _sum: { activityCount: true, earnedPoints: true },
  });
  for (const r of rows) out.set(r.memberId, { activities: r._sum.activityCount ?? 0, earnedPoints: (r._sum.earnedPoints ?? 0n) > 0n ? r._sum.earnedPoints! : 0n });
  return out;
}

/** The payload of `points.activity` (signed points from the member's point of view), parsed by the event catalogue. */
export type ActivityPayload = ParsedPayloadOf<"points.activity">;

/** Kinds a member does on purpose: they make the member active and count as frequency (shared with the offer checks). */
const MEMBER_INITIATED = ACTIVITY_KINDS;
/** Kinds that change earned points (the monetary proxy); reversals arrive negative. */
const MONETARY_KINDS = new Set(["EARN", "OFFER_BONUS", "PROGRAM_BONUS", "REVERSAL"]);

/**
 * Consumes `points.activity`: advances lastActivityAt (never backwards: events may arrive out of
 * order) and adds to the month's counters. Runs in the inbox transaction, so a redelivery is a no-op.
 */
export async function applyActivity(tx: Prisma.TransactionClient, p: ActivityPayload): Promise<void> {
  const at = new Date(p.at);
  if (!isUuid(p.memberId) || Number.isNaN(at.getTime()) || !Number.isInteger(p.points)) {
    log.warn("points.activity with a bad payload ignored", { memberId: p.memberId, at: p.at });
    return;
  }
  const member = await tx.member.findUnique({ where: { id: p.memberId }, select: { id: true } });
  if (!member) {
    log.warn("points.activity for an unknown member ignored", { memberId: p.memberId });
    return;
  }
  const initiated = MEMBER_INITIATED.has(p.kind);
  const earned = MONETARY_KINDS.has(p.kind) ? p.points : 0;
  if (!initiated && earned === 0) return;
  if (initiated) {
    await tx.member.updateMany({ where: { id: p.memberId, OR: [{ lastActivityAt: null }, { lastActivityAt: { lt: at } }] }, data: { lastActivityAt: at } });
  }
  const month = monthStart(at);
  await tx.memberActivityMonth.upsert({
    where: { memberId_month: { memberId: p.memberId, month } },
    create: { memberId: p.memberId, month, activityCount: initiated ? 1 : 0, earnedPoints: earned },
    update: { activityCount: { increment: initiated ? 1 : 0 }, earnedPoints: { increment: earned } },
  });
}

/**
 * `applyActivity` for a whole delivered batch, set-based: one statement whatever the batch's size
 * (the per-event form took three Prisma calls per event, for every earn). Leaves exactly the state
 * `applyActivity` leaves applied to each payload in turn: the same payloads are ignored with the
 * same warnings (bad payload, then unknown member), lastActivityAt becomes the greatest of its
 * value and the member-initiated events' times (max per member: never backwards, so order does not
 * matter), and each (member, month) gets the sums of the counts and earned points its events would
 * have added one by one (a row appears for every event that would have upserted one).
 */
export async function applyActivities(tx: Prisma.TransactionClient, payloads: readonly ActivityPayload[]): Promise<void> {
  const rows: { memberId: string; payload: ActivityPayload; at: string; month: string; count: number; earned: number }[] = [];
  for (const p of payloads) {
    const at = new Date(p.at);
    if (!isUuid(p.memberId) || Number.isNaN(at.getTime()) || !Number.isInteger(p.points)) {
      log.warn("points.activity with a bad payload ignored", { memberId: p.memberId, at: p.at });
      continue;
    }
    const initiated = MEMBER_INITIATED.has(p.kind);
    const earned = MONETARY_KINDS.has(p.kind) ? p.points : 0;
    // Kept even when it changes nothing: the unknown-member warning comes before that test.
    rows.push({ memberId: p.memberId, payload: p, at: at.toISOString(), month: monthStart(at).toISOString().slice(0, 10), count: initiated ? 1 : 0, earned });
  }
  if (!rows.length) return;
  // Data-modifying CTEs run once each, whether or not the final SELECT reads them; `known` is
  // read before either change (one snapshot), as the per-event form's existence check was.
  const unknown = await tx.$queryRawUnsafe<{ memberId: string }[]>(
    `WITH ev AS (
       SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::date[], $4::int[], $5::bigint[]) AS e(mid, at, month, n, pts)
     ), known AS (
       SELECT ev.* FROM ev JOIN "member"."Member" m ON m.id = ev.mid
     ), last AS (
       UPDATE "member"."Member" m SET "lastActivityAt" = x.at
       FROM (SELECT mid, max(at) AS at FROM known WHERE n = 1 GROUP BY mid) x
       WHERE m.id = x.mid AND (m."lastActivityAt" IS NULL OR m."lastActivityAt" < x.at)
     ), months AS (
       INSERT INTO "member"."MemberActivityMonth" ("memberId", month, "activityCount", "earnedPoints")
       SELECT mid, month, sum(n)::int, sum(pts)::bigint FROM known WHERE n = 1 OR pts <> 0 GROUP BY mid, month ORDER BY mid, month
       ON CONFLICT ("memberId", month) DO UPDATE SET
         "activityCount" = "MemberActivityMonth"."activityCount" + EXCLUDED."activityCount",
         "earnedPoints" = "MemberActivityMonth"."earnedPoints" + EXCLUDED."earnedPoints"
     )
     SELECT DISTINCT mid::text AS "memberId" FROM ev WHERE NOT EXISTS (SELECT 1 FROM known WHERE known.mid = ev.mid)`,
    rows.map((r) => r.memberId),
    rows.map((r) => r.at),
    rows.map((r) => r.month),
    rows.map((r) => r.count),
    rows.map((r) => r.earned),
  );
  if (!unknown.length) return;
  const missing = new Set(unknown.map((u) => u.memberId));
  for (const r of rows) if (missing.has(r.memberId.toLowerCase())) log.warn("points.activity for an unknown member ignored", { memberId: r.payload.memberId });
}

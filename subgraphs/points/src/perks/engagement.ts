import { Decimal } from "decimal.js";
import type { PrismaClient } from "../../../../lib/db.ts";
import { currencySettings, settings } from "../config.ts";
import type { Tx } from "../ledger/ledger.ts";
import { yearMonthIn } from "./bonuses.ts";

/** A member's purchases in one calendar month (HUB_TIME_ZONE), for the lifecycle thresholds (lib/lifecycle.ts engagementOf). */
export interface MonthEngagement {
  month: string;
  timeZone: string;
  purchases: number;
  spend: string;
  currency: string;
}

/**
 * The current calendar month's purchases of many members in one query: EARN transactions (a
 * purchase is an earn) and their spend in the coalition currency, net of reversed earns' spend.
 */
export async function monthActivities(db: Tx | PrismaClient, memberIds: readonly string[], now: Date): Promise<Map<string, MonthEngagement>> {
  const tz = settings().timeZone;
  const { code } = currencySettings();
  const { year, month } = yearMonthIn(tz, now);
  const label = `${year}-${String(month).padStart(2, "0")}`;
  const ids = [...new Set(memberIds)];
  const rows = await db.$queryRaw<{ memberId: string; purchases: number; spend: string | null }[]>`
    SELECT x.m::text AS "memberId",
      (SELECT count(*)::int FROM "points"."LedgerTransaction" t
        WHERE t."memberId" = x.m AND t.kind = 'EARN' AND to_char(t."postedAt" AT TIME ZONE ${tz}, 'YYYY-MM') = ${label} AND t."postedAt" <= ${now}
          AND t."postedAt" > ${new Date(now.getTime() - 32 * 86_400_000)}) AS purchases,
      (SELECT sum(CASE WHEN t.kind = 'EARN' THEN t."spendAmount" ELSE -o."spendAmount" END)::text FROM "points"."LedgerTransaction" t
        LEFT JOIN "points"."LedgerTransaction" o ON o.id = t."reversesId"
        WHERE t."memberId" = x.m AND (t.kind = 'EARN' OR (t.kind = 'REVERSAL' AND o.kind = 'EARN')) AND coalesce(t."spendCurrency", o."spendCurrency") = ${code}
          AND to_char(t."postedAt" AT TIME ZONE ${tz}, 'YYYY-MM') = ${label} AND t."postedAt" <= ${now} AND t."postedAt" > ${new Date(now.getTime() - 32 * 86_400_000)}) AS spend
    FROM unnest(${ids}::uuid[]) AS x(m)`;
  return new Map(rows.map((r) => [r.memberId, { month: label, timeZone: tz, purchases: r.purchases, spend: new Decimal(r.spend ?? "0").toFixed(), currency: code }]));
}
